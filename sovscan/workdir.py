"""The folder a streamed scan keeps its batches in, and the clean-up of folders a killed scan left.

A scan of thousands of domains keeps about three times its report on disk while it runs. The
folder goes beside the report (the same disk the report needs anyway) or, for a report on
standard output, in the temporary folder (`TMPDIR`). It holds an exclusive lock while its scan
lives: a folder whose lock is free belongs to a scan that is gone (SIGKILL, power loss), and the
next scan in the same place removes it.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sovscan.errors import ReportError

PREFIX = ".sovscan-scan-"
LOCK = "lock"
FRESH_SECONDS = 60  # a folder this new may not hold its lock yet: never swept


@contextmanager
def work_folder(beside: Path | None) -> Iterator[Path]:
    """A new locked folder in `beside` (the temporary folder when None), removed afterwards."""
    parent = beside if beside is not None else Path(tempfile.gettempdir())
    sweep(parent)
    try:
        folder = Path(tempfile.mkdtemp(prefix=PREFIX, dir=parent))
    except OSError as exc:
        raise ReportError(
            f"{parent}: cannot make the scan's work folder ({exc.strerror or exc})"
        ) from None
    try:
        try:
            lock = (folder / LOCK).open("w", encoding="utf-8")
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:  # a file system without locks (ENOLCK), say
            raise ReportError(
                f"{folder}: cannot lock the scan's work folder ({exc.strerror or exc})"
            ) from None
        with lock:
            yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def sweep(parent: Path) -> list[Path]:
    """Remove the work folders in `parent` whose scan is gone; returns them."""
    cutoff = time.time() - FRESH_SECONDS
    removed = []
    for folder in parent.glob(PREFIX + "*"):
        try:
            found = folder.lstat()
            # Only our own real folders: in a shared /tmp anyone can plant a look-alike.
            if not stat.S_ISDIR(found.st_mode) or found.st_uid != os.getuid():
                continue
            if found.st_mtime > cutoff:
                continue
            if _lock_is_free(folder / LOCK):
                shutil.rmtree(folder)
                removed.append(folder)
        except OSError:
            continue
    return removed


def _lock_is_free(path: Path) -> bool:
    """Whether `path` is a regular file nobody holds locked. Never blocks: a FIFO planted as the
    lock would hang a plain open, and never creates or follows anything."""
    handle = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
    try:
        if not stat.S_ISREG(os.fstat(handle).st_mode):
            return False
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # its scan is alive
            return False
        # Free: only the scan that made a folder ever takes its lock, so it stays free.
        return True
    finally:
        os.close(handle)


@contextmanager
def disk_errors(folder: Path) -> Iterator[None]:
    """An OSError while a scan's batches are written (a full disk) as one clear error."""
    try:
        yield
    except OSError as exc:
        raise ReportError(
            f"{folder}: cannot keep the scan's batches ({exc.strerror or exc}); a streamed scan "
            "needs about three times its report's size there: free space, or write the report "
            "(--output) on a larger disk, or set TMPDIR for a report on standard output"
        ) from None
