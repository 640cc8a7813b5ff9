"""The streamed scan's work folder: locked while its scan lives, swept once its scan is gone."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sovscan.errors import ReportError
from sovscan.workdir import FRESH_SECONDS, LOCK, PREFIX, disk_errors, sweep, work_folder

HOLDER = """
import sys, time
from pathlib import Path
from sovscan.workdir import work_folder
with work_folder(Path(sys.argv[1])) as folder:
    (folder / "run-000000.jsonl").write_text("[]\\n")
    print(folder, flush=True)
    time.sleep(60)
"""


def _age(folder: Path, seconds: float) -> None:
    old = time.time() - seconds
    os.utime(folder, (old, old))


def test_the_folder_is_locked_while_used_and_removed_after(tmp_path: Path) -> None:
    with work_folder(tmp_path) as folder:
        assert folder.parent == tmp_path and folder.name.startswith(PREFIX)
        with (folder / LOCK).open() as other, pytest.raises(BlockingIOError):
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        _age(folder, FRESH_SECONDS * 2)
        assert sweep(tmp_path) == []  # a live scan's folder is never swept
        assert folder.exists()
    assert list(tmp_path.iterdir()) == []


def test_the_folder_goes_when_the_scan_fails(tmp_path: Path) -> None:
    with pytest.raises(ValueError), work_folder(tmp_path) as folder:
        (folder / "run-000000.jsonl").write_text("[]\n", encoding="utf-8")
        raise ValueError("the scan stopped")
    assert list(tmp_path.iterdir()) == []


def test_a_killed_scans_folder_is_swept_by_the_next_one(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None
    left = Path(holder.stdout.readline().strip())
    assert left.is_dir()
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=10)
    assert left.is_dir()  # SIGKILL runs no clean-up
    assert sweep(tmp_path) == []  # too fresh: its scan might not hold the lock yet
    _age(left, FRESH_SECONDS + 5)
    with work_folder(tmp_path) as current:
        assert [p.name for p in tmp_path.iterdir()] == [current.name]


def test_what_is_not_a_work_folder_of_ours_is_left_alone(tmp_path: Path) -> None:
    no_lock = tmp_path / f"{PREFIX}nolock"
    no_lock.mkdir()
    other = tmp_path / "sovscan-scan-older-naming"
    other.mkdir()
    for folder in (no_lock, other):
        _age(folder, FRESH_SECONDS * 10)
    assert sweep(tmp_path) == []
    assert no_lock.is_dir() and other.is_dir()


def test_a_full_disk_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ReportError) as caught, disk_errors(tmp_path):
        raise OSError(28, "No space left on device")
    message = str(caught.value)
    assert message.startswith(f"{tmp_path}: cannot keep the scan's batches (No space left")
    assert "\n" not in message and "--output" in message and "TMPDIR" in message


def test_an_unwritable_place_is_one_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such" / "folder"
    with (
        pytest.raises(ReportError, match=r"cannot make the scan's work folder"),
        work_folder(missing),
    ):
        pass


def test_a_planted_fifo_or_link_never_blocks_or_misleads_the_sweep(tmp_path: Path) -> None:
    fifo_folder = tmp_path / f"{PREFIX}fifo"
    fifo_folder.mkdir()
    os.mkfifo(fifo_folder / LOCK)  # a plain open() of it would wait forever for a writer
    target = tmp_path / "elsewhere"
    target.mkdir()
    (target / LOCK).write_text("", encoding="utf-8")
    link = tmp_path / f"{PREFIX}link"
    link.symlink_to(target)
    for folder in (fifo_folder, target):
        _age(folder, FRESH_SECONDS * 10)
    started = time.monotonic()
    assert sweep(tmp_path) == []
    assert time.monotonic() - started < 5
    assert fifo_folder.is_dir() and target.is_dir() and link.is_symlink()
