"""Which frameworks a scan cites: those binding the institution's home, and those it chose."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from sovscan.engine import evaluate, frameworks_in_force, load_profiles, load_rules
from sovscan.engine.profiles import apply_profile
from sovscan.model import Control, Policy, ResolvedAsset
from sovscan.scan import apply_profile_name
from tests.factories import AWS_CONTROL, POLICY, resolved_bucket


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


# A French university: GDPR binds it, and it allows only France.
FRENCH = Policy(
    "Université de Paris-Exemple", "FR", ("FR",), ("FR", "EU"), "personal", frameworks=("gdpr",)
)


def _placed(
    kind: str,
    country: str | None,
    subdivision: str | None = None,
    *,
    declared: str | None = None,
    attributes: dict[str, object] | None = None,
    control: Control = AWS_CONTROL,
) -> ResolvedAsset:
    from sovscan.model import Asset, Confidence, Location, Method

    asset = Asset(
        f"x:{kind}:{country}", kind, "data", {"classification": "personal", **(attributes or {})}
    )
    located = country is not None
    location = Location(
        "aws" if located else None,
        None,
        country,
        subdivision,
        False,
        # Only a cloud API says where data rests; a SaaS front end is found another way.
        (Method.CLOUD_API if kind.startswith("aws.") else Method.CATALOGUE)
        if located
        else Method.UNKNOWN,
        Confidence.HIGH if located else Confidence.NONE,
        declared=declared,
    )
    return ResolvedAsset(asset, location, control)


def _cited(asset: ResolvedAsset, rule_id: str, policy: Policy = FRENCH) -> tuple[str, set[str]]:
    finding = next(f for f in evaluate(load_rules(), [asset], policy) if f.rule_id == rule_id)
    return finding.status.value, {f"{r.framework} {r.control}" for r in finding.references}


@pytest.mark.parametrize(
    ("country", "subdivision", "status", "art44"),
    [
        # Frankfurt: outside the institution's own allowed places, but no transfer (art. 1(3)).
        ("DE", "DE-HE", "risk", False),
        ("US", "US-VA", "risk", True),
        ("NO", None, "risk", False),  # the EEA, not only the EU
        (None, None, "unknown", True),  # nobody knows where: it may be a transfer
        ("FR", "FR-IDF", "ok", False),
    ],
)
def test_gdpr_art44_is_cited_only_for_a_place_outside_the_eea(
    country: str | None, subdivision: str | None, status: str, art44: bool
) -> None:
    found, cited = _cited(
        _placed("aws.s3.bucket", country, subdivision), "data-outside-allowed-locations"
    )
    assert found == status
    assert ("gdpr art-44" in cited) is art44


def test_declared_storage_is_judged_by_the_declared_place() -> None:
    # Seen answering in the US, kept in Germany as declared: the declared place decides.
    assert _cited(
        _placed("saas.endpoint", "US", declared="DE"), "declared-storage-outside-allowed-locations"
    ) == ("risk", set())
    assert _cited(
        _placed("saas.endpoint", "DE", declared="US"), "declared-storage-outside-allowed-locations"
    ) == ("risk", {"gdpr art-44"})
    # A front end in the EEA says nothing of where the vendor keeps the data: still cited.
    assert _cited(_placed("saas.endpoint", "FR"), "data-outside-allowed-locations") == (
        "unknown",
        {"gdpr art-44"},
    )


@pytest.mark.parametrize(
    ("replicas", "complete", "status", "art44"),
    [
        (["DE"], True, "risk", False),
        (["DE", "US"], True, "risk", True),
        (["FR"], None, "unknown", True),  # and a replica region nobody placed
        # A risk by the German copy, and a region nobody placed: it may be outside the EEA.
        (["DE"], None, "risk", True),
        ([], True, "ok", False),
    ],
)
def test_replicas_are_judged_by_the_replica_places(
    replicas: list[str], complete: bool | None, status: str, art44: bool
) -> None:
    attributes: dict[str, object] = {"replica_places": tuple(replicas)}
    if complete is not None:
        attributes["replica_places_complete"] = complete
    # The primary copy is in France: it must not decide what the replicas cite.
    found, cited = _cited(
        _placed("aws.s3.bucket", "FR", attributes=attributes), "replica-outside-allowed-locations"
    )
    assert found == status
    assert ("gdpr art-44" in cited) is art44


def test_dmarc_reports_under_foreign_control_in_the_eea_cite_art48_not_art44() -> None:
    in_ireland = _placed("dns.dmarc", "IE")
    assert _cited(in_ireland, "dmarc-reports-abroad") == ("risk", {"gdpr art-48"})
    assert _cited(_placed("dns.dmarc", "US"), "dmarc-reports-abroad") == (
        "risk",
        {"gdpr art-44", "gdpr art-48"},
    )


def test_a_quebec_institution_still_cites_law25_whatever_the_place() -> None:
    quebec = replace(POLICY, frameworks=("qc-law25",), sector="public")
    assert _cited(_placed("aws.s3.bucket", "FR"), "data-outside-allowed-locations", quebec) == (
        "risk",
        {"qc-law25 a2.1-s70.1"},
    )


def test_bad_transfers_outside_and_a_bad_place_are_one_line(tmp_path: Path) -> None:
    from sovscan.engine.loader import parse_frameworks
    from sovscan.errors import RuleError

    control = {"title": "C", "citation": "s. 1", "url": "u", "transfers_outside": ["EUROPE"]}
    doc = {
        "frameworks": {"x": {"title": "X", "version": "1", "url": "u", "controls": {"c": control}}}
    }
    with pytest.raises(
        RuleError,
        match=r"^frameworks\.yaml: frameworks\.x\.controls\.c\.transfers_outside: expected a "
        r"non-empty list of ISO 3166 codes, EU or EEA; got \['EUROPE'\]$",
    ):
        parse_frameworks(doc, "frameworks.yaml")
    rules = tmp_path / "rules"
    rules.mkdir()
    text = Path("rules/location/declared-storage-outside-allowed-locations.yaml").read_text()
    (rules / "declared-storage-outside-allowed-locations.yaml").write_text(
        text.replace("place: location.declared", "place: control.operator")
    )
    with pytest.raises(
        RuleError, match=r"place: expected one of location\.place, .*got 'control\.operator'$"
    ):
        load_rules(rules)


def test_rule_info_and_rules_show_say_when_a_transfer_control_is_cited() -> None:
    from sovscan.commands.rules import describe
    from sovscan.scan import rule_infos

    ruleset = load_rules()
    info = rule_infos(ruleset, FRENCH)["replica-outside-allowed-locations"]
    (art44,) = info.references
    assert art44.condition == (
        "cited only where asset.attr.replica_places is outside EEA, or not known"
    )
    assert rule_infos(ruleset, FRENCH)["foreign-law-reach"].references[0].condition == ""
    replica = ruleset.get("replica-outside-allowed-locations")
    assert replica is not None
    assert "  gdpr art-44: Regulation (EU) 2016/679, art. 44 - " in describe(ruleset, replica)
    assert "\n    cited only where asset.attr.replica_places is outside EEA" in describe(
        ruleset, replica
    )


@pytest.mark.parametrize(
    ("own", "profile", "jurisdictions", "noticed"),
    [
        ('home_jurisdictions = ["FR"]\n', None, ("FR", "EU"), True),
        ("", None, ("FR", "EU"), False),  # the default has it
        ('home_jurisdictions = ["FR", "EEA"]\n', None, ("FR", "EEA"), False),
        ("", "eu-gdpr", ("EEA",), False),
        ('home_jurisdictions = ["FR"]\n', "eu-gdpr", ("FR", "EU"), True),  # the file wins
    ],
)
def test_eu_law_is_home_law_for_an_institution_in_a_member_state(
    tmp_path: Path,
    own: str,
    profile: str | None,
    jurisdictions: tuple[str, ...],
    noticed: bool,
) -> None:
    from sovscan.config import load_config
    from sovscan.model import Asset, Confidence, Location, Method
    from sovscan.scan import union_law_notices

    path = tmp_path / "sovscan.toml"
    path.write_text(
        f'[institution]\nname = "X"\nhome = "FR"\n{own}[dns]\ndomains = ["u.example"]\n',
        encoding="utf-8",
    )
    config = load_config(path)
    _, policy = apply_profile_name(config, load_rules(), profile)
    assert policy.home_jurisdictions == jurisdictions
    notices = union_law_notices(config, profile)
    assert bool(notices) is noticed
    if noticed:
        assert notices[0].startswith(
            "institution.home_jurisdictions (FR) omits EU: EU law is part of the legal order of "
            "FR, a member state, so EU counts as home too"
        )
    ovh = Control("OVH SAS", "OVH Groupe SA", ("FR", "EU"), (), Method.CATALOGUE, Confidence.HIGH)
    server = ResolvedAsset(
        Asset("x:ovh", "aws.s3.bucket", "data", {"classification": "personal"}),
        Location("ovh", None, "FR", None, False, Method.CATALOGUE, Confidence.HIGH),
        ovh,
    )
    (finding,) = (
        f for f in evaluate(load_rules(), [server], policy) if f.rule_id == "foreign-law-reach"
    )
    assert finding.status.value == "ok"
