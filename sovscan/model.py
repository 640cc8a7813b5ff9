"""The values passed between sovscan's stages: frozen dataclasses, no I/O, no library imports."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from fnmatch import fnmatchcase
from types import MappingProxyType
from typing import Literal

AttrValue = str | int | bool | tuple[str, ...]
"""What an asset attribute may hold: small, flat, hashable. Lists are tuples of strings."""


class Severity(StrEnum):
    """How bad a risk finding is; the same five levels as Prowler and SARIF's security-severity."""

    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]

    @property
    def weight(self) -> int:
        """Score weight; mirrors Prowler's SARIF security-severity (critical 9 ... info 0)."""
        return _SEVERITY_WEIGHT[self]


_SEVERITY_RANK: Mapping[Severity, int] = MappingProxyType(
    {Severity.INFO: 0, Severity.LOW: 1, Severity.MEDIUM: 2, Severity.HIGH: 3, Severity.CRITICAL: 4}
)
_SEVERITY_WEIGHT: Mapping[Severity, int] = MappingProxyType(
    {Severity.INFO: 0, Severity.LOW: 2, Severity.MEDIUM: 4, Severity.HIGH: 7, Severity.CRITICAL: 9}
)


class Status(StrEnum):
    """A finding's outcome. UNKNOWN means a fact the rule needs was missing: never read it as OK."""

    RISK = "risk"
    OK = "ok"
    UNKNOWN = "unknown"


class Confidence(StrEnum):
    """How much an answer can be trusted."""

    HIGH = "high"  # a provider API answer or provider-published data
    MEDIUM = "medium"  # curated catalogue or registry data
    LOW = "low"  # inference (naming, ASN of a network, RDAP organisation)
    NONE = "none"  # nothing was known


class Method(StrEnum):
    """How a location or a control answer was found, strongest first."""

    CLOUD_API = "cloud-api"
    PUBLISHED_RANGES = "published-ranges"
    HOSTNAME_REGION = "hostname-region"
    CATALOGUE = "catalogue"
    # The institution's statement about its own address space ([[networks]]): curated, so it
    # beats what is inferred from routing (the ASN table, RDAP), never a provider's own ranges.
    DECLARED = "declared"
    ASN_TABLE = "asn-table"
    RDAP = "rdap"
    UNKNOWN = "unknown"


def rests_there(method: Method) -> bool | None:
    """Whether a location found by `method` is where the data rests: True for a provider's API
    (a bucket's region); unknown (None) for an address, a host name or a network, which say
    where a service answers, not where it keeps the data. (Where a SaaS vendor keeps it is the
    institution's statement, `Location.declared`.)"""
    return True if method is Method.CLOUD_API else None


@dataclass(frozen=True, slots=True)
class Evidence:
    """One observation or inference behind an answer."""

    source: str  # "aws:s3:GetBucketLocation", "dns:MX", "catalogue:providers", "rule:<id>"
    detail: str  # what was observed or inferred; bounded by whoever creates it
    observed_at: datetime  # timezone-aware UTC
    confidence: Confidence


def evidence_chain(*parts: Sequence[Evidence]) -> tuple[Evidence, ...]:
    """The evidence of `parts` in order, each step once. Resolution cites a step that decided
    both where the data is and who controls it (a mailbox's deciding signal, a documentation
    address) in both answers, and a chain of the two would show it twice."""
    return tuple(dict.fromkeys(e for part in parts for e in part))


DATA_KINDS: tuple[str, ...] = (
    # Stores: the kinds the location, key and foreign-law rules judge.
    "aws.s3.bucket",
    "aws.rds.*",
    "aws.ec2.instance",
    "aws.ebs.*",
    "aws.dynamodb.table",
    "aws.efs.filesystem",
    "aws.backup.vault",
    "aws.elasticache.*",
    "aws.opensearch.domain",
    "aws.redshift.cluster",
    "aws.logs.group",
    "aws.sqs.queue",
    "aws.secretsmanager.secret",
    "aws.cloudfront.distribution",  # copies cached at the edge
    "saas.endpoint",
    "saas.tenant",
    "dns.mailbox",  # the mailboxes behind a domain's mail
    "dns.host",  # a site or service run under the institution's name
)
"""Asset kinds that hold the institution's data (globs, as in rules' ``applies_to``). The others
are the control plane: accounts, keys, zones, name servers, mail relays and records such as SPF,
DMARC or verification tokens, which say who runs a service, not where data rests."""


def holds_data(kind: str) -> bool:
    """Whether assets of `kind` hold the institution's data (see `DATA_KINDS`)."""
    return any(fnmatchcase(kind, pattern) for pattern in DATA_KINDS)


@dataclass(frozen=True, slots=True)
class Asset:
    """Something that holds or carries the institution's data, as a probe saw it.

    `id` is stable across scans (e.g. ``aws:123456789012:s3:research-data``,
    ``dns:universite.example:mx:mail.example.net``) so diffs, fingerprints and waivers key on it.
    `kind` is dotted lowercase (``aws.s3.bucket``, ``dns.mx``, ``saas.endpoint``).
    `attributes` follows the conventions in docs/ARCHITECTURE.md ("Asset conventions").
    """

    id: str
    kind: str
    name: str
    attributes: Mapping[str, AttrValue]
    evidence: tuple[Evidence, ...] = ()


@dataclass(frozen=True, slots=True)
class Gap:
    """A scope the scan could not see. Any gap makes the scan partial (exit code 3)."""

    scope: str  # "aws:123456789012:eu-west-3:rds", "dns:universite.example:TXT"
    reason: str  # "AccessDenied: rds:DescribeDBInstances"; no secrets, bounded
    # The scope unit (`sovscan.scope`) whose view the gap leaves incomplete, when the probe
    # knows it and `scope` alone does not say it: a domain's MX host that did not answer is
    # "dns:mail.provider.example:A", a gap of the domain "dns:universite.example". None: read
    # from `scope` (`scope.gap_units`). Not in the reports; the history store keeps the units.
    unit: str | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Location:
    """Where an asset's data physically is. `None` fields are unknown, never assumed."""

    provider: str | None  # catalogue provider id: "aws", "microsoft"
    region: str | None  # provider region: "ca-central-1"
    country: str | None  # ISO 3166-1 alpha-2: "CA"
    subdivision: str | None  # ISO 3166-2: "CA-QC"
    edge: bool  # a global edge/anycast network: no single country holds the data
    method: Method
    confidence: Confidence
    evidence: tuple[Evidence, ...] = ()
    # Where a SaaS vendor keeps the data, as the institution declares it ([[saas]] data_location):
    # not an observation, so it never replaces the place seen; rules judge both.
    declared: str | None = None

    @property
    def place(self) -> str | None:
        """The most precise ISO code known: the subdivision, else the country."""
        return self.subdivision or self.country


UNKNOWN_LOCATION = Location(None, None, None, None, False, Method.UNKNOWN, Confidence.NONE)


@dataclass(frozen=True, slots=True)
class Control:
    """Who operates an asset and which jurisdictions (and laws) can compel them.

    `jurisdictions` and `laws` are `None` when unknown; an empty tuple means "known: none".
    """

    operator: str | None  # legal entity running the service: "Amazon Web Services, Inc."
    parent: str | None  # ultimate parent: "Amazon.com, Inc."
    jurisdictions: tuple[str, ...] | None  # ISO codes of the operator's and parent's homes
    laws: tuple[str, ...] | None  # law ids from the catalogue: "us-cloud-act"
    method: Method
    confidence: Confidence
    evidence: tuple[Evidence, ...] = ()


def run_by(operator: str | None, parent: str | None) -> str | None:
    """Who runs a service, in words: the operator, and its parent when that is another company
    ("Microsoft Corporation", not "Microsoft Corporation (parent Microsoft Corporation)")."""
    if operator is None:
        return None
    if parent is None:
        return f"{operator} (parent unknown)"
    if parent.casefold() == operator.casefold():
        return operator
    return f"{operator} (parent {parent})"


UNKNOWN_CONTROL = Control(None, None, None, None, Method.UNKNOWN, Confidence.NONE)


MAX_DECLARED_PREFIXES = 1024
"""Prefixes an inventory may declare in all its [[networks]] entries together: resolution's
look-up does not grow with them, but each costs memory and a check against the cloud ranges."""


@dataclass(frozen=True, slots=True)
class DeclaredNetwork:
    """Address space whose operator the institution states ([[networks]] in the inventory), with
    where that statement comes from. Resolution answers an address inside one of `prefixes` from
    it, unless a provider's published range holds the address."""

    name: str  # the entry's label, shown in evidence: "Campus data centre"
    prefixes: tuple[str, ...]  # normalised CIDR text: "198.51.100.0/24", "2001:db8:100::/48"
    operator: str
    parent: str | None
    jurisdictions: tuple[str, ...]  # ISO 3166 codes (or EU, EEA) the operator answers to
    place: str | None  # ISO 3166 code where those servers are; None: not stated
    basis: str  # "asset register 2026-09, data centre lease"


@dataclass(frozen=True, slots=True)
class ResolvedAsset:
    """An asset with both resolution answers."""

    asset: Asset
    location: Location
    control: Control


@dataclass(frozen=True, slots=True)
class Reference:
    """A framework control a rule maps to; ids are checked against rules/frameworks.yaml."""

    framework: str  # "qc-law25", "gdpr"
    control: str  # "p39.1-s17", "art-48"


@dataclass(frozen=True, slots=True)
class WaiverMark:
    """An accepted risk recorded in the inventory file, shown on the finding it covers."""

    reason: str
    owner: str
    expires: str  # ISO date, the last day the waiver applies


@dataclass(frozen=True, slots=True)
class Finding:
    """One rule evaluated on one asset."""

    rule_id: str
    asset_id: str
    status: Status
    severity: Severity
    message: str
    missing: tuple[str, ...] = ()  # fact fields that were unknown (non-empty iff UNKNOWN)
    evidence: tuple[Evidence, ...] = ()
    references: tuple[Reference, ...] = ()
    rule_source: str = ""  # repository-relative rule file, for SARIF and explanations
    waiver: WaiverMark | None = None  # set when an active waiver accepts this finding

    @property
    def key(self) -> str:
        """Stable identity across scans, for diffs, SARIF fingerprints and waivers."""
        return finding_key(self.rule_id, self.asset_id)


def finding_key(rule_id: str, asset_id: str) -> str:
    """The stable key of the finding of `rule_id` on `asset_id`."""
    digest = hashlib.sha256(f"{rule_id}\0{asset_id}".encode("utf-8", "surrogatepass")).hexdigest()
    return digest[:32]


def sensitive_label(label: object, sensitive: object, public: object) -> bool:
    """Whether `label` is sensitive: unless it is among the `public` labels and not among the
    `sensitive` ones, so a typo or an unknown label is never taken as permission to relax a
    check. (The label lists may come from a rule's config mapping, hence `object`.)"""
    in_sensitive = isinstance(sensitive, tuple) and label in sensitive
    in_public = isinstance(public, tuple) and label in public
    return in_sensitive or not in_public


SECTORS = ("public", "private")
"""The sectors a framework's controls may be split by (Policy.sector, FrameworkControl.sector)."""


@dataclass(frozen=True, slots=True)
class Policy:
    """The institution's stance, which rules read through ``{config: <name>}`` values."""

    institution: str
    home: str  # ISO 3166-2 or 3166-1: "CA-QC"
    allowed_locations: tuple[str, ...]  # ISO codes where data may rest
    home_jurisdictions: tuple[str, ...]  # jurisdictions that are not foreign: ("CA-QC", "CA")
    default_classification: str  # classification of assets nobody labelled
    sensitive_classifications: tuple[str, ...] = ("personal", "confidential", "protected-b")
    public_classifications: tuple[str, ...] = ("public",)  # the only labels that are not sensitive
    # The frameworks whose controls findings cite: before a scan settles them, the ones the
    # institution chose ([institution] frameworks, or its profile's); after, every one in force
    # (those binding its home too, see engine.frameworks_in_force). None: cite every framework.
    frameworks: tuple[str, ...] | None = None
    # "public" or "private": which sector's controls a framework splits by sector are cited (a
    # Quebec public body answers to, a company to P-39.1). None: both are cited.
    sector: str | None = None

    def is_sensitive(self, classification: str) -> bool:
        """Sensitive unless the label is declared public (see `sensitive_label`)."""
        return sensitive_label(
            classification, self.sensitive_classifications, self.public_classifications
        )

    def config_values(self) -> Mapping[str, AttrValue]:
        """The values rules may read as ``{config: name}``."""
        return {
            "institution": self.institution,
            "home": self.home,
            "allowed_locations": self.allowed_locations,
            "home_jurisdictions": self.home_jurisdictions,
            "default_classification": self.default_classification,
            "sensitive_classifications": self.sensitive_classifications,
            "public_classifications": self.public_classifications,
        }


@dataclass(frozen=True, slots=True)
class Score:
    """How exposed the institution is: 0 (no risk seen) to 100 (everything at critical risk)."""

    value: int
    assets_total: int
    assets_at_risk: int
    assets_unknown: int  # assets with at least one UNKNOWN finding
    by_severity: Mapping[str, int]  # RISK findings per severity
    by_status: Mapping[str, int]
    complete: bool  # False when any Gap was recorded: the score cannot claim the whole estate
    upper_bound: int  # the value if every UNKNOWN finding turned out to be a RISK (>= value)
    known_share: int  # percentage of findings that are RISK or OK (100 when there are none)


@dataclass(frozen=True, slots=True)
class CitedControl:
    """A framework control a rule cites, worded as rules/frameworks.yaml words it, so a report
    can say what the control requires without the reader running `sovscan explain`."""

    framework: str  # "qc-law25"
    control: str  # "a2.1-s70.1"
    framework_title: str  # "Quebec Law 25 (S.Q. 2021, c. 25): personal information leaving ..."
    citation: str  # "CQLR c., s. 70.1"
    title: str  # "Public bodies: before releasing personal information outside Québec, ..."
    # When a finding cites it only by its place ("cited only where location.place is outside
    # EEA, or not known"); "" when every finding of the rule cites it.
    condition: str = ""


@dataclass(frozen=True, slots=True)
class RuleInfo:
    """What reports need to know of a rule that was evaluated."""

    id: str
    title: str
    severity: Severity
    source: str  # repository-relative rule file
    rationale: str
    remediation: str
    references: tuple[CitedControl, ...] = ()  # the controls the rule maps to, in its order


@dataclass(frozen=True, slots=True)
class ReplayOf:
    """The scan whose stored observations a replay evaluated again: its id, and when it observed."""

    scan_id: str
    started_at: datetime
    finished_at: datetime


@dataclass(frozen=True, slots=True)
class AwsScope:
    """One inventory AWS source as a scan covered it."""

    source: str  # its probe name, `aws:<name>` (config.aws_source_name)
    regions: tuple[str, ...] | None  # the regions configured; None: every enabled region
    # The accounts it scanned (its own, or an Organization's members), as the scan saw them;
    # None when the source could not start: unknown, so taken to be any account.
    accounts: tuple[str, ...] | None


@dataclass(frozen=True, slots=True)
class ScanScope:
    """What a scan was configured to look at (not what it managed to see: that is its gaps).

    `sovscan.scope` tells whether an asset lies within it (`covers`) and what one scope holds
    that another does not (`dropped`)."""

    aws: tuple[AwsScope, ...] = ()
    domains: frozenset[str] = frozenset()  # the inventory's and the --domains file's
    saas: frozenset[str] = frozenset()  # the [[saas]] endpoints' asset hosts
    tenants: bool = False  # [https] m365_tenant: each domain's Microsoft 365 tenant was asked
    # (domain, name) of each domain whose body a --domains CSV names (its `name` column), sorted
    names: tuple[tuple[str, str], ...] = ()


ResolverSource = Literal["given", "system"]
"""Where a scan's DNS servers came from: given to it (`DnsResolver.given_by` says how), or the
system's resolver configuration (``/etc/resolv.conf``)."""


@dataclass(frozen=True, slots=True)
class DnsResolver:
    """The DNS servers a scan asked, in the order it asks them, and where it took them from.

    Addresses and ports only: never the rest of the system's configuration (search domains,
    options)."""

    servers: tuple[str, ...]  # "address:port", "[2001:db8::53]:53"
    source: ResolverSource
    # With "given": "--nameserver", "SOVSCAN_NAMESERVER" or "sovscan demo" (its own server).
    given_by: str | None = None

    def describe(self) -> str:
        """One line for a report's header: ``127.0.0.1:5353 (given by --nameserver)``."""
        if self.source == "system":
            where = "the system's resolvers, /etc/resolv.conf"
        else:
            where = f"given by {self.given_by}" if self.given_by else "given"
        return f"{', '.join(self.servers) or 'none'} ({where})"


@dataclass(frozen=True, slots=True)
class Scan:
    """One complete run of the pipeline, or a replay: then its id and times are the replay's own
    and `replay_of` names the scan whose observations it evaluated again."""

    id: str
    started_at: datetime
    finished_at: datetime
    tool_version: str
    rules_digest: str
    data_digest: str
    policy: Policy
    assets: tuple[ResolvedAsset, ...]
    gaps: tuple[Gap, ...]
    findings: tuple[Finding, ...]
    score: Score
    laws: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # law id -> name, citation
    rules: Mapping[str, RuleInfo] = field(default_factory=dict)  # rule id -> what it checks
    profile: str | None = None  # the rules profile applied, if any
    notices: tuple[str, ...] = ()  # things the reader must know: expired or unused waivers
    replay_of: ReplayOf | None = None  # None: the probes observed during this run
    scope: ScanScope | None = None  # what the run was configured to look at; None: unknown
    # The DNS servers the probes asked; None when no DNS question was asked (no domain, no SaaS
    # endpoint) or, for a replay, when the bundle does not say.
    dns_resolver: DnsResolver | None = None

    @property
    def complete(self) -> bool:
        return not self.gaps
