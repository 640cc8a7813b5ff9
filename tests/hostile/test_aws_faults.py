"""AWS faults end to end (CLI -> moto server on loopback, faults injected by botocore event hooks):
the scan completes, names what it could not see, and exits 3."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import botocore.endpoint
import botocore.retries.bucket
import pytest
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.config import Config
from click.testing import CliRunner

import sovscan.probes.aws as aws_probe
from sovscan.cli import EXIT_PARTIAL, cli
from sovscan.config import Limits
from sovscan.probes.aws_services import SERVICES

REGIONS = ("ca-central-1", "eu-west-3")
KINDS = {"aws.s3.bucket", "aws.ebs.volume", "aws.ec2.instance"}
_SCOPE = re.compile(r"Credential=[^/]+/\d+/([a-z0-9-]+)/([a-z0-9-]+)/")
RealSession = boto3.Session
SendHook = Callable[[AWSPreparedRequest, str, str, str], AWSResponse | None]


class _Raw:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data


def xml_error(status: int, code: str, url: str) -> AWSResponse:
    body = (
        f"<Response><Errors><Error><Code>{code}</Code><Message>User: "
        "arn:aws:iam::123456789012:user/secret-principal is not authorized</Message>"
        "</Error></Errors><RequestID>r-1</RequestID></Response>"
    ).encode()
    return AWSResponse(url, status, {"Content-Type": "text/xml"}, _Raw(body))


def where(request: AWSPreparedRequest) -> tuple[str, str, str]:
    """(region, signing service, operation) of a request."""
    auth = request.headers.get("Authorization", b"")
    text = auth.decode() if isinstance(auth, bytes) else str(auth)
    found = _SCOPE.search(text)
    region, service = found.groups() if found else ("?", "?")
    body = request.body or b""
    body_text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
    action = re.search(r"Action=([A-Za-z]+)", body_text)
    target = request.headers.get("X-Amz-Target", b"")
    target_text = target.decode() if isinstance(target, bytes) else str(target)
    operation = action.group(1) if action else target_text.rsplit(".", 1)[-1]
    return region, service, operation


@pytest.fixture
def faults(monkeypatch: pytest.MonkeyPatch, moto_endpoint: str) -> dict[str, Any]:
    """Sessions the CLI makes get our hooks; botocore's retry sleeps are recorded, not slept."""
    state: dict[str, Any] = {"send": [], "call": [], "slept": [], "requests": []}

    class HookedSession(RealSession):  # type: ignore[misc,valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.events.register_first("before-send", self._send)
            for event, handler in state["call"]:
                self.events.register_first(f"before-call.{event}", handler)

        @staticmethod
        def _send(request: AWSPreparedRequest, **_: Any) -> AWSResponse | None:
            region, service, operation = where(request)
            state["requests"].append((region, service, operation))
            for hook in state["send"]:
                answer = hook(request, region, service, operation)
                if answer is not None:
                    return answer
            return None

    def sleep(seconds: float) -> None:
        state["slept"].append(seconds)

    monkeypatch.setattr(boto3, "Session", HookedSession)
    monkeypatch.setattr(botocore.endpoint, "time", SimpleNamespace(sleep=sleep))
    monkeypatch.setattr(
        botocore.retries.bucket, "time", SimpleNamespace(sleep=sleep, time=time.time)
    )
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    # Only the services these faults touch (and KMS, which the others read): a fast scan.
    services = tuple(s for s in SERVICES if s.kind in KINDS or s.key_source)
    monkeypatch.setattr(aws_probe, "SERVICES", services)
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    return state


def scan(tmp_path: Path, limits: str = "") -> tuple[int, dict[str, Any], str]:
    config = tmp_path / "sovscan.toml"
    config.write_text(
        '[institution]\nname = "U"\nhome = "CA-QC"\n\n[[aws]]\nname = "main"\n'
        f"regions = {json.dumps(list(REGIONS))}\n" + (f"\n[limits]\n{limits}" if limits else ""),
        encoding="utf-8",
    )
    result = CliRunner().invoke(
        cli,
        ["scan", "-c", str(config), "--format", "json", "--no-store", "--fail-on", "never"],
    )
    assert "Traceback" not in result.stderr, result.stderr
    document = json.loads(result.stdout)
    return result.exit_code, document, result.stderr


def max_attempts(config: Config) -> int:
    # Attempts in all, first try included. `max_attempts` counts the retries; botocore rewrites
    # the dict in place (max_attempts -> total_max_attempts = retries + 1) once a client is made.
    retries = config.retries or {}
    if "total_max_attempts" in retries:
        return int(retries["total_max_attempts"])
    return int(retries.get("max_attempts", 4)) + 1


def gaps(document: dict[str, Any]) -> dict[str, str]:
    return {gap["scope"]: gap["reason"] for gap in document["gaps"]}


def assets(document: dict[str, Any], kind: str) -> list[str]:
    return [a["id"] for a in document["assets"] if a["kind"] == kind]


def test_baseline_scan_is_complete(tmp_path: Path, faults: dict[str, Any]) -> None:
    code, document, _ = scan(tmp_path)
    assert gaps(document) == {}
    assert code == 0
    assert len(assets(document, "aws.s3.bucket")) == 2
    assert len(assets(document, "aws.ebs.volume")) == 1


def test_persistent_throttling_is_retried_a_bounded_number_of_times_then_a_gap(
    tmp_path: Path, faults: dict[str, Any]
) -> None:
    hits: list[str] = []

    def throttle(request: AWSPreparedRequest, region: str, service: str, op: str) -> Any:
        if region == "eu-west-3" and op == "DescribeVolumes":
            hits.append(op)
            return xml_error(503, "RequestLimitExceeded", request.url)
        return None

    faults["send"].append(throttle)
    code, document, stderr = scan(tmp_path)
    account = assets(document, "aws.s3.bucket")[0].split(":")[1]
    assert gaps(document) == {
        f"aws:{account}:eu-west-3:ebs": "RequestLimitExceeded: ec2:DescribeVolumes"
    }
    assert code == EXIT_PARTIAL
    assert len(hits) == max_attempts(aws_probe.CLIENT_CONFIG)
    assert sum(faults["slept"]) <= 60  # backoff, recorded instead of slept
    assert len(assets(document, "aws.ebs.volume")) == 1  # ca-central-1 still seen
    assert "secret-principal" not in stderr + json.dumps(document)


def test_transient_throttling_is_absorbed_by_retries(
    tmp_path: Path, faults: dict[str, Any]
) -> None:
    hits: list[str] = []

    def throttle_twice(request: AWSPreparedRequest, region: str, service: str, op: str) -> Any:
        if region == "ca-central-1" and op == "DescribeVolumes" and len(hits) < 2:
            hits.append(op)
            return xml_error(503, "RequestLimitExceeded", request.url)
        return None

    faults["send"].append(throttle_twice)
    code, document, _ = scan(tmp_path)
    assert gaps(document) == {}
    assert code == 0
    assert len(hits) == 2
    assert len(assets(document, "aws.ebs.volume")) == 1


def _deny(code: str, operation: str) -> Callable[..., Any]:
    def handler(model: Any, context: dict[str, Any], **_: Any) -> Any:
        error = {"Code": code, "Message": "User: arn:aws:iam::1:user/secret-principal"}
        return SimpleNamespace(status_code=403), {
            "Error": error,
            "ResponseMetadata": {"HTTPStatusCode": 403},
        }

    return handler


def test_access_denied_on_a_single_call_is_one_gap(tmp_path: Path, faults: dict[str, Any]) -> None:
    faults["call"].append(("s3.GetBucketEncryption", _deny("AccessDenied", "GetBucketEncryption")))
    code, document, stderr = scan(tmp_path)
    found = gaps(document)
    assert found, "a denied call must be a Gap"
    assert set(found.values()) == {"AccessDenied: s3:GetBucketEncryption"}
    assert code == EXIT_PARTIAL
    assert len(assets(document, "aws.s3.bucket")) == 2  # still listed, detail unknown
    assert "secret-principal" not in stderr + json.dumps(document)


def test_refused_credentials_are_a_gap_naming_the_source(
    tmp_path: Path, faults: dict[str, Any]
) -> None:
    # The account cannot be identified: the gap names the inventory's source ("main"), as a
    # source whose role cannot be assumed does, so a scan of several accounts says which failed.
    faults["call"].append(("sts.GetCallerIdentity", _deny("InvalidClientTokenId", "Get")))
    code, document, _ = scan(tmp_path)
    assert code == EXIT_PARTIAL
    assert gaps(document) == {
        "probe:aws:main": "aws: cannot identify the account (InvalidClientTokenId: "
        "sts:GetCallerIdentity)"
    }


def test_credentials_expiring_midway_end_in_gaps_not_a_crash(
    tmp_path: Path, faults: dict[str, Any]
) -> None:
    calls: list[int] = []
    lock = threading.Lock()

    def expire_after_some(model: Any, context: dict[str, Any], **_: Any) -> Any:
        with lock:
            calls.append(1)
            expired = len(calls) > 12
        return _deny("ExpiredToken", "?")(model, context) if expired else None

    faults["call"].append(("*", expire_after_some))
    started = time.monotonic()
    code, document, stderr = scan(tmp_path)
    found = gaps(document)
    assert code == EXIT_PARTIAL
    assert found and all(reason.startswith("ExpiredToken: ") for reason in found.values())
    assert time.monotonic() - started < 60
    assert "secret-principal" not in stderr + json.dumps(document)


def test_repeating_pagination_tokens_end_in_a_gap(tmp_path: Path, faults: dict[str, Any]) -> None:
    pages: list[str] = []

    def same_token(request: AWSPreparedRequest, region: str, service: str, op: str) -> Any:
        if region == "ca-central-1" and op == "DescribeVolumes":
            pages.append(op)
            body = (
                b'<DescribeVolumesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">'
                b"<requestId>r</requestId><volumeSet/><nextToken>again</nextToken>"
                b"</DescribeVolumesResponse>"
            )
            return AWSResponse(request.url, 200, {"Content-Type": "text/xml"}, _Raw(body))
        return None

    faults["send"].append(same_token)
    code, document, _ = scan(tmp_path)
    found = gaps(document)
    account = assets(document, "aws.s3.bucket")[0].split(":")[1]
    assert found == {f"aws:{account}:ca-central-1:ebs": "PaginationError: ec2:DescribeVolumes"}
    assert code == EXIT_PARTIAL
    assert len(pages) <= 3


@pytest.fixture
def blackhole() -> Iterator[str]:
    """A TCP port that accepts connections and never answers (a dead regional endpoint)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join(timeout=2)
    for conn in held:
        conn.close()
    listener.close()


def test_a_region_endpoint_that_never_answers_is_gaps_after_a_bounded_number_of_calls(
    tmp_path: Path, faults: dict[str, Any], blackhole: str
) -> None:
    # Short limits from the inventory's [limits] table (the defaults are checked below); one
    # worker, so the order of the calls (KMS first, then the others) is fixed.
    limits = (
        "aws_workers = 1\naws_max_attempts = 1\naws_connect_timeout = 0.5\naws_read_timeout = 1\n"
    )

    def dead_region(request: AWSPreparedRequest, region: str, service: str, op: str) -> Any:
        if region == "eu-west-3":
            request.url = blackhole + "/"
        return None

    faults["send"].append(dead_region)
    code, document, _ = scan(tmp_path, limits)
    found = gaps(document)
    assert code == EXIT_PARTIAL
    assert found and all(":eu-west-3:" in scope for scope in found)
    timed_out = {
        scope for scope, reason in found.items() if reason.startswith("ReadTimeoutError: ")
    }
    not_tried = {
        scope for scope, reason in found.items() if reason.startswith("RegionUnreachable: ")
    }
    assert timed_out | not_tried == set(found), found
    # Two services went unanswered (KMS, then the first of EBS / EC2); the third is not tried.
    assert len(timed_out) == 2 and len(not_tried) == 1, found
    assert len(assets(document, "aws.ebs.volume")) == 1  # ca-central-1 still seen
    # Each unanswered service cost its two attempts and no more: time is bounded by the limits.
    dead_calls = [request for request in faults["requests"] if request[0] == "eu-west-3"]
    assert len(dead_calls) == 2 * 2, dead_calls


def test_one_slow_service_does_not_write_off_its_region(
    tmp_path: Path, faults: dict[str, Any], blackhole: str
) -> None:
    limits = (
        "aws_workers = 1\naws_max_attempts = 0\naws_connect_timeout = 0.5\naws_read_timeout = 1\n"
    )

    def slow_kms(request: AWSPreparedRequest, region: str, service: str, op: str) -> Any:
        if region == "eu-west-3" and service == "kms":
            request.url = blackhole + "/"
        return None

    faults["send"].append(slow_kms)
    code, document, _ = scan(tmp_path, limits)
    found = gaps(document)
    assert code == EXIT_PARTIAL
    assert list(found) == [scope for scope in found if scope.endswith(":eu-west-3:kms")], found
    assert all(reason.startswith("ReadTimeoutError: kms:ListKeys") for reason in found.values())
    assert len(assets(document, "aws.ebs.volume")) == 1


def test_default_client_limits_bound_a_dead_region() -> None:
    # Worst case for one call to an endpoint that accepts and never answers: every attempt
    # waits connect + read timeout. A dead region must not hold a scan for minutes per call.
    # A whole dead region costs about two such calls per worker (then it is not tried).
    defaults = Limits()
    config = aws_probe.client_config(
        max_attempts=defaults.aws_max_attempts,
        connect_timeout=defaults.aws_connect_timeout,
        read_timeout=defaults.aws_read_timeout,
    )
    attempts = max_attempts(config)
    assert attempts == defaults.aws_max_attempts + 1
    worst = (config.connect_timeout + config.read_timeout) * attempts
    assert worst <= 60, f"one call to a dead endpoint can take {worst:g}s"
    assert max_attempts(aws_probe.CLIENT_CONFIG) == attempts  # the library default agrees


def test_a_denied_assume_role_leaks_neither_external_id_nor_message(
    tmp_path: Path, faults: dict[str, Any]
) -> None:
    external_id = "plntd-ext-id-7c41d2"
    faults["call"].append(("sts.AssumeRole", _deny("AccessDenied", "AssumeRole")))
    config = tmp_path / "sovscan.toml"
    config.write_text(
        '[institution]\nname = "U"\nhome = "CA-QC"\n\n[[aws]]\nname = "main"\n'
        'role_arn = "arn:aws:iam::210987654321:role/sovscan-audit"\n'
        f'external_id = "{external_id}"\nregions = ["ca-central-1"]\n',
        encoding="utf-8",
    )
    result = CliRunner().invoke(
        cli, ["-vv", "scan", "-c", str(config), "--format", "json", "--no-store"]
    )
    document = json.loads(result.stdout)
    assert result.exit_code == EXIT_PARTIAL
    assert gaps(document) == {
        "probe:aws:main": "aws: cannot assume role arn:aws:iam::210987654321:role/sovscan-audit "
        "(AccessDenied)"
    }
    for text in (result.stdout, result.stderr):
        assert external_id not in text
        assert "secret-principal" not in text
