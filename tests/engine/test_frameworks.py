"""Which frameworks a scan cites: those binding the institution's home, and those it chose."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from sovscan.engine import evaluate, frameworks_in_force, load_profiles, load_rules
from sovscan.engine.profiles import apply_profile
from sovscan.model import Policy
from sovscan.scan import apply_profile_name
from tests.factories import POLICY, resolved_bucket


@pytest.mark.parametrize(
    ("home", "chosen", "cited"),
    [
        # A Quebec university's finding on data in France is no GDPR art. 44 transfer, and its
        # Montreal buckets are not "ok" under SecNumCloud: those were cited for every scan.
        ("CA-QC", None, ("qc-law25",)),
        ("FR", None, ("gdpr",)),
        ("NO", None, ("gdpr",)),  # the EEA
        ("CA-ON", None, ()),
        ("FR", ("secnumcloud",), ("gdpr", "secnumcloud")),
        ("CA-QC", ("gc-guardrails",), ("gc-guardrails", "qc-law25")),
    ],
)
def test_the_frameworks_in_force(
    home: str, chosen: tuple[str, ...] | None, cited: tuple[str, ...]
) -> None:
    policy = replace(POLICY, home=home, frameworks=chosen)
    assert frameworks_in_force(load_rules().frameworks, policy) == cited


def test_findings_cite_only_the_frameworks_in_force() -> None:
    ruleset = load_rules()
    bucket = resolved_bucket(region="us-east-1")
    every = {f.rule_id: f for f in evaluate(ruleset, [bucket], POLICY)}  # not settled: all
    assert {r.framework for r in every["foreign-law-reach"].references} > {"qc-law25"}
    quebec = replace(POLICY, frameworks=("qc-law25",))
    cited = {f.rule_id: f for f in evaluate(ruleset, [bucket], quebec)}
    assert {r.framework for r in cited["foreign-law-reach"].references} == {"qc-law25"}
    assert cited["provider-held-keys-sensitive-data"].references == ()  # it cites eu-csf only
    # The verdicts do not change: only what they cite.
    assert {k: f.status for k, f in every.items()} == {k: f.status for k, f in cited.items()}


def test_a_profile_adds_its_framework_and_the_inventory_list_wins(tmp_path: Path) -> None:
    from sovscan.config import load_config

    ruleset = load_rules()
    profile = load_profiles()["eu-gdpr"]
    _, policy = apply_profile(ruleset, POLICY, profile)
    assert policy.frameworks == ("gdpr",)
    path = tmp_path / "sovscan.toml"
    path.write_text(
        '[institution]\nname = "X"\nhome = "CA-QC"\nprofile = "eu-gdpr"\n'
        'frameworks = ["secnumcloud"]\n[dns]\ndomains = ["u.example"]\n',
        encoding="utf-8",
    )
    config = load_config(path)
    _, settled = apply_profile_name(config, ruleset, None)
    assert settled.frameworks == ("qc-law25", "secnumcloud")
    _, by_flag = apply_profile_name(replace(config, policy_overrides=frozenset()), ruleset, None)
    assert by_flag.frameworks == ("gdpr", "qc-law25")


def test_an_unknown_framework_is_one_line(tmp_path: Path) -> None:
    from tests.test_config import scan_writes_nothing

    path = tmp_path / "sovscan.toml"
    path.write_text(
        '[institution]\nname = "X"\nhome = "CA-QC"\nframeworks = ["qc-law25", "gdrp"]\n'
        '[dns]\ndomains = ["u.example"]\n',
        encoding="utf-8",
    )
    message = scan_writes_nothing(tmp_path, path)
    assert message.startswith(f"{path}: institution.frameworks[1]: expected one of ")
    assert message.endswith("got 'gdrp'") and "qc-law25" in message
    path.write_text(
        '[institution]\nname = "X"\nhome = "CA-QC"\nframeworks = ["GDPR!"]\n', encoding="utf-8"
    )
    assert scan_writes_nothing(tmp_path, path) == (
        f"{path}: institution.frameworks[0]: expected a framework id from rules/frameworks.yaml "
        "such as 'gdpr'; got 'GDPR!'"
    )


def test_every_profile_names_known_frameworks() -> None:
    from sovscan.engine.profiles import check_profiles

    assert check_profiles(load_profiles(), load_rules()) == []
    assert all(p.policy.get("frameworks") for p in load_profiles().values())


def test_policy_frameworks_default_to_every_framework() -> None:
    assert Policy("X", "CA-QC", ("CA-QC",), ("CA-QC",), "personal").frameworks is None


def test_an_inventorys_framework_list_is_a_notice_only_when_it_changes_what_is_cited(
    tmp_path: Path,
) -> None:
    from sovscan.config import load_config
    from sovscan.scan import profile_notices

    def notices(own: str, profile: str) -> tuple[str, ...]:
        path = tmp_path / "sovscan.toml"
        path.write_text(
            f'[institution]\nname = "X"\nhome = "CA-QC"\nprofile = "{profile}"\n'
            f'frameworks = {own}\n[dns]\ndomains = ["u.example"]\n',
            encoding="utf-8",
        )
        config = load_config(path)
        _, policy = apply_profile_name(config, load_rules(), None)
        return profile_notices(config, None, policy)

    # qc-law25 binds CA-QC: cited all the same, so "remove it to use the profile's" would lie.
    assert notices("[]", "quebec-law25") == ()
    (notice,) = notices('["gdpr"]', "secnumcloud")
    assert notice.startswith(
        "profile secnumcloud sets frameworks to secnumcloud, but the inventory's own frameworks "
        "(gdpr) (and those binding its home) is used"
    )


@pytest.mark.parametrize(
    ("sector", "cited"),
    [
        ("public", {"a2.1-s70.1"}),  # a university, a school service centre, a municipality
        ("private", {"p39.1-s17"}),
        (None, {"a2.1-s70.1", "p39.1-s17"}),  # not said: both, with a notice
    ],
)
def test_law25_cites_the_section_of_the_institutions_sector(
    sector: str | None, cited: set[str]
) -> None:
    ruleset = load_rules()
    policy = replace(POLICY, frameworks=("qc-law25",), sector=sector)
    findings = evaluate(ruleset, [resolved_bucket(region="us-east-1")], policy)
    outside = next(f for f in findings if f.rule_id == "data-outside-allowed-locations")
    assert {r.control for r in outside.references} == cited
    from sovscan.scan import rule_infos

    info = rule_infos(ruleset, policy)["data-outside-allowed-locations"]
    assert {c.control for c in info.references} == cited


def test_an_unset_sector_is_a_notice_only_where_a_framework_splits_by_sector() -> None:
    from sovscan.scan import sector_notices

    ruleset = load_rules()
    (notice,) = sector_notices(ruleset, replace(POLICY, frameworks=("qc-law25",)))
    assert notice.startswith(
        "institution.sector is not set: findings cite the controls of qc-law25"
    )
    assert sector_notices(ruleset, replace(POLICY, frameworks=("qc-law25",), sector="public")) == ()
    assert sector_notices(ruleset, replace(POLICY, frameworks=("gdpr",))) == ()


def test_a_bad_sector_is_one_line(tmp_path: Path) -> None:
    from sovscan.engine.loader import parse_frameworks
    from sovscan.errors import RuleError
    from tests.test_config import scan_writes_nothing

    path = tmp_path / "sovscan.toml"
    path.write_text(
        '[institution]\nname = "X"\nhome = "CA-QC"\nsector = "publique"\n'
        '[dns]\ndomains = ["u.example"]\n',
        encoding="utf-8",
    )
    assert scan_writes_nothing(tmp_path, path) == (
        f"{path}: institution.sector: expected public or private; got 'publique'"
    )
    doc = {
        "frameworks": {
            "x": {
                "title": "X",
                "version": "1",
                "url": "https://x.example",
                "controls": {"c": {"title": "C", "citation": "s. 1", "url": "u", "sector": "npo"}},
            }
        }
    }
    with pytest.raises(
        RuleError, match=r"frameworks\.x\.controls\.c\.sector: expected public or private"
    ):
        parse_frameworks(doc, "frameworks.yaml")
