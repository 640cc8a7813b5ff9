"""The embedded demo: a fictional university, its AWS account in moto and its DNS on loopback."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import boto3

from sovscan.config import ScanConfig, load_config
from sovscan.demo.aws_account import mocked_estate
from sovscan.dnsserver import ZoneServer, make_resolver
from sovscan.engine import RuleSet
from sovscan.model import Policy, Scan
from sovscan.probes import Clock, utc_now
from sovscan.resolve import KnowledgeBase
from sovscan.scan import (
    apply_profile_name,
    build_probes,
    profile_notices,
    resolver_record,
    run_scan,
)

DEMO_DIR = Path(__file__).parent


def demo_config() -> ScanConfig:
    """The demo institution's inventory (sovscan/demo/sovscan.toml)."""
    return load_config(DEMO_DIR / "sovscan.toml")


def run_demo(
    knowledge: KnowledgeBase,
    ruleset: RuleSet,
    *,
    clock: Clock = utc_now,
    profile: str | None = None,
    config: ScanConfig | None = None,
) -> Scan:
    """Build the demo estate, scan it through the real probes, and return the scan.

    Nothing leaves the process except DNS queries to a server on 127.0.0.1: AWS is moto's
    in-memory account, with credentials that exist only inside the mock. `config` replaces the
    demo's inventory (tests use it to add waivers).
    """
    config = config or demo_config()
    ruleset, policy = apply_profile_name(config, ruleset, profile)
    kept_over_profile = profile_notices(config, profile, policy)
    profile = profile or config.profile
    with mocked_estate() as (session, _account):
        scan = _scan_demo_estate(session, config, knowledge, ruleset, clock, policy, profile)
    return dataclasses.replace(scan, notices=(*kept_over_profile, *scan.notices))


def _scan_demo_estate(
    session: boto3.Session,
    config: ScanConfig,
    knowledge: KnowledgeBase,
    ruleset: RuleSet,
    clock: Clock,
    policy: Policy,
    profile: str | None,
) -> Scan:
    with ZoneServer.from_directory(DEMO_DIR / "zones") as server:
        resolver = make_resolver(server.host, server.port)
        probes, gaps = build_probes(
            config, resolver=resolver, session_factory=lambda _source: session, clock=clock
        )
        return run_scan(
            config,
            probes,
            knowledge,
            ruleset,
            clock=clock,
            extra_gaps=gaps,
            policy=policy,
            profile=profile,
            dns_resolver=resolver_record(resolver, "given", "sovscan demo"),
        )
