"""`sovscan data update`: download the official feeds, validate them, and swap in a new index."""

from __future__ import annotations

import gzip
import json
import re
import shutil
import tempfile
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sovscan.errors import ResolveError
from sovscan.resolve import build
from sovscan.resolve.knowledge import DATA_FILES, default_data_dir, load_knowledge, user_data_dir

OFFICIAL_SOURCES: Mapping[str, str] = {
    "aws": "https://ip-ranges.amazonaws.com/ip-ranges.json",
    "azure-page": "https://www.microsoft.com/en-us/download/details.aspx?id=56519",
    "gcp": "https://www.gstatic.com/ipranges/cloud.json",
    "cloudflare-v4": "https://www.cloudflare.com/ips-v4",
    "cloudflare-v6": "https://www.cloudflare.com/ips-v6",
    "oracle": "https://docs.oracle.com/iaas/tools/public_ip_ranges.json",
    "fastly": "https://api.fastly.com/public-ip-list",
    "asn-v4": "https://cdn.jsdelivr.net/npm/@ip-location-db/asn/asn-ipv4.csv",
    "asn-v6": "https://cdn.jsdelivr.net/npm/@ip-location-db/asn/asn-ipv6.csv",
}
"""Where each feed is published. The Azure file name changes weekly: it is found on its page."""

_AZURE_LINK = re.compile(r"https?://[^\"'\s<>]+/ServiceTags_Public_\d+\.json")
_AZURE_HOSTS = ("https://download.microsoft.com/",)
_MAX_FEED = 200_000_000
_MIN_PREFIXES = {"aws": 1000, "azure": 1000, "gcp": 100, "cloudflare": 5, "oracle": 50, "fastly": 5}

Fetch = Callable[[str], bytes]


@dataclass(frozen=True, slots=True)
class UpdateResult:
    """What an update installed."""

    data_dir: Path
    digest: str
    prefixes: Mapping[str, int]  # feed -> prefixes taken from it
    asn_ranges: int


def http_fetch(url: str, timeout: float = 60.0) -> bytes:
    """GET `url` (http or https only), refusing bodies larger than a sane feed."""
    if not url.startswith(("https://", "http://")):
        raise ResolveError(f"{url}: only http(s) feeds are fetched")
    request = urllib.request.Request(url, headers={"User-Agent": "sovscan-data-update"})  # noqa: S310 - scheme checked above
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            body: bytes = response.read(_MAX_FEED + 1)
    except OSError as exc:
        raise ResolveError(f"{url}: download failed ({exc})") from None
    if len(body) > _MAX_FEED:
        raise ResolveError(f"{url}: larger than {_MAX_FEED} bytes")
    return body


def _json(url: str, body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError as exc:
        raise ResolveError(f"{url}: not JSON ({exc})") from None
    except RecursionError:
        raise ResolveError(f"{url}: not JSON (nested too deeply)") from None


def _azure_link(page: str, page_url: str) -> str:
    """The weekly Service Tags file linked from its download page (Microsoft's host, or the
    page's own origin when a mirror serves both)."""
    origin = "/".join(page_url.split("/", 3)[:3]) + "/"
    for link in _AZURE_LINK.findall(page):
        if link.startswith((*_AZURE_HOSTS, origin)):
            return str(link)
    return ""


def oracle_prefixes(doc: Mapping[str, Any]) -> list[build.Prefix]:
    """Prefixes of Oracle Cloud's `public_ip_ranges.json`, with their region."""
    out = []
    for region in doc["regions"]:
        for item in region["cidrs"]:
            family, network, length = build.parse_prefix(item["cidr"])
            tags = ",".join(item.get("tags", ())) or "OCI"
            record = ("oracle", region["region"], "", tags, False, "oracle-ip-ranges")
            out.append(build.Prefix(family, network, length, record, 1))
    return out


def fastly_prefixes(doc: Mapping[str, Any]) -> list[build.Prefix]:
    """Fastly's public edge ranges (anycast: no country)."""
    out = []
    for prefix in [*doc.get("addresses", ()), *doc.get("ipv6_addresses", ())]:
        family, network, length = build.parse_prefix(prefix)
        record = ("fastly", "GLOBAL", "", "edge", True, "fastly-ip-list")
        out.append(build.Prefix(family, network, length, record, 1))
    return out


def update_data(
    target: Path | None = None,
    fetch: Fetch = http_fetch,
    sources: Mapping[str, str] = OFFICIAL_SOURCES,
    now: datetime | None = None,
) -> UpdateResult:
    """Download, validate, build, check, then atomically replace the data directory `target`.

    On any error the previous data is left as it was.
    """
    target = target or user_data_dir()
    stamp = (now or datetime.now(UTC)).strftime("%Y-%m-%d")
    feeds: dict[str, list[build.Prefix]] = {}
    try:
        aws = _json(sources["aws"], fetch(sources["aws"]))
        feeds["aws"] = build.aws_prefixes(aws)
        page = fetch(sources["azure-page"]).decode("utf-8", "replace")
        azure_url = _azure_link(page, sources["azure-page"])
        if not azure_url:
            raise ResolveError(f"{sources['azure-page']}: no ServiceTags_Public link found")
        feeds["azure"] = build.azure_prefixes(_json(azure_url, fetch(azure_url)))
        feeds["gcp"] = build.gcp_prefixes(_json(sources["gcp"], fetch(sources["gcp"])))
        cloudflare = fetch(sources["cloudflare-v4"]) + b"\n" + fetch(sources["cloudflare-v6"])
        feeds["cloudflare"] = build.cloudflare_prefixes(cloudflare.decode("ascii", "replace"))
        feeds["oracle"] = oracle_prefixes(_json(sources["oracle"], fetch(sources["oracle"])))
        feeds["fastly"] = fastly_prefixes(_json(sources["fastly"], fetch(sources["fastly"])))
        ranges = [
            *build.read_asn_csv(fetch(sources["asn-v4"])),
            *build.read_asn_csv(fetch(sources["asn-v6"])),
        ]
    except (KeyError, TypeError, ValueError, gzip.BadGzipFile) as exc:
        raise ResolveError(f"data update: a feed has an unexpected shape ({exc!r})") from None
    for feed, minimum in _MIN_PREFIXES.items():
        if len(feeds[feed]) < minimum:
            raise ResolveError(f"data update: {feed} feed has {len(feeds[feed])} prefixes")
    if len(ranges) < 1000:
        raise ResolveError(f"data update: IP→ASN table has only {len(ranges)} ranges")
    arrays = build.build_arrays([p for prefixes in feeds.values() for p in prefixes], ranges)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".sovscan-data-", dir=target.parent))
    try:
        _stage(staging, arrays, sources, azure_url, stamp)
        kb = load_knowledge(staging)  # the same checks a scan makes, before anything is replaced
        _swap(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    counts = {feed: len(prefixes) for feed, prefixes in feeds.items()}
    return UpdateResult(target, kb.digest, counts, len(ranges))


def _stage(
    staging: Path, arrays: Mapping[str, Any], sources: Mapping[str, str], azure: str, stamp: str
) -> None:
    package = default_data_dir()
    for path in package.iterdir():
        if path.is_file() and path.name != "ipindex.npz":
            shutil.copy2(path, staging / path.name)
    build.write_index(staging / "ipindex.npz", arrays)
    manifest = json.loads((staging / "manifest.json").read_text(encoding="utf-8"))
    urls = {
        "aws-ip-ranges": sources["aws"],
        "azure-service-tags": azure,
        "gcp-cloud": sources["gcp"],
        "cloudflare-ips": f"{sources['cloudflare-v4']} and {sources['cloudflare-v6']}",
        "ip-asn": f"{sources['asn-v4']} and {sources['asn-v6']}",
    }
    for dataset in manifest["datasets"]:
        if dataset["id"] in urls:
            dataset["source"] = urls[dataset["id"]]
            dataset["date"] = f"{stamp} (downloaded)"
    manifest["datasets"] += [
        {
            "id": "oracle-ip-ranges",
            "files": ["ipindex.npz"],
            "what": "Oracle Cloud Infrastructure published prefixes with region",
            "source": sources["oracle"],
            "date": f"{stamp} (downloaded)",
            "licence": "Oracle public data",
        },
        {
            "id": "fastly-ip-list",
            "files": ["ipindex.npz"],
            "what": "Fastly edge ranges",
            "source": sources["fastly"],
            "date": f"{stamp} (downloaded)",
            "licence": "Fastly public data",
        },
    ]
    text = json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"
    (staging / "manifest.json").write_text(text, encoding="utf-8")
    missing = [name for name in DATA_FILES if not (staging / name).is_file()]
    if missing:
        raise ResolveError(f"data update: staged data lacks {', '.join(missing)}")


def _swap(staging: Path, target: Path) -> None:
    """Replace `target` by the staged directory; each rename is atomic on one file system."""
    if target.exists():
        old = target.with_name(target.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        target.rename(old)
        staging.rename(target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        staging.rename(target)
