"""Hand-built Scan values for reporter and CLI tests that need no probe."""

from __future__ import annotations

from datetime import UTC, datetime

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
