"""Atomic file writes: a reader sees the old file or the whole new one, never half of it."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from sovscan.errors import ReportError


def write_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` through a temporary file in the same folder, fsync'd, then renamed.

    Raises ReportError (one line) when the folder cannot be written.
    """
    folder = path.parent if str(path.parent) else Path(".")
    temp_name = str(folder / f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        # Mode 0666 less the umask, as any file the user writes (mkstemp would force 0600, and
        # a web server could not read a published HTML report); O_EXCL keeps the name ours.
        handle = os.open(temp_name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as exc:
        raise ReportError(f"{path}: cannot write the report ({exc.strerror or exc})") from None
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
            stream.write(text)
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
