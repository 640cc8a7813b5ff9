"""Hand-built Scan values for reporter and CLI tests that need no probe."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sovscan.engine import score as engine_score
from sovscan.model import (
    UNKNOWN_CONTROL,
    UNKNOWN_LOCATION,
    Asset,
    Confidence,
    Control,
    Evidence,
    Finding,
    Gap,
    Location,
    Method,
    Policy,
    Reference,
    ResolvedAsset,
    Scan,
    Score,
    Severity,
    Status,
)

T0 = datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC)
POLICY = Policy("Université Exemple", "CA-QC", ("CA-QC",), ("CA-QC", "CA"), "personal")
AWS_CONTROL = Control(
    "Amazon Web Services, Inc.",
    "Amazon.com, Inc.",
    ("US",),
    ("us-cloud-act", "us-fisa-702"),
    Method.CATALOGUE,
    Confidence.HIGH,
)


def resolved_bucket(name: str = "research-data", region: str = "ca-central-1") -> ResolvedAsset:
    evidence = Evidence("aws:s3:GetBucketLocation", region, T0, Confidence.HIGH)
    asset = Asset(
        f"aws:123456789012:s3:{name}",
        "aws.s3.bucket",
        name,
        {"provider": "aws", "region": region, "account": "123456789012"},
        (evidence,),
    )
    location = Location("aws", region, "CA", "CA-QC", False, Method.CLOUD_API, Confidence.HIGH)
    return ResolvedAsset(asset, location, AWS_CONTROL)


def make_scan(
    *,
    assets: tuple[ResolvedAsset, ...] | None = None,
    findings: tuple[Finding, ...] | None = None,
    gaps: tuple[Gap, ...] = (),
) -> Scan:
    if assets is None:
        unknown = ResolvedAsset(
            Asset("dns:universite.example:txt:acme", "dns.txt", "acme", {"text": "acme=1"}),
            UNKNOWN_LOCATION,
            UNKNOWN_CONTROL,
        )
        assets = (resolved_bucket(), unknown)
    if findings is None:
        findings = (
            Finding(
                "foreign-law-reach",
                assets[0].asset.id,
                Status.RISK,
                Severity.HIGH,
                "research-data is reachable by us-cloud-act",
                references=(Reference("qc-law25", "p39.1-s17"),),
                rule_source="rules/control/foreign-law-reach.yaml",
            ),
            Finding(
                "location-unknown",
                assets[-1].asset.id,
                Status.UNKNOWN,
                Severity.INFO,
                "where acme keeps data is unknown",
                missing=("location.place",),
            ),
        )
    score = Score(
        value=50,
        assets_total=len(assets),
        assets_at_risk=1,
        assets_unknown=1,
        by_severity={"high": 1},
        by_status={"risk": 1, "ok": 0, "unknown": 1},
        complete=not gaps,
        upper_bound=50,  # the one unknown finding is info: it cannot raise the score
        known_share=50,
    )
    return Scan(
        id="0123456789abcdef",
        started_at=T0,
        finished_at=T0,
        tool_version="0.1.0",
        rules_digest="r" * 64,
        data_digest="d" * 64,
        policy=POLICY,
        assets=assets,
        gaps=gaps,
        findings=findings,
        score=score,
        laws={"us-cloud-act": {"name": "US CLOUD Act", "citation": "18 U.S.C. § 2713"}},
    )


def scored(scan: Scan) -> Scan:
    """`scan` with the Score the engine gives its assets, unwaived findings and gaps, in place of
    make_scan's fixed one."""
    unwaived = [f for f in scan.findings if f.waiver is None]
    return replace(scan, score=engine_score(scan.assets, unwaived, len(scan.gaps), scan.policy))


def saas_endpoint(name: str = "vendor", classification: str = "confidential") -> ResolvedAsset:
    """A SaaS endpoint whose host is in no offline table: where and who are unknown."""
    asset = Asset(
        f"saas:{name}.example",
        "saas.endpoint",
        name,
        {"hostname": f"{name}.example", "classification": classification},
    )
    return ResolvedAsset(asset, UNKNOWN_LOCATION, UNKNOWN_CONTROL)


def unknown_scan(*, gaps: tuple[Gap, ...] = (), rules: int = 2) -> Scan:
    """The new user's trial: one confidential SaaS endpoint nothing could be determined about,
    with `rules` high-severity unknown findings (value 0, upper bound 78, 0% known)."""
    endpoint = saas_endpoint()
    findings = tuple(
        Finding(
            rule,
            endpoint.asset.id,
            Status.UNKNOWN,
            Severity.HIGH,
            f"{rule} cannot be judged",
            missing=("location.place",),
        )
        for rule in ("data-outside-allowed-locations", "foreign-law-reach")[:rules]
    )
    return scored(make_scan(assets=(endpoint,), findings=findings, gaps=gaps))


def known_scan() -> Scan:
    """A scan where everything was determined: one bucket, one risk, one ok finding."""
    bucket = resolved_bucket()
    findings = (
        Finding(
            "foreign-law-reach",
            bucket.asset.id,
            Status.RISK,
            Severity.HIGH,
            "research-data is reachable by us-cloud-act",
        ),
        Finding(
            "data-outside-allowed-locations",
            bucket.asset.id,
            Status.OK,
            Severity.HIGH,
            "research-data is in CA-QC",
        ),
    )
    return scored(make_scan(assets=(bucket,), findings=findings))


def lms_inventory(
    folder: Path,
    *,
    institution: str = "X",
    home: str = "CA",
    settings: str = "",
    classification: str = "public",
    more: str = "",
) -> Path:
    """An inventory of one SaaS endpoint at a documentation address (nothing to look up, so a
    scan of it is complete and offline), written to `folder`/sovscan.toml. `settings` adds
    lines to [institution], `more` tables after the endpoint."""
    path = folder / "sovscan.toml"
    path.write_text(
        f'[institution]\nname = "{institution}"\nhome = "{home}"\n{settings}'
        '[[saas]]\nname = "LMS"\nurl = "https://192.0.2.10/"\n'
        f'classification = "{classification}"\n{more}',
        encoding="utf-8",
    )
    return path


def in_force(days: int = 180) -> str:
    """A waiver expiry `days` after today (UTC), as a TOML date: in force for every run of the
    suite, and within the yearly review a far-off expiry is noticed for."""
    return (datetime.now(UTC).date() + timedelta(days=days)).isoformat()
