"""docs/scheduling.md: its exit codes are the README's, and its cron line can run twice a day."""

from __future__ import annotations

import re
import subprocess
import time

from tests.conftest import REPO

SCHEDULING = REPO / "docs" / "scheduling.md"


def exit_codes(text: str) -> set[str]:
    return set(re.findall(r"^\| (\d+) \|", text, flags=re.MULTILINE))


def test_the_exit_code_table_lists_every_code_the_readme_does() -> None:
    readme = exit_codes((REPO / "README.md").read_text(encoding="utf-8"))
    assert {"0", "1", "2", "3", "4", "130", "143"} <= readme
    assert exit_codes(SCHEDULING.read_text(encoding="utf-8")) == readme


def test_each_cron_run_gets_a_new_evidence_folder() -> None:
    # --evidence refuses a folder that exists, so two runs (a retry the same day, say) must name
    # different folders or the second never scans.
    block = re.search(r"```cron\n(.*?)```", SCHEDULING.read_text(encoding="utf-8"), re.DOTALL)
    assert block is not None
    (line,) = block.group(1).splitlines()
    assert re.search(r"(?<!\\)%", line) is None, "cron reads an unescaped % as a line break"
    match = re.search(r"--evidence ((?:[^\s$]|\$\([^)]*\))+)", line.replace("\\%", "%"))
    assert match is not None

    def folder() -> str:
        shown = subprocess.run(
            ["bash", "-c", f"echo {match.group(1)}"],
            capture_output=True,
            text=True,
            check=True,
        )
        return shown.stdout.strip()

    first = folder()
    time.sleep(1.1)
    second = folder()
    assert first.startswith("/srv/evidence/") and " " not in first
    assert first != second
