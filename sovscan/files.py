"""Atomic file writes: a reader sees the old file or the whole new one, never half of it.

Only a regular file (or a new one) is replaced: a symbolic link is followed and its target
replaced. A device or a FIFO (`/dev/null`, a pipe to a reader), and anything reached through
`/proc` or `/dev/fd` (`/dev/stdout`: whatever the shell opened, a file it appends to included),
is written into as it is, for a rename would put a new file in its place.
"""

from __future__ import annotations

import contextlib
import glob
import os
import secrets
import stat
import time
from collections.abc import Iterable
from pathlib import Path

from sovscan.errors import ReportError

STALE_SECONDS = 600  # a temporary report this old was left by a killed writer


def write_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` through a temporary file in the same folder, fsync'd, then renamed.

    Raises ReportError (one line) when the folder cannot be written.
    """
    write_atomic_pieces(path, (text,))


_MAX_LINKS = 40  # as the kernel's own limit on a path's symbolic links
_MAGIC = ("/proc/", "/dev/fd/")  # links there name an open file, not a place to replace


def output_target(path: Path, uid: int | None = None) -> tuple[Path, bool]:
    """Where a report for `path` goes: the regular file (existing or not) to replace, its
    symbolic links followed, and False; or `path` itself and True when it must be written into
    as it is (a device, a FIFO, a link through /proc or /dev/fd). ReportError for a folder, a
    link loop, or a link that `uid` (this process's user by default) did not make in a folder
    anyone may write to (`_planted`)."""
    current = path
    if os.path.realpath(path.parent).startswith("/proc/"):  # /dev/fd/1, /proc/self/fd/1
        return path, True
    for _ in range(_MAX_LINKS):
        if not current.is_symlink():
            break
        if _planted(current, os.geteuid() if uid is None else uid):
            raise ReportError(
                f"{path}: a symbolic link another user made in {current.parent}, a folder anyone "
                "can write to; not followed (it may point at any of your files): remove it, or "
                "write the report elsewhere"
            )
        target = os.readlink(current)
        current = Path(target) if os.path.isabs(target) else current.parent / target
        if str(current).startswith(_MAGIC):
            return path, True
    else:
        raise ReportError(f"{path}: too many levels of symbolic links")
    try:
        mode = os.stat(current).st_mode
    except FileNotFoundError:
        return current, False
    except OSError as exc:
        raise ReportError(f"{path}: cannot write the report ({exc.strerror or exc})") from None
    if stat.S_ISDIR(mode):
        raise ReportError(f"{path}: is a folder; expected a file name")
    return (current, False) if stat.S_ISREG(mode) else (path, True)


def _planted(link: Path, uid: int) -> bool:
    """Whether `link` sits in a sticky folder anyone may write to (/tmp) and `uid` did not make
    it. Links are followed here by reading them, which the kernel's protected_symlinks does not
    guard: another user's link `/tmp/report.html -> ~/.bashrc` would have the report replace
    the file it names."""
    try:
        folder = os.stat(link.parent)
        owner = os.lstat(link).st_uid
    except OSError:
        return False  # gone: following it fails as it would have
    shared = folder.st_mode & stat.S_ISVTX and folder.st_mode & stat.S_IWOTH
    return bool(shared) and owner != uid


def write_atomic_pieces(path: Path, pieces: Iterable[str]) -> None:
    """`write_atomic` of the text the pieces make, never holding it whole."""
    target, write_into = output_target(path)
    if write_into:
        _write_into(path, pieces)
        return
    path = target
    folder = path.parent if str(path.parent) else Path(".")
    _remove_stale(folder, path.name)
    temp_name = str(folder / f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        # Mode 0666 less the umask, as any file the user writes (mkstemp would force 0600, and
        # a web server could not read a published HTML report); O_EXCL keeps the name ours.
        handle = os.open(temp_name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as exc:
        raise ReportError(f"{path}: cannot write the report ({exc.strerror or exc})") from None
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
            for piece in pieces:
                stream.write(piece)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temp_name, path)
    except BaseException as exc:
        # Whatever stopped us (disk full, SIGINT), the half-written temporary file must go.
        with contextlib.suppress(OSError):
            os.unlink(temp_name)
        if isinstance(exc, OSError):
            raise ReportError(f"{path}: cannot write the report ({exc.strerror or exc})") from None
        raise


def _write_into(path: Path, pieces: Iterable[str]) -> None:
    """Write into what is at `path` as it is (a device, a FIFO): nothing to make atomic.

    Appending: for `/dev/stdout` that a shell sent to a file, "w" would truncate it (`>>`)."""
    try:
        with path.open("a", encoding="utf-8", newline="") as stream:
            for piece in pieces:
                stream.write(piece)
    except OSError as exc:
        raise ReportError(f"{path}: cannot write the report ({exc.strerror or exc})") from None


def _remove_stale(folder: Path, name: str) -> None:
    """Remove the temporary files that killed writes of `name` left behind."""
    cutoff = time.time() - STALE_SECONDS
    for stale in folder.glob(f".{glob.escape(name)}.*.tmp"):
        with contextlib.suppress(OSError):
            if stale.is_file() and stale.stat().st_mtime < cutoff:
                stale.unlink()
