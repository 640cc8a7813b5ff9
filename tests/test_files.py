"""Reports are written atomically: the old file or the whole new one, never half."""

from __future__ import annotations

import os
import stat
import threading
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


def test_a_symbolic_link_is_followed_and_kept(tmp_path: Path) -> None:
    target = tmp_path / "reports" / "latest.json"
    target.parent.mkdir()
    target.write_text("old", encoding="utf-8")
    link = tmp_path / "report.json"
    link.symlink_to(target)
    write_atomic(link, "new\n")
    assert link.is_symlink() and link.resolve() == target
    assert target.read_text(encoding="utf-8") == "new\n"
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["latest.json", "report.json", "reports"]
    # A link to a file not written yet: the file is made where the link points.
    dangling = tmp_path / "next.json"
    dangling.symlink_to(tmp_path / "reports" / "next-target.json")
    write_atomic(dangling, "first\n")
    assert dangling.is_symlink()
    assert (tmp_path / "reports" / "next-target.json").read_text(encoding="utf-8") == "first\n"


def test_a_fifo_is_written_into_not_replaced(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    write_atomic(fifo, "line one\nline two\n")
    reader.join(5)
    assert received == [b"line one\nline two\n"]
    assert stat.S_ISFIFO(fifo.lstat().st_mode)


def test_a_device_is_written_into_not_replaced() -> None:
    # A pseudo-terminal of our own stands for /dev/null or /dev/stdout, which a rename would
    # have turned into a regular file (seen as root: /dev/null replaced by the report).
    controller, terminal = os.openpty()
    try:
        device = Path(os.ttyname(terminal))
        write_atomic(device, "report")
        assert os.read(controller, 100) == b"report"
        assert stat.S_ISCHR(device.stat().st_mode)
    finally:
        os.close(controller)
        os.close(terminal)


def test_a_folder_is_refused_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="is a folder; expected a file name"):
        write_atomic(tmp_path, "x")


def test_a_link_through_proc_is_written_into_as_the_shell_opened_it(tmp_path: Path) -> None:
    # `--output /dev/stdout` with stdout sent to a file by `>>`: /dev/stdout -> /proc/self/fd/1
    # -> that file. Replacing the file would drop what it held and lose the shell's later
    # writes (they would go to the old, unlinked file).
    log = tmp_path / "cron.log"
    log.write_text("earlier run\n", encoding="utf-8")
    descriptor = os.open(log, os.O_WRONLY | os.O_APPEND)
    try:
        stdout = tmp_path / "stdout"
        stdout.symlink_to(f"/proc/self/fd/{descriptor}")
        write_atomic(stdout, "report\n")
        os.write(descriptor, b"after\n")
    finally:
        os.close(descriptor)
    assert log.read_text(encoding="utf-8") == "earlier run\nreport\nafter\n"


def test_a_link_loop_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    with pytest.raises(ReportError, match="too many levels of symbolic links"):
        write_atomic(tmp_path / "a", "x")


@pytest.mark.parametrize("folder", ["/dev/fd", "/proc/self/fd"])
def test_an_open_file_named_by_its_descriptor_is_written_into(tmp_path: Path, folder: str) -> None:
    log = tmp_path / "cron.log"
    log.write_text("earlier run\n", encoding="utf-8")
    descriptor = os.open(log, os.O_WRONLY | os.O_APPEND)
    try:
        write_atomic(Path(folder) / str(descriptor), "report\n")
    finally:
        os.close(descriptor)
    assert log.read_text(encoding="utf-8") == "earlier run\nreport\n"


def test_a_link_another_user_planted_in_a_shared_folder_is_not_followed(tmp_path: Path) -> None:
    # `--output /tmp/report.html` where someone else left `/tmp/report.html -> ~/.bashrc`:
    # the link was read and followed, and the report replaced the file it named.
    import os

    from sovscan.files import output_target

    shared = tmp_path / "tmp"
    shared.mkdir()
    shared.chmod(0o1777)  # as /tmp: sticky, anyone may write
    victim = tmp_path / "home" / ".bashrc"
    victim.parent.mkdir()
    victim.write_text("mine\n", encoding="utf-8")
    link = shared / "report.html"
    link.symlink_to(victim)
    maker = link.lstat().st_uid
    with pytest.raises(ReportError, match=r"a symbolic link another user made in .*not followed"):
        output_target(link, uid=maker + 1)
    assert victim.read_text(encoding="utf-8") == "mine\n"
    # The link's own maker follows it; so does anyone in a folder that only its owner writes.
    assert output_target(link, uid=maker) == (victim, False)
    shared.chmod(0o755)
    assert output_target(link, uid=maker + 1) == (victim, False)
    assert os.geteuid() == maker  # write_atomic and the CLI judge as the user running them
