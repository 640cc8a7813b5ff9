"""Which provider holds a domain's mailboxes: the MX, or the signals behind a mail gateway."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace

from sovscan.bounds import bounded
from sovscan.model import AttrValue, Confidence
from sovscan.resolve.catalog import HostPattern, Vendor
from sovscan.resolve.knowledge import KnowledgeBase

MAX_SIGNAL_NAMES = 16
"""Names read per signal attribute: enough for real set-ups, bounded against hostile zones."""

LOOK_THROUGH = ("dkim", "autodiscover", "spf", "token")
"""Signals that see past a gateway, strongest first.

A DKIM selector delegated by CNAME to the provider's tenant is set up by the mailbox host itself;
autodiscover points mail clients at the mailbox but can outlive a migration; an SPF include only
says who may send (it counts only when exactly one mailbox provider is authorised); a
verification token only proves an account exists.
"""

_CEILING = {
    "mx": Confidence.HIGH,
    "dkim": Confidence.HIGH,
    "autodiscover": Confidence.MEDIUM,
    "spf": Confidence.MEDIUM,
    "token": Confidence.LOW,
}
_CONF_RANK = {Confidence.NONE: 0, Confidence.LOW: 1, Confidence.MEDIUM: 2, Confidence.HIGH: 3}
_LOWER = {Confidence.HIGH: Confidence.MEDIUM, Confidence.MEDIUM: Confidence.LOW}


@dataclass(frozen=True, slots=True)
class MailSignal:
    """One observation naming a mailbox provider."""

    signal: str  # mx | dkim | autodiscover | spf | token
    vendor: Vendor
    confidence: Confidence
    detail: str  # what was observed, for evidence
    region: str | None = None  # a region the matched host name carries
    region_provider: str | None = None  # whose region table names it

    @property
    def who(self) -> str:
        """The identity signals are compared on: the catalogue provider, else the vendor."""
        return self.vendor.provider or self.vendor.name


@dataclass(frozen=True, slots=True)
class MailAttribution:
    """The mailbox provider (when something decided it), the gateway looked through, and why."""

    decided: MailSignal | None
    gateway: Vendor | None  # the MX's vendor when it is a gateway (it stays on the dns.mx asset)
    others: tuple[MailSignal, ...]  # the remaining signals, agreeing or not
    notes: tuple[str, ...]  # what was tried and could not decide, or was set aside

    @property
    def conflicts(self) -> tuple[MailSignal, ...]:
        if self.decided is None:
            return ()
        return tuple(s for s in self.others if s.who != self.decided.who)


def attribute_mailbox(attributes: Mapping[str, AttrValue], kb: KnowledgeBase) -> MailAttribution:
    """Decide the mailbox provider of a ``dns.mailbox`` asset from its mail signals.

    The first MX host decides when it is a mailbox provider. When it is a gateway, the strongest
    look-through signal decides; a signal that names another provider lowers the confidence one
    step and is kept. An MX host outside the catalogue is not looked through: it may be the
    institution's own server, and the other signals would then be a guess.
    """
    notes: list[str] = []
    mx_hosts = _strings(attributes, "mx_hosts")
    primary = _match_mx(mx_hosts[0], kb) if mx_hosts else None
    found = list(_look_through(attributes, kb, notes))
    if primary is not None and primary.role == "mailbox":
        decided: MailSignal | None = primary.signal
        gateway = None
    elif primary is not None and primary.role == "gateway":
        gateway = primary.vendor
        decided = next((s for name in LOOK_THROUGH for s in found if s.signal == name), None)
        if decided is None:
            notes.append(
                f"MX {bounded(mx_hosts[0], 200)} is a {gateway.product} gateway and no DKIM, "
                "autodiscover, SPF or verification-token signal names the mailbox provider "
                "behind it"
            )
    else:
        gateway = None
        decided = None
        what = f"MX {bounded(mx_hosts[0], 200)}" if mx_hosts else "no MX host"
        notes.append(
            f"{what} is neither a known mailbox provider nor a known gateway: the mailbox is "
            "probably there, and other signals are not used to guess past it"
        )
    others = tuple(s for s in found if s is not decided)
    if decided is not None and decided.signal != "mx" and any(s.who != decided.who for s in others):
        # Signals disagree behind a gateway: the strongest still decides, less surely.
        decided = replace(decided, confidence=_LOWER.get(decided.confidence, decided.confidence))
    return MailAttribution(decided, gateway, others, tuple(notes))


@dataclass(frozen=True, slots=True)
class _MxMatch:
    role: str
    vendor: Vendor
    signal: MailSignal


def _match_mx(host: str, kb: KnowledgeBase) -> _MxMatch | None:
    matched = _match(host, "MX", kb)
    if matched is None:
        return None
    pattern, region = matched
    detail = f"MX {bounded(host, 200)} matches {pattern.pattern} ({pattern.vendor.product})"
    signal = _signal("mx", pattern, detail, region)
    return _MxMatch(pattern.role, pattern.vendor, signal)


def _look_through(
    attributes: Mapping[str, AttrValue], kb: KnowledgeBase, notes: list[str]
) -> Iterator[MailSignal]:
    tenant = attributes.get("tenant")
    dkim = [*_strings(attributes, "dkim_targets")]
    if isinstance(tenant, str) and tenant and tenant not in dkim:
        dkim.append(tenant)
    yield from _by_name("dkim", "DKIM selector CNAME to", dkim, kb)
    for selector in _strings(attributes, "dkim_selectors"):
        matched = _match(selector, "DKIM", kb)
        if matched is not None and matched[0].role == "mailbox":
            pattern = matched[0]
            detail = f"DKIM selector {bounded(selector, 64)} ({pattern.vendor.product})"
            yield _signal("dkim", pattern, detail, None)
    yield from _by_name(
        "autodiscover", "autodiscover CNAME to", _strings(attributes, "autodiscover_chain"), kb
    )
    spf: dict[str, MailSignal] = {}
    for include in _strings(attributes, "spf_includes"):
        matched = _match(include, "SPF", kb)
        if matched is not None and matched[0].role == "mailbox":
            pattern = matched[0]
            detail = f"SPF include:{bounded(include, 200)} ({pattern.vendor.product})"
            candidate = _signal("spf", pattern, detail, None)
            spf.setdefault(candidate.who, candidate)
    if len(spf) == 1:
        yield next(iter(spf.values()))
    elif spf:
        names = ", ".join(s.vendor.name for s in spf.values())
        notes.append(f"SPF authorises several mailbox providers ({names}): SPF cannot decide")
    mail_providers = {
        p.vendor.provider for p in kb.host_patterns if p.role == "mailbox" and p.vendor.provider
    }
    for key in _strings(attributes, "verification_tokens"):
        rows = [t for t in kb.txt_tokens if t.key == key]
        token = next((t for t in rows if t.role == "mailbox"), None)
        if token is not None:
            detail = f"verification token {bounded(key, 64)}= ({token.vendor.product})"
            confidence = _cap(token.vendor.confidence, _CEILING["token"])
            yield MailSignal("token", token.vendor, confidence, detail)
            continue
        # A token of a company that also hosts mail (google-site-verification) is set aside
        # with the catalogue's reason, so a reader sees it was weighed and why it does not count.
        other = next((t for t in rows if t.vendor.provider in mail_providers), None)
        if other is not None:
            why = other.vendor.note or "it does not say where the mail is"
            notes.append(
                f"verification token {bounded(key, 64)} ({other.vendor.product}) is not a mail "
                f"signal: {why}"
            )


def _by_name(
    signal: str, label: str, names: tuple[str, ...] | list[str], kb: KnowledgeBase
) -> Iterator[MailSignal]:
    seen: set[str] = set()
    for name in names[:MAX_SIGNAL_NAMES]:
        matched = _match(name, "CNAME", kb)
        if matched is None or matched[0].role != "mailbox":
            continue
        pattern, region = matched
        found = _signal(
            signal, pattern, f"{label} {bounded(name, 200)} ({pattern.vendor.product})", region
        )
        if found.who not in seen:
            seen.add(found.who)
            yield found


def _match(name: str, record: str, kb: KnowledgeBase) -> tuple[HostPattern, str | None] | None:
    host = name.strip().lower().rstrip(".")
    for pattern in kb.host_patterns_for(host):
        if pattern.record != record:
            continue
        found = pattern.regex.match(host)
        if found is not None:
            return pattern, found.groupdict().get("region")
    return None


def _signal(signal: str, pattern: HostPattern, detail: str, region: str | None) -> MailSignal:
    confidence = _cap(pattern.vendor.confidence, _CEILING[signal])
    return MailSignal(
        signal,
        pattern.vendor,
        confidence,
        detail,
        region,
        pattern.region_provider if region else None,
    )


def _strings(attributes: Mapping[str, AttrValue], key: str) -> tuple[str, ...]:
    value = attributes.get(key)
    if isinstance(value, str):
        value = (value,)
    if not isinstance(value, tuple):
        return ()
    return tuple(v for v in value[:MAX_SIGNAL_NAMES] if isinstance(v, str) and v)


def _cap(confidence: Confidence, ceiling: Confidence) -> Confidence:
    return confidence if _CONF_RANK[confidence] <= _CONF_RANK[ceiling] else ceiling
