"""A scan's scope: what it was configured to look at, whether an asset lies within it, what
one scope holds that another does not, and which of its units a scan's gaps left incomplete.

An asset's *unit* is the part of a scope that brings it into a scan, read from its id (the
conventions of docs/ARCHITECTURE.md) and, for a Microsoft 365 tenant, its `domains`
(`scope_unit`, the one place that decides it):

| unit | assets |
|---|---|
| `aws:<account>:<region>` | a regional AWS resource (`aws:<account>:<service>:<region>:<id>`) |
| `aws:<account>` | the account, and the resources of global services (S3, Route 53, |
| | CloudFront), which are listed whatever the regions |
| `dns:<domain>` | every `dns:<domain>:...` asset |
| `saas:<host>` | a SaaS endpoint |
| `m365:<domain> <domain>...` | a Microsoft 365 tenant, asked for each of these domains |

An asset of no unit (another kind) is within every scope, as is every asset of an unknown
scope (None: a scan recorded before sovscan kept scopes).

The unit is also what completeness is judged by. Each gap leaves one or more units incomplete
(`gap_units`): the unit a probe named on the gap (`Gap.unit`: the DNS probe names the domain
whose MX host did not answer), else the one its scope names (`dns:<domain>`, `aws:<account>:
<region>:<service>`, `https:<host>`, `m365-tenant:<domain>`), or a whole kind (`dns:*` when the
DNS probe stopped), or everything (`*`) when a gap names no unit. A scan saw a unit whole when
it covered it and no gap touched it (`UnitGaps.touches`); an asset of no unit was seen whole
only by a scan without gaps. What a scan lacks in a unit it saw whole is gone; what it lacks in
a unit a gap touched was not seen.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

from sovscan.model import AttrValue, AwsScope, Gap, ScanScope

ALL = "all"
EVERY_UNIT = "*"
"""The incomplete unit of a gap that names none: every unit of the scan is incomplete."""


def scope_unit(asset_id: str, attributes: Mapping[str, AttrValue] | None = None) -> str | None:
    """The unit of the scope that brought this asset into a scan, from its id (and a Microsoft
    365 tenant's `domains`): the unit its scope covers and its completeness is judged by. None
    when none does (another kind of id): such an asset is within every scope, and was seen whole
    only by a scan without gaps."""
    head, _, rest = asset_id.partition(":")
    if head == "aws":
        parts = asset_id.split(":", 4)
        if len(parts) < 3 or not parts[1]:
            return None
        if len(parts) == 5 and parts[3] and parts[3] != "global":
            return f"aws:{parts[1]}:{parts[3]}"
        return f"aws:{parts[1]}"
    if head == "dns":
        domain = rest.partition(":")[0]
        return f"dns:{domain}" if domain else None
    if head == "saas":
        return f"saas:{rest}" if rest else None
    if head == "m365":
        domains = (attributes or {}).get("domains")
        if isinstance(domains, tuple) and domains and all(" " not in d for d in domains):
            return "m365:" + " ".join(domains)
    return None


def report_unit(
    named: str, attributes: Mapping[str, AttrValue] | None, domains: Collection[str]
) -> str | None:
    """The unit a report groups an asset (by its id) or a gap (by its scope) under, one per
    body audited: `dns:<domain>`, `aws:<account>` (its regions together), `saas:<host>`,
    `m365:<domain>...`. A gap on a name is its domain's among `domains` (a host under it), and
    has no unit when it is under none of them (a mail provider's host): None."""
    head, _, rest = named.partition(":")
    if head == "aws":
        account = rest.partition(":")[0]
        return f"aws:{account}" if account else None
    if head == "dns":
        name, _, kind = rest.partition(":")
        # A gap's scope ends in a record type (`dns:www.x.example:A`), an asset id in a kind.
        if kind and kind.isupper():
            return _domain_of(name, domains)
        return f"dns:{name}" if name else None
    if head == "m365-tenant":
        return _domain_of(rest, domains)
    if head == "https":
        return f"saas:{rest}" if rest else None
    return scope_unit(named, attributes)


def _domain_of(name: str, domains: Collection[str]) -> str | None:
    """`dns:<domain>` of the longest of `domains` that `name` is or lies under."""
    labels = name.split(".")
    for start in range(len(labels) - 1):
        candidate = ".".join(labels[start:])
        if candidate in domains:
            return f"dns:{candidate}"
    return None


def unit_name(unit: str | None, names: Mapping[str, str]) -> str:
    """The names of the bodies behind a unit (its domains'), "" when none is known."""
    if unit is None:
        return ""
    kind, _, rest = unit.partition(":")
    if kind not in ("dns", "m365"):
        return ""
    return "; ".join(dict.fromkeys(names[d] for d in rest.split(" ") if d in names))


def covers(scope: ScanScope | None, unit: str | None) -> bool:
    """Whether a scan of `scope` looked where an asset of `unit` is. An unknown scope or unit
    covers: judged as before scopes were kept."""
    if scope is None or unit is None:
        return True
    kind, _, rest = unit.partition(":")
    if kind == "aws":
        account, _, region = rest.partition(":")
        return any(
            not region or source.regions is None or region in source.regions
            for source in _sources_of(scope, account)
        )
    if kind == "dns":
        return rest in scope.domains
    if kind == "saas":
        return rest in scope.saas
    if kind == "m365":
        return scope.tenants and any(domain in scope.domains for domain in rest.split(" "))
    return True


def _sources_of(scope: ScanScope, account: str) -> list[AwsScope]:
    """The sources that scanned `account`, or may have (their accounts are unknown)."""
    return [s for s in scope.aws if s.accounts is None or account in s.accounts]


def _regions(sources: list[AwsScope]) -> frozenset[str] | None:
    """The regions these sources cover together; None: every region."""
    if any(source.regions is None for source in sources):
        return None
    return frozenset(region for source in sources for region in source.regions or ())


def dropped(old: ScanScope, new: ScanScope) -> tuple[str, ...]:
    """What `old` covered and `new` does not, in words: "AWS account 123456789012: us-east-1",
    "domain old.example", "SaaS endpoint lms.example"."""
    out: list[str] = []
    accounts = sorted({a for s in old.aws for a in s.accounts or ()})
    for account in accounts:
        was = [s for s in old.aws if s.accounts is not None and account in s.accounts]
        out.extend(_regions_dropped(f"AWS account {account}", was, _sources_of(new, account)))
    for source in old.aws:
        if source.accounts is None:  # it could not start then: compared by its name
            now = [s for s in new.aws if s.source == source.source]
            out.extend(_regions_dropped(f"AWS source {source.source}", [source], now))
    out.extend(f"domain {domain}" for domain in sorted(old.domains - new.domains))
    out.extend(f"SaaS endpoint {host}" for host in sorted(old.saas - new.saas))
    if old.tenants and not new.tenants and old.domains:
        out.append("Microsoft 365 tenants ([https] m365_tenant)")
    return tuple(out)


def _regions_dropped(what: str, was: list[AwsScope], now: list[AwsScope]) -> list[str]:
    if not now:
        return [what]
    before, after = _regions(was), _regions(now)
    if after is None:
        return []
    if before is None:
        kept = ", ".join(sorted(after))
        return [f"{what}: every region but {kept}"]
    lost = sorted(before - after)
    return [f"{what}: {', '.join(lost)}"] if lost else []


def scope_document(scope: ScanScope) -> dict[str, Any]:
    """The scope as JSON-ready data (the scan report's `scope`, the history store's)."""
    return {
        "aws": [
            {
                "source": source.source,
                "regions": ALL if source.regions is None else list(source.regions),
                "accounts": None if source.accounts is None else list(source.accounts),
            }
            for source in scope.aws
        ],
        "domains": sorted(scope.domains),
        "saas": sorted(scope.saas),
        "m365_tenants": scope.tenants,
        # Only when a --domains CSV named the bodies: a scope without names reads as before.
        **({"domain_names": dict(scope.names)} if scope.names else {}),
    }


def scope_from_document(document: object) -> ScanScope | None:
    """`scope_document`'s data read back; None (unknown) for anything else."""
    if not isinstance(document, dict):
        return None
    try:
        aws = tuple(
            AwsScope(
                _text(entry["source"]),
                None if entry["regions"] == ALL else _texts(entry["regions"]),
                None if entry["accounts"] is None else _texts(entry["accounts"]),
            )
            for entry in document["aws"]
        )
        tenants = document["m365_tenants"]
        names = document.get("domain_names", {})
        if not isinstance(tenants, bool) or not isinstance(names, dict):
            return None
        return ScanScope(
            aws,
            frozenset(_texts(document["domains"])),
            frozenset(_texts(document["saas"])),
            tenants,
            tuple(sorted((_text(d), _text(n)) for d, n in names.items())),
        )
    except (KeyError, TypeError, ValueError):
        return None


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(value)
    return value


def _texts(value: object) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise TypeError(value)
    return tuple(_text(item) for item in value)


# A probe that could not start or stopped early leaves every unit of its kind incomplete.
_PROBE_KINDS = {"dns": "dns:*", "saas": "saas:*", "aws": "aws:*", "m365-tenant": "m365:*"}


def gap_units(gap: Gap, scope: ScanScope | None) -> tuple[str, ...]:
    """The units `gap` leaves incomplete: `gap.unit` when the probe named it; else read from
    its scope, `scope` telling a domain's or an endpoint's name apart; `EVERY_UNIT` when it
    names none. Patterns as `UnitGaps` reads them: `<kind>:*` is every unit of a kind, and
    `aws:<account>:*` every unit of an account."""
    if gap.unit is not None:
        return (gap.unit,)
    kind, _, rest = gap.scope.partition(":")
    if kind == "probe":
        return (_PROBE_KINDS.get(rest.partition(":")[0], EVERY_UNIT),)
    if kind == "aws":
        return _aws_gap_units(rest)
    if kind == "dns":
        return _dns_gap_units(rest, scope)
    if kind == "https" and rest:
        return (f"saas:{rest}",)
    if kind == "m365-tenant" and rest and " " not in rest:
        return (f"m365:{rest}",)
    return (EVERY_UNIT,)


def _aws_gap_units(rest: str) -> tuple[str, ...]:
    """`aws:<account>` (a member account not reached): the whole account; `aws:<account>:
    <region>:<service>`: that region, or the account's own unit for a global service or S3
    (whose buckets' ids carry no region, as they are listed account-wide); region `*` (the
    regions could not be listed): the whole account. An Organization's own calls
    (`organizations`) read every member's guardrails: every AWS unit."""
    parts = rest.split(":")
    account = parts[0]
    if not account or account == "*":
        return ("aws:*",)
    if len(parts) == 1:
        return (f"aws:{account}:*",)
    region, service = parts[1], (parts[2] if len(parts) > 2 else "")
    if service == "organizations":
        return ("aws:*",)
    if region in ("", "*"):
        return (f"aws:{account}:*",)
    if region == "global" or service == "s3":
        return (f"aws:{account}",)
    return (f"aws:{account}:{region}",)


def _dns_gap_units(rest: str, scope: ScanScope | None) -> tuple[str, ...]:
    """A `dns:<name>` or `dns:<name>:<TYPE>` gap a probe did not attribute: the domain the name
    is (or lies under) and the SaaS endpoint it is, as far as `scope` says; every unit when
    neither is known."""
    name, _, rdtype = rest.partition(":")
    name = name.rstrip(".").lower()
    if not name:
        return (EVERY_UNIT,)
    if scope is None:
        # A domain that did not answer, or an endpoint without an address: either, never less.
        return (f"dns:{name}", f"saas:{name}") if not rdtype else (EVERY_UNIT,)
    units = []
    under = [d for d in scope.domains if name == d or name.endswith("." + d)]
    if under:
        units.append(f"dns:{max(under, key=len)}")
    if name in scope.saas:
        units.append(f"saas:{name}")
    return tuple(units) or (EVERY_UNIT,)


def incomplete_units(gaps: Iterable[Gap], scope: ScanScope | None) -> tuple[str, ...]:
    """Every unit the gaps leave incomplete, sorted, each once: what the history store keeps of
    a scan's gaps (empty for a complete scan)."""
    return tuple(sorted({unit for gap in gaps for unit in gap_units(gap, scope)}))


class UnitGaps:
    """The incomplete units of one scan (`incomplete_units`), indexed to tell whether a gap
    touched an asset's unit."""

    def __init__(self, entries: Iterable[str]) -> None:
        self.entries = tuple(entries)
        self._whole = False
        self._exact: set[str] = set()
        self._kinds: set[str] = set()  # `<kind>:*`
        self._accounts: set[str] = set()  # `aws:<account>:*`
        self._tenant_domains: set[str] = set()  # `m365:<domain>`
        for entry in self.entries:
            kind, _, rest = entry.partition(":")
            if entry == EVERY_UNIT:
                self._whole = True
            elif rest == "*":
                self._kinds.add(kind)
            elif kind == "aws" and rest.endswith(":*"):
                self._accounts.add(rest[:-2])
            elif kind == "m365":
                self._tenant_domains.update(rest.split(" "))
            else:
                self._exact.add(entry)

    def touches(self, unit: str | None) -> bool:
        """Whether a gap left `unit` incomplete; an asset of no unit (None) is touched by any
        gap: judged by the whole scan."""
        if not self.entries:
            return False
        if self._whole or unit is None or unit in self._exact:
            return True
        kind, _, rest = unit.partition(":")
        if kind in self._kinds:
            return True
        if kind == "aws":
            return rest.partition(":")[0] in self._accounts
        if kind == "m365":
            return any(domain in self._tenant_domains for domain in rest.split(" "))
        return False


_EVERY = {
    "dns": "every domain",
    "saas": "every SaaS endpoint",
    "aws": "every AWS account",
    "m365": "every Microsoft 365 tenant",
}


def describe_unit(entry: str) -> str:
    """An incomplete unit in words: "domain a.example", "AWS account 123456789012: us-east-1"."""
    if entry == EVERY_UNIT:
        return "every unit (a gap that names none)"
    kind, _, rest = entry.partition(":")
    if rest == "*":
        return _EVERY.get(kind, entry)
    if kind == "aws":
        account, _, region = rest.partition(":")
        if region == "*":
            return f"AWS account {account}"
        if region:
            return f"AWS account {account}: {region}"
        return f"AWS account {account} (account-wide services)"
    if kind == "dns":
        return f"domain {rest}"
    if kind == "saas":
        return f"SaaS endpoint {rest}"
    if kind == "m365":
        return f"Microsoft 365 tenant of {rest}"
    return entry
