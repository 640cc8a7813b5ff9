"""The streamed scan (sovscan.stream) against the held one (sovscan.scan.run_scan): the same
observations must give the same report bytes, score, notices, history rows and exit decision,
whatever the batch size and however many merge stages the runs need."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Iterator
from contextlib import AbstractContextManager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import dns.resolver
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sovscan.cli import exit_code, failing_findings
from sovscan.config import ScanConfig, load_config
from sovscan.dnsserver import ZoneServer, make_resolver
from sovscan.engine import RuleSet, Waiver, default_rules_dir, load_rules
from sovscan.evidence import load_observations, verify_bundle, write_bundle, write_bundle_pieces
from sovscan.history import load_document, record_scan, save_scan
from sovscan.model import Asset, Confidence, Evidence, Gap, ReplayOf, Scan, Severity, Status
from sovscan.probes.dns import DnsProbe
from sovscan.report import REPORTERS
from sovscan.resolve import KnowledgeBase, load_knowledge
from sovscan.scan import assess, configured_scope, run_scan
from sovscan.stream import StreamedScan, _batched, read_record, record_line, streamed_scan
from tests.conftest import StepClock
from tests.probes.dns_fixtures import FAULTS, all_zones

START = datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC)
OBSERVED = datetime(2026, 11, 24, 11, 0, 0, tzinfo=UTC)
DOMAINS = (
    "m365.example",
    "gws.example",
    "gateway.example",
    "mimecast-ca.example",
    "tokens.example",
    "cloudflare-dns.example",
    "hostile.example",
    "servfail.example",
    "spfbomb.example",
    "gsv.example",
)


@pytest.fixture(scope="module")
def resolver() -> Iterator[dns.resolver.Resolver]:
    with ZoneServer(all_zones(), faults=FAULTS) as server:
        # Patient: on a loaded machine a loopback answer can outlast a short timeout.
        yield make_resolver(server.host, server.port, timeout=1.0, lifetime=3.0)


@pytest.fixture(scope="module")
def knowledge() -> KnowledgeBase:
    return load_knowledge()


@pytest.fixture(scope="module")
def ruleset() -> RuleSet:
    return load_rules(default_rules_dir())


@pytest.fixture(scope="module")
def observations(resolver: dns.resolver.Resolver) -> list[Asset | Gap]:
    """What the probes saw, once: both paths are then fed the very same items."""
    probe = DnsProbe(DOMAINS, ("lms",), resolver, clock=lambda: OBSERVED, workers=4)
    items: list[Asset | Gap] = list(probe.collect())
    evidence = (Evidence("aws:s3", "GetBucketLocation", OBSERVED, Confidence.HIGH),)
    bucket = Asset(
        "aws:123456789012:s3:research",
        "aws.s3.bucket",
        "research",
        {"region": "us-east-1", "classification": "confidential"},
        evidence,
    )
    first_dns = next(item for item in items if isinstance(item, Asset))
    # A repeated id: the first one observed is kept, as collect() keeps it.
    repeat = dataclasses.replace(first_dns, attributes={"domain": "elsewhere.example"})
    return [bucket, *items, repeat, Gap("probe:extra", "AccessDenied: s3:ListBuckets")]


class Replay:
    name = "replay"

    def __init__(self, items: list[Asset | Gap]) -> None:
        self.items = items

    def collect(self) -> Iterator[Asset | Gap]:
        yield from self.items


def config(tmp_path: Path, waivers: tuple[Waiver, ...] = ()) -> ScanConfig:
    path = tmp_path / "sovscan.toml"
    path.write_text(
        '[institution]\nname = "Université"\nhome = "CA-QC"\ndefault_classification = "internal"\n'
        f"[dns]\ndomains = {json.dumps(list(DOMAINS))}\n",
        encoding="utf-8",
    )
    return dataclasses.replace(load_config(path), waivers=waivers)


def held(cfg: ScanConfig, items: list[Asset | Gap], kb: KnowledgeBase, rules: RuleSet) -> Scan:
    return run_scan(cfg, [Replay(items)], kb, rules, clock=StepClock(START))


def stream(
    cfg: ScanConfig,
    items: list[Asset | Gap],
    kb: KnowledgeBase,
    rules: RuleSet,
    **options: Any,
) -> AbstractContextManager[StreamedScan]:
    """The streamed scan of what `held` scans, at the same clock."""
    return streamed_scan(
        cfg.policy,
        [Replay(items)],
        kb,
        rules,
        clock=StepClock(START),
        waivers=cfg.waivers,
        scope=configured_scope(cfg),
        **options,
    )


def waivers_for(scan: Scan) -> tuple[Waiver, ...]:
    risk = next(f for f in scan.findings if f.status is Status.RISK)
    unknown = next(f for f in scan.findings if f.status is Status.UNKNOWN)
    until = date(2027, 1, 1)
    ok = next(f for f in scan.findings if f.status is Status.OK)
    # An asset waiver whose every risk or unknown finding has its own finding waiver.
    shadowed = next(
        f.asset_id
        for f in scan.findings
        if f.status is not Status.OK and f.asset_id not in (risk.asset_id, unknown.asset_id)
    )
    lapsed = next(
        f
        for f in scan.findings
        if f.status is not Status.OK
        and f.asset_id not in (risk.asset_id, unknown.asset_id, shadowed)
    )
    own = tuple(
        Waiver("assessed one by one", "dpo@example.ca", until, finding=f.key)
        for f in scan.findings
        if f.asset_id == shadowed and f.status is not Status.OK
    )
    return (
        Waiver("accepted for the pilot", "dpo@example.ca", until, finding=risk.key),
        Waiver("vendor contract under review", "it@example.ca", until, asset=unknown.asset_id),
        Waiver("matches nothing", "it@example.ca", until, asset="aws:none"),
        Waiver("long expired", "it@example.ca", date(2020, 1, 1), finding=lapsed.key),
        # Renewed by the asset waiver above, which now covers its finding: a record too.
        Waiver("first assessed alone", "it@example.ca", date(2020, 1, 1), finding=unknown.key),
        # Renewed by the first waiver: a record, of which no batch may tell.
        Waiver("the pilot's first term", "dpo@example.ca", date(2020, 1, 1), finding=risk.key),
        Waiver("not a risk", "it@example.ca", until, finding=ok.key),
        Waiver("the whole asset", "it@example.ca", until, asset=shadowed),
        *own,
    )


@pytest.mark.parametrize(("batch", "open_runs"), [(10_000, 128), (7, 128), (3, 2)])
def test_streamed_reports_are_the_held_reports_byte_for_byte(
    tmp_path: Path,
    observations: list[Asset | Gap],
    knowledge: KnowledgeBase,
    ruleset: RuleSet,
    batch: int,
    open_runs: int,
) -> None:
    plain = held(config(tmp_path), observations, knowledge, ruleset)
    cfg = config(tmp_path, waivers_for(plain))
    expected = held(cfg, observations, knowledge, ruleset)
    assert any(f.waiver for f in expected.findings)
    # Every kind of waiver notice, so the batches must agree on each.
    assert [n.split(" ")[1] for n in expected.notices] == ["expired", "matched", "for", "for"]
    assert expected.notices[2].endswith("applies to a finding that is not a risk (ok) in this scan")
    overruled = "each risk or unknown finding of the asset has its own finding waiver"
    assert expected.notices[3].endswith(overruled)
    assert expected.gaps and len(expected.assets) > 60
    # Unknowns that could raise the score: the tally's bound is compared, not just 0 to 0.
    assert expected.score.upper_bound > expected.score.value
    assert 0 < expected.score.known_share < 100
    with stream(
        cfg, observations, knowledge, ruleset, batch_assets=batch, open_runs=open_runs
    ) as streamed:
        assert streamed.summary.score == expected.score
        assert streamed.summary.notices == expected.notices
        assert streamed.summary.gaps == expected.gaps
        assert "".join(streamed.json_pieces()) == REPORTERS["json"](expected)
        assert "".join(streamed.csv_pieces()) == REPORTERS["csv"](expected)
        assert streamed.risks == sum(1 for f in expected.findings if f.status is Status.RISK)
        without_gaps = dataclasses.replace(expected, gaps=())
        decisions = set()
        for severity in Severity:
            for keys in (None, set(), {f.key for f in expected.findings}):
                fails = exit_code(without_gaps, severity.value, keys) == 1
                failing = failing_findings(expected, severity.value, keys)
                assert streamed.failing(severity.rank, keys) == failing, (severity, keys)
                assert (failing > 0) == fails
                decisions.add(failing)
        assert 0 in decisions and len(decisions) > 2


def test_streamed_history_holds_what_the_held_scan_records(
    tmp_path: Path,
    observations: list[Asset | Gap],
    knowledge: KnowledgeBase,
    ruleset: RuleSet,
) -> None:
    # With waivers: which findings they accepted, and the owners and expiries, are stored too.
    cfg = config(tmp_path, waivers_for(held(config(tmp_path), observations, knowledge, ruleset)))
    expected = held(cfg, observations, knowledge, ruleset)
    assert any(f.waiver for f in expected.findings)
    held_store, streamed_store = tmp_path / "held.sqlite", tmp_path / "streamed.sqlite"
    save_scan(held_store, expected)
    with stream(cfg, observations, knowledge, ruleset, batch_assets=5) as streamed:
        record_scan(
            streamed_store,
            streamed.summary,
            streamed.stored_pieces,
            streamed.finding_rows(),
            streamed.asset_rows(),
        )
    for query in QUERIES:
        assert _rows(held_store, query) == _rows(streamed_store, query)
    assert _rows(held_store, "SELECT waiver_owner FROM findings WHERE waived = 1")
    assert load_document(held_store, expected.id) == load_document(streamed_store, expected.id)
    # The same compact text, not only the same data: the stored document is a third smaller.
    assert _rows(held_store, "SELECT document FROM scans") == _rows(
        streamed_store, "SELECT document FROM scans"
    )


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_a_streamed_scan_s_evidence_bundle_is_the_held_one_s(
    tmp_path: Path,
    observations: list[Asset | Gap],
    knowledge: KnowledgeBase,
    ruleset: RuleSet,
    fmt: str,
) -> None:
    # A bundle is what a national audit keeps; held, it cost five times the streamed scan's
    # memory. Written from the scan's files on disk, it must be the same bytes: the same
    # observations replay the same way, and the same report is the one handed over.
    cfg = config(tmp_path, waivers_for(held(config(tmp_path), observations, knowledge, ruleset)))
    expected = held(cfg, observations, knowledge, ruleset)
    rules = [default_rules_dir()]
    inventory = tmp_path / "sovscan.toml"
    report = None if fmt == "json" else (fmt, REPORTERS[fmt](expected))
    write_bundle(
        tmp_path / "held",
        expected,
        config_file=inventory,
        rule_dirs=rules,
        waivers=cfg.waivers,
        report=report,
    )
    formats = frozenset({fmt, "json", "observations"})
    with stream(cfg, observations, knowledge, ruleset, batch_assets=5, formats=formats) as streamed:
        write_bundle_pieces(
            tmp_path / "streamed",
            streamed.summary,
            observed=streamed.observed_pieces,
            report_json=streamed.json_pieces(),
            config_file=inventory,
            rule_dirs=rules,
            waivers=cfg.waivers,
            report=None if fmt == "json" else (fmt, streamed.csv_pieces()),
        )
    held_manifest = json.loads((tmp_path / "held" / "manifest.json").read_text(encoding="utf-8"))
    streamed_manifest = json.loads(
        (tmp_path / "streamed" / "manifest.json").read_text(encoding="utf-8")
    )
    assert streamed_manifest["files"] == held_manifest["files"]
    assert ("report.csv" in held_manifest["files"]) == (fmt == "csv")
    assert verify_bundle(tmp_path / "streamed") == []
    replayed = load_observations(tmp_path / "streamed")
    assert [a.id for a in replayed.assets] == [item.asset.id for item in expected.assets]
    assert replayed.assets == tuple(item.asset for item in expected.assets)
    assert replayed.gaps == expected.gaps


def test_a_streamed_replay_is_the_held_replay(
    tmp_path: Path,
    observations: list[Asset | Gap],
    knowledge: KnowledgeBase,
    ruleset: RuleSet,
) -> None:
    # `replay --format json|csv` streams a bundle's observations: its report must be the held
    # replay's, waivers judged on the day the estate was observed, not the replay's.
    cfg = config(tmp_path, waivers_for(held(config(tmp_path), observations, knowledge, ruleset)))
    observed_on = OBSERVED.replace(year=2019)  # before "long expired" lapsed
    replay_of = ReplayOf("a" * 16, observed_on, observed_on)
    assets = sorted(
        {a.id: a for a in reversed(observations) if isinstance(a, Asset)}.values(),
        key=lambda a: a.id,
    )
    gaps = [g for g in observations if isinstance(g, Gap)]
    expected = assess(
        cfg.policy,
        assets,
        gaps,
        knowledge,
        ruleset,
        started=START,
        finished=START.replace(second=1),
        waivers=cfg.waivers,
        replay_of=replay_of,
    )
    assert expected.notices != held(cfg, observations, knowledge, ruleset).notices
    with streamed_scan(
        cfg.policy,
        [Replay(list(assets))],
        knowledge,
        ruleset,
        clock=StepClock(START),
        extra_gaps=gaps,
        waivers=cfg.waivers,
        replay_of=replay_of,
        batch_assets=7,
    ) as streamed:
        assert streamed.summary.replay_of == replay_of
        assert streamed.summary.id == expected.id
        assert "".join(streamed.json_pieces()) == REPORTERS["json"](expected)
        assert "".join(streamed.csv_pieces()) == REPORTERS["csv"](expected)


QUERIES = (
    "SELECT id, institution, started_at, finished_at, score, complete, scope FROM scans",
    "SELECT * FROM findings",
    "SELECT * FROM assets",
)


def _rows(store: Path, query: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(store) as connection:
        return sorted(connection.execute(query).fetchall())


def test_batches_never_split_a_domain() -> None:
    evidence = (Evidence("dns:A", "x", OBSERVED, Confidence.HIGH),)

    def asset(domain: str, key: str) -> Asset:
        return Asset(f"dns:{domain}:{key}", "dns.host", key, {"domain": domain}, evidence)

    items: list[Asset | Gap] = [
        *(asset("a.example", f"k{i}") for i in range(5)),
        Gap("dns:b.example", "SERVFAIL"),
        *(asset("b.example", f"k{i}") for i in range(2)),
        asset("c.example", "k0"),
    ]
    gaps: list[Gap] = []
    batches = list(_batched(items, gaps, 2))
    assert [[a.attributes["domain"] for a in b] for b in batches] == [
        ["a.example"] * 5,
        ["b.example"] * 2,
        ["c.example"],
    ]
    assert gaps == [Gap("dns:b.example", "SERVFAIL")]


def test_the_scan_folder_is_gone_afterwards(
    observations: list[Asset | Gap], knowledge: KnowledgeBase, ruleset: RuleSet, tmp_path: Path
) -> None:
    cfg = config(tmp_path)
    with streamed_scan(cfg.policy, [Replay(observations)], knowledge, ruleset) as streamed:
        folder = streamed.merged.parent
        assert streamed.merged.is_file()
        assert list(folder.glob("run-*")) == []  # merged runs are removed at once
    assert not folder.exists()


def test_a_lone_surrogate_is_cleaned_as_the_held_reports_clean_it(
    tmp_path: Path, knowledge: KnowledgeBase, ruleset: RuleSet
) -> None:
    evidence = (Evidence("aws:s3", "GetBucketLocation \udfff", OBSERVED, Confidence.HIGH),)
    bucket = Asset(
        "aws:123456789012:s3:bad\ud800name",
        "aws.s3.bucket",
        "bad\ud800name",
        {"region": "ca-central-1"},
        evidence,
    )
    cfg = config(tmp_path)
    expected = held(cfg, [bucket], knowledge, ruleset)
    with streamed_scan(
        cfg.policy,
        [Replay([bucket])],
        knowledge,
        ruleset,
        clock=StepClock(START),
        scope=configured_scope(cfg),
    ) as streamed:
        assert "".join(streamed.json_pieces()) == REPORTERS["json"](expected)
        assert "".join(streamed.csv_pieces()) == REPORTERS["csv"](expected)
        assert "\ud800" not in "".join(streamed.stored_pieces())


_RECORD_TEXT = st.text(alphabet=st.characters(codec=None), max_size=20)
_RECORD = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | _RECORD_TEXT,
    lambda inner: st.lists(inner, max_size=5),
    max_leaves=25,
)


@given(st.lists(_RECORD, max_size=8))
def test_a_record_line_reads_back_as_written(record: list[object]) -> None:
    # orjson writes and reads most lines; a lone surrogate goes through json's ASCII escapes.
    # What json gave before: a surrogate pair stored as two characters reads back as one.
    line = record_line(record)
    assert line.endswith("\n") and not [c for c in line[:-1] if c in "\r\n"]
    assert read_record(line) == json.loads(json.dumps(record))
    with_surrogate = [*record, "a\ud800b"]
    assert read_record(record_line(with_surrogate)) == json.loads(json.dumps(with_surrogate))
    assert with_surrogate[-1] == read_record(record_line(with_surrogate))[-1]
