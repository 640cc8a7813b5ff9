"""The `rules` command group: list, the framework view, show, and validate a folder."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from sovscan.commands.rules import rules
from sovscan.errors import RuleError
from tests.engine.test_loader import VALID, write_rule

CASES: dict[str, object] = {
    "rule": "own-rule",
    "config": {"allowed_locations": ["CA-QC"]},
    "cases": [
        {
            "name": "grant data in Ohio",
            "asset": {"kind": "aws.s3.bucket", "name": "g", "attributes": {"project": "grant-7"}},
            "location": {"country": "US", "subdivision": "US-OH"},
            "expect": "risk",
        },
        {
            "name": "grant data in Montreal",
            "asset": {"kind": "aws.s3.bucket", "name": "g", "attributes": {"project": "grant-7"}},
            "location": {"country": "CA", "subdivision": "CA-QC"},
            "expect": "ok",
        },
        {
            "name": "grant data somewhere",
            "asset": {"kind": "saas.endpoint", "name": "g", "attributes": {"project": "grant-7"}},
            "expect": "unknown",
        },
    ],
}


def own_folder(tmp_path: Path, cases: dict[str, object] | None = CASES) -> Path:
    write_rule(tmp_path, VALID)
    if cases is not None:
        text = yaml.safe_dump(cases, sort_keys=False)
        (tmp_path / "own" / "own-rule.test.yaml").write_text(text, encoding="utf-8")
    return tmp_path


def test_list_shows_every_rule() -> None:
    result = CliRunner().invoke(rules, ["list"])
    assert result.exit_code == 0
    assert "foreign-law-reach" in result.output
    assert "data-outside-allowed-locations" in result.output
    assert "high" in result.output


def test_list_by_framework_inverts_the_references() -> None:
    result = CliRunner().invoke(rules, ["list", "--framework", "gdpr"])
    assert result.exit_code == 0
    art48 = next(line for line in result.output.splitlines() if line.startswith("art-48"))
    assert "foreign-law-reach" in art48
    assert "data-outside-allowed-locations" not in art48
    art45 = next(line for line in result.output.splitlines() if line.startswith("art-45"))
    assert "(no rule)" in art45


def test_list_by_an_unknown_framework_is_an_error() -> None:
    result = CliRunner().invoke(rules, ["list", "--framework", "iso27001"])
    assert isinstance(result.exception, RuleError)
    assert "expected one of" in str(result.exception)


def test_list_includes_an_institutions_own_rules(tmp_path: Path) -> None:
    result = CliRunner().invoke(rules, ["list", "--rules", str(own_folder(tmp_path))])
    assert result.exit_code == 0
    assert "own-rule" in result.output


def test_show_a_rule_with_its_citations() -> None:
    result = CliRunner().invoke(rules, ["show", "foreign-law-reach"])
    assert result.exit_code == 0
    assert "CQLR c. P-39.1, s. 17" in result.output
    assert "Regulation (EU) 2016/679, art. 48" in result.output
    assert "reads: asset.sensitive, control.jurisdictions" in result.output


def test_show_an_unknown_rule_is_an_error() -> None:
    result = CliRunner().invoke(rules, ["show", "no-such-rule"])
    assert isinstance(result.exception, RuleError)


def test_validate_the_shipped_rules() -> None:
    from sovscan.engine import default_rules_dir

    result = CliRunner().invoke(rules, ["validate", str(default_rules_dir())])
    assert result.exit_code == 0, result.output
    assert "13 rules valid" in result.output


def test_validate_an_institutions_folder(tmp_path: Path) -> None:
    result = CliRunner().invoke(rules, ["validate", str(own_folder(tmp_path))])
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith("1 rule valid, 3 test cases passed")


def test_validate_reports_a_failing_case(tmp_path: Path) -> None:
    broken = yaml.safe_load(yaml.safe_dump(CASES))
    broken["cases"].append({**broken["cases"][1], "expect": "risk"})
    result = CliRunner().invoke(rules, ["validate", str(own_folder(tmp_path, broken))])
    assert isinstance(result.exception, RuleError)
    assert "cases[3] (grant data in Montreal): expected risk; got ok" in str(result.exception)


def test_validate_requires_a_test_file_with_all_three_outcomes(tmp_path: Path) -> None:
    result = CliRunner().invoke(rules, ["validate", str(own_folder(tmp_path, None))])
    assert "no test file own-rule.test.yaml" in str(result.exception)
    partial = yaml.safe_load(yaml.safe_dump(CASES))
    del partial["cases"][2]
    result = CliRunner().invoke(rules, ["validate", str(own_folder(tmp_path, partial))])
    assert "cases: no unknown case" in str(result.exception)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {"cases": [{"name": "x", "asset": {"kind": "aws.s3.bucket"}, "expect": "maybe"}]},
            "cases[0].expect: expected risk, ok or unknown",
        ),
        ({"config": {"home_town": "X"}}, "config.home_town: unknown key"),
        ({"config": {"allowed_locations": "CA"}}, "config.allowed_locations: expected a list"),
        (
            {
                "cases": [
                    {
                        "name": "x",
                        "asset": {"kind": "aws.s3.bucket"},
                        "expect": "ok",
                        "location": {"method": "telepathy"},
                    }
                ]
            },
            "cases[0]",
        ),
    ],
)
def test_validate_rejects_a_bad_test_file(
    tmp_path: Path, change: dict[str, object], expected: str
) -> None:
    result = CliRunner().invoke(rules, ["validate", str(own_folder(tmp_path, {**CASES, **change}))])
    assert isinstance(result.exception, RuleError)
    assert expected in str(result.exception)


def test_validate_rejects_an_invalid_rule(tmp_path: Path) -> None:
    write_rule(tmp_path, {**VALID, "severity": "severe"})
    result = CliRunner().invoke(rules, ["validate", str(tmp_path)])
    assert isinstance(result.exception, RuleError)
    assert "own-rule.yaml: severity: expected one of" in str(result.exception)


def test_a_case_that_locates_nothing_reads_edge_as_a_scan_does(tmp_path: Path) -> None:
    # A student copied a report's `"edge": false, "method": "unknown"` without the method: the
    # case said risk where the scan, reading edge as unknown, says unknown.
    rule = {
        "id": "not-on-an-edge",
        "title": "Data not on an edge network",
        "severity": "low",
        "applies_to": ["dns.mailbox"],
        "match": {"field": "location.edge", "op": "equals", "value": False},
        "message": "{asset.name} is not on an edge network.",
        "rationale": "A test of how cases read location.",
        "remediation": "None: a test.",
        "references": [{"framework": "eu-csf", "control": "SOV-2"}],
    }
    folder = tmp_path / "own" / "edge"
    folder.mkdir(parents=True)
    (folder / "not-on-an-edge.yaml").write_text(yaml.safe_dump(rule), encoding="utf-8")
    located = {"provider": "microsoft", "country": "US", "edge": False}
    cases = {
        "rule": "not-on-an-edge",
        "cases": [
            {"name": "copied", "asset": {"kind": "dns.mailbox", "name": "m"},
             "location": {"provider": None, "edge": False}, "expect": "unknown"},
            {"name": "located", "asset": {"kind": "dns.mailbox", "name": "m"},
             "location": located, "expect": "risk"},
            {"name": "edge", "asset": {"kind": "dns.mailbox", "name": "m"},
             "location": {**located, "edge": True}, "expect": "ok"},
        ],
    }  # fmt: skip
    (folder / "not-on-an-edge.test.yaml").write_text(yaml.safe_dump(cases), encoding="utf-8")
    result = CliRunner().invoke(rules, ["validate", str(tmp_path / "own")])
    assert result.exit_code == 0, result.output
    assert "3 test cases passed" in result.output


@pytest.mark.parametrize("suffix", ["yml", None])
def test_validate_refuses_a_folder_that_holds_no_rule(tmp_path: Path, suffix: str | None) -> None:
    # Both said "0 rules valid, 0 test cases passed", exit 0.
    folder = own_folder(tmp_path)
    rule = folder / "own" / "own-rule.yaml"
    if suffix is None:
        rule.unlink()
        (folder / "own" / "own-rule.test.yaml").unlink()
    else:
        rule.rename(rule.with_suffix(f".{suffix}"))
    result = CliRunner().invoke(rules, ["validate", str(folder)])
    assert result.exit_code != 0
    assert isinstance(result.exception, RuleError)
    message = str(result.exception)
    assert "\n" not in message and str(folder) in message
    assert ("rename it to own-rule.yaml" if suffix else "no rule files") in message


def test_validate_names_every_problem_with_v(tmp_path: Path) -> None:
    # A case turned from ok to risk leaves no ok case: the error named only that, and the
    # failing case itself was "1 more", even with -v.
    from sovscan.cli import cli

    changed = yaml.safe_load(yaml.safe_dump(CASES))
    changed["cases"][1]["expect"] = "risk"
    folder = str(own_folder(tmp_path, changed))
    quiet = CliRunner().invoke(cli, ["rules", "validate", folder])
    assert quiet.exit_code == 2
    (line,) = quiet.stderr.splitlines()
    assert line.endswith("(and 1 more; -v lists them)")
    told = CliRunner().invoke(cli, ["-v", "rules", "validate", folder])
    assert told.exit_code == 2
    problems = "cases[1] (grant data in Montreal): expected risk; got ok", "cases: no ok case"
    assert all(problem in told.stderr for problem in problems), told.stderr
    assert "rules validate: also: " in told.stderr
