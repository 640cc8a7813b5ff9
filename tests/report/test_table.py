"""The terminal report shows location and control, lists gaps, and escapes control characters."""

from __future__ import annotations

from dataclasses import replace

from sovscan.model import Finding, Gap, Severity, Status, WaiverMark
from sovscan.report.table import MOST_ROWS, SHORTENED, render
from tests.factories import make_scan, resolved_bucket


def test_table_shows_where_and_who() -> None:
    text = render(make_scan())
    assert "Université Exemple" in text
    assert "aws ca-central-1 CA-QC [cloud-api]" in text
    assert "Amazon Web Services, Inc." in text and "parent: Amazon.com, Inc." in text
    assert "US: us-cloud-act, us-fisa-702" in text
    assert "foreign-law-reach" in text
    assert "1 ok not shown" not in text  # no ok findings in this scan
    assert "where acme keeps data is unknown" in text
    assert "complete" in text and "PARTIAL" not in text


def test_gaps_are_listed_and_mark_the_scan_partial() -> None:
    text = render(make_scan(gaps=(Gap("dns:universite.example:TXT", "SERVFAIL"),)))
    assert "PARTIAL: 1 scope(s) could not be seen" in text
    assert "50/100 for the part seen only (partial scan)" in text
    assert "dns:universite.example:TXT" in text and "SERVFAIL" in text


def test_terminal_escapes_are_neutralised() -> None:
    hostile = resolved_bucket(name="evil\x1b[2J\x1b]0;pwned\x07\u202e")
    scan = make_scan(assets=(hostile,))
    scan = replace(scan, findings=())
    text = render(scan)
    assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text
    assert "evil\\x1b[2J" in text
    assert "pwned\\x07\\u202" in text  # U+202E as \u202e (the column may cut its end)


def test_narrow_terminals_get_a_list_that_fits() -> None:
    scan = make_scan(gaps=(Gap("dns:universite.example:TXT", "SERVFAIL"),))
    narrow = render(scan, width=80)
    wide = render(scan, width=200)
    assert wide == render(scan)
    assert "* research-data (aws.s3.bucket)" in narrow
    assert "where: aws ca-central-1 CA-QC [cloud-api]" in narrow
    assert "* [high risk] foreign-law-reach" in narrow
    assert max(len(line) for line in narrow.splitlines()) <= 80
    assert max(len(line) for line in wide.splitlines()) > 80


def test_a_large_scan_shows_the_most_exposed_rows_and_says_how_many_more() -> None:
    buckets = tuple(resolved_bucket(f"bucket-{i:04d}") for i in range(MOST_ROWS + 40))
    exposed = buckets[-1].asset.id  # last by id: shown only because it is at risk
    findings = (
        Finding("foreign-law-reach", exposed, Status.RISK, Severity.CRITICAL, "the exposed one"),
        *(
            Finding("data-outside-allowed-locations", b.asset.id, Status.UNKNOWN, Severity.LOW, "?")
            for b in buckets[: MOST_ROWS + 5]
        ),
    )
    gaps = tuple(Gap(f"dns:d{i}.example", "timeout") for i in range(MOST_ROWS + 1))
    scan = make_scan(assets=buckets, findings=findings, gaps=gaps)
    for width in (None, 80):
        text = render(scan, width)
        assert "bucket-0539" in text and "bucket-0538" not in text
        assert f"({MOST_ROWS} of {MOST_ROWS + 40} shown, the most exposed first; 40 more" in text
        assert f"Findings ({MOST_ROWS + 6} risk or unknown; 0 ok not shown)" in text
        assert text.index("the exposed one") < text.index("data-outside-allowed-locations")
        flowing = " ".join(text.split())  # a narrow terminal wraps these lines
        assert (
            f"({MOST_ROWS} of {MOST_ROWS + 6} shown, the most exposed first; 6 more in the json, "
            "csv and html reports)"
        ) in flowing
        # The CSV has a row per finding only: hidden gaps and assets are in json and html.
        assert (
            f"({MOST_ROWS} of {MOST_ROWS + 1} shown, in the order found; 1 more in the json and "
            "html reports)"
        ) in flowing
        assert "40 more in the json and html reports)" in flowing
        assert f"d{MOST_ROWS}.example" not in text


def test_a_small_scan_shows_everything_in_id_order() -> None:
    assets = (resolved_bucket("zeta-bucket"), resolved_bucket("alpha-bucket"))
    text = render(make_scan(assets=assets), None)
    assert "shown," not in text
    assert text.index("zeta-bucket") < text.index("alpha-bucket")  # as the scan holds them


def test_a_capped_table_never_hides_a_live_risk_behind_accepted_ones() -> None:
    buckets = tuple(resolved_bucket(f"bucket-{i:04d}") for i in range(MOST_ROWS + 50))
    accepted = WaiverMark("accepted by the board", "dpo@universite.example", "2027-01-31")
    findings = (
        *(
            Finding("a-rule", b.asset.id, Status.RISK, Severity.HIGH, "accepted", waiver=accepted)
            for b in buckets[: MOST_ROWS + 49]
        ),
        Finding("z-rule", buckets[-1].asset.id, Status.RISK, Severity.HIGH, "LIVE RISK"),
        Finding("z-rule", buckets[0].asset.id, Status.UNKNOWN, Severity.LOW, "CANNOT TELL"),
    )
    for width in (None, 80):
        text = render(make_scan(assets=buckets, findings=findings), width)
        assert "LIVE RISK" in text and "CANNOT TELL" in text
        assert text.index("LIVE RISK") < text.index("CANNOT TELL") < text.index("accepted")
        assert "(waived)" in text  # the status column says it, in the wide table too


def test_the_table_ends_saying_how_to_learn_why_a_rule_matters() -> None:
    for width in (None, 80):
        text = render(make_scan(), width)
        last = " ".join(text.rstrip("\n").split("\n\n")[-1].split())  # a narrow terminal wraps it
        assert last.startswith("Why a rule matters and what to do: sovscan explain <rule-id>")
        assert "(e.g. sovscan explain foreign-law-reach)" in last  # the first rule shown
        assert "--format markdown or html" in last
        assert "Physical location does not settle control" not in text  # not the full text
    nothing = replace(make_scan(), findings=())
    assert "sovscan explain" not in render(nothing)


def test_the_narrow_list_names_each_findings_references() -> None:
    text = render(make_scan(), width=80)
    assert "    references: qc-law25 p39.1-s17\n" in text
    assert text.count("references:") == 1  # the unknown finding maps to none


def test_text_cut_short_is_said_once_at_the_end() -> None:
    assert SHORTENED not in render(make_scan())  # nothing was cut
    bucket = resolved_bucket()
    long = "word " * 100
    findings = tuple(
        Finding(rule, bucket.asset.id, Status.RISK, Severity.HIGH, long + "THE END")
        for rule in ("a-rule", "b-rule")
    )
    cut = make_scan(assets=(bucket,), findings=findings)
    noticed = replace(make_scan(), notices=("notice " * 200 + "THE END",))
    for scan in (cut, noticed):
        for width in (None, 80):
            text = render(scan, width)
            assert "THE END" not in text and "…" in text
            flowing = " ".join(text.split())
            assert flowing.count(" ".join(SHORTENED.split())) == 1
            assert flowing.endswith(" ".join(SHORTENED.split()))


def test_a_notice_is_shown_whole_up_to_its_own_bound() -> None:
    feeds = ", ".join(
        f"{feed} (2026-01-01, 327 days)"
        for feed in ("aws-ip-ranges", "azure-service-tags", "gcp-cloud", "cloudflare-ips", "ip-asn")
    )
    stale = (
        f"address data older than 90 days at this scan: {feeds}; an address its provider has "
        "moved since may be placed wrongly: `sovscan data update` refreshes them"
    )
    assert len(stale) > 240  # longer than a cell's bound
    text = render(replace(make_scan(), notices=(stale,)))
    assert f"- {stale}\n" in text
    assert SHORTENED not in text


def test_a_declared_storage_place_is_shown_beside_the_place_seen() -> None:
    bucket = resolved_bucket()
    declared = replace(bucket, location=replace(bucket.location, declared="US"))
    text = render(make_scan(assets=(declared,)), 200)
    assert "aws ca-central-1 CA-QC [cloud-api];" in text and "kept in US (declared)" in text
    assert "(declared)" not in render(make_scan(assets=(bucket,)), 200)
    edge = replace(bucket.location, edge=True, provider="cloudflare", declared="CA-QC")
    text = render(make_scan(assets=(replace(bucket, location=edge),)), 200)
    assert "cloudflare global edge" in text and "kept in CA-QC (declared)" in text


def test_the_header_says_its_severity_counts_leave_waived_risks_out() -> None:
    scan = make_scan()
    assert "; risk findings: high 1" in render(scan)
    waiver = WaiverMark("TIA-7", "dpo@example.ca", "2027-01-01")
    findings = tuple(
        replace(f, waiver=waiver) if f.status is Status.RISK else f for f in scan.findings
    )
    extra = Finding("other-rule", scan.findings[0].asset_id, Status.RISK, Severity.LOW, "m")
    scan = replace(scan, findings=(*findings, extra))
    header = render(replace(scan, score=replace(scan.score, by_severity={"low": 1})))
    assert "; unwaived risk findings (1 waived): low 1" in header
