"""The embedded demo: a fictional university, its AWS account in moto and its DNS on loopback."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import boto3
from moto import mock_aws

from sovscan.config import ScanConfig, load_config
from sovscan.demo.aws_account import populate
from sovscan.dnsserver import ZoneServer, make_resolver
from sovscan.engine import RuleSet
from sovscan.model import Policy, Scan
from sovscan.probes import Clock, utc_now
from sovscan.resolve import KnowledgeBase
from sovscan.scan import apply_profile_name, build_probes, run_scan

DEMO_DIR = Path(__file__).parent


def demo_config() -> ScanConfig:
    """The demo institution's inventory (sovscan/demo/sovscan.toml)."""
    return load_config(DEMO_DIR / "sovscan.toml")


@contextmanager
def _without_aws_environment() -> Iterator[None]:
    """The user's AWS settings hidden while the demo runs, restored afterwards.

    moto intercepts only requests to AWS's own endpoints, so an AWS_ENDPOINT_URL (LocalStack, a
    moto server) would otherwise receive the demo's writes, and a broken AWS_PROFILE would stop
    moto itself from starting.
    """
    hidden = {key: os.environ.pop(key) for key in list(os.environ) if key.startswith("AWS_")}
    # moto's thousands of public AMIs and snapshots are not the university's, and loading them
    # for every region is most of the demo's start-up time.
    previous = os.environ.get("MOTO_EC2_LOAD_DEFAULT_AMIS")
    os.environ["MOTO_EC2_LOAD_DEFAULT_AMIS"] = "false"
    try:
        yield
    finally:
        os.environ.update(hidden)
        if previous is None:
            os.environ.pop("MOTO_EC2_LOAD_DEFAULT_AMIS", None)
        else:
            os.environ["MOTO_EC2_LOAD_DEFAULT_AMIS"] = previous


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
    profile = profile or config.profile
    mock = mock_aws()
    with _without_aws_environment():
        mock.start()  # resets moto's backends, so every run starts from an empty account
        try:
            return _scan_demo_estate(config, knowledge, ruleset, clock, policy, profile)
        finally:
            # Dropping the in-memory account costs seconds; the next start resets it anyway.
            mock.stop(remove_data=False)


def _scan_demo_estate(
    config: ScanConfig,
    knowledge: KnowledgeBase,
    ruleset: RuleSet,
    clock: Clock,
    policy: Policy,
    profile: str | None,
) -> Scan:
    session = boto3.Session(
        aws_access_key_id="demo-not-a-secret",
        aws_secret_access_key="demo-not-a-secret",  # noqa: S106 - moto's in-memory account
        region_name="us-east-1",
    )
    populate(session)
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
        )
