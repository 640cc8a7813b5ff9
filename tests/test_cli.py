"""The command line: one-line errors with exit 2, documented exit codes, reports out."""

from __future__ import annotations

import os
import re
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from sovscan import __version__
from sovscan.cli import cli, exit_code, parse_nameserver
from sovscan.errors import ConfigError
from sovscan.model import Finding, Gap, Severity, Status
from tests.factories import in_force, lms_inventory, make_scan


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_version(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert __version__ in result.stdout


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["scan", "--config", "/nonexistent/sovscan.toml"], "cannot read the inventory file"),
        (["demo", "--format", "xml"], "'xml' is not one of"),
        (["scan"], "Missing option '--config'"),
        (["scan", "--config", "x.toml", "--nameserver", "dns.example:53"], "expected an IP"),
        (["frobnicate"], "No such command 'frobnicate'"),
    ],
)
def test_errors_are_one_line_and_exit_2(runner: CliRunner, args: list[str], expected: str) -> None:
    result = runner.invoke(cli, args)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("sovscan: error: ")
    assert expected in lines[0]
    assert "Traceback" not in result.output
    assert result.stdout == ""


def test_bad_config_names_file_and_key(runner: CliRunner, tmp_path: Path) -> None:
    config = tmp_path / "sovscan.toml"
    config.write_text('[institution]\nname = "X"\nhome = "Quebec"\n', encoding="utf-8")
    output = tmp_path / "report.json"
    result = runner.invoke(cli, ["scan", "--config", str(config), "--output", str(output)])
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"sovscan: error: {config}: institution.home: expected an ISO 3166-1 or 3166-2 code "
        "such as 'CA', 'FR', 'CA-QC' or 'DE-BY' (or EU, EEA); got 'Quebec'"
    )
    assert not output.exists()


def test_a_misspelt_aws_region_is_a_config_error_before_any_probe(
    runner: CliRunner, tmp_path: Path
) -> None:
    # Without the check, the scan asked AWS and reported a RegionNotEnabled gap (exit 3).
    config = tmp_path / "sovscan.toml"
    config.write_text(
        '[institution]\nname = "X"\nhome = "CA-QC"\n'
        '[[aws]]\nname = "main"\nregions = ["ca-central-1", "ca-centrl-1"]\n',
        encoding="utf-8",
    )
    output, store = tmp_path / "report.json", tmp_path / "history.sqlite"
    env = {"AWS_ACCESS_KEY_ID": "", "AWS_CONFIG_FILE": str(tmp_path / "none")}
    args = ["scan", "--config", str(config), "--output", str(output), "--store", str(store)]
    result = runner.invoke(cli, args, env=env)
    assert result.exit_code == 2, result.output
    # The suggestion `sovscan lookup ca-centrl-1` makes; no boto3 upgrade for a plain typo.
    assert result.stderr.strip() == (
        f"sovscan: error: {config}: aws[0].regions[1]: expected an AWS region; "
        "got 'ca-centrl-1': did you mean ca-central-1?"
    )
    looked_up = runner.invoke(cli, ["lookup", "ca-centrl-1"])
    assert looked_up.exit_code == 2 and "did you mean ca-central-1?" in looked_up.stderr
    assert not output.exists() and not store.exists()  # exit 2 writes nothing


def test_a_streamed_report_into_a_device_keeps_its_work_files_elsewhere(
    runner: CliRunner, tmp_path: Path
) -> None:
    # A pseudo-terminal of the test's own stands for /dev/stdout or /dev/null: the streamed
    # scan's work folder cannot go beside it (in /dev/pts), so it goes to the temporary folder,
    # and the report is written into the device. (An endpoint at an address: nothing to look up.)
    config = lms_inventory(tmp_path)
    controller, terminal = os.openpty()
    try:
        device = os.ttyname(terminal)
        args = ["scan", "-c", str(config), "--format", "csv", "--output", device, "--no-store"]
        result = runner.invoke(cli, args)
        assert result.exit_code == 0, result.output
        assert os.read(controller, 4096).startswith(b"finding_key,rule_id,status")
        assert stat.S_ISCHR(os.stat(device).st_mode)
    finally:
        os.close(controller)
        os.close(terminal)


def test_unwritable_output_is_one_line(runner: CliRunner, tmp_path: Path) -> None:
    config = tmp_path / "sovscan.toml"
    config.write_text('[institution]\nname = "X"\nhome = "CA"\n', encoding="utf-8")
    target = tmp_path / "no-such-dir" / "report.json"
    result = runner.invoke(cli, ["scan", "-c", str(config), "--output", str(target)])
    assert result.exit_code == 2
    assert result.stderr.startswith("sovscan: error: ")
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("127.0.0.1", ("127.0.0.1", 53)),
        ("127.0.0.1:5353", ("127.0.0.1", 5353)),
        ("[::1]:5353", ("::1", 5353)),
        ("::1", ("::1", 53)),
    ],
)
def test_parse_nameserver(value: str, expected: tuple[str, int]) -> None:
    assert parse_nameserver(value) == expected


@pytest.mark.parametrize("value", ["127.0.0.1:0", "127.0.0.1:99999", "[::1]x", "host:53", ""])
def test_parse_nameserver_rejects(value: str) -> None:
    with pytest.raises(ConfigError, match="--nameserver"):
        parse_nameserver(value)


def _risk(severity: Severity) -> Finding:
    return Finding("r", "a", Status.RISK, severity, "m")


def test_exit_codes() -> None:
    high = make_scan(findings=(_risk(Severity.HIGH),))
    assert exit_code(high, "high") == 1
    assert exit_code(high, "critical") == 0
    assert exit_code(high, "never") == 0
    unknown_only = make_scan(
        findings=(
            Finding("r", "a", Status.UNKNOWN, Severity.CRITICAL, "m", missing=("location.place",)),
        )
    )
    assert exit_code(unknown_only, "info") == 0
    partial = make_scan(findings=(_risk(Severity.CRITICAL),), gaps=(Gap("s", "r"),))
    assert exit_code(partial, "info") == 3  # partial wins over risk
    assert exit_code(partial, "never") == 3


def test_with_json_logs_the_error_is_a_json_line_too(runner: CliRunner, tmp_path: Path) -> None:
    import json
    import logging

    config = tmp_path / "broken.toml"
    config.write_text("[institution\n", encoding="utf-8")
    package_logger = logging.getLogger("sovscan")
    handlers = package_logger.handlers[:]
    try:
        result = runner.invoke(cli, ["--log-format", "json", "scan", "--config", str(config)])
    finally:
        package_logger.handlers[:] = handlers  # the CLI configured this process's logging
    assert result.exit_code == 2
    (line,) = result.stderr.splitlines()
    record = json.loads(line)
    assert record["level"] == "error" and record["logger"] == "sovscan"
    assert record["message"].startswith(f"{config}: invalid TOML")
    # UTC, ISO 8601 with milliseconds, like the reports' times (whatever the machine's zone).
    when = datetime.fromisoformat(record["time"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", record["time"])
    assert abs((datetime.now(UTC) - when).total_seconds()) < 60


def test_store_and_no_store_together_is_a_usage_error(runner: CliRunner, tmp_path: Path) -> None:
    store = tmp_path / "h.sqlite"
    result = runner.invoke(cli, ["scan", "-c", "x.toml", "--store", str(store), "--no-store"])
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "sovscan: error: --store and --no-store: give one or the other"
    )
    assert not store.exists()


def test_a_bad_nameserver_from_the_environment_names_the_variable(
    runner: CliRunner, tmp_path: Path
) -> None:
    config = tmp_path / "sovscan.toml"
    config.write_text('[institution]\nname = "X"\nhome = "CA"\n', encoding="utf-8")
    result = runner.invoke(
        cli, ["scan", "-c", str(config), "--no-store"], env={"SOVSCAN_NAMESERVER": "bogus"}
    )
    assert result.exit_code == 2
    assert "SOVSCAN_NAMESERVER" in result.stderr and "'bogus'" in result.stderr


def test_the_regions_an_inventory_may_name_include_botocores() -> None:
    # A region AWS opens after this release is known to an upgraded botocore before sovscan's
    # region table: the check must not block it.
    import botocore.session

    from sovscan.cli import _aws_regions
    from sovscan.resolve import load_knowledge

    knowledge = load_knowledge()
    session = botocore.session.get_session()
    botocore_regions = {
        region
        for partition in session.get_available_partitions()
        for region in session.get_available_regions("ec2", partition_name=partition)
    }
    table = {region for provider, region in knowledge.regions if provider == "aws"}
    assert {"us-gov-west-1", "cn-north-1", "ca-west-1"} <= botocore_regions
    assert _aws_regions(knowledge) == table | botocore_regions


@pytest.mark.parametrize(
    "body",
    [
        "",
        "[dns]\ndomains = []\n",
        '[dns]\nnames = ["lms"]\n',  # host labels, but no domain to put them under
        (
            '[https]\nm365_tenant = true\n[[waivers]]\nasset = "saas:x.example"\nreason = "r"\n'
            'owner = "o"\nexpires = 2027-06-30\n'
        ),
    ],
)
def test_an_inventory_that_names_nothing_to_scan_is_exit_2(tmp_path: Path, body: str) -> None:
    # It was "(complete) exposure score 0/100; 0 assets", exit 0: in cron a gutted inventory
    # looked like a clean result.
    from tests.test_config import scan_writes_nothing

    config = tmp_path / "sovscan.toml"
    config.write_text('[institution]\nname = "X"\nhome = "CA-QC"\n' + body, encoding="utf-8")
    assert scan_writes_nothing(tmp_path, config) == (
        f"{config}: nothing to scan: the inventory names no [[aws]] source, no dns.domains "
        "and no [[saas]] endpoint, and no --domains file was given"
    )


def test_a_waiver_of_a_finding_that_is_not_a_risk_says_so(
    runner: CliRunner, tmp_path: Path
) -> None:
    # It was reported as "waiver matched nothing", which sent the reader looking for a typo.
    import json

    from sovscan.model import finding_key

    key = finding_key("data-outside-allowed-locations", "saas:192.0.2.10")
    config = lms_inventory(
        tmp_path,
        home="CA-QC",
        more=f'[[waivers]]\nfinding = "{key}"\nreason = "TIA-1"\nowner = "dpo"\n'
        f"expires = {in_force()}\n",
    )
    result = runner.invoke(cli, ["scan", "-c", str(config), "--format", "json", "--no-store"])
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    (finding,) = (f for f in document["findings"] if f["key"] == key)
    assert finding["status"] == "ok" and finding["waiver"] is None
    waiver_notices = [n for n in document["notices"] if n.startswith("waiver ")]
    assert waiver_notices == [
        f"waiver for finding {key} (dpo) applies to a finding that is not a risk (ok) in this scan"
    ]


def test_a_profile_the_inventory_overrides_is_a_notice_in_held_and_streamed_reports(
    tmp_path: Path,
) -> None:
    inventory = lms_inventory(tmp_path, home="CA-QC", settings='allowed_locations = ["CA-QC"]\n')
    said = ("profile eu-gdpr sets allowed", "locations to EEA, but the inventory's own")
    for fmt in ("json", "markdown"):  # json is streamed, markdown held
        result = CliRunner().invoke(
            cli,
            ["scan", "-c", str(inventory), "--no-store", "--profile", "eu-gdpr", "--format", fmt],
        )
        assert result.exit_code in (0, 1, 3), result.output
        assert all(part in result.stdout for part in said), fmt
    plain = CliRunner().invoke(
        cli, ["scan", "-c", str(inventory), "--no-store", "--format", "json"]
    )
    assert "profile eu-gdpr" not in plain.stdout


def test_reports_say_when_the_address_data_is_old_at_the_scan() -> None:
    import json
    from datetime import datetime

    from sovscan.resolve import load_knowledge
    from sovscan.resolve.knowledge import stale_data_notice

    result = CliRunner().invoke(cli, ["demo", "--format", "json"])
    document = json.loads(result.stdout)
    started = datetime.fromisoformat(document["started_at"])
    expected = stale_data_notice(load_knowledge(), started)
    # Computed from the scan's own time: the same answer whatever day the suite runs.
    assert [n for n in document["notices"] if n.startswith("address data ")] == list(expected)


def test_a_classification_that_is_no_known_label_is_a_notice(tmp_path: Path) -> None:
    inventory = lms_inventory(
        tmp_path,
        home="CA-QC",
        classification="pubic",
        more='[[saas]]\nname = "Wiki"\nurl = "https://192.0.2.11/"\nclassification = "public"\n',
    )
    for fmt in ("json", "markdown"):  # streamed and held
        result = CliRunner().invoke(
            cli, ["scan", "-c", str(inventory), "--no-store", "--format", fmt]
        )
        assert result.exit_code in (0, 1, 3), result.output
        assert "classification pubic (saas LMS) is neither a sensitive nor a public" in (
            result.stdout
        ), fmt
        assert "saas Wiki" not in result.stdout


def _rules_saved_as_yml(tmp_path: Path) -> Path:
    """An institution's rules folder whose one valid rule is saved as .yml."""
    from tests.engine.test_loader import VALID, write_rule

    folder = tmp_path / "own-rules"
    write_rule(folder, VALID).rename(folder / "own" / "own-rule.yml")
    return folder


@pytest.mark.parametrize("how", ["--rules", "inventory"])
def test_a_scan_refuses_a_rules_folder_that_holds_no_rule(tmp_path: Path, how: str) -> None:
    # It ran without the institution's rule and said nothing.
    from tests.test_config import scan_writes_nothing

    folder = _rules_saved_as_yml(tmp_path)
    config = tmp_path / "sovscan.toml"
    body = '[institution]\nname = "X"\nhome = "CA-QC"\n[dns]\ndomains = ["uni.example"]\n'
    if how == "inventory":
        body += '[rules]\ndirs = ["own-rules"]\n'
    config.write_text(body, encoding="utf-8")
    extra = ["--rules", str(folder)] if how == "--rules" else []
    assert scan_writes_nothing(tmp_path, config, *extra) == (
        f"{folder.as_posix()}/own/own-rule.yml: rule files end in .yaml and this .yml file "
        "would be ignored; rename it to own-rule.yaml"
    )
    (folder / "own" / "own-rule.yml").unlink()
    assert scan_writes_nothing(tmp_path, config, *extra) == (
        f"{folder}: no rule files; a rules folder holds <id>.yaml rules (see rules/README.md)"
    )


def test_demo_refuses_a_rules_folder_that_holds_no_rule(runner: CliRunner, tmp_path: Path) -> None:
    folder = _rules_saved_as_yml(tmp_path)
    result = runner.invoke(cli, ["demo", "--rules", str(folder)])
    assert result.exit_code == 2 and result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"sovscan: error: {folder.as_posix()}/own/own-rule.yml: ")


def _refused(result: Any, output: Path) -> str:
    """The one error line of a command refused for its --output, without the prefix."""
    assert result.exit_code == 2, result.output
    assert result.stdout == "" and "Traceback" not in result.output
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"sovscan: error: --output: {output}: is ")
    return str(line.removeprefix("sovscan: error: "))


@pytest.mark.parametrize(
    "case", ["inventory", "domains", "store", "store-wal", "link", "hard-link", "evidence", "rules"]
)
def test_a_scan_never_writes_its_report_over_an_input(
    runner: CliRunner, tmp_path: Path, case: str
) -> None:
    # `scan -c same.toml -o same.toml` replaced the inventory; a store or bundle fared the same.
    from tests.engine.test_loader import VALID, write_rule

    config = tmp_path / "sovscan.toml"
    config.write_text(
        '[institution]\nname = "X"\nhome = "CA-QC"\n[dns]\ndomains = ["uni.example"]\n'
        '[rules]\ndirs = ["own-rules"]\n',
        encoding="utf-8",
    )
    rule = write_rule(tmp_path / "own-rules", VALID)
    domains = tmp_path / "domains.txt"
    domains.write_text("other.example\n", encoding="utf-8")
    store = tmp_path / "history.sqlite"
    evidence = tmp_path / "evidence"
    output, what = {
        "inventory": (config, "the inventory file ("),
        "domains": (domains, "the --domains file ("),
        "store": (store, "the history store ("),
        "store-wal": (tmp_path / "history.sqlite-wal", "a file of the history store ("),
        "link": (tmp_path / "report.json", "the inventory file ("),
        "hard-link": (tmp_path / "report.json", "a file of a rules folder ("),
        "evidence": (evidence / "report.json", "inside the evidence bundle being written ("),
        "rules": (rule, "a file of a rules folder ("),
    }[case]
    if case == "link":
        output.symlink_to(config.name)
    elif case == "hard-link":
        os.link(rule, output)
    elif case == "store":
        store.write_bytes(b"a store")
    before = {path: path.read_bytes() for path in tmp_path.rglob("*") if path.is_file()}
    args = ["scan", "-c", str(config), "--domains", str(domains), "--store", str(store)]
    args += ["--evidence", str(evidence), "-o", str(output)]
    message = _refused(runner.invoke(cli, args), output)
    assert message.startswith(f"--output: {output}: is {what}")
    assert {path: path.read_bytes() for path in tmp_path.rglob("*") if path.is_file()} == before
    assert not evidence.exists()


def test_demo_never_writes_its_report_over_its_store_or_rules(
    runner: CliRunner, tmp_path: Path
) -> None:
    from tests.engine.test_loader import VALID, write_rule

    rule = write_rule(tmp_path / "own-rules", VALID)
    store = tmp_path / "demo.sqlite"
    message = _refused(runner.invoke(cli, ["demo", "--store", str(store), "-o", str(store)]), store)
    assert "is the history store" in message
    assert not store.exists()  # refused before the store was created
    args = ["demo", "--rules", str(tmp_path / "own-rules"), "-o", str(rule)]
    assert "is a file of a rules folder" in _refused(runner.invoke(cli, args), rule)
    assert "own-rule" in rule.read_text(encoding="utf-8")


def test_diff_never_writes_its_report_over_the_history_store(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `diff --store store.sqlite -o store.sqlite` destroyed the history.
    store = tmp_path / "store.sqlite"
    assert runner.invoke(cli, ["demo", "--store", str(store)]).exit_code == 0
    kept = store.read_bytes()
    _refused(runner.invoke(cli, ["diff", "--store", str(store), "-o", str(store)]), store)
    monkeypatch.setenv("SOVSCAN_STORE", str(store))  # the default store is an input too
    monkeypatch.chdir(tmp_path)
    message = _refused(runner.invoke(cli, ["diff", "-o", "store.sqlite"]), Path("store.sqlite"))
    assert message == (
        f"--output: store.sqlite: is the history store ({store}); the report would replace it, "
        "give another file"
    )
    assert store.read_bytes() == kept
    assert runner.invoke(cli, ["history"]).exit_code == 0


@pytest.mark.parametrize("output_format", ["markdown", "json"])  # a held and a streamed scan
def test_the_exit_1_line_counts_the_risks_that_fail_not_the_waived_ones(
    runner: CliRunner, tmp_path: Path, output_format: str
) -> None:
    # It said "(2 risk finding(s) in the report, waived ones included)" with one of them
    # waived: the reader could not tell how many risks made the run fail.
    from sovscan.model import finding_key

    def run(waived: tuple[str, ...]) -> Result:
        waivers = "".join(
            f'[[waivers]]\nfinding = "{finding_key(rule, "saas:3.5.140.2")}"\n'
            f'reason = "TIA-7"\nowner = "dpo"\nexpires = {in_force()}\n'
            for rule in waived
        )
        config = tmp_path / "sovscan.toml"
        config.write_text(
            '[institution]\nname = "X"\nhome = "CA-QC"\n[[saas]]\nname = "LMS"\n'
            f'url = "https://3.5.140.2/"\nclassification = "personal"\n{waivers}',
            encoding="utf-8",
        )
        return runner.invoke(
            cli,
            ["-q", "scan", "-c", str(config), "--no-store", "--format", output_format,
             "-o", str(tmp_path / "report"), "--fail-on", "high"],
        )  # fmt: skip

    one_waived = run(("foreign-law-reach",))
    assert one_waived.exit_code == 1
    assert one_waived.stderr == (
        "sovscan: warning: exit 1: 1 unwaived risk finding(s) at or above --fail-on high "
        "(2 risk findings in the report in all)\n"
    )
    both_waived = run(("foreign-law-reach", "data-outside-allowed-locations"))
    assert (both_waived.exit_code, both_waived.stderr) == (0, "")


def test_diff_of_one_institution_in_a_shared_store(runner: CliRunner, tmp_path: Path) -> None:
    from tests.test_history import two_institutions

    store = tmp_path / "history.sqlite"
    two_institutions(store)  # B gained b-new; A, scanned last, gained a-new
    newest = runner.invoke(cli, ["diff", "--store", str(store)])
    assert newest.exit_code == 0 and "a-new" in newest.stdout and "b-new" not in newest.stdout
    asked = runner.invoke(cli, ["diff", "--store", str(store), "--institution", "B"])
    assert asked.exit_code == 0, asked.stderr
    assert asked.stdout.startswith("B: scan b-1 (")
    assert "b-new" in asked.stdout and "a-new" not in asked.stdout
    explicit = runner.invoke(
        cli, ["diff", "b-1", "b-2", "--store", str(store), "--institution", "B"]
    )
    assert explicit.exit_code == 0 and explicit.stdout == asked.stdout
    assert "--institution NAME" in runner.invoke(cli, ["diff", "--help"]).stdout


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--institution", "C"], "the history store holds no scan of 'C'; it holds scans of "),
        (["a-1", "a-2", "--institution", "B"], "scan a-1 is of 'A', not of 'B'"),
        (["b-1", "a-2", "--institution", "B"], "scan a-2 is of 'A', not of 'B'"),
        (["--institution", "\x1b[2J"], "the history store holds no scan of '\\\\x1b[2J'; "),
    ],
)
def test_diff_of_an_institution_refuses_in_one_line(
    runner: CliRunner, tmp_path: Path, args: list[str], expected: str
) -> None:
    from sovscan.history import save_scan
    from tests.test_history import of, scan_at, two_institutions

    store = tmp_path / "history.sqlite"
    two_institutions(store)
    # A name read from the store reaches the terminal escaped, as in --fail-on-new's warning.
    save_scan(store, of("Evil\x1b]0;pwned\x07\u202eU", scan_at(20, (), "e-1")))
    result = runner.invoke(cli, ["diff", *args, "--store", str(store)])
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(f"sovscan: error: {store}: {expected}")
    if "holds no scan" in expected:
        assert result.stderr.endswith("scans of 'A', 'B', 'Evil\\\\x1b]0;pwned\\\\x07\\\\u202eU'\n")
    assert not set("\x1b\x07\u202e") & set(result.stderr)


@pytest.mark.parametrize("output_format", ["table", "json"])
def test_history_of_an_institution_the_store_lacks_is_refused_as_diff_does(
    runner: CliRunner, tmp_path: Path, output_format: str
) -> None:
    # It printed an empty table and exited 0, so a misspelt name read as "never scanned".
    from sovscan.history import open_store, save_scan
    from tests.test_history import of, scan_at, two_institutions

    store = tmp_path / "history.sqlite"
    two_institutions(store)
    save_scan(store, of("Evil\x1b]0;pwned\x07\u202eU", scan_at(20, (), "e-1")))
    args = ["history", "--store", str(store), "--format", output_format, "--institution"]
    result = runner.invoke(cli, [*args, "C"])
    refused = runner.invoke(cli, ["diff", "--store", str(store), "--institution", "C"])
    assert result.exit_code == refused.exit_code == 2 and result.stdout == ""
    assert (
        result.stderr
        == refused.stderr
        == (
            f"sovscan: error: {store}: the history store holds no scan of 'C'; it holds scans of "
            "'A', 'B', 'Evil\\\\x1b]0;pwned\\\\x07\\\\u202eU'\n"
        )
    )
    held = runner.invoke(cli, [*args, "B"])
    assert held.exit_code == 0 and "b-1" in held.stdout and "a-1" not in held.stdout
    # An empty store lists nothing, with or without --institution, as before.
    empty = tmp_path / "empty.sqlite"
    with open_store(empty, create=True):
        pass
    for more in ([], ["--institution", "C"]):
        listed = runner.invoke(cli, ["history", "--store", str(empty), *more])
        assert listed.exit_code == 0 and listed.stderr == "", listed.stderr


@pytest.mark.parametrize(
    ("url", "declared", "seen", "stored"),
    [
        # The front end answers from Montreal; that says nothing of the vendor's storage. It was
        # "not the case" (ok) from the load balancer's address alone.
        ("3.96.0.10", "", "unknown", "ok"),
        (
            "3.96.0.10",
            'data_location = "CA-QC"\ndata_location_basis = "DPA, schedule 2"\n',
            "ok",
            "ok",
        ),
        # Kept in the US, by the institution's own word: not known to rest inside (the declared
        # storage rule says the risk), never ok.
        (
            "3.96.0.10",
            'data_location = "US"\ndata_location_basis = "vendor page"\n',
            "unknown",
            "risk",
        ),
        # A front end in Virginia takes the data there, whatever the contract says of storage.
        (
            "3.80.0.10",
            'data_location = "CA-QC"\ndata_location_basis = "DPA, schedule 2"\n',
            "risk",
            "ok",
        ),
    ],
)
def test_a_saas_front_end_is_not_where_its_data_rests_unless_declared(
    runner: CliRunner, tmp_path: Path, url: str, declared: str, seen: str, stored: str
) -> None:
    import json

    config = tmp_path / "sovscan.toml"
    config.write_text(
        '[institution]\nname = "X"\nhome = "CA-QC"\n[[saas]]\nname = "LMS"\n'
        f'url = "https://{url}/"\nclassification = "personal"\n{declared}',
        encoding="utf-8",
    )
    result = runner.invoke(cli, ["scan", "-c", str(config), "--format", "json", "--no-store"])
    document = json.loads(result.stdout)
    found = {f["rule_id"]: f for f in document["findings"]}
    assert found["data-outside-allowed-locations"]["status"] == seen
    assert found["declared-storage-outside-allowed-locations"]["status"] == stored
    (asset,) = document["assets"]
    # The place seen stays the front end's; a declaration is kept beside it, never instead.
    assert asset["location"]["method"] == "published-ranges"
    assert asset["location"]["subdivision"] == ("CA-QC" if url == "3.96.0.10" else "US-VA")
    if declared:
        assert asset["location"]["declared"] in {"CA-QC", "US"}
        cited = found["declared-storage-outside-allowed-locations"]["evidence"]
        assert any(e["source"] == "inventory:data_location" for e in cited)
    else:
        assert "declared" not in asset["location"]
        unknown = found["data-outside-allowed-locations"]
        assert unknown["missing"] == ["location.at_rest", "location.declared"]
        assert "not known: whether its data rests where it is served from" in unknown["message"]
    if stored == "risk":
        assert found["declared-storage-outside-allowed-locations"]["message"] == (
            "LMS (personal data): its vendor keeps the data in US, outside the allowed locations "
            "CA-QC, as the institution declares (vendor page)."
        )
    assert "location-unknown" not in found


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["scan", "-c", "sovscan.toml", "-q"],
            (
                "No such option '-q'. -q is an option of sovscan itself, which goes before the "
                "command: sovscan -q scan ..."
            ),
        ),
        (
            ["scan", "--quiet", "-c", "sovscan.toml"],
            (
                "No such option '--quiet'. --quiet is an option of sovscan itself, which goes "
                "before the command: sovscan --quiet scan ..."
            ),
        ),
        (
            ["demo", "-vv"],
            (
                "No such option '-v'. -v is an option of sovscan itself, which goes before the "
                "command: sovscan -vv demo ..."
            ),
        ),
        # Not click's "Did you mean '--format'?": the option is sovscan's.
        (
            ["rules", "list", "--log-format", "json"],
            (
                "No such option '--log-format'. --log-format is an option of sovscan itself, which "
                "goes before the command: sovscan --log-format json rules list ..."
            ),
        ),
        (
            ["history", "--log-format=json"],
            (
                "No such option '--log-format'. --log-format is an option of sovscan itself, which "
                "goes before the command: sovscan --log-format json history ..."
            ),
        ),
        (
            ["lookup", "--version"],
            (
                "No such option '--version'. --version is an option of sovscan itself: "
                "sovscan --version"
            ),
        ),
        # Any other unknown option is click's error as it was.
        (["scan", "--bogus"], "No such option '--bogus'."),
        (["scan", "--formt", "json"], "No such option '--formt'. Did you mean '--format'?"),
    ],
)
def test_a_global_option_after_the_command_says_where_it_goes(
    runner: CliRunner, args: list[str], expected: str
) -> None:
    result = runner.invoke(cli, args, prog_name="sovscan")
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr == f"sovscan: error: {expected}\n"
