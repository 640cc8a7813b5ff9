"""The DNS probe's bulk path: ask a batch of domains' questions at once, then probe the answers.

The probe asks about 36 questions per domain, and which ones depends on earlier answers (the
addresses of the MX hosts, the SPF includes...). Asked one at a time through dnspython, a domain
costs about a millisecond of CPU per question plus a round trip each. Here the probe is first
*rehearsed* on every domain of a batch: each question it would ask and that is not known yet is
noted and answered "nodata" for the rehearsal. The noted questions are then asked all at once by
the `BulkResolver` (one socket, hundreds in flight), and the rehearsal runs again with the new
answers, until no domain needs a new question. The real probe then runs on the answers, but
for a domain whose last rehearsal had every answer: its items are the rehearsal's, which the
real run would make again from the same Lookups.

Every answer is turned into the very `Lookup` the live path would make: a plain answer (NOERROR,
lowercase names, the lean codec's types) by `dns_answers.plain_lookup` from the codec's records;
any other, by dnspython reading the response bytes and handing them to the same code as the live
path (`lookup_from_response`), after the checks dnspython's resolver makes (a response to this
question, NOERROR or NXDOMAIN, a CNAME chain it accepts). A NOERROR with nothing for the name
asked is judged as the live path judges it (`dnslookup.unanswered`, on the whole response's flags
and authority section): a referral, or an empty answer nobody vouches for, is the same failed
Lookup on both paths, kept, not asked again. An answer truncated over UDP was asked
again over TCP by the bulk resolver, as dnspython's resolver would; the TCP response is read like
any other. Anything else (another rcode, records in a response still marked truncated, an odd
response, a question the lean encoder cannot write, a mixed-case name) is not kept, and the probe
asks it live. A question with no answer within the resolver's lifetime is a time-out either way,
so that one is kept.
"""

from __future__ import annotations

import ipaddress
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.resolver

from sovscan.model import Asset, Gap
from sovscan.probes import Clock, dnswire
from sovscan.probes.bulkdns import BulkResolver, Result
from sovscan.probes.dns_answers import RdataMemo, plain_lookup
from sovscan.probes.dnslookup import (
    Asker,
    AuthorityRecord,
    Lookup,
    Outcome,
    authority_record,
    empty_lookup,
    lookup_from_response,
    server_text,
    unanswered,
)

Rehearse = Callable[[str, Asker], list[Asset | Gap]]
"""Runs the probe on one domain with `Asker` answering; gives its items."""

BATCH_DOMAINS = 256  # domains rehearsed and asked together; their answers are held until probed
MAX_ROUNDS = 12  # rehearsals per batch; SPF includes nest, each level is one more round
ANSWERS_KEPT = 20_000  # answers held at once (a batch needs ~10k); shared hosts stay across batches
_REHEARSAL_TIME = datetime(1970, 1, 1, tzinfo=UTC)  # a rehearsal's answers are never reported


@dataclass(frozen=True, slots=True)
class BulkSettings:
    """Where and how the bulk path asks: the resolver's first server, its lifetime and EDNS."""

    server: str
    port: int
    lifetime: float  # seconds until a question is given up, as the live resolver's lifetime
    edns_payload: int  # 0: no EDNS, as the live resolver
    in_flight: int  # questions outstanding at once
    # With one server a question it leaves unanswered is a time-out on either path; with more,
    # the live path would ask the next one, so a time-out is asked live.
    keep_timeouts: bool = True
    batch_domains: int = BATCH_DOMAINS
    answers_kept: int = ANSWERS_KEPT


def bulk_settings(resolver: dns.resolver.Resolver, in_flight: int) -> BulkSettings | None:
    """The bulk path's settings for `resolver`, or None when only the live path can ask as it does.

    The bulk path sends what dnspython would send (RD set, the same EDNS buffer) to the first
    name server; a DNS-over-HTTPS or -TLS server, per-server ports, TSIG keys, EDNS options or
    other flags stay live.
    """
    servers = list(resolver.nameservers)
    if in_flight < 1 or not servers or not all(isinstance(s, str) for s in servers):
        return None
    server = str(servers[0])
    try:
        ipaddress.ip_address(server)
    except ValueError:
        return None
    if resolver.flags not in (None, dns.flags.RD) or resolver.ednsflags or resolver.edns > 0:
        return None
    if resolver.ednsoptions or resolver.nameserver_ports or resolver.keyring or resolver.keyname:
        return None
    if resolver.edns == 0 and resolver.payload < 512:
        return None  # dnspython still sends an OPT record; the bulk codec would send none
    payload = resolver.payload if resolver.edns == 0 else 0
    lifetime = float(resolver.lifetime)
    single = len(servers) == 1
    return BulkSettings(server, int(resolver.port), lifetime, payload, in_flight, single)


def lookup_from_wire(
    name: str,
    rdtype: str,
    wire: bytes,
    observed: datetime,
    *,
    server: str = "",
    authority: bool = True,
) -> Lookup | None:
    """The Lookup dnspython's resolver makes of this response; None if it would refuse it.

    `server` answered it (``address:port``, for the reason of a referral); `authority` False
    when `wire` is `answer_part`'s, whose NODATA is not judged (`lookup_from_response`).
    """
    try:
        qname = dns.name.from_text(name)
        kind = dns.rdatatype.from_text(rdtype)
        response = dns.message.from_wire(wire, raise_on_truncation=True)
    except (dns.exception.DNSException, ValueError):
        return None
    if not isinstance(response, dns.message.QueryMessage):
        return None
    if not response.flags & dns.flags.QR or response.opcode() != dns.opcode.QUERY:
        return None
    if len(response.question) != 1:
        return None
    question = response.question[0]
    if (question.name, question.rdtype, question.rdclass) != (qname, kind, dns.rdataclass.IN):
        return None
    rcode = response.rcode()
    if rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
        return None  # dnspython tries the next server or fails: the live path says how
    nxdomain = rcode == dns.rcode.NXDOMAIN
    if nxdomain:
        # dnspython's resolver refuses an NXDOMAIN with an answer, or with a CNAME chain it
        # cannot follow, and then fails the question: the live path says how.
        try:
            dns.resolver.Answer(qname, dns.rdatatype.ANY, dns.rdataclass.IN, response)
        except Exception:  # noqa: BLE001 - whatever dnspython refuses, the live path reports
            return None
    # A NOERROR response whose CNAME chain dnspython cannot follow (a loop, 16 names or more)
    # fails its resolver, and the live path then reads that same response (`_chain_response`):
    # either way the Lookup is this one, whose `_walk` refuses such chains (8 names at most).
    return lookup_from_response(
        name, rdtype, qname, kind, response, nxdomain, observed, server=server, authority=authority
    )


def lookup_from_result(
    result: Result,
    rdtype: str,
    lifetime: float,
    observed: datetime,
    keep_timeouts: bool = True,
    memo: RdataMemo | None = None,
    server: str = "",
) -> Lookup | None:
    """The Lookup of one bulk answer, or None when the question must be asked live.

    `server` is the server asked (``address:port``): a referral's reason names it.
    """
    if result.status == "timeout":
        if not keep_timeouts:
            return None
        reason = f"timeout: no answer within {lifetime:g}s"
        return Lookup(result.name, rdtype, "error", (), (), reason, observed, reason, True)
    # A truncated answer was asked again over TCP by the bulk resolver (as dnspython's resolver
    # does): `result.wire` is that whole response, read below like any other.
    if result.status == "error" or result.rcode not in (0, 3):
        return None  # the rcode includes EDNS's extended bits: BADVERS is not NOERROR
    wire = answer_part(result.wire)
    if wire is None:
        return None
    if wire[6:8] == b"\0\0":
        return _without_answers(result, rdtype, wire, observed, server)
    found = None if memo is None else plain_lookup(result.name, rdtype, wire, observed, memo)
    if found is None:
        found = lookup_from_wire(result.name, rdtype, wire, observed, authority=False)
    if found is not None and found.outcome == "nodata":
        # Whether that NODATA is one (the chain's end, or the name itself, has no such record;
        # not a referral) is said by the authority section, which `answer_part` left out: read
        # the whole response, as the live path does (seldom: most NODATAs have no answer).
        return lookup_from_wire(result.name, rdtype, result.wire, observed, server=server)
    return found


def _without_answers(
    result: Result, rdtype: str, wire: bytes, observed: datetime, server: str
) -> Lookup | None:
    """NODATA or NXDOMAIN with an empty answer section: nothing for dnspython to read.

    The checks `lookup_from_wire` makes, on the header: a response, to a QUERY, of class IN
    (the name, type and question count were checked by the bulk resolver). A NOERROR is judged
    by `unanswered` as the live path judges it, from the flags and the authority section of the
    whole response (read by the lean codec; what it cannot read is asked live).
    """
    flags = int.from_bytes(wire[2:4])
    if not flags & dns.flags.QR or (flags >> 11) & 0xF != dns.opcode.QUERY:
        return None
    if not dnswire.question_class_in(wire):
        return None
    # No answer to walk, so no dnspython name to make (the lean encoder wrote this name).
    outcome: Outcome = "nxdomain" if result.rcode == dns.rcode.NXDOMAIN else "nodata"
    if outcome == "nodata":
        authority = _authority(result.wire)
        if authority is None:
            return None
        why = unanswered(result.name, flags, authority, server)
        if why is not None:
            return Lookup(result.name, rdtype, "error", (), (), why, observed, why)
    return empty_lookup(result.name, rdtype, outcome, observed)


def _authority(wire: bytes) -> list[AuthorityRecord] | None:
    """The SOA and NS records of a whole response's authority section, as `unanswered` reads
    them; None when the lean codec cannot read the response (dnspython's path then judges it)."""
    if wire[8:10] == b"\0\0":
        return []  # no authority records: the flags alone decide
    try:
        found = dnswire.delegation_records(wire)
    except (dnswire.WireError, IndexError):
        return None
    return [authority_record(owner, rdtype, target) for owner, rdtype, target in found]


def answer_part(wire: bytes) -> bytes | None:
    """The message up to the end of its answer section, with no authority or additional records.

    A Lookup reads the header, the question and the answers only, and the bulk resolver has
    already checked the whole message (its codec refuses what dnspython refuses, but for the
    contents of EDNS options: a response with options is refused here), so dnspython need not
    build the name server and glue records that follow: they were half of its time per response.
    None when the message is cut short or carries EDNS options.
    """
    size = len(wire)
    try:
        pos = dnswire.skip_name(wire, 12, size) + 4
        for _ in range(int.from_bytes(wire[6:8])):
            pos = dnswire.skip_name(wire, pos, size) + 10
            pos += int.from_bytes(wire[pos - 2 : pos])
        end = pos
        # EDNS options are read by dnspython, which refuses some the bulk codec lets through (a
        # bad client subnet, a short cookie): such a response goes live, as it would be refused.
        for _ in range(int.from_bytes(wire[8:10]) + int.from_bytes(wire[10:12])):
            pos = dnswire.skip_name(wire, pos, size) + 10
            length = int.from_bytes(wire[pos - 2 : pos])
            if int.from_bytes(wire[pos - 10 : pos - 8]) == dnswire.OPT and length:
                return None
            pos += length
    except (dnswire.WireError, IndexError):
        return None
    if size < 12 or pos > size:
        return None
    return wire[:8] + b"\0\0\0\0" + wire[12:end]


class Prefetcher:
    """Answers fetched in bulk for the probe, in a bounded map (least recently used out first)."""

    def __init__(self, settings: BulkSettings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock
        self.answers: OrderedDict[tuple[str, str], Lookup] = OrderedDict()
        # Items of the batch's domains whose last rehearsal had every answer: the real run would
        # ask the same questions, get the same Lookups and make the same items.
        self.finished: dict[str, list[Asset | Gap]] = {}
        self.memo = RdataMemo()
        self.server = server_text(settings.server, settings.port)
        self.resolver = BulkResolver(
            settings.server,
            settings.port,
            window=settings.in_flight,
            timeout=settings.lifetime,
            edns_payload=settings.edns_payload,
            recursion_desired=True,
            cache_size=0,  # answers are kept here, as Lookups
        )

    def known(self, name: str, rdtype: str) -> Lookup | None:
        """The fetched answer to (name, type); only lowercase names are fetched (see module)."""
        key = (name, rdtype)
        found = self.answers.get(key)
        if found is not None:
            self.answers.move_to_end(key)
        return found

    def fetch(self, domains: Sequence[str], rehearse: Rehearse, rounds: int = MAX_ROUNDS) -> None:
        """Rehearse the probe on `domains` and ask what it needs, until it needs nothing new.

        A domain whose rehearsal had every answer keeps its items in `finished` (see `take`).
        """
        self.finished.clear()
        # The SOAs first: a domain that does not exist or does not answer asks nothing more.
        asked = {(d, "SOA") for d in domains if d == d.lower() and not self.known(d, "SOA")}
        if asked:
            self._ask(asked)
        pending = list(domains)
        for _ in range(rounds):
            wanted: dict[tuple[str, str], None] = {}
            new: list[tuple[str, str]] = []
            unknown: list[tuple[str, str]] = []
            rehearsal_asker = partial(self._rehearsal_answer, asked, wanted, new, unknown)
            again = []
            for domain in pending:
                new.clear()
                unknown.clear()
                items = rehearse(domain, rehearsal_asker)
                # A domain that met no new question has all the answers it will get: the next
                # round would rehearse it to the same end, so only the others go on.
                if new:
                    again.append(domain)
                elif not unknown:
                    self.finished[domain] = items
            if not wanted:
                return
            asked.update(wanted)
            self._ask(wanted)
            pending = again

    def take(self, domain: str) -> list[Asset | Gap] | None:
        """The items of a domain whose last rehearsal had every answer, once; else None."""
        return self.finished.pop(domain, None)

    def _rehearsal_answer(
        self,
        asked: set[tuple[str, str]],
        wanted: dict[tuple[str, str], None],
        new: list[tuple[str, str]],
        unknown: list[tuple[str, str]],
        name: str,
        rdtype: str,
    ) -> Lookup:
        """What was fetched; else the question is noted (as `unknown` for the domain being
        rehearsed, and as wanted and `new` unless asked already) and answered "nodata"."""
        found = self.known(name, rdtype)
        if found is not None:
            return found
        key = (name, rdtype)
        unknown.append(key)
        if name == name.lower() and key not in asked:
            wanted[key] = None
            new.append(key)
        return Lookup(name, rdtype, "nodata", (), (), "", _REHEARSAL_TIME)

    def forget_timeouts(self) -> None:
        """Drop kept time-outs once a batch is probed: a later batch asks those questions again."""
        for key in [key for key, found in self.answers.items() if found.timed_out]:
            del self.answers[key]

    def asker(self, live: Asker) -> Asker:
        """Answers from what was fetched, and from `live` for the rest."""

        def ask(name: str, rdtype: str) -> Lookup:
            found = self.known(name, rdtype)
            return found if found is not None else live(name, rdtype)

        return ask

    def _ask(self, questions: Iterable[tuple[str, str]]) -> None:
        codes: dict[str, int] = {}
        wanted: list[tuple[str, int]] = []
        for name, rdtype in questions:
            code = codes.setdefault(rdtype, int(dns.rdatatype.from_text(rdtype)))
            wanted.append((name, code))
        texts = {code: rdtype for rdtype, code in codes.items()}
        lifetime = self.settings.lifetime
        for result in self.resolver.resolve(wanted, remember=False):
            rdtype = texts[result.rdtype]
            found = lookup_from_result(
                result,
                rdtype,
                lifetime,
                self.clock(),
                self.settings.keep_timeouts,
                self.memo,
                self.server,
            )
            if found is not None:
                self._keep((result.name, rdtype), found)

    def _keep(self, key: tuple[str, str], found: Lookup) -> None:
        self.answers[key] = found
        self.answers.move_to_end(key)
        while len(self.answers) > self.settings.answers_kept:
            self.answers.popitem(last=False)
