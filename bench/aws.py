"""AWS inventory: sovscan's probe against a seeded moto server, parallel versus sequential.

moto answers in a few milliseconds, far faster than AWS, so parallelism barely shows against it;
each contender also runs with 50 ms injected before every call (a botocore `before-send` hook),
about what a real region costs. The ground truth is what the seeding created: a contender that
misses or invents a resource fails the run.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import boto3

from bench.harness import Report, fail, measure, ratio

REGIONS = ("ca-central-1", "us-east-1", "eu-west-3", "us-west-2")
# Per region: (queues, topics, tables, log groups, buckets). Buckets cost most calls each.
SIZES = {
    "quick": (5, 5, 3, 5, 2),
    "default": (150, 150, 75, 150, 25),
    "full": (240, 240, 120, 240, 40),
}
LATENCY_S = 0.05
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


def _seed(endpoint: str, size: str) -> Counter[str]:
    """Create the estate through the server's HTTP API; returns the count by asset kind."""
    queues, topics, tables, groups, buckets = SIZES[size]
    session = boto3.Session(region_name="us-east-1", **_keys())
    truth: Counter[str] = Counter()
    for region in REGIONS:
        sqs = session.client("sqs", region_name=region, endpoint_url=endpoint)
        sns = session.client("sns", region_name=region, endpoint_url=endpoint)
        ddb = session.client("dynamodb", region_name=region, endpoint_url=endpoint)
        logs = session.client("logs", region_name=region, endpoint_url=endpoint)
        s3 = session.client("s3", region_name=region, endpoint_url=endpoint)
        for i in range(queues):
            sqs.create_queue(QueueName=f"q-{region}-{i}")
        for i in range(topics):
            sns.create_topic(Name=f"t-{region}-{i}")
        for i in range(tables):
            ddb.create_table(
                TableName=f"d-{region}-{i}",
                KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
        for i in range(groups):
            logs.create_log_group(logGroupName=f"/bench/{region}/{i}")
        for i in range(buckets):
            options: dict[str, Any] = {"Bucket": f"b-{region}-{i}"}
            if region != "us-east-1":
                options["CreateBucketConfiguration"] = {"LocationConstraint": region}
            s3.create_bucket(**options)
        truth.update(
            {
                "aws.sqs.queue": queues,
                "aws.sns.topic": topics,
                "aws.dynamodb.table": tables,
                "aws.logs.group": groups,
                "aws.s3.bucket": buckets,
            }
        )
    return truth


def _keys() -> dict[str, str]:
    return {
        "aws_access_key_id": CREDENTIALS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    }


def run(contender: str, spec: Mapping[str, Any]) -> dict[str, float]:
    """One inventory of the seeded account; `contender` is parallel|sequential[+latency]."""
    from sovscan.config import AwsSource
    from sovscan.model import Asset
    from sovscan.probes.aws import AwsProbe

    os.environ.update(CREDENTIALS)
    os.environ["AWS_ENDPOINT_URL"] = spec["endpoint"]
    session = boto3.Session(region_name="us-east-1", **_keys())
    calls = [0]

    def count(**_kwargs: Any) -> None:
        calls[0] += 1

    def slow(**_kwargs: Any) -> None:
        time.sleep(LATENCY_S)

    session.events.register("before-call", count)
    if contender.endswith("+latency"):
        session.events.register("before-send", slow)
    workers = 1 if contender.startswith("sequential") else 8
    probe = AwsProbe(AwsSource(regions=REGIONS), session, max_workers=workers)
    started = time.perf_counter()
    items = list(probe.collect())
    seconds = time.perf_counter() - started
    kinds = Counter(item.kind for item in items if isinstance(item, Asset))
    gaps = sum(1 for item in items if not isinstance(item, Asset))
    wanted = spec["truth"]
    seen = {kind: kinds.get(kind, 0) for kind in wanted}
    extra = sum(kinds.values()) - sum(wanted.values())
    if seen != wanted or gaps or extra:
        raise ValueError(
            f"inventory differs from the seeded estate: {seen} (gaps: {gaps}, unseeded: {extra})"
        )
    resources = sum(kinds.values())
    return {
        "seconds": seconds,
        "resources": float(resources),
        "resources_per_s": resources / seconds,
        "api_calls": float(calls[0]),
    }


def plan(report: Report, size: str, workdir: Path) -> None:
    """Start a moto server on 127.0.0.1, seed it, measure the four contenders."""
    import logging

    from moto.server import ThreadedMotoServer

    # Without this, moto gives every region thousands of snapshots of its default AMIs, and the
    # benchmark measures moto's DescribeSnapshotAttribute instead of sovscan.
    os.environ["MOTO_EC2_LOAD_DEFAULT_AMIS"] = "false"
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one log line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        print(f"[aws] seeding a moto server at {endpoint} ({size})", flush=True)
        truth = _seed(endpoint, size)
        total = sum(truth.values())
        report.setup["aws"] = {"regions": list(REGIONS), "seeded": dict(truth), "total": total}
        spec = {"endpoint": endpoint, "truth": dict(truth)}
        # The sequential scan with latency is the slowest by far (every call waits in turn):
        # past four minutes it is measured once, not three times.
        found = {
            name: measure(report, "aws", name, total, spec, timeout=1800, budget_s=240)
            for name in ("parallel", "sequential", "parallel+latency", "sequential+latency")
        }
        for name, m in found.items():
            if m.runs and m.runs[0]["resources"] < total:
                fail(report, m, f"{name} saw fewer resources than were seeded")
        ratio(report, "aws: parallel vs sequential (moto, no latency)", found["parallel"],
              found["sequential"], "seconds", higher_is_better=False)  # fmt: skip
        ratio(report, "aws: parallel vs sequential (+50 ms per call)", found["parallel+latency"],
              found["sequential+latency"], "seconds", higher_is_better=False,
              target=2.5)  # fmt: skip
    finally:
        server.stop()
