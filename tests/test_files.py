"""Reports are written atomically: the old file or the whole new one, never half."""

from __future__ import annotations

from pathlib import Path

import pytest

from sovscan.errors import ReportError
from sovscan.files import write_atomic


def test_write_replaces_whole_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "report.json"
    target.write_text("old", encoding="utf-8")
    write_atomic(target, "new contents\n")
    assert target.read_text(encoding="utf-8") == "new contents\n"
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_unwritable_folder_is_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="cannot write the report") as info:
        write_atomic(tmp_path / "missing" / "report.json", "x")
    assert "\n" not in str(info.value)


def test_interrupted_write_keeps_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "report.txt"
    target.write_text("previous report", encoding="utf-8")

    def interrupted_fsync(_fd: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("sovscan.files.os.fsync", interrupted_fsync)
    with pytest.raises(KeyboardInterrupt):
        write_atomic(target, "half of a new report")
    assert target.read_text(encoding="utf-8") == "previous report"
    assert [p.name for p in tmp_path.iterdir()] == ["report.txt"]


def test_reports_get_the_users_umask_not_0600(tmp_path: Path) -> None:
    import os
    import stat

    previous = os.umask(0o022)
    try:
        write_atomic(tmp_path / "report.html", "<p>hi</p>")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "report.html").stat().st_mode) == 0o644
