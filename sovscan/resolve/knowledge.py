"""The knowledge base: every offline table resolution needs, loaded once, checked and digested."""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

from sovscan.errors import ResolveError
from sovscan.resolve.catalog import (
    AsnOperator,
    HeaderSignal,
    HostPattern,
    Law,
    Provider,
    RegionPlace,
    TxtToken,
    load_asn_operators,
    load_header_signals,
    load_host_patterns,
    load_laws,
    load_providers,
    load_regions,
    load_txt_tokens,
)
from sovscan.resolve.ipindex import IpIndex, load_index

DATA_FILES = (
    "manifest.json",
    "laws.yaml",
    "providers.yaml",
    "regions.csv",
    "hostnames.csv",
    "txt_tokens.csv",
    "http_signals.csv",
    "asn_operators.csv",
    "ipindex.npz",
)
"""The files the knowledge base reads; the digest covers exactly these."""


CURATED_FILES = DATA_FILES[1:-1]
"""Hand-maintained tables: shipped with the package, never downloaded."""


def default_data_dir() -> Path:
    """The data bundled with the package."""
    return Path(__file__).resolve().parent.parent / "data"


def user_data_dir() -> Path:
    """Where `data update` installs refreshed data: $SOVSCAN_DATA_DIR, else the XDG data home."""
    explicit = os.environ.get("SOVSCAN_DATA_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "sovscan" / "data"


def installed_data_dir() -> Path:
    """The updated data when `data update` installed a complete copy matching this package's
    curated tables; else the bundled data (a stale copy never shadows a newer package)."""
    package = default_data_dir()
    user = user_data_dir()
    try:
        if all((user / name).is_file() for name in DATA_FILES) and all(
            (user / name).read_bytes() == (package / name).read_bytes() for name in CURATED_FILES
        ):
            return user
    except OSError:
        pass
    return package


@dataclass(frozen=True, slots=True)
class Dataset:
    """One dataset's provenance, from manifest.json."""

    id: str
    files: tuple[str, ...]
    what: str
    source: str
    date: str
    licence: str

    @property
    def as_of(self) -> datetime:
        """The dataset's date as a UTC datetime (the first day when only a month is known)."""
        text = self.date.strip()
        for fmt, width in (("%Y-%m-%d", 10), ("%Y-%m", 7)):
            try:
                return datetime.strptime(text[:width], fmt).replace(tzinfo=UTC)
            except ValueError:
                continue
        return datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True, eq=False)
class KnowledgeBase:
    """Everything resolution knows, immutable; load it once per process and pass it around."""

    digest: str  # sha256 over the data files, in DATA_FILES order
    data_dir: Path
    laws: Mapping[str, Law]
    providers: Mapping[str, Provider]
    regions: Mapping[tuple[str, str], RegionPlace]
    host_patterns: tuple[HostPattern, ...]
    txt_tokens: tuple[TxtToken, ...]
    header_signals: tuple[HeaderSignal, ...]
    asn_operators: Mapping[int, AsnOperator]
    provider_by_asn: Mapping[int, str]
    index: IpIndex
    datasets: Mapping[str, Dataset]
    dates: Mapping[str, datetime]  # dataset id -> as_of, parsed once
    hosts_by_suffix: Mapping[str, tuple[HostPattern, ...]]  # last two labels -> patterns
    hosts_other: tuple[HostPattern, ...]  # patterns whose last two labels are not literal

    def as_of(self, dataset_id: str) -> datetime:
        """The date of a dataset, used as the observation time of evidence drawn from it."""
        return self.dates.get(dataset_id) or _EPOCH

    def default_laws(self, jurisdictions: Iterable[str]) -> tuple[str, ...]:
        """The laws that reach an operator whose homes are `jurisdictions` (`default_for`)."""
        homes = set(jurisdictions)
        return tuple(law.id for law in self.laws.values() if homes & set(law.default_for))

    def host_patterns_for(self, host: str) -> tuple[HostPattern, ...]:
        """The host patterns that could match `host`, in file order (indexed by suffix)."""
        suffix = ".".join(host.rsplit(".", 2)[-2:])
        return self.hosts_by_suffix.get(suffix, ()) + self.hosts_other


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_WILD = re.compile(r"[*?<]")


def _index_hosts(
    patterns: tuple[HostPattern, ...],
) -> tuple[Mapping[str, tuple[HostPattern, ...]], tuple[HostPattern, ...]]:
    """Patterns grouped by their literal last two labels, so a host is tried against few."""
    by_suffix: dict[str, list[HostPattern]] = {}
    other: list[HostPattern] = []
    for pattern in patterns:
        labels = pattern.pattern.lower().rstrip(".").split(".")
        suffix = ".".join(labels[-2:])
        if len(labels) >= 2 and not _WILD.search(suffix):
            by_suffix.setdefault(suffix, []).append(pattern)
        else:
            other.append(pattern)
    return MappingProxyType({k: tuple(v) for k, v in by_suffix.items()}), tuple(other)


def load_knowledge(data_dir: Path | None = None) -> KnowledgeBase:
    """Load and check the knowledge base; ResolveError (one line) if data is missing or invalid."""
    root = data_dir or installed_data_dir()
    digest = hashlib.sha256()
    for name in DATA_FILES:
        path = root / name
        try:
            content = path.read_bytes()
        except OSError as exc:
            raise ResolveError(f"{path}: cannot read data file ({exc.strerror or exc})") from None
        digest.update(name.encode() + b"\0" + hashlib.sha256(content).digest())
    laws = load_laws(root / "laws.yaml")
    providers = load_providers(root / "providers.yaml", laws)
    by_asn = MappingProxyType({a: p.id for p in providers.values() for a in p.asns})
    host_patterns = load_host_patterns(root / "hostnames.csv", providers)
    by_suffix, other = _index_hosts(host_patterns)
    datasets = _manifest(root / "manifest.json")
    return KnowledgeBase(
        digest=digest.hexdigest(),
        data_dir=root,
        laws=laws,
        providers=providers,
        regions=load_regions(root / "regions.csv", providers),
        host_patterns=host_patterns,
        txt_tokens=load_txt_tokens(root / "txt_tokens.csv", providers),
        header_signals=load_header_signals(root / "http_signals.csv", providers),
        asn_operators=load_asn_operators(root / "asn_operators.csv", providers),
        provider_by_asn=by_asn,
        index=load_index(root / "ipindex.npz"),
        datasets=datasets,
        dates=MappingProxyType({d.id: d.as_of for d in datasets.values()}),
        hosts_by_suffix=by_suffix,
        hosts_other=other,
    )


def _manifest(path: Path) -> Mapping[str, Dataset]:
    try:
        doc: Any = json.loads(path.read_text(encoding="utf-8"))
        entries = doc["datasets"]
        datasets = {
            e["id"]: Dataset(
                e["id"], tuple(e["files"]), e["what"], e["source"], e["date"], e["licence"]
            )
            for e in entries
        }
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ResolveError(f"{path}: invalid manifest ({exc})") from None
    return MappingProxyType(datasets)


# The feeds that place an address: a provider moves its ranges between regions every week, so a
# copy this old may place a moved address wrongly, and the report must say so.
ADDRESS_FEEDS = ("aws-ip-ranges", "azure-service-tags", "gcp-cloud", "cloudflare-ips", "ip-asn")
STALE_AFTER_DAYS = 90


def stale_data_notice(knowledge: KnowledgeBase, at: datetime) -> tuple[str, ...]:
    """One notice naming the address feeds older than STALE_AFTER_DAYS at `at`, or none."""
    old = []
    for feed in ADDRESS_FEEDS:
        dataset = knowledge.datasets.get(feed)
        if dataset is None:
            continue
        age = (at - dataset.as_of).days
        if age > STALE_AFTER_DAYS:
            old.append(f"{feed} ({dataset.as_of.date().isoformat()}, {age} days)")
    if not old:
        return ()
    notice = (
        f"address data older than {STALE_AFTER_DAYS} days at this scan: {', '.join(old)}; an "
        "address its provider has moved since may be placed wrongly: `sovscan data update` "
        "refreshes them"
    )
    return (notice,)
