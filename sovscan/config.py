"""The inventory file (sovscan.toml), checked into a frozen ScanConfig; errors are one line."""

from __future__ import annotations

import ipaddress
import re
import tomllib
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

from sovscan.bounds import bounded
from sovscan.engine.waivers import Waiver, parse_waivers
from sovscan.errors import ConfigError
from sovscan.model import MAX_DECLARED_PREFIXES, SECTORS, DeclaredNetwork, Policy
from sovscan.places import GROUP_ALIASES, GROUPS, PLACE_EXAMPLES, home_jurisdictions, is_place
from sovscan.shown import shown
from sovscan.suggest import closest, either
from sovscan.urls import without_secrets

ALL_REGIONS = "all"
_CLASSIFICATION_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
_FRAMEWORK_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
_ROLE_ARN_RE = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
_ROLE_NAME_RE = re.compile(r"^[\w+=,.@/-]{1,512}$")
_REGION_RE = re.compile(r"^[a-z]{2,4}(-[a-z]+)+-\d{1,2}$")  # eusc-de-east-1: 4 letters
_DOMAIN_LABEL_RE = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_HOST_LABEL_RE = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9])?$")


@dataclass(frozen=True, slots=True)
class AwsSource:
    """One AWS entry point: credentials from a profile, a role to assume, or the default chain."""

    profile: str | None = None
    role_arn: str | None = None
    external_id: str | None = None
    regions: tuple[str, ...] | None = None  # None means every enabled region ("all")
    label: str | None = None
    member_role: str | None = None  # set: scan every Organization account through this role
    member_external_id: str | None = None
    classification_tag: str = "DataClassification"  # the tag that labels a resource's data


@dataclass(frozen=True, slots=True)
class SaasVendor:
    """The company behind a SaaS service, as the institution states it ([[saas]] vendor)."""

    name: str
    parent: str | None
    jurisdictions: tuple[str, ...]
    basis: str


@dataclass(frozen=True, slots=True)
class SaasEndpoint:
    """A SaaS service the institution uses, with what kind of data it holds."""

    name: str
    url: str
    classification: str
    # Where the vendor keeps the data, as the institution knows it (a contract, a data
    # processing agreement), and where that statement comes from: DNS sees only the front end.
    data_location: str | None = None
    data_location_basis: str | None = None
    # Who the vendor is (it holds the data; an address names only who hosts the endpoint), the
    # homes of the vendor and its parent, and where that statement comes from.
    vendor: SaasVendor | None = None

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""

    @property
    def asset_host(self) -> str:
        """The host as the probe names the endpoint's asset (`saas:<host>`): lowercase, no port,
        no trailing dot. Two entries with one asset host would be one asset."""
        return self.host.rstrip(".").lower()


@dataclass(frozen=True, slots=True)
class Limits:
    """How long and how wide a scan may go; the defaults are safe for a university estate."""

    dns_timeout: float = 2.0  # seconds to wait for one DNS answer
    dns_lifetime: float = 5.0  # seconds for one question, retries included
    dns_concurrency: int = 8  # domains probed at once on the live path (--concurrency overrides)
    aws_workers: int = 8  # AWS calls in flight per account
    aws_max_attempts: int = 3  # retries after the first try (adaptive: throttling slows down)
    aws_connect_timeout: float = 3.0  # seconds
    aws_read_timeout: float = 12.0  # seconds
    dns_in_flight: int = 256  # DNS questions outstanding at once on the bulk path; 0 turns it off


OPENID_URL = "https://login.microsoftonline.com/{domain}/v2.0/.well-known/openid-configuration"


@dataclass(frozen=True, slots=True)
class HttpsSettings:
    """Whether sovscan talks HTTPS to anything (it does not by default: a scan only asks DNS)."""

    saas: bool = False  # read each SaaS endpoint's signal headers and TLS certificate
    m365_tenant: bool = False  # ask Microsoft's OpenID configuration for each domain's tenant
    timeout: float = 5.0  # seconds for one request, connect to last header
    max_redirects: int = 3
    allow_private_redirects: bool = False  # follow redirects to private or loopback addresses
    ca_file: Path | None = None  # extra trust anchors (PEM), relative to the inventory file
    openid_url: str = OPENID_URL  # `{domain}` is replaced; a test or a mirror may change it


_LIMIT_BOUNDS: dict[str, tuple[float, float]] = {
    "dns_timeout": (0.1, 60),
    "dns_lifetime": (0.1, 300),
    "dns_concurrency": (1, 256),
    "dns_in_flight": (0, 4096),
    "aws_workers": (1, 64),
    "aws_max_attempts": (0, 20),
    "aws_connect_timeout": (0.5, 120),
    "aws_read_timeout": (1, 600),
}


@dataclass(frozen=True, slots=True)
class ScanConfig:
    """Everything a scan needs to know about the institution and what to look at."""

    policy: Policy
    aws: tuple[AwsSource, ...] = ()
    domains: tuple[str, ...] = ()
    dns_names: tuple[str, ...] = ()  # extra host labels to look up under each domain
    saas: tuple[SaasEndpoint, ...] = ()
    source: str = "<defaults>"
    profile: str | None = None  # a rules profile from rules/profiles.yaml
    policy_overrides: frozenset[str] = (
        frozenset()
    )  # policy fields the file set: they beat a profile
    waivers: tuple[Waiver, ...] = ()
    rule_dirs: tuple[Path, ...] = ()  # the institution's own rules, relative to the file
    limits: Limits = Limits()
    https: HttpsSettings = HttpsSettings()
    networks: tuple[DeclaredNetwork, ...] = ()  # address space whose operator it states
    # (domain, name) of the bodies a --domains CSV names: the reports show them beside the domain
    domain_names: tuple[tuple[str, str], ...] = ()


def load_config(path: Path) -> ScanConfig:
    """Read and validate an inventory file. Raises ConfigError with one line naming file and key."""
    label = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"{label}: cannot read the inventory file ({exc.strerror or exc})"
        ) from None
    try:
        document = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{label}: expected UTF-8 TOML; the file is not valid UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{label}: invalid TOML: {exc}") from None
    except RecursionError:  # tomllib recurses once per level of nesting
        raise ConfigError(f"{label}: invalid TOML: arrays or tables nested too deeply") from None
    return parse_config(document, label)


def check_aws_regions(config: ScanConfig, known: Collection[str]) -> None:
    """Every AWS region the inventory names must be in `known` (the region table and
    botocore's, which the scan loads after the file): a misspelt region would otherwise only
    surface as a gap. A typo earns the closest regions, as `sovscan lookup` gives them; only a
    name close to none may be a region newer than the installed botocore."""
    for i, source in enumerate(config.aws):
        for j, region in enumerate(source.regions or ()):
            if region in known:
                continue
            where = f"{config.source}: aws[{i}].regions[{j}]"
            close = closest(region, sorted(known))
            if close:
                raise ConfigError(
                    f"{where}: expected an AWS region; got {region!r}: did you mean "
                    f"{either(close)}?"
                )
            raise ConfigError(
                f"{where}: expected an AWS region such as ca-central-1 (or one newer than the "
                f"installed boto3: pip install -U boto3); got {region!r}"
            )


def parse_config(document: Mapping[str, Any], label: str) -> ScanConfig:
    """Validate a parsed TOML document; `label` names the file in error messages."""
    reader = _Reader(label)
    reader.known_keys(
        document,
        "",
        {"institution", "aws", "dns", "saas", "waivers", "rules", "limits", "https", "networks"},
    )
    institution = reader.table(document, "institution", required=True)
    policy = _policy(reader, institution)
    profile = reader.text(institution, "institution.profile")
    overrides = frozenset(
        key
        for key in (
            "allowed_locations",
            "home_jurisdictions",
            "sensitive_classifications",
            "frameworks",
        )
        if key in institution
    )
    aws = tuple(
        _aws_source(reader, entry, f"aws[{index}]")
        for index, entry in enumerate(reader.table_array(document, "aws"))
    )
    _check_aws_sources(reader, aws)
    dns_table = reader.table(document, "dns", required=False)
    reader.known_keys(dns_table, "dns", {"domains", "names"})
    domains = tuple(
        _dedupe(
            normalize_domain(reader, value, f"dns.domains[{i}]")
            for i, value in enumerate(reader.str_list(dns_table, "dns.domains"))
        )
    )
    names = tuple(
        _dedupe(
            _label(reader, value, f"dns.names[{i}]", frozenset(domains))
            for i, value in enumerate(reader.str_list(dns_table, "dns.names"))
        )
    )
    saas = tuple(
        _saas(reader, entry, f"saas[{index}]", policy.default_classification)
        for index, entry in enumerate(reader.table_array(document, "saas"))
    )
    _check_saas_hosts(reader, saas)
    waivers = parse_waivers(document.get("waivers", []), label)
    rules_table = reader.table(document, "rules", required=False)
    reader.known_keys(rules_table, "rules", {"dirs"})
    base = Path(label).parent
    rule_dirs = tuple(
        _rule_dir(reader, base, value, f"rules.dirs[{i}]")
        for i, value in enumerate(reader.str_list(rules_table, "rules.dirs"))
    )
    limits = _limits(reader, reader.table(document, "limits", required=False))
    https = _https(reader, reader.table(document, "https", required=False), base)
    networks = _networks(reader, reader.table_array(document, "networks"))
    return ScanConfig(
        policy,
        aws,
        domains,
        names,
        saas,
        label,
        profile,
        overrides,
        waivers,
        rule_dirs,
        limits,
        https,
        networks,
    )


def _https(reader: _Reader, table: Mapping[str, Any], base: Path) -> HttpsSettings:
    keys = {f.name for f in fields(HttpsSettings)}
    reader.known_keys(table, "https", keys)
    values: dict[str, Any] = {}
    for key in ("saas", "m365_tenant", "allow_private_redirects"):
        if key in table:
            if not isinstance(table[key], bool):
                reader.fail(f"https.{key}", "true or false", table[key])
            values[key] = table[key]
    timeout = table.get("timeout", HttpsSettings().timeout)
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, int | float)
        or not 0.1 <= timeout <= 120
    ):
        reader.fail("https.timeout", "a number of seconds from 0.1 to 120", timeout)
    values["timeout"] = float(timeout)
    redirects = table.get("max_redirects", HttpsSettings().max_redirects)
    if isinstance(redirects, bool) or not isinstance(redirects, int) or not 0 <= redirects <= 10:
        reader.fail("https.max_redirects", "a whole number from 0 to 10", redirects)
    values["max_redirects"] = redirects
    ca_file = reader.text(table, "https.ca_file")
    if ca_file is not None:
        path = base / ca_file
        if not path.is_file():
            reader.fail("https.ca_file", "a readable PEM file", ca_file)
        values["ca_file"] = path
    openid = reader.text(table, "https.openid_url")
    if openid is not None:
        if not openid.startswith("https://") or openid.count("{domain}") != 1:
            reader.fail("https.openid_url", "an https URL with one {domain} in it", openid)
        values["openid_url"] = openid
    return HttpsSettings(**values)


def _limits(reader: _Reader, table: Mapping[str, Any]) -> Limits:
    reader.known_keys(table, "limits", set(_LIMIT_BOUNDS))
    values: dict[str, float | int] = {}
    for key, value in table.items():
        low, high = _LIMIT_BOUNDS[key]
        whole = isinstance(getattr(Limits(), key), int)
        wanted = "a whole number" if whole else "a number"
        if (
            isinstance(value, bool)
            or not isinstance(value, int if whole else (int, float))
            or not low <= value <= high
        ):
            reader.fail(f"limits.{key}", f"{wanted} from {low:g} to {high:g}", value)
        values[key] = value
    return Limits(**values)  # type: ignore[arg-type]


def _policy(reader: _Reader, table: Mapping[str, Any]) -> Policy:
    keys = {
        "name",
        "home",
        "profile",
        "allowed_locations",
        "home_jurisdictions",
        "default_classification",
        "sensitive_classifications",
        "public_classifications",
        "frameworks",
        "sector",
    }
    reader.known_keys(table, "institution", keys)
    name = reader.text(table, "institution.name", required=True)
    home = reader.place(table, "institution.home")
    allowed = tuple(
        reader.place_value(value, f"institution.allowed_locations[{i}]")
        for i, value in enumerate(reader.str_list(table, "institution.allowed_locations"))
    ) or (home,)
    jurisdictions = tuple(
        reader.place_value(value, f"institution.home_jurisdictions[{i}]")
        for i, value in enumerate(reader.str_list(table, "institution.home_jurisdictions"))
    ) or home_jurisdictions(home)
    default = reader.classification(table, "institution.default_classification") or "personal"
    sensitive = tuple(
        reader.classification_value(value, f"institution.sensitive_classifications[{i}]")
        for i, value in enumerate(reader.str_list(table, "institution.sensitive_classifications"))
    ) or ("personal", "confidential", "protected-b")
    public = tuple(
        reader.classification_value(value, f"institution.public_classifications[{i}]")
        for i, value in enumerate(reader.str_list(table, "institution.public_classifications"))
    ) or ("public",)
    frameworks = None
    if "frameworks" in table:
        frameworks = tuple(
            reader.framework_id(value, f"institution.frameworks[{i}]")
            for i, value in enumerate(reader.str_list(table, "institution.frameworks"))
        )
    sector = reader.text(table, "institution.sector")
    if sector is not None and sector not in SECTORS:
        reader.fail("institution.sector", "public or private", sector)
    return Policy(
        name, home, allowed, jurisdictions, default, sensitive, public, frameworks, sector
    )


def _aws_source(reader: _Reader, table: Mapping[str, Any], where: str) -> AwsSource:
    reader.known_keys(
        table,
        where,
        {
            "profile",
            "role_arn",
            "external_id",
            "regions",
            "name",
            "member_role",
            "member_external_id",
            "classification_tag",
        },
    )
    profile = reader.text(table, f"{where}.profile")
    role_arn = reader.text(table, f"{where}.role_arn")
    if role_arn is not None and not _ROLE_ARN_RE.match(role_arn):
        reader.fail(
            f"{where}.role_arn", "an IAM role ARN (arn:aws:iam::<12 digits>:role/<name>)", role_arn
        )
    external_id = reader.text(table, f"{where}.external_id", hide=_secret_shown)
    regions_value = table.get("regions", ALL_REGIONS)
    regions: tuple[str, ...] | None
    if regions_value == ALL_REGIONS:
        regions = None
    elif isinstance(regions_value, list):
        regions = tuple(
            _dedupe(
                _region(reader, value, f"{where}.regions[{i}]")
                for i, value in enumerate(regions_value)
            )
        )
        if not regions:
            reader.fail(f"{where}.regions", 'a non-empty list of region names, or "all"', "[]")
    else:
        reader.fail(f"{where}.regions", 'a list of region names, or "all"', regions_value)
    member_role = reader.text(table, f"{where}.member_role")
    if member_role is not None and not _ROLE_NAME_RE.match(member_role):
        reader.fail(f"{where}.member_role", "an IAM role name such as sovscan-audit", member_role)
    return AwsSource(
        profile,
        role_arn,
        external_id,
        regions,
        reader.text(table, f"{where}.name"),
        member_role,
        reader.text(table, f"{where}.member_external_id", hide=_secret_shown),
        reader.text(table, f"{where}.classification_tag") or "DataClassification",
    )


_NOT_ALIKE = frozenset({"label", "regions"})  # the name, and regions compared as a set


def aws_source_name(source: AwsSource, index: int) -> str:
    """The source's probe name, `aws:<name>`: gap scopes (`probe:aws:<name>`) and progress say
    it. Without a `name`, the source is named after its role (one profile often assumes roles in
    several accounts), else its profile."""
    label = source.label or source.role_arn or source.profile or f"source-{index}"
    return f"aws:{bounded(label, 200)}"


def _check_aws_sources(reader: _Reader, aws: Sequence[AwsSource]) -> None:
    """No two sources alike but for their name (one account scanned twice), and no two with one
    probe name (their gaps and progress could not be told apart)."""
    alike: dict[tuple[Any, ...], int] = {}
    names: dict[str, int] = {}
    for index, source in enumerate(aws):
        regions = None if source.regions is None else frozenset(source.regions)
        rest = (getattr(source, f.name) for f in fields(AwsSource) if f.name not in _NOT_ALIKE)
        what = (*rest, regions)
        earlier = alike.setdefault(what, index)
        if earlier != index:
            raise ConfigError(
                f"{reader.label}: aws[{index}]: the same profile, role, regions and options as "
                f"aws[{earlier}], so the same account would be scanned twice; remove one"
            )
        earlier = names.setdefault(aws_source_name(source, index), index)
        if earlier == index:
            continue
        if source.label is not None:
            where, what_name = f"aws[{index}].name", f"the name {shown(source.label)}"
        else:
            named_after = "role_arn" if source.role_arn is not None else "profile"
            where = f"aws[{index}].{named_after}"
            value = shown(source.role_arn or source.profile)
            what_name = (
                f"without a name, the source is named after its {named_after} {value}, which"
            )
        raise ConfigError(
            f"{reader.label}: {where}: {what_name} is already the name of aws[{earlier}]; give "
            "each [[aws]] source its own name (its gaps are named probe:aws:<name>)"
        )


def _saas(reader: _Reader, table: Mapping[str, Any], where: str, default: str) -> SaasEndpoint:
    reader.known_keys(
        table,
        where,
        {
            "name",
            "url",
            "classification",
            "data_location",
            "data_location_basis",
            *_VENDOR_KEYS,
        },
    )
    name = reader.text(table, f"{where}.name", required=True)
    url = reader.text(table, f"{where}.url", required=True, hide=_url_shown)
    try:
        parts = urlsplit(url)
        hostname = parts.hostname
    except ValueError:
        reader.fail(f"{where}.url", "an http(s) URL with a host name", without_secrets(url))
    if parts.scheme not in {"https", "http"} or not hostname:
        reader.fail(f"{where}.url", "an http(s) URL with a host name", without_secrets(url))
    normalize_domain(reader, parts.hostname, f"{where}.url")
    classification = reader.classification(table, f"{where}.classification") or default
    data_location, basis = _declared_location(reader, table, where)
    return SaasEndpoint(
        name, url, classification, data_location, basis, _vendor(reader, table, where)
    )


_VENDOR_KEYS = ("vendor", "vendor_parent", "vendor_jurisdictions", "vendor_basis")


def _vendor(reader: _Reader, table: Mapping[str, Any], where: str) -> SaasVendor | None:
    """A SaaS entry's vendor: its name, with the homes and basis it needs (a vendor without
    them would say nothing about which laws reach the data, or could not be audited)."""
    name = reader.text(table, f"{where}.vendor")
    if name is None:
        given = [key for key in _VENDOR_KEYS[1:] if key in table]
        if given:
            raise ConfigError(
                f"{reader.label}: {where}.{given[0]}: given without vendor; add the vendor's "
                "name, or remove it"
            )
        return None
    jurisdictions = _jurisdictions(reader, table, f"{where}.vendor_jurisdictions", "vendor")
    basis = reader.text(table, f"{where}.vendor_basis")
    if basis is None:
        reader.missing(
            f"{where}.vendor_basis",
            "where the statement comes from, e.g. 'contract s. 12; vendor's annual report 2025'",
        )
    return SaasVendor(name, reader.text(table, f"{where}.vendor_parent"), jurisdictions, basis)


def _jurisdictions(
    reader: _Reader, table: Mapping[str, Any], key: str, who: str
) -> tuple[str, ...]:
    """A declared operator's `jurisdictions` (at `key`): ISO 3166 codes, EU or EEA, at least one."""
    name = key.rpartition(".")[2]
    if name not in table:
        reader.missing(
            key, f"the ISO 3166 codes of the {who}'s and its parent's homes, e.g. ['CA-QC', 'CA']"
        )
    raw = reader.str_list(table, key)
    if not raw:
        reader.fail(key, "a non-empty list of ISO 3166 codes", raw)
    return tuple(_dedupe(reader.place_value(value, f"{key}[{i}]") for i, value in enumerate(raw)))


def _declared_location(
    reader: _Reader, table: Mapping[str, Any], where: str
) -> tuple[str | None, str | None]:
    """A SaaS entry's `data_location` and the `data_location_basis` it needs: a declaration
    with nothing behind it would turn an unknown into an unauditable ok."""
    raw = table.get("data_location")
    basis = reader.text(table, f"{where}.data_location_basis")
    if raw is None:
        if basis is not None:
            raise ConfigError(
                f"{reader.label}: {where}.data_location_basis: given without data_location; "
                "add the data_location it is the basis of"
            )
        return None, None
    code = _iso_code(reader, raw, f"{where}.data_location")
    if basis is None:
        raise ConfigError(
            f"{reader.label}: {where}.data_location_basis: required with data_location: where "
            "the declared location comes from, e.g. 'DPA with the vendor, schedule 2'"
        )
    return code, basis


def _iso_code(reader: _Reader, raw: object, key: str) -> str:
    """A place: an ISO 3166-1 or 3166-2 code, not a group (EU, EEA), upper-cased."""
    if (
        not isinstance(raw, str)
        or raw.strip().upper() in GROUPS
        or not is_place(raw.strip().upper())
    ):
        reader.fail(key, f"an ISO 3166-1 or 3166-2 code such as {PLACE_EXAMPLES}", raw)
    return raw.strip().upper()


def parse_networks(entries: object, label: str) -> tuple[DeclaredNetwork, ...]:
    """[[networks]] entries read from elsewhere than an inventory (an evidence bundle's
    policy.json), checked as the inventory's are; `label` names the file in errors."""
    return _networks(_Reader(label), _Reader(label).table_array({"networks": entries}, "networks"))


_PREFIX_EXPECTED = "an IP prefix such as 198.51.100.0/24 or 2001:db8:100::/48"
_SHORTEST_PREFIX = {4: 8, 6: 16}  # wider than any one institution's allocation


def _networks(reader: _Reader, entries: Sequence[Mapping[str, Any]]) -> tuple[DeclaredNetwork, ...]:
    out = []
    total = 0
    for index, table in enumerate(entries):
        where = f"networks[{index}]"
        prefixes = table.get("prefixes")
        total += len(prefixes) if isinstance(prefixes, list) else 0
        if total > MAX_DECLARED_PREFIXES:  # before reading them: the bound is on the work too
            raise ConfigError(
                f"{reader.label}: {where}.prefixes: more than {MAX_DECLARED_PREFIXES} prefixes in "
                "all [[networks]] entries; declare the institution's allocations, not each block"
            )
        out.append(_network(reader, table, where))
    _check_prefixes(reader, out)
    return tuple(out)


def _network(reader: _Reader, table: Mapping[str, Any], where: str) -> DeclaredNetwork:
    reader.known_keys(
        table, where, {"name", "prefixes", "operator", "parent", "jurisdictions", "place", "basis"}
    )
    name = reader.text(table, f"{where}.name", required=True)
    if "prefixes" not in table:
        reader.missing(f"{where}.prefixes", f"a non-empty list of IP prefixes ({_PREFIX_EXPECTED})")
    raw_prefixes = reader.str_list(table, f"{where}.prefixes")
    if not raw_prefixes:
        reader.fail(f"{where}.prefixes", "a non-empty list of IP prefixes", raw_prefixes)
    prefixes = tuple(
        str(_prefix(reader, value, f"{where}.prefixes[{i}]"))
        for i, value in enumerate(raw_prefixes)
    )
    operator = reader.text(table, f"{where}.operator", required=True)
    jurisdictions = _jurisdictions(reader, table, f"{where}.jurisdictions", "operator")
    place = table.get("place")
    basis = reader.text(table, f"{where}.basis")
    if basis is None:
        reader.missing(
            f"{where}.basis",
            "where the statement comes from, e.g. 'asset register 2026-09, data centre lease'",
        )
    return DeclaredNetwork(
        name,
        prefixes,
        operator,
        reader.text(table, f"{where}.parent"),
        jurisdictions,
        None if place is None else _iso_code(reader, place, f"{where}.place"),
        basis,
    )


def _check_prefixes(reader: _Reader, networks: Sequence[DeclaredNetwork]) -> None:
    """Each prefix declared once. A prefix inside another entry's is a carve-out (the most
    specific wins: a block of the campus rented to a host); inside one of its own entry's, it
    says nothing the wider one does not, and is refused as a slip."""
    seen: dict[ipaddress.IPv4Network | ipaddress.IPv6Network, tuple[int, int]] = {}
    for index, entry in enumerate(networks):
        for i, text in enumerate(entry.prefixes):
            net = ipaddress.ip_network(text)
            earlier = seen.setdefault(net, (index, i))
            if earlier != (index, i):
                raise ConfigError(
                    f"{reader.label}: networks[{index}].prefixes[{i}]: {net} is already declared "
                    f"by networks[{earlier[0]}].prefixes[{earlier[1]}]; declare each prefix once"
                )
    lengths = {(net.version, net.prefixlen) for net in seen}
    # A dict look-up per prefix length present, not a comparison of every pair.
    for net, (index, i) in seen.items():
        for version, length in sorted(lengths):
            if version != net.version or length >= net.prefixlen:
                continue
            wider = net.supernet(new_prefix=length)
            holder = seen.get(wider)
            if holder is not None and holder[0] == index:
                raise ConfigError(
                    f"{reader.label}: networks[{index}].prefixes[{i}]: {net} is inside {wider}, "
                    f"networks[{index}].prefixes[{holder[1]}] of the same entry; remove one"
                )


def _prefix(
    reader: _Reader, value: object, key: str
) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """An IP prefix in CIDR notation (an address alone is one host). Host bits are refused, not
    cleared: 198.51.100.7/24 may mean a /32 or a typo, and clearing them would claim a block the
    author may not have meant."""
    if not isinstance(value, str) or not value.strip():
        reader.fail(key, _PREFIX_EXPECTED, value)
    text = value.strip()
    try:
        net = ipaddress.ip_network(text)
    except ValueError:
        try:
            host = ipaddress.ip_interface(text)
        except ValueError:
            reader.fail(key, _PREFIX_EXPECTED, value)
        reader.fail(
            key,
            f"a prefix without host bits ({host.network}, or {host.ip}/{host.max_prefixlen} for "
            "one host)",
            value,
        )
    if net.prefixlen < _SHORTEST_PREFIX[net.version]:
        reader.fail(
            key,
            f"an IPv{net.version} prefix of /{_SHORTEST_PREFIX[net.version]} or longer "
            "(one institution's address space)",
            value,
        )
    return net


def _check_saas_hosts(reader: _Reader, saas: Sequence[SaasEndpoint]) -> None:
    """One entry per host: the probe makes one asset per host, so a second entry on the same
    host would be dropped, and which classification survives would depend on the order."""
    first: dict[str, int] = {}
    for index, endpoint in enumerate(saas):
        earlier = first.setdefault(endpoint.asset_host, index)
        if earlier != index:
            raise ConfigError(
                f"{reader.label}: saas[{index}].url: host {endpoint.asset_host} is already "
                f"saas[{earlier}] ({shown(saas[earlier].name)}); give one entry per "
                "host, with the most sensitive classification of the data it holds"
            )


def normalize_domain(reader: _Reader, value: object, where: str) -> str:
    """A domain name in lowercase ASCII (IDNs to punycode), without a trailing dot."""
    if not isinstance(value, str) or not value.strip():
        reader.fail(where, "a domain name such as universite.example", value)
    text = value.strip().rstrip(".").lower()
    try:
        ascii_name = text.encode("idna").decode("ascii") if not text.isascii() else text
    except UnicodeError:
        reader.fail(where, "a valid domain name (IDNA)", value)
    labels = ascii_name.split(".")
    if (
        len(ascii_name) > 253
        or len(labels) < 2
        or not all(_DOMAIN_LABEL_RE.match(x) for x in labels)
    ):
        reader.fail(where, "a valid domain name such as universite.example", value)
    return ascii_name


_NAME_EXPECTED = "a host label such as 'portail' or '_sip._tls', looked up under each domain"


def _label(reader: _Reader, value: object, where: str, domains: Collection[str]) -> str:
    if not isinstance(value, str) or not all(
        _HOST_LABEL_RE.match(part) for part in value.lower().split(".")
    ):
        reader.fail(where, _NAME_EXPECTED, value)
    name = value.lower()
    problem = _full_name_problem(name, domains)
    if problem:
        raise ConfigError(
            f"{reader.label}: {where}: expected {_NAME_EXPECTED}; got {shown(value)}, {problem}"
        )
    return name


def _full_name_problem(name: str, domains: Collection[str], of: str = "") -> str | None:
    """Why `name`, one of dns.names, is not a label: it is one of `domains` (`of` says whence),
    a host name under one, or a host name under none that ends as they do. A name is put under
    every domain (`portail` is asked as portail.<domain>), so `portail.cssdescedres.example`
    would be asked as portail.cssdescedres.example.<domain>: a name nobody has, and nothing
    would say so."""
    labels = name.split(".")
    for start in range(len(labels)):
        domain = ".".join(labels[start:])
        if domain not in domains:
            continue
        if start == 0:
            return f"one of the domains{of} (a domain's own name is always looked up): remove it"
        return f"a host name under the domain {domain}{of}: write {'.'.join(labels[:start])!r}"
    # Under no domain to probe, yet ending in a domain's top-level label: a host name of another
    # domain (portail.ecole.example beside universite.example), which would be asked under each
    # domain and found under none, silently. Dotted labels (_sip._tls, www.intranet) end in no
    # domain's top-level label.
    tld = labels[-1]
    if len(labels) > 1 and any(d.rsplit(".", 1)[-1] == tld for d in domains):
        return (
            f"a host name under no domain to probe (it ends in .{tld}, as the domains{of} do): "
            "add its domain to dns.domains, or the host as a [[saas]] url"
        )
    return None


def check_dns_names(config: ScanConfig, domains: Collection[str], source: str) -> None:
    """No dns.names entry is a host name under one of `domains`, the domains `source` (a
    --domains file) adds to the inventory's own (which `load_config` checked)."""
    for name in config.dns_names:
        problem = _full_name_problem(name, domains, f" of {source}")
        if problem:
            raise ConfigError(
                f"{config.source}: dns.names: expected {_NAME_EXPECTED}; got {shown(name)}, "
                f"{problem}"
            )


def _region(reader: _Reader, value: object, where: str) -> str:
    if not isinstance(value, str) or not _REGION_RE.match(value):
        reader.fail(where, "an AWS region name such as ca-central-1", value)
    return value


def _rule_dir(reader: _Reader, base: Path, value: object, where: str) -> Path:
    if not isinstance(value, str) or not value.strip():
        reader.fail(where, "a folder of rules, relative to the inventory file", value)
    folder = base / value.strip()
    if not folder.is_dir():
        reader.fail(where, "an existing folder of rules, relative to the inventory file", value)
    return folder


def _dedupe(values: Any) -> list[Any]:
    return list(dict.fromkeys(values))


def _secret_shown(value: object) -> str:
    """A bad secret (an STS external id) as an error may describe it: its kind, never itself."""
    if isinstance(value, str):
        return f"a text of {len(value)} characters (not shown: it is a secret)"
    kind = {list: "list", dict: "table", bool: "boolean", int: "number", float: "number"}
    return f"a {kind.get(type(value), 'value')} (not shown: it is a secret)"


def _url_shown(value: object) -> str:
    """A bad URL as an error may show it: without what can carry a token."""
    return shown(without_secrets(value) if isinstance(value, str) else value)


class _Reader:
    """Typed access to a TOML document that fails with 'file: key: expected ...; got ...'."""

    def __init__(self, label: str) -> None:
        self.label = label

    def fail(self, key: str, expected: str, got: object, hint: str = "") -> NoReturn:
        tail = f": {hint}" if hint else ""
        raise ConfigError(f"{self.label}: {key}: expected {expected}; got {shown(got)}{tail}")

    def missing(self, key: str, expected: str) -> NoReturn:
        """A required key the file does not set (not `got nothing`: nothing was written)."""
        raise ConfigError(f"{self.label}: {key}: missing; it is required: {expected}")

    def known_keys(self, table: Mapping[str, Any], where: str, allowed: set[str]) -> None:
        for key in table:
            if key not in allowed:
                path = f"{where}.{key}" if where else key
                known = ", ".join(sorted(allowed))
                raise ConfigError(f"{self.label}: {path}: unknown key; expected one of {known}")

    def table(self, document: Mapping[str, Any], key: str, *, required: bool) -> Mapping[str, Any]:
        value = document.get(key)
        if value is None:
            if required:
                self.missing(key, f"a [{key}] table")
            return {}
        if not isinstance(value, dict):
            self.fail(key, f"a [{key}] table", value)
        return value

    def table_array(self, document: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
        value = document.get(key, [])
        if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
            self.fail(key, f"an array of tables written [[{key}]]", value)
        return value

    def text(
        self,
        table: Mapping[str, Any],
        key: str,
        *,
        required: bool = False,
        hide: Callable[[object], str] | None = None,
    ) -> Any:
        """A key's string; a bad value is shown through `hide` when given (`_secret_shown`,
        `_url_shown`), for stderr ends up in CI logs."""
        value = table.get(key.rsplit(".", 1)[-1])
        if value is None:
            if required:
                self.missing(key, "a non-empty string")
            return None
        if not isinstance(value, str) or not value.strip() or len(value) > 512:
            expected = "a non-empty string of at most 512 characters"
            got = shown(value) if hide is None else hide(value)
            raise ConfigError(f"{self.label}: {key}: expected {expected}; got {got}")
        return value.strip()

    def str_list(self, table: Mapping[str, Any], key: str) -> list[Any]:
        value = table.get(key.rsplit(".", 1)[-1], [])
        if not isinstance(value, list):
            self.fail(key, "a list of strings", value)
        return value

    def place(self, table: Mapping[str, Any], key: str) -> str:
        value = table.get(key.rsplit(".", 1)[-1])
        if value is None:
            self.missing(key, f"an ISO 3166-1 or 3166-2 code such as {PLACE_EXAMPLES}")
        return self.place_value(value, key)

    def place_value(self, value: object, key: str) -> str:
        if not isinstance(value, str) or not is_place(value.strip().upper()):
            alias = GROUP_ALIASES.get(value.strip().upper()) if isinstance(value, str) else None
            self.fail(
                key,
                f"an ISO 3166-1 or 3166-2 code such as {PLACE_EXAMPLES} (or EU, EEA)",
                value,
                f"did you mean '{alias}'?" if alias else "",
            )
        return value.strip().upper()

    def framework_id(self, value: object, key: str) -> str:
        if not isinstance(value, str) or not _FRAMEWORK_RE.match(value):
            self.fail(key, "a framework id from rules/frameworks.yaml such as 'gdpr'", value)
        return value

    def classification(self, table: Mapping[str, Any], key: str) -> Any:
        value = table.get(key.rsplit(".", 1)[-1])
        return None if value is None else self.classification_value(value, key)

    def classification_value(self, value: object, key: str) -> str:
        if not isinstance(value, str) or not _CLASSIFICATION_RE.match(value.strip().lower()):
            self.fail(key, "a classification label such as 'personal' or 'public'", value)
        return value.strip().lower()
