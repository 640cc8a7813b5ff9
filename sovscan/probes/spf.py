"""SPF record parsing and include expansion under RFC 7208's limits; pure, the DNS is passed in."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

MAX_LOOKUPS = 10  # RFC 7208 section 4.6.4: DNS-querying terms per check_host()
MAX_VOID_LOOKUPS = 2  # RFC 7208 section 4.6.4: look-ups answering NXDOMAIN or no records
MAX_TERMS = 128  # a record with more terms than this is hostile; the rest is not read
MAX_RECORD_CHARS = 4096  # beyond any legitimate SPF record (they fit in one 512-byte answer)

_QUALIFIERS = frozenset("+-~?")
_MECHANISMS = frozenset({"all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists"})
_LOOKUP_MECHANISMS = frozenset({"include", "a", "mx", "ptr", "exists"})
_SPF_PREFIX = re.compile(r"^v=spf1(?:\s|$)", re.IGNORECASE)
_DOMAIN = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_-]{1,63})*$"
)


@dataclass(frozen=True, slots=True)
class SpfTerm:
    """One mechanism (``-include:x``) or modifier (``redirect=x``) of an SPF record."""

    qualifier: str  # "+", "-", "~", "?"; "" for a modifier
    name: str  # mechanism or modifier name, lowercase
    value: str  # what follows ":" or "=", as written ("" when absent)

    @property
    def is_modifier(self) -> bool:
        return self.qualifier == ""


def is_spf(text: str) -> bool:
    """Whether a TXT record's text is an SPF record (``v=spf1`` then a space or the end)."""
    return bool(_SPF_PREFIX.match(text))


def parse_spf(text: str) -> tuple[SpfTerm, ...]:
    """The terms of an SPF record, in order; unknown or malformed terms are left out."""
    terms: list[SpfTerm] = []
    for word in text[:MAX_RECORD_CHARS].split()[1 : MAX_TERMS + 1]:
        modifier = re.match(r"^([A-Za-z][A-Za-z0-9_.-]*)=(.*)$", word)
        if modifier:
            terms.append(SpfTerm("", modifier.group(1).lower(), modifier.group(2)))
            continue
        qualifier = word[0] if word[0] in _QUALIFIERS else "+"
        body = word[1:] if word[0] in _QUALIFIERS else word
        name, _, value = body.partition(":")
        if "/" in name:  # "a/24", "mx/24": a CIDR length and no domain
            name = name.split("/", 1)[0]
        if name.lower() in _MECHANISMS:
            terms.append(SpfTerm(qualifier, name.lower(), value))
    return tuple(terms)


class SpfLookupError(Exception):
    """A look-up failed for a reason other than "no such record" (SERVFAIL, timeout...)."""


TxtFetcher = Callable[[str], Sequence[str] | None]
"""Returns a domain's TXT record texts, None when the domain has none (NXDOMAIN or NODATA), and
raises SpfLookupError when the DNS could not answer."""


@dataclass(frozen=True, slots=True)
class SpfExpansion:
    """What an SPF record authorises once its includes and redirects are followed."""

    domain: str
    record: str  # the domain's own SPF record, as published
    includes: tuple[str, ...]  # domains authorised (pass-qualified include:, redirect=), in order
    non_pass_includes: tuple[str, ...]  # -include / ~include / ?include: not an authorisation
    all_qualifier: str | None  # qualifier of the top record's "all" ("-", "~", "?", "+")
    lookups: int  # DNS-querying terms counted as RFC 7208 section 4.6.4 counts them
    void_lookups: int
    records: tuple[tuple[str, str], ...]  # (domain, record) for every record read, top first
    error: str | None  # why expansion stopped (limits, loop, look-up failure); None if complete


def select_spf(texts: Sequence[str]) -> tuple[str | None, str | None]:
    """The single SPF record among TXT texts, and an error when there is more than one."""
    records = [text for text in texts if is_spf(text)]
    if len(records) > 1:
        return None, f"{len(records)} SPF records published (RFC 7208 section 4.5: permerror)"
    return (records[0] if records else None), None


class _Expander:
    """Depth-first walk of includes and redirects, counting look-ups as a receiver would."""

    def __init__(self, fetch: TxtFetcher) -> None:
        self.fetch = fetch
        self.includes: list[str] = []
        self.non_pass: list[str] = []
        self.records: list[tuple[str, str]] = []
        self.lookups = 0
        self.void = 0
        self.error: str | None = None  # a limit or failure that stopped the expansion
        self.problems: list[str] = []  # errors a receiver would hit that did not stop us

    def expand(self, domain: str, record: str, path: tuple[str, ...]) -> None:
        self.records.append((domain, record))
        terms = parse_spf(record)
        has_all = any(t.name == "all" and not t.is_modifier for t in terms)
        for term in terms:
            if self.error is not None:
                return
            if term.is_modifier:
                # RFC 7208 section 6.1: redirect is ignored when the record has an "all".
                if term.name == "redirect" and not has_all:
                    self._count()
                    self._follow(term.value, path, "redirect")
                continue
            if term.name not in _LOOKUP_MECHANISMS:
                continue
            self._count()
            if term.name == "include":
                if term.qualifier == "+":
                    self._follow(term.value, path, "include")
                else:
                    self._note(self.non_pass, _normal(term.value))

    def _count(self) -> None:
        if self.error is None:
            self.lookups += 1
            if self.lookups > MAX_LOOKUPS:
                self.error = (
                    f"SPF needs more than {MAX_LOOKUPS} DNS look-ups "
                    "(RFC 7208 section 4.6.4: permerror); expansion stopped"
                )

    def _follow(self, target: str, path: tuple[str, ...], kind: str) -> None:
        if self.error is not None:
            return
        domain = _normal(target)
        if "%" in domain or not _DOMAIN.match(domain):
            return  # a macro needs a sender to expand; a malformed name cannot be looked up
        if domain in path:
            self.error = "SPF include loop: " + " -> ".join((*path, domain))
            return
        self._note(self.includes, domain)
        try:
            texts = self.fetch(domain)
        except SpfLookupError as exc:
            self.error = f"SPF {kind}:{domain} could not be looked up: {exc}"
            return
        record, problem = select_spf(texts or ())
        if texts is None:
            self.void += 1
            if self.void > MAX_VOID_LOOKUPS:
                self.error = (
                    f"SPF has more than {MAX_VOID_LOOKUPS} void look-ups "
                    "(RFC 7208 section 4.6.4: permerror); expansion stopped"
                )
                return
        if record is None:
            # A permerror for a receiver, but the other includes still say who sends the mail.
            self.problems.append(problem or f"SPF {kind}:{domain} has no SPF record (permerror)")
            return
        self.expand(domain, record, (*path, domain))

    @staticmethod
    def _note(values: list[str], value: str) -> None:
        if value and value not in values:
            values.append(value)


def _normal(domain: str) -> str:
    return domain.strip().rstrip(".").lower()


def _all_qualifier(record: str) -> str | None:
    for term in parse_spf(record):
        if term.name == "all" and not term.is_modifier:
            return term.qualifier
    return None


def expand_spf(domain: str, record: str, fetch: TxtFetcher) -> SpfExpansion:
    """Follow `record`'s includes and redirects depth first, stopping at the first limit hit."""
    expander = _Expander(fetch)
    top = _normal(domain)
    expander.expand(top, record, (top,))
    return SpfExpansion(
        domain=top,
        record=record,
        includes=tuple(expander.includes),
        non_pass_includes=tuple(expander.non_pass),
        all_qualifier=_all_qualifier(record),
        lookups=expander.lookups,
        void_lookups=expander.void,
        records=tuple(expander.records),
        error=expander.error or next(iter(expander.problems), None),
    )
