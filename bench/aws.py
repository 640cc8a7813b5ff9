"""AWS inventory: sovscan's probe against a seeded moto server, parallel versus sequential,
and ScoutSuite on the same server.

moto answers in a few milliseconds, far faster than AWS, so parallelism barely shows against it;
each sovscan contender also runs with 50 ms injected before every call (a botocore `before-send`
hook), about what a real region costs. The ground truth is what the seeding created: a contender
that misses or invents a resource fails the run.

ScoutSuite (`scout aws`, from its own venv: see bench/deps.py) runs as a subprocess on the
services it shares with the seeded estate (S3, SQS, SNS, DynamoDB; it does not list CloudWatch
Logs groups), with AWS_ENDPOINT_URL pointing every botocore client at moto. Its results file must
hold every seeded bucket, queue, topic and table in its region, with no error logged.
"""

from __future__ import annotations

import itertools
import json
import os
import resource
import shutil
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

import boto3

from bench import deps
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
# ScoutSuite's services that hold seeded resources: its service, the seeded kind, the key of its
# resources in its results, and the position of that kind in SIZES. Its `cloudwatch` service reads
# alarms and metric filters, not log groups, so the seeded log groups are outside its scope.
SCOUT_SERVICES = (
    ("s3", "aws.s3.bucket", "buckets", 4),
    ("sqs", "aws.sqs.queue", "queues", 0),
    ("sns", "aws.sns.topic", "topics", 1),
    ("dynamodb", "aws.dynamodb.table", "tables", 2),
)
SCOUT_WORKERS = 8  # as sovscan's parallel contender
REQUESTS = itertools.count()  # HTTP requests moto served (next() is atomic under the GIL)


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
    """One inventory of the seeded account; `contender` is parallel|sequential[+latency] or
    scoutsuite."""
    if contender == "scoutsuite":
        return _scoutsuite(spec)
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


def _scoutsuite(spec: Mapping[str, Any]) -> dict[str, float]:
    """One `scout aws` run on the moto server; what it saw goes to `seen-<run>.json` for the gate.

    The figure is the wall time of the whole `scout` process: start-up, authentication (STS),
    region discovery (EC2), fetching, its rule engine and the writing of its results and HTML
    report; sovscan's figure is its probe's `collect()` alone (see `process_s` for both
    processes whole).
    """
    endpoint = spec["endpoint"]
    root = Path(spec["scout_dir"])
    out = root / f"report-{spec['run']}"
    shutil.rmtree(out, ignore_errors=True)
    unwanted = {"NO_PROXY", "HTTPS_PROXY", "ALL_PROXY", "PYTHONPATH", "PYTHONHOME"}
    env = {
        k: v
        for k, v in os.environ.items()
        if k.upper() not in unwanted and not k.startswith("AWS_")
    }
    env.update(CREDENTIALS)
    env.update(
        {
            "AWS_ENDPOINT_URL": endpoint,  # every botocore client (botocore >= 1.31)
            "AWS_DEFAULT_REGION": "us-east-1",  # ScoutSuite's STS client needs a region
            # S3 Control puts the account id in front of the host (123456789012.127.0.0.1),
            # which does not resolve: the request goes to moto as a proxy instead, which reads
            # the absolute URL (the account-level public access block, one call per run).
            "HTTP_PROXY": endpoint,
            "http_proxy": endpoint,
        }
    )
    command = [
        spec["scout"],
        "aws",
        "--access-keys",
        "--access-key-id",
        CREDENTIALS["AWS_ACCESS_KEY_ID"],
        "--secret-access-key",
        CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        "--regions",
        *REGIONS,
        "--services",
        *(service for service, *_ in SCOUT_SERVICES),
        "--max-workers",
        str(SCOUT_WORKERS),
        "--report-dir",
        str(out),
        "--no-browser",
        "--force",
    ]
    started = time.perf_counter()
    done = subprocess.run(  # noqa: S603 - ScoutSuite's own script, fixed arguments, no shell
        command, env=env, capture_output=True, text=True, timeout=1500, check=False
    )
    seconds = time.perf_counter() - started
    # The largest child this process waited for: the scout process (Linux keeps the larger of
    # the forked copy's and the exec'd program's peaks; the copy is this small process).
    scout_rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    results = sorted((out / "scoutsuite-results").glob("scoutsuite_results_*.js"))
    if done.returncode not in (0, 200) or not results:  # 200: it logged handled errors
        lines = (done.stderr + done.stdout).strip().splitlines()
        worst = [line for line in lines if "ERROR" in line or "Error" in line] or lines
        raise ValueError(f"scout exited {done.returncode}: {' | '.join(worst[-3:])[:600]}")
    text = results[0].read_text(encoding="utf-8")
    document = json.loads(text.split("=", 1)[1])  # "scoutsuite_results =\n{...}"
    services = document["services"]
    seen: dict[str, dict[str, int]] = {}
    for service, kind, key, _ in SCOUT_SERVICES:
        body = services.get(service, {})
        if service == "s3":  # global: each bucket carries its region
            seen[kind] = dict(Counter(b.get("region", "?") for b in body.get(key, {}).values()))
        else:
            seen[kind] = {
                region: len(found.get(key, {})) for region, found in body.get("regions", {}).items()
            }
    errors: list[str] = []
    for path in (out / "scoutsuite-results").glob("scoutsuite_errors_*.json"):
        errors.extend(str(e.get("exception", e)) for e in json.loads(path.read_text("utf-8")))
    summary = document.get("last_run", {}).get("summary", {})
    rules = sum(summary.get(service, {}).get("rules_count", 0) for service, *_ in SCOUT_SERVICES)
    flagged = sum(
        summary.get(service, {}).get("flagged_items", 0) for service, *_ in SCOUT_SERVICES
    )
    report_mb = sum(f.stat().st_size for f in out.rglob("*") if f.is_file()) / 1e6
    record = {"seen": seen, "errors": errors[:5], "error_count": len(errors)}
    (root / f"seen-{spec['run']}.json").write_text(json.dumps(record), encoding="utf-8")
    shutil.rmtree(out, ignore_errors=True)
    resources = sum(sum(regions.values()) for regions in seen.values())
    return {
        "seconds": seconds,
        "resources": float(resources),
        "resources_per_s": resources / seconds,
        "errors": float(len(errors)),
        "rules": float(rules),
        "flagged_items": float(flagged),
        "report_mb": report_mb,
        "scout_rss_mb": scout_rss_mb,
    }


def _scout_gate(report: Report, m: Any, root: Path, size: str) -> None:
    """Every run of ScoutSuite must have seen each seeded resource in its region, no error."""
    for run in range(len(m.runs)):
        record = json.loads((root / f"seen-{run}.json").read_text(encoding="utf-8"))
        problems = []
        for service, kind, _, position in SCOUT_SERVICES:
            wanted = dict.fromkeys(REGIONS, SIZES[size][position])
            got = {r: n for r, n in record["seen"].get(kind, {}).items() if n}
            if got != wanted:
                problems.append(f"{service}: saw {got}, seeded {wanted}")
        if record["error_count"]:
            problems.append(
                f"{record['error_count']} error(s) logged, first: {record['errors'][0]}"
            )
        if problems:
            fail(report, m, f"run {run}: " + "; ".join(problems)[:1500])
            return


@contextmanager
def _moto_as_aws() -> Iterator[None]:
    """Three answers of moto 5.2 made as AWS gives them, each of which breaks ScoutSuite.

    - DescribeRegions ignores its Filters: ScoutSuite asks for the regions that are
      `not-opted-in`, gets all 38 and leaves every region out of its scan.
    - DescribeTable has no TableId: ScoutSuite keys tables by it, so each region's tables
      collapse into one.
    - GetTopicAttributes returns DeliveryPolicy "" for a topic without one (AWS leaves it out):
      ScoutSuite's json.loads fails and it drops the region's topics.

    sovscan's contenders call DescribeRegions without filters and do not read the other two.
    Also counts the HTTP requests moto serves (REQUESTS).
    """
    from moto.dynamodb.models.table import Table
    from moto.ec2.responses.availability_zones_and_regions import AvailabilityZonesAndRegions
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication
    from moto.sns.responses import SNSResponse

    describe_regions = AvailabilityZonesAndRegions.describe_regions
    describe_table = Table.describe
    topic_attributes = SNSResponse.get_topic_attributes
    dispatch = DomainDispatcherApplication.__call__

    def regions(self: Any) -> Any:
        result = describe_regions(self)
        filters = self._filters_from_querystring()
        body = getattr(result, "result", None)
        if isinstance(body, dict):
            for name, attribute in (("opt-in-status", "opt_in_status"), ("region-name", "name")):
                if name in filters:
                    body["Regions"] = [
                        r for r in body["Regions"] if getattr(r, attribute, None) in filters[name]
                    ]
        return result

    def table(self: Any, base_key: str = "TableDescription") -> Any:
        result = describe_table(self, base_key)
        table_id = str(uuid.uuid5(uuid.NAMESPACE_URL, self.table_arn))
        result.get(base_key, {}).setdefault("TableId", table_id)
        return result

    def attributes(self: Any) -> Any:
        result = topic_attributes(self)
        body = getattr(result, "result", None)
        found = body.get("Attributes") if isinstance(body, dict) else None
        if isinstance(found, dict) and found.get("DeliveryPolicy") == "":
            del found["DeliveryPolicy"]
        return result

    def counted(self: Any, environ: Any, start_response: Any) -> Any:
        next(REQUESTS)
        return dispatch(self, environ, start_response)

    with (
        mock.patch.object(AvailabilityZonesAndRegions, "describe_regions", regions),
        mock.patch.object(Table, "describe", table),
        mock.patch.object(SNSResponse, "get_topic_attributes", attributes),
        mock.patch.object(DomainDispatcherApplication, "__call__", counted),
    ):
        yield


def _requests() -> int:
    """Requests served so far (reading the count costs one)."""
    return next(REQUESTS)


def plan(report: Report, size: str, workdir: Path) -> None:
    """Start a moto server on 127.0.0.1, seed it, measure sovscan's 4 contenders and ScoutSuite."""
    with _moto_as_aws():
        _plan(report, size, workdir)


def _plan(report: Report, size: str, workdir: Path) -> None:
    import logging

    from moto.server import ThreadedMotoServer

    from sovscan.probes.aws_services import SERVICES

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
        requests: dict[str, float] = {}
        setup: dict[str, Any] = {
            "regions": list(REGIONS),
            "seeded": dict(truth),
            "total": total,
            "sovscan_services": sorted({s.service for s in SERVICES}),
            "sovscan_kinds": len(SERVICES),
            "moto_requests_per_run": requests,
        }
        report.setup["aws"] = setup
        spec = {"endpoint": endpoint, "truth": dict(truth)}
        # The sequential scan with latency is the slowest by far (every call waits in turn):
        # past four minutes it is measured once, not three times.
        found = {}
        for name in ("parallel", "sequential", "parallel+latency", "sequential+latency"):
            before = _requests()
            found[name] = measure(report, "aws", name, total, spec, timeout=1800, budget_s=240)
            requests[name] = round((_requests() - before - 1) / max(1, len(found[name].runs)))
        for name, m in found.items():
            if m.runs and m.runs[0]["resources"] < total:
                fail(report, m, f"{name} saw fewer resources than were seeded")
        ratio(report, "aws: parallel vs sequential (moto, no latency)", found["parallel"],
              found["sequential"], "seconds", higher_is_better=False)  # fmt: skip
        ratio(report, "aws: parallel vs sequential (+50 ms per call)", found["parallel+latency"],
              found["sequential+latency"], "seconds", higher_is_better=False,
              target=2.5)  # fmt: skip
        _versus_scoutsuite(report, size, workdir, endpoint, found["parallel"], setup)
    finally:
        server.stop()


def _versus_scoutsuite(
    report: Report, size: str, workdir: Path, endpoint: str, ours: Any, setup: dict[str, Any]
) -> None:
    """ScoutSuite on the same server; issue 8: sovscan's wall time <= 0.5x ScoutSuite's."""
    scout = deps.scout_command()
    if scout is None:
        report.notes.append("aws/scoutsuite: ScoutSuite is not installed: its peer is skipped")
        print("[aws] ScoutSuite is not installed: skipped", flush=True)
        return
    root = workdir / "scoutsuite"
    root.mkdir(parents=True, exist_ok=True)
    scope = sum(SIZES[size][position] for *_, position in SCOUT_SERVICES) * len(REGIONS)
    setup["scoutsuite"] = {
        "command": f"{scout} aws --access-keys --access-key-id testing --secret-access-key "
        f"testing --regions {' '.join(REGIONS)} --services "
        + " ".join(service for service, *_ in SCOUT_SERVICES)
        + f" --max-workers {SCOUT_WORKERS} --report-dir <tmp> --no-browser --force",
        "environment": "AWS_ENDPOINT_URL, HTTP_PROXY: moto; AWS_DEFAULT_REGION=us-east-1",
        "moto_made_as_aws": [
            "DescribeRegions applies its opt-in-status and region-name filters",
            "DescribeTable returns a TableId",
            "GetTopicAttributes leaves out an empty DeliveryPolicy",
        ],
        "services": [service for service, *_ in SCOUT_SERVICES],
        "resources_in_scope": scope,
        "not_in_scope": "CloudWatch Logs groups (ScoutSuite's cloudwatch reads alarms and "
        "metric filters only)",
    }
    spec = {"endpoint": endpoint, "scout": str(scout), "scout_dir": str(root)}
    before = _requests()
    m = measure(report, "aws", "scoutsuite", scope, spec, timeout=1800, budget_s=240)
    setup["moto_requests_per_run"]["scoutsuite"] = round(
        (_requests() - before - 1) / max(1, len(m.runs))
    )
    if m.runs:
        # Peak memory is the scout process's, not that of the bench child that started it.
        m.peak_rss_mb = [round(run["scout_rss_mb"], 1) for run in m.runs]
        _scout_gate(report, m, root, size)
    name = "aws: sovscan parallel vs ScoutSuite"
    # ratio() with higher_is_better=False is ScoutSuite's seconds over sovscan's: sovscan at
    # most 0.5x ScoutSuite's wall time is a ratio of at least 2.
    if ratio(report, name, ours, m, "seconds", higher_is_better=False, target=2.0):
        report.ratios[-1]["work"] = _work(ours, m, setup)
    ratio(report, "aws: sovscan parallel vs ScoutSuite (whole processes)", ours, m,
          "process_s", higher_is_better=False)  # fmt: skip


def _work(ours: Any, theirs: Any, setup: dict[str, Any]) -> str:
    """One line on what each contender did for its time, from the figures of this run."""
    requests = setup["moto_requests_per_run"]
    return (
        f"sovscan: {ours.median('resources'):,.0f} resources of {setup['sovscan_kinds']} kinds "
        f"({len(setup['sovscan_services'])} services) in {len(REGIONS)} regions, "
        f"{requests.get('parallel', 0):,} requests; lists them, reads each one's details (region, "
        "encryption key, tags, public access, replication where the service has them) and "
        "builds Asset records; no rule evaluated, no report written. "
        f"ScoutSuite: {theirs.median('resources'):,.0f} resources of "
        f"{len(SCOUT_SERVICES)} services ({', '.join(setup['scoutsuite']['services'])}), "
        f"{requests.get('scoutsuite', 0):,} requests; lists and describes them, evaluates "
        f"{theirs.median('rules'):.0f} rules of its default rule set "
        f"({theirs.median('flagged_items'):.0f} items flagged) and writes its results and an "
        f"HTML report ({theirs.median('report_mb'):.1f} MB)."
    )
