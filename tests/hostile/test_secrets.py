"""Planted credentials never reach any artefact of a scan or a demo run, at any verbosity."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from sovscan.report import REPORTERS
from tests.hostile.conftest import Run, run_cli

# Distinctive fake values: each one's middle fragment is searched too, to catch truncated leaks.
SECRETS = {
    "env access key": "AKIAPLNTDENVQ7X4K2W1",
    "env secret key": "pLnTdEnvS3cr3t/Q7x4K2w1+ZzYyXxWwVvUuTtSsRr",
    "env session token": "FwoGZXIvYXdzEPLNTDSESSIONTOKENq7x4k2w1Zz9Yy8Xx7Ww6",
    "profile access key": "AKIAPLNTDPROFM3N8R5T",
    "profile secret key": "pLnTdPr0f1l3S3cr3tM3n8R5t+AaBbCcDdEeFfGgHh",
    "external id": "plntd-external-id-9f3c1e77a2",
}
ROLE = "arn:aws:iam::210987654321:role/sovscan-audit"


def _fragments(value: str) -> list[bytes]:
    middle = value[len(value) // 4 : len(value) // 4 + 12]
    return [value.encode(), middle.encode()]


def _leaks(blob: bytes) -> list[str]:
    return [name for name, value in SECRETS.items() if any(f in blob for f in _fragments(value))]


def _inputs(folder: Path) -> dict[str, Path]:
    """The inventory and AWS files holding the planted values (the only places they may be)."""
    aws = folder / "aws"
    aws.mkdir()
    (aws / "config").write_text("[profile audit]\nregion = ca-central-1\n", encoding="utf-8")
    (aws / "credentials").write_text(
        "[audit]\n"
        f"aws_access_key_id = {SECRETS['profile access key']}\n"
        f"aws_secret_access_key = {SECRETS['profile secret key']}\n",
        encoding="utf-8",
    )
    config = folder / "sovscan.toml"
    config.write_text(
        f"""[institution]
name = "Université Exemple"
home = "CA-QC"

[[aws]]
name = "audit"
profile = "audit"
role_arn = "{ROLE}"
external_id = "{SECRETS["external id"]}"
regions = ["ca-central-1"]

[dns]
domains = ["universite.example"]
""",
        encoding="utf-8",
    )
    return {"config": config, "aws_config": aws / "config", "credentials": aws / "credentials"}


def _env(folder: Path, files: dict[str, Path], endpoint: str, nameserver: str) -> dict[str, str]:
    return {
        "HOME": str(folder / "home"),
        "XDG_CACHE_HOME": str(folder / "home" / ".cache"),
        "XDG_DATA_HOME": str(folder / "home" / ".local" / "share"),
        "AWS_ACCESS_KEY_ID": SECRETS["env access key"],
        "AWS_SECRET_ACCESS_KEY": SECRETS["env secret key"],
        "AWS_SESSION_TOKEN": SECRETS["env session token"],
        "AWS_CONFIG_FILE": str(files["aws_config"]),
        "AWS_SHARED_CREDENTIALS_FILE": str(files["credentials"]),
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ENDPOINT_URL": endpoint,
        "SOVSCAN_NAMESERVER": nameserver,
        "SOVSCAN_STORE": str(folder / "default-store.sqlite"),
        "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",
    }


def _seed_the_assumed_account(endpoint: str) -> None:
    """A bucket in the role's account, so the scan shows that it read that account."""
    import boto3

    seed = boto3.Session(
        aws_access_key_id="seed",
        aws_secret_access_key="seed",  # noqa: S106 - moto's in-memory account
        region_name="us-east-1",
    )
    credentials = seed.client("sts", endpoint_url=endpoint).assume_role(
        RoleArn=ROLE, RoleSessionName="seed"
    )["Credentials"]
    s3 = boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name="ca-central-1",
    ).client("s3", endpoint_url=endpoint)
    if "ue-audit-account" not in {b["Name"] for b in s3.list_buckets().get("Buckets", [])}:
        s3.create_bucket(
            Bucket="ue-audit-account",
            CreateBucketConfiguration={"LocationConstraint": "ca-central-1"},
        )


def _artefacts(folder: Path, inputs: set[Path]) -> dict[str, bytes]:
    """Every file under `folder` that sovscan may have written (inputs excluded)."""
    found = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path not in inputs:
            found[str(path.relative_to(folder))] = path.read_bytes()
    return found


@pytest.mark.slow
def test_no_planted_secret_in_any_artefact(
    tmp_path: Path, moto_endpoint: str, demo_dns: str
) -> None:
    files = _inputs(tmp_path)
    env = _env(tmp_path, files, moto_endpoint, demo_dns)
    _seed_the_assumed_account(moto_endpoint)
    (tmp_path / "home").mkdir()
    out = tmp_path / "out"
    out.mkdir()
    scan = ["-vv", "scan", "--config", str(files["config"]), "--fail-on", "never"]
    # A live scan writing every file artefact and the demo run, at once; SOVSCAN_HOSTILE_FULL=1
    # adds a live scan per format (report on stdout, JSON log lines).
    runs: dict[str, list[str]] = {
        "scan-json": [*scan, "--format", "json", "--output", str(out / "report.json"),
                      "--store", str(out / "store.sqlite"), "--evidence", str(out / "bundle")],
        "demo": ["-vv", "demo", "--format", "json", "--output", str(out / "demo.json"),
                 "--store", str(out / "demo.sqlite")],
    }  # fmt: skip
    if os.environ.get("SOVSCAN_HOSTILE_FULL") == "1":
        for name in sorted(REPORTERS):
            runs[f"scan-{name}"] = ["--log-format", "json", *scan, "--format", name]
    # Every format, rendered from the bundle's stored observations (offline, fast): half to a
    # file, half to stdout with JSON log lines.
    replays: dict[str, list[str]] = {}
    for index, name in enumerate(sorted(REPORTERS)):
        args = ["-vv", "replay", str(out / "bundle"), "--format", name]
        if index % 2:
            replays[f"replay-{name}"] = [*args, "--output", str(out / f"replay.{name}")]
        else:
            replays[f"replay-{name}-stdout"] = ["--log-format", "json", *args]

    def scan_then_replays() -> dict[str, Run]:
        done = {"scan-json": run_cli(runs["scan-json"], env, cwd=tmp_path, timeout=150)}
        for label, args in replays.items():
            done[label] = run_cli(args, env, cwd=tmp_path)
        return done

    # The demo (the longest run) in parallel with the live scan followed by the replays.
    with ThreadPoolExecutor(2) as pool:
        chain = pool.submit(scan_then_replays)
        others = {
            label: pool.submit(run_cli, args, env, cwd=tmp_path, timeout=150)
            for label, args in runs.items()
            if label != "scan-json"
        }
        results: dict[str, Run] = chain.result()
        results.update({label: future.result() for label, future in others.items()})
    for label, result in results.items():
        # Each run really scanned: the AWS source was read (no gap about it), DNS answered.
        assert result.code in (0, 1, 3), f"{label}: exit {result.code}: {result.stderr[-500:]}"
        assert "Traceback" not in result.stderr, f"{label}: {result.stderr[-2000:]}"
        assert _leaks(result.stdout.encode()) == [], f"{label} stdout"
        assert _leaks(result.stderr.encode()) == [], f"{label} stderr"
    scan_json = (out / "report.json").read_text(encoding="utf-8")
    assert "aws:210987654321:s3:ue-audit-account" in scan_json, "the role's account was not read"
    assert "universite.example" in scan_json

    artefacts = _artefacts(tmp_path, set(files.values()))
    assert any(name.endswith("store.sqlite") for name in artefacts)
    assert any("bundle" in name for name in artefacts)
    leaked = {name: _leaks(blob) for name, blob in artefacts.items() if _leaks(blob)}
    assert leaked == {}


TAG_SECRETS = {
    "token tag": "SUPERSECRET-TAG",
    "owner tag": "jane.doe@universite.example",
    "classification tag holding a key": "AKIAPLNTDTAGQ7X4K2W1",
}


def _tag_leaks(blob: bytes) -> list[str]:
    return [name for name, value in TAG_SECRETS.items() if value.encode() in blob]


def _tagged_estate(endpoint: str) -> None:
    """A Lambda function and a bucket whose tags hold what tags hold: tokens, people, keys."""
    import io
    import json
    import zipfile

    import boto3

    session = boto3.Session(
        aws_access_key_id="seed",
        aws_secret_access_key="seed",  # noqa: S106 - moto's in-memory account
        region_name="us-east-1",
    )
    role = session.client("iam", endpoint_url=endpoint).create_role(
        RoleName="grader", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17"})
    )
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("index.py", "def handler(event, context):\n    return event\n")
    session.client("lambda", endpoint_url=endpoint).create_function(
        FunctionName="grader",
        Runtime="python3.12",
        Role=role["Role"]["Arn"],
        Handler="index.handler",
        Code={"ZipFile": code.getvalue()},
        Tags={
            "token": TAG_SECRETS["token tag"],
            "Owner": TAG_SECRETS["owner tag"],
            "DataClassification": "confidential",
        },
    )
    session.client("s3", endpoint_url=endpoint).put_bucket_tagging(
        Bucket="ue-web-assets",
        Tagging={
            "TagSet": [
                {"Key": "DataClassification", "Value": TAG_SECRETS[
                    "classification tag holding a key"]},
                {"Key": "token", "Value": TAG_SECRETS["token tag"]},
            ]
        },
    )  # fmt: skip


@pytest.mark.slow
def test_no_tag_secret_in_any_artefact(tmp_path: Path, moto_endpoint: str) -> None:
    # An auditor's trial: `token=SUPERSECRET-TAG` on a Lambda function was copied into every
    # report, the history store and the bundle. Only the classification tag is read, and a
    # classification value that looks like a key is withheld too.
    _tagged_estate(moto_endpoint)
    config = tmp_path / "sovscan.toml"
    config.write_text(
        '[institution]\nname = "U"\nhome = "CA-QC"\n\n[[aws]]\nregions = ["us-east-1"]\n',
        encoding="utf-8",
    )
    env = {
        "HOME": str(tmp_path / "home"),
        "XDG_CACHE_HOME": str(tmp_path / "home" / ".cache"),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ENDPOINT_URL": moto_endpoint,
        "SOVSCAN_STORE": str(tmp_path / "default-store.sqlite"),
    }
    out = tmp_path / "out"
    out.mkdir()
    scan = ["-vv", "--log-format", "json", "scan", "--config", str(config), "--fail-on", "never"]
    first = run_cli(
        [*scan, "--format", "html", "--output", str(out / "report.html"),
         "--store", str(out / "store.sqlite"), "--evidence", str(out / "bundle")],
        env, cwd=tmp_path,
    )  # fmt: skip
    assert first.code in (0, 3), first.stderr[-2000:]
    runs: dict[str, list[str]] = {
        f"scan-{name}": [*scan, "--no-store", "--format", name] for name in sorted(REPORTERS)
    }
    runs.update(
        (f"replay-{name}", ["-vv", "replay", str(out / "bundle"), "--format", name])
        for name in sorted(REPORTERS)
    )
    with ThreadPoolExecutor(4) as pool:
        futures = {
            label: pool.submit(run_cli, args, env, cwd=tmp_path) for label, args in runs.items()
        }
        results = {"scan-html-store-bundle": first} | {k: f.result() for k, f in futures.items()}
    for label, result in results.items():
        assert result.code in (0, 3), f"{label}: exit {result.code}: {result.stderr[-500:]}"
        assert _tag_leaks(result.stdout.encode()) == [], f"{label} stdout"
        assert _tag_leaks(result.stderr.encode()) == [], f"{label} stderr"
    # The function was read, and its classification kept; the key-like label was withheld.
    report = results["scan-json"].stdout
    assert '"tag:DataClassification": "confidential"' in report
    assert '"classification": "<redacted>"' in report
    artefacts = _artefacts(tmp_path, {config})
    assert {"out/store.sqlite", "out/report.html", "out/bundle/observations.json"} <= set(artefacts)
    leaked = {name: _tag_leaks(blob) for name, blob in artefacts.items() if _tag_leaks(blob)}
    assert leaked == {}
