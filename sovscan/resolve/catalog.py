"""The curated sovereignty tables (laws, providers, regions, ASNs, hosts, tokens), checked."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from sovscan.errors import ResolveError
from sovscan.model import Confidence
from sovscan.places import is_place

_LAW_ID = re.compile(r"^[a-z]{2}-[a-z0-9-]+$")
_PROVIDER_ID = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_CONFIDENCE = {"high": Confidence.HIGH, "medium": Confidence.MEDIUM, "low": Confidence.LOW}


@dataclass(frozen=True, slots=True)
class Law:
    """A law that lets a state compel a provider, and whom it reaches."""

    id: str
    name: str
    jurisdiction: str
    citation: str
    reach: str
    summary: str
    source: str
    default_for: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Provider:
    """A catalogue provider: who operates it, who controls the operator, which laws apply."""

    id: str
    name: str
    operator: str
    parent: str
    jurisdictions: tuple[str, ...]
    laws: tuple[str, ...]
    kind: str
    edge: bool
    asns: tuple[int, ...]
    hosted_on: tuple[str, ...]
    licensor: str | None
    partitions: Mapping[str, str]
    regions: Mapping[str, str]
    sources: tuple[str, ...]
    note: str


@dataclass(frozen=True, slots=True)
class RegionPlace:
    """Where a provider region (or AWS network border group) is."""

    provider: str
    region: str
    partition: str
    country: str | None
    subdivision: str | None
    city: str
    kind: (
        str  # region | local-zone | wavelength-zone | dedicated-local-zone | alias | edge | unknown
    )
    note: str


@dataclass(frozen=True, slots=True)
class Vendor:
    """Who is behind a fingerprint that is not (or not only) a catalogue provider."""

    provider: str | None  # catalogue provider id when there is one
    name: str
    product: str
    parent: str
    country: str | None
    confidence: Confidence
    note: str


@dataclass(frozen=True, slots=True)
class HostPattern:
    """An anchored host-name pattern (MX, NS, CNAME or SPF include) and what it reveals."""

    record: str
    pattern: str
    regex: re.Pattern[str]
    vendor: Vendor
    region_provider: str | None  # whose region table a `<region>` capture names
    edge: bool
    role: str = ""  # mail role: "mailbox" (holds the mail), "gateway" (filters and relays it), ""


@dataclass(frozen=True, slots=True)
class TxtToken:
    """A TXT verification token (prefix or regular expression) and its vendor."""

    match: str  # "prefix" | "regex"
    pattern: str
    regex: re.Pattern[str] | None
    vendor: Vendor
    role: str = ""  # "mailbox" when the token is a (weak) sign of where the mail is, else ""
    key: str = ""  # the token's key as the DNS probe names it ("ms", "zoho-verification")


@dataclass(frozen=True, slots=True)
class HeaderSignal:
    """An HTTP response header (and a pattern its value must match in full) naming a vendor."""

    header: str  # lower case
    pattern: str
    regex: re.Pattern[str]
    vendor: Vendor
    edge: bool  # a CDN or front door: the response came from an edge, not the data's home


@dataclass(frozen=True, slots=True)
class AsnOperator:
    """An ASN whose operator is known but is not a catalogue provider."""

    asn: int
    as_name: str
    operator: str
    parent: str
    country: str | None
    confidence: Confidence
    note: str


def _fail(where: str, message: str) -> ResolveError:
    return ResolveError(f"{where}: {message}")


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ResolveError(f"{path}: cannot read ({exc.strerror or exc})") from None


def _yaml(path: Path, key: str) -> Mapping[str, Any]:
    try:
        doc = yaml.load(_read_text(path), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506 - safe loaders only
    except yaml.YAMLError as exc:
        raise _fail(str(path), f"invalid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get(key), dict):
        raise _fail(str(path), f"expected a mapping under '{key}'")
    return doc[key]  # type: ignore[no-any-return]


def _rows(path: Path, columns: tuple[str, ...]) -> list[dict[str, str]]:
    reader = csv.DictReader(io.StringIO(_read_text(path)))
    missing = [c for c in columns if c not in (reader.fieldnames or ())]
    if missing:
        raise _fail(str(path), f"missing columns {', '.join(missing)}")
    return list(reader)


def _str(where: str, entry: Mapping[str, Any], key: str, default: str | None = None) -> str:
    value = entry.get(key, default)
    if not isinstance(value, str) or (default is None and not value.strip()):
        raise _fail(where, f"{key}: expected a non-empty string")
    return value.strip()


def _list(where: str, entry: Mapping[str, Any], key: str) -> tuple[Any, ...]:
    value = entry.get(key, [])
    if not isinstance(value, list):
        raise _fail(where, f"{key}: expected a list")
    return tuple(value)


def _place(where: str, code: str) -> str:
    if code != "EU" and not is_place(code):
        raise _fail(where, f"{code!r} is not an ISO 3166 code")
    return code


def _confidence(where: str, text: str) -> Confidence:
    try:
        return _CONFIDENCE[text.strip().lower()]
    except KeyError:
        raise _fail(where, f"confidence: expected high, medium or low; got {text!r}") from None


def load_laws(path: Path) -> Mapping[str, Law]:
    laws: dict[str, Law] = {}
    for law_id, entry in _yaml(path, "laws").items():
        where = f"{path.name}: laws.{law_id}"
        if not isinstance(law_id, str) or not _LAW_ID.match(law_id) or not isinstance(entry, dict):
            raise _fail(where, "expected an id like 'us-cloud-act' mapping to an entry")
        laws[law_id] = Law(
            id=law_id,
            name=_str(where, entry, "name"),
            jurisdiction=_place(where, _str(where, entry, "jurisdiction")),
            citation=_str(where, entry, "citation"),
            reach=_str(where, entry, "reach"),
            summary=_str(where, entry, "summary"),
            source=_str(where, entry, "source"),
            default_for=tuple(_place(where, str(c)) for c in _list(where, entry, "default_for")),
        )
    return MappingProxyType(laws)


def load_providers(path: Path, laws: Mapping[str, Law]) -> Mapping[str, Provider]:
    raw = _yaml(path, "providers")
    providers: dict[str, Provider] = {}
    for pid, entry in raw.items():
        where = f"{path.name}: providers.{pid}"
        if not isinstance(pid, str) or not _PROVIDER_ID.match(pid) or not isinstance(entry, dict):
            raise _fail(where, "expected a lowercase id mapping to an entry")
        law_ids = tuple(str(x) for x in _list(where, entry, "laws"))
        unknown = [x for x in law_ids if x not in laws]
        if unknown:
            raise _fail(where, f"laws: unknown law id {unknown[0]!r}")
        asns = _list(where, entry, "asns")
        if not all(isinstance(a, int) and a > 0 for a in asns):
            raise _fail(where, "asns: expected positive integers")
        sources = tuple(str(s) for s in _list(where, entry, "sources"))
        if not sources:
            raise _fail(where, "sources: every entry cites at least one source")
        providers[pid] = Provider(
            id=pid,
            name=_str(where, entry, "name"),
            operator=_str(where, entry, "operator"),
            parent=_str(where, entry, "parent"),
            jurisdictions=tuple(
                _place(where, str(c)) for c in _list(where, entry, "jurisdictions")
            ),
            laws=law_ids,
            kind=_str(where, entry, "kind"),
            edge=bool(entry.get("edge", False)),
            asns=tuple(int(a) for a in asns),
            hosted_on=tuple(str(h) for h in _list(where, entry, "hosted_on")),
            licensor=entry.get("licensor"),
            partitions=MappingProxyType(dict(entry.get("partitions") or {})),
            regions=MappingProxyType(dict(entry.get("regions") or {})),
            sources=sources,
            note=_str(where, entry, "note", ""),
        )
    for provider in providers.values():
        where = f"{path.name}: providers.{provider.id}"
        refs = [*provider.hosted_on, *provider.partitions.values(), *provider.regions.values()]
        refs += [provider.licensor] if provider.licensor else []
        bad = [r for r in refs if r not in providers]
        if bad:
            raise _fail(where, f"refers to unknown provider {bad[0]!r}")
        if not provider.jurisdictions:
            raise _fail(where, "jurisdictions: expected at least one ISO code")
    return MappingProxyType(providers)


def load_regions(
    path: Path, providers: Mapping[str, Provider]
) -> Mapping[tuple[str, str], RegionPlace]:
    cols = ("provider", "region", "partition", "country", "subdivision", "city", "kind", "note")
    places: dict[tuple[str, str], RegionPlace] = {}
    for line, row in enumerate(_rows(path, cols), start=2):
        where = f"{path.name}:{line}"
        if row["provider"] not in providers:
            raise _fail(where, f"provider {row['provider']!r} is not in the catalogue")
        country = row["country"] or None
        subdivision = row["subdivision"] or None
        if country:
            _place(where, country)
        if subdivision and (not is_place(subdivision) or subdivision[:2] != country):
            raise _fail(where, f"subdivision {subdivision!r} is not within {country!r}")
        key = (row["provider"], row["region"])
        if key in places:
            raise _fail(where, f"duplicate region {row['region']!r}")
        places[key] = RegionPlace(
            row["provider"],
            row["region"],
            row["partition"],
            country,
            subdivision,
            row["city"],
            row["kind"],
            row["note"],
        )
    return MappingProxyType(places)


def _vendor(where: str, row: Mapping[str, str], providers: Mapping[str, Provider]) -> Vendor:
    pid = row["provider"] or None
    if pid is not None and pid not in providers:
        raise _fail(where, f"provider {pid!r} is not in the catalogue")
    country = row["country"] or None
    if country:
        _place(where, country)
    return Vendor(
        pid,
        row["vendor"],
        row["product"],
        row["parent"],
        country,
        _confidence(where, row["confidence"]),
        row["note"],
    )


def compile_host_pattern(pattern: str) -> re.Pattern[str]:
    """An anchored regular expression for a host pattern.

    A leading ``*`` label stands for one or more whole labels; ``*`` inside a label for any run of
    label characters; ``?`` for one; ``<region>`` captures a region name. Matching is on whole
    labels, so ``*.cloudfront.net`` never matches ``cloudfront.net.evil.example``.
    """
    labels = pattern.lower().rstrip(".").split(".")
    parts = []
    for i, label in enumerate(labels):
        if i == 0 and label == "*":
            parts.append(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*")
            continue
        out = ""
        rest = label
        while rest:
            if rest.startswith("<region>"):
                out += r"(?P<region>[a-z0-9-]+)"
                rest = rest[len("<region>") :]
            elif rest[0] == "*":
                out += r"[a-z0-9_-]*"
                rest = rest[1:]
            elif rest[0] == "?":
                out += r"[a-z0-9]"
                rest = rest[1:]
            else:
                out += re.escape(rest[0])
                rest = rest[1:]
        parts.append(out)
    return re.compile(r"\A" + r"\.".join(parts) + r"\Z")


HOST_RECORDS = ("MX", "NS", "CNAME", "SPF", "DMARC", "DKIM")
"""What a host pattern is matched against: an MX, NS or CNAME name, an SPF include, a DMARC
report (rua/ruf) domain, a DKIM selector name (one label, published with its key in place)."""
MAIL_ROLES = ("mailbox", "gateway")


def load_host_patterns(path: Path, providers: Mapping[str, Provider]) -> tuple[HostPattern, ...]:
    cols = ("record", "pattern", "provider", "vendor", "product", "parent", "country",
            "region_provider", "edge", "confidence", "note", "role")  # fmt: skip
    out = []
    for line, row in enumerate(_rows(path, cols), start=2):
        where = f"{path.name}:{line}"
        if row["record"] not in HOST_RECORDS:
            raise _fail(
                where, f"record: expected one of {', '.join(HOST_RECORDS)}; got {row['record']!r}"
            )
        if row["role"] and row["role"] not in MAIL_ROLES:
            raise _fail(where, f"role: expected mailbox, gateway or nothing; got {row['role']!r}")
        region_provider = row["region_provider"] or None
        if region_provider is not None and region_provider not in providers:
            raise _fail(where, f"region_provider {region_provider!r} is not in the catalogue")
        if ("<region>" in row["pattern"]) != (region_provider is not None):
            raise _fail(where, "a <region> pattern needs region_provider (and only it)")
        out.append(
            HostPattern(
                row["record"],
                row["pattern"],
                compile_host_pattern(row["pattern"]),
                _vendor(where, row, providers),
                region_provider,
                row["edge"] == "true",
                row["role"],
            )
        )
    return tuple(out)


def load_header_signals(path: Path, providers: Mapping[str, Provider]) -> tuple[HeaderSignal, ...]:
    cols = ("header", "pattern", "provider", "vendor", "product", "parent", "country",
            "edge", "confidence", "note")  # fmt: skip
    out = []
    for line, row in enumerate(_rows(path, cols), start=2):
        where = f"{path.name}:{line}"
        header = row["header"].strip().lower()
        if not re.fullmatch(r"[a-z0-9-]{1,64}", header):
            raise _fail(where, f"header: expected an HTTP header name; got {row['header']!r}")
        try:
            regex = re.compile(row["pattern"], re.IGNORECASE)
        except re.error as exc:
            raise _fail(where, f"pattern: not a regular expression ({exc})") from None
        if row["edge"] not in ("true", "false"):
            raise _fail(where, f"edge: expected true or false; got {row['edge']!r}")
        out.append(
            HeaderSignal(
                header, row["pattern"], regex, _vendor(where, row, providers), row["edge"] == "true"
            )
        )
    return tuple(out)


_TOKEN_KEY = re.compile(r"^\^?([A-Za-z0-9][A-Za-z0-9_.-]*?)[_-]?(?:[=:]|$)")


def token_key(pattern: str) -> str:
    """The key the DNS probe gives a token matching `pattern` (``MS=`` -> ``ms``,
    ``zoho-verification=`` -> ``zoho-verification``, ``ZOOM_verify_`` -> ``zoom_verify``)."""
    found = _TOKEN_KEY.match(pattern)
    return found.group(1).lower() if found else ""


def load_txt_tokens(path: Path, providers: Mapping[str, Provider]) -> tuple[TxtToken, ...]:
    cols = ("match", "pattern", "provider", "vendor", "product", "parent", "country", "confidence",
            "role")  # fmt: skip
    out = []
    for line, row in enumerate(_rows(path, cols), start=2):
        where = f"{path.name}:{line}"
        if row["role"] not in ("", "mailbox"):
            raise _fail(where, f"role: expected mailbox or nothing; got {row['role']!r}")
        regex = None
        if row["match"] == "regex":
            try:
                regex = re.compile(row["pattern"])
            except re.error as exc:
                raise _fail(where, f"pattern: invalid regular expression ({exc})") from None
        elif row["match"] != "prefix":
            raise _fail(where, f"match: expected prefix or regex; got {row['match']!r}")
        key = token_key(row["pattern"])
        if row["role"] and not key:
            raise _fail(where, "a mailbox token needs a pattern starting with its key")
        vendor = _vendor(where, row, providers)
        out.append(TxtToken(row["match"], row["pattern"], regex, vendor, row["role"], key))
    return tuple(out)


def load_asn_operators(path: Path, providers: Mapping[str, Provider]) -> Mapping[int, AsnOperator]:
    cols = ("asn", "as_name", "operator", "parent", "country", "confidence", "note")
    claimed = {a: p.id for p in providers.values() for a in p.asns}
    out: dict[int, AsnOperator] = {}
    for line, row in enumerate(_rows(path, cols), start=2):
        where = f"{path.name}:{line}"
        if not row["asn"].isdigit():
            raise _fail(where, f"asn: expected a number; got {row['asn']!r}")
        asn = int(row["asn"])
        if asn in claimed or asn in out:
            raise _fail(where, f"AS{asn} is listed twice (also {claimed.get(asn, 'this file')})")
        country = row["country"] or None
        if country:
            _place(where, country)
        out[asn] = AsnOperator(
            asn,
            row["as_name"],
            row["operator"],
            row["parent"],
            country,
            _confidence(where, row["confidence"]),
            row["note"],
        )
    return MappingProxyType(out)
