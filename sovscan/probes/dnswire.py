"""A lean DNS wire codec for the bulk path: query encoding and strict, bounded answer decoding.

dnspython's message objects cost hundreds of microseconds per response (docs/performance.md), so
the bulk resolver encodes its queries and decodes the answers here: A, AAAA, NS, CNAME, MX, TXT
and SOA, with name decompression. Anything else, and anything malformed, raises `WireError`; the
caller then falls back to dnspython. The decoder is at least as strict as dnspython's: when it
accepts a message, dnspython accepts it too and reads the same records
(tests/probes/test_dnswire*.py check this differentially and by fuzzing).
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass
from typing import NamedTuple

A = 1
NS = 2
CNAME = 5
SOA = 6
MX = 15
TXT = 16
AAAA = 28
OPT = 41
CLASS_IN = 1

TYPE_CODES = {"A": A, "NS": NS, "CNAME": CNAME, "SOA": SOA, "MX": MX, "TXT": TXT, "AAAA": AAAA}
TYPE_NAMES = {code: name for name, code in TYPE_CODES.items()}

NOERROR = 0
SERVFAIL = 2
NXDOMAIN = 3

MAX_NAME_WIRE = 255  # RFC 1035 §2.3.4, counted with the length octets and the root label
MAX_POINTER_HOPS = 16  # the same bound as dnspython's MAX_COMPRESSION_POINTER_CHAIN
MAX_RECORDS = 512  # records in one message: a UDP answer of 1232 bytes holds far fewer
DEFAULT_EDNS_PAYLOAD = 1232  # DNS flag day 2020

_HEADER = struct.Struct("!HHHHHH")
_RR = struct.Struct("!HHIH")
_SOA_TAIL = struct.Struct("!IIIII")
# Bytes dnspython writes as themselves in a label's text; every other byte is escaped.
_SPECIAL = b'"().;\\@$'
_PLAIN = bytes(c for c in range(0x21, 0x7F) if c not in _SPECIAL)
_PLAIN_OR_DOT = _PLAIN + b"."


class WireError(ValueError):
    """A message (or name) the codec refuses: malformed, unbounded or outside what it handles."""


class Record(NamedTuple):
    """One resource record. `data` depends on the type:

    A/AAAA: the address text; NS/CNAME: the target name; MX: (preference, exchange);
    TXT: a tuple of the character strings as bytes; SOA: (mname, rname, serial, refresh, retry,
    expire, minimum). Names are dnspython-style text without the final dot ("." for the root).
    """

    name: str
    rdtype: int
    ttl: int
    data: object


@dataclass(frozen=True, slots=True)
class Response:
    """The parts of a response the bulk path reads."""

    id: int
    flags: int
    rcode: int  # including the EDNS extended bits
    qname: str
    qtype: int
    answer: tuple[Record, ...]
    authority: tuple[Record, ...]

    @property
    def truncated(self) -> bool:
        return bool(self.flags & 0x0200)

    @property
    def authoritative(self) -> bool:
        return bool(self.flags & 0x0400)


def encode_name(name: str) -> bytes:
    """Wire form of a plain ASCII name ("mail.example.org", trailing dot optional)."""
    text = name.removesuffix(".")
    if not text:
        return b"\0"
    try:
        raw = text.encode("ascii")
    except UnicodeEncodeError:
        raise WireError(f"name is not ASCII: {name!r}") from None
    if b"\\" in raw:
        raise WireError("escaped names are not handled by the lean codec")
    out = bytearray()
    for label in raw.split(b"."):
        if not 0 < len(label) < 64:
            raise WireError(f"bad label length in {name!r}")
        out.append(len(label))
        out += label
    out.append(0)
    if len(out) > MAX_NAME_WIRE:
        raise WireError(f"name longer than {MAX_NAME_WIRE} bytes: {name!r}")
    return bytes(out)


def encode_query(
    qid: int, name: str, rdtype: int, *, edns_payload: int = DEFAULT_EDNS_PAYLOAD, rd: bool = False
) -> bytes:
    """A query for (`name`, `rdtype`) class IN with id `qid`; EDNS0 unless `edns_payload` is 0."""
    if not 0 <= qid <= 0xFFFF or not 0 < rdtype <= 0xFFFF:
        raise WireError("query id or type out of range")
    header = _HEADER.pack(qid, 0x0100 if rd else 0, 1, 0, 0, 1 if edns_payload else 0)
    question = encode_name(name) + struct.pack("!HH", rdtype, CLASS_IN)
    if not edns_payload:
        return header + question
    return header + question + b"\0" + struct.pack("!HHIH", OPT, edns_payload, 0, 0)


def label_text(label: bytes) -> str:
    """A label as dnspython writes it: printable bytes as is, specials and others escaped."""
    if not label.translate(None, _PLAIN):
        return label.decode("ascii")
    parts = []
    for c in label:
        if c in _SPECIAL:
            parts.append("\\" + chr(c))
        elif 0x20 < c < 0x7F:
            parts.append(chr(c))
        else:
            parts.append(f"\\{c:03d}")
    return "".join(parts)


def read_name(data: bytes, pos: int, end: int) -> tuple[str, int]:
    """The name at `pos` (not past `end`) and the offset after it; follows compression pointers.

    Pointers must point strictly backwards, to a target that ends before the pointing segment,
    at most MAX_POINTER_HOPS times: the same rules as dnspython, so both refuse the same loops.
    """
    labels: list[str] = []
    limit = end
    start = pos
    biggest = pos
    hops = 0
    after = -1
    wire_length = 1
    while True:
        if pos >= limit:
            raise WireError("name runs past its bounds")
        count = data[pos]
        if count == 0:
            pos += 1
            break
        if count < 64:
            stop = pos + 1 + count
            if stop > limit:
                raise WireError("label runs past its bounds")
            wire_length += count + 1
            if wire_length > MAX_NAME_WIRE:
                raise WireError("name too long")
            labels.append(label_text(data[pos + 1 : stop]))
            pos = stop
        elif count >= 192:
            if pos + 2 > limit:
                raise WireError("truncated compression pointer")
            target = ((count & 0x3F) << 8) | data[pos + 1]
            if target >= biggest:
                raise WireError("compression pointer does not point backwards")
            hops += 1
            if hops > MAX_POINTER_HOPS:
                raise WireError("compression pointer chain too long")
            if after < 0:
                after = pos + 2
            biggest = target
            limit = start  # the target must end before the segment that points to it
            pos = start = target
        else:
            raise WireError("unknown label type")
    return (".".join(labels) if labels else "."), (after if after >= 0 else pos)


def skip_name(data: bytes, pos: int, end: int) -> int:
    """The offset after the name at `pos`, checked by the same rules as `read_name`, no text."""
    limit = end
    start = pos
    biggest = pos
    hops = 0
    after = -1
    wire_length = 1
    while True:
        if pos >= limit:
            raise WireError("name runs past its bounds")
        count = data[pos]
        if count == 0:
            pos += 1
            break
        if count < 64:
            pos += 1 + count
            if pos > limit:
                raise WireError("label runs past its bounds")
            wire_length += count + 1
            if wire_length > MAX_NAME_WIRE:
                raise WireError("name too long")
        elif count >= 192:
            if pos + 2 > limit:
                raise WireError("truncated compression pointer")
            target = ((count & 0x3F) << 8) | data[pos + 1]
            if target >= biggest:
                raise WireError("compression pointer does not point backwards")
            hops += 1
            if hops > MAX_POINTER_HOPS:
                raise WireError("compression pointer chain too long")
            if after < 0:
                after = pos + 2
            biggest = target
            limit = start
            pos = start = target
        else:
            raise WireError("unknown label type")
    return after if after >= 0 else pos


def _check_rdata(data: bytes, rdtype: int, pos: int, end: int) -> None:
    """Validate one record's rdata like `_rdata` does, without building its value."""
    if rdtype == A:
        if end - pos != 4:
            raise WireError("A rdata is not 4 bytes")
    elif rdtype == AAAA:
        if end - pos != 16:
            raise WireError("AAAA rdata is not 16 bytes")
    elif rdtype in (NS, CNAME):
        if skip_name(data, pos, end) != end:
            raise WireError("trailing bytes in rdata")
    elif rdtype == MX:
        if end - pos < 3 or skip_name(data, pos + 2, end) != end:
            raise WireError("bad MX rdata")
    elif rdtype == TXT:
        if pos >= end:
            raise WireError("TXT rdata without strings")
        while pos < end:
            pos += 1 + data[pos]
        if pos != end:
            raise WireError("TXT string runs past its rdata")
    elif rdtype == SOA:
        pos = skip_name(data, pos, end)
        pos = skip_name(data, pos, end)
        if end - pos != 20:
            raise WireError("SOA rdata has a bad length")
    else:
        raise WireError(f"record type {rdtype} is not handled by the lean codec")


def _rdata(data: bytes, rdtype: int, pos: int, end: int) -> object:
    """The typed value of one record's rdata, which must fill [pos, end) exactly."""
    if rdtype == A:
        if end - pos != 4:
            raise WireError("A rdata is not 4 bytes")
        return socket.inet_ntop(socket.AF_INET, data[pos:end])
    if rdtype == AAAA:
        if end - pos != 16:
            raise WireError("AAAA rdata is not 16 bytes")
        return socket.inet_ntop(socket.AF_INET6, data[pos:end])
    if rdtype in (NS, CNAME):
        target, stop = read_name(data, pos, end)
        if stop != end:
            raise WireError("trailing bytes in rdata")
        return target
    if rdtype == MX:
        if end - pos < 3:
            raise WireError("MX rdata too short")
        exchange, stop = read_name(data, pos + 2, end)
        if stop != end:
            raise WireError("trailing bytes in rdata")
        return ((data[pos] << 8) | data[pos + 1], exchange)
    if rdtype == TXT:
        strings = []
        while pos < end:
            stop = pos + 1 + data[pos]
            if stop > end:
                raise WireError("TXT string runs past its rdata")
            strings.append(data[pos + 1 : stop])
            pos = stop
        if not strings:
            raise WireError("TXT rdata without strings")
        return tuple(strings)
    if rdtype == SOA:
        mname, pos = read_name(data, pos, end)
        rname, pos = read_name(data, pos, end)
        if end - pos != 20:
            raise WireError("SOA rdata has a bad length")
        return (mname, rname, *_SOA_TAIL.unpack_from(data, pos))
    raise WireError(f"record type {rdtype} is not handled by the lean codec")


_SINGLETONS = frozenset({CNAME, SOA})


def _norm_single(rdtype: int, value: object) -> object:
    """Names compare without case, as dnspython compares rdata."""
    if rdtype == CNAME and isinstance(value, str):
        return value.lower()
    if isinstance(value, tuple):
        return (value[0].lower(), value[1].lower(), *value[2:])
    return value


def _options_ok(data: bytes, pos: int, end: int) -> bool:
    """EDNS options must be (code, length, value) triples filling the OPT rdata exactly."""
    while pos < end:
        if pos + 4 > end:
            return False
        pos += 4 + ((data[pos + 2] << 8) | data[pos + 3])
    return pos == end


def asked(name: str, rdtype: int, query: bytes) -> tuple[bytes, str] | None:
    """What `decode_response` takes as `asked` for `query`, made by `encode_query` for `name` and
    `rdtype`: the question section as sent, and the text `read_name` reads from it. None when
    that text is not `name` itself (the root, or a byte `label_text` escapes)."""
    text = name.removesuffix(".")
    try:
        raw = text.encode("ascii")
    except UnicodeEncodeError:
        return None
    if not raw or raw.translate(None, _PLAIN_OR_DOT):
        return None
    end = 12 + len(raw) + 6  # the labels' length octets and the root label, then type and class
    question = query[12:end]
    if len(question) != end - 12 or question[-4:] != struct.pack("!HH", rdtype, CLASS_IN):
        return None
    return question, text


def decode_response(
    data: bytes, *, authority: bool = True, asked: tuple[bytes, str] | None = None
) -> Response:
    """Decode a response to one question; WireError if malformed or outside the lean subset.

    With `authority` False the authority section is checked but not decoded (the bulk path reads
    only answers); the additional section is always checked only. `asked` (from `asked()`) is
    the question as sent: when the response repeats it byte for byte, its name is not read again.
    """
    size = len(data)
    if size < 12:
        raise WireError("message shorter than its header")
    qid, flags, qdcount, ancount, nscount, arcount = _HEADER.unpack_from(data, 0)
    if (flags >> 11) & 0xF != 0:
        raise WireError("not a QUERY opcode")
    if qdcount != 1:
        raise WireError("responses must carry exactly one question")
    if ancount + nscount + arcount > MAX_RECORDS:
        raise WireError("too many records")
    if asked is not None and data.startswith(asked[0], 12):
        # The question sent, byte for byte: a plain name, no pointer, its text already known.
        qname = asked[1]
        pos = 12 + len(asked[0])
        qtype = (data[pos - 4] << 8) | data[pos - 3]
        plain_question = True
    else:
        qname, pos = read_name(data, 12, size)
        if pos + 4 > size:
            raise WireError("truncated question")
        qtype = (data[pos] << 8) | data[pos + 1]
        pos += 4
        # Whether the question name is written out plainly (no pointer): then an owner that is
        # just a pointer to it (offset 12) is that name, by the same rules read_name applies.
        p = 12
        while 0 < data[p] < 64:
            p += data[p] + 1
        plain_question = data[p] == 0 and p + 5 == pos
    sections: list[list[Record]] = [[], []]
    singles: dict[tuple[str, int], object] = {}
    rcode_high = 0
    seen_opt = False
    for index, count in enumerate((ancount, nscount, arcount)):
        out = sections[index] if index == 0 or (index == 1 and authority) else None
        for _ in range(count):
            if out is None:
                name = "." if pos < size and data[pos] == 0 else ""  # OPT's owner is the root
                pos = skip_name(data, pos, size)
            elif plain_question and pos + 1 < size and data[pos] == 0xC0 and data[pos + 1] == 12:
                # The usual owner: a pointer to the question name, already checked and read.
                name = qname
                pos += 2
            else:
                name, pos = read_name(data, pos, size)
            if pos + 10 > size:
                raise WireError("truncated record header")
            rdtype, rdclass, ttl, rdlength = _RR.unpack_from(data, pos)
            pos += 10
            end = pos + rdlength
            if end > size:
                raise WireError("rdata runs past the message")
            if rdtype == OPT:
                if index != 2 or seen_opt or name != "." or not _options_ok(data, pos, end):
                    raise WireError("misplaced or malformed OPT record")
                seen_opt = True
                rcode_high = ttl >> 24
            else:
                if rdclass != CLASS_IN:
                    raise WireError("record class is not IN")
                if out is None:
                    _check_rdata(data, rdtype, pos, end)
                    pos = end
                    continue
                value = _rdata(data, rdtype, pos, end)
                if rdtype in _SINGLETONS:
                    # A name has one CNAME and one SOA; dnspython keeps only the last of several.
                    key = (name.lower(), rdtype + 65536 * index)
                    if singles.setdefault(key, _norm_single(rdtype, value)) != _norm_single(
                        rdtype, value
                    ):
                        raise WireError("several different CNAME or SOA records for one name")
                if out is not None:
                    out.append(Record(name, rdtype, ttl, value))
            pos = end
    if pos != size:
        raise WireError("trailing bytes after the last record")
    return Response(
        qid,
        flags,
        (flags & 0xF) | (rcode_high << 4),
        qname,
        qtype,
        tuple(sections[0]),
        tuple(sections[1]),
    )


def delegation_records(data: bytes) -> list[tuple[str, int, str]]:
    """The SOA and NS records of class IN of a response's authority section, as (owner, type,
    NS target or ""): what tells a NODATA from a referral (RFC 2308). Names are read, by
    `read_name`'s rules, only for those records; the rest is skipped, so a NODATA costs a few
    microseconds, not a `decode_response`. For a message the decoder has accepted (the bulk
    resolver's); WireError when the sections run past the message."""
    size = len(data)
    if size < 12:
        raise WireError("message shorter than its header")
    ancount, nscount = _HEADER.unpack_from(data, 0)[3:5]
    pos = skip_name(data, 12, size) + 4
    for _ in range(ancount):
        pos = skip_name(data, pos, size) + 10
        if pos > size:
            raise WireError("truncated record header")
        pos += (data[pos - 2] << 8) | data[pos - 1]
    found: list[tuple[str, int, str]] = []
    for _ in range(nscount):
        start = pos
        pos = skip_name(data, pos, size) + 10
        if pos > size:
            raise WireError("truncated record header")
        rdtype = (data[pos - 10] << 8) | data[pos - 9]
        end = pos + ((data[pos - 2] << 8) | data[pos - 1])
        if end > size:
            raise WireError("rdata runs past the message")
        # Another class's records say nothing of an IN zone: the live path skips them too.
        if data[pos - 8 : pos - 6] != b"\0\1":
            rdtype = 0
        if rdtype == SOA:
            found.append((read_name(data, start, size)[0], SOA, ""))
        elif rdtype == NS:
            target, stop = read_name(data, pos, end)
            if stop != end:
                raise WireError("trailing bytes in rdata")
            found.append((read_name(data, start, size)[0], NS, target))
        pos = end
    return found


def question_class_in(data: bytes) -> bool:
    """Whether the question of a message whose question section is well formed (read by
    `decode_response` or cut by `dns_prefetch.answer_part`) asks about class IN: the decoder
    reads the question's type but not its class."""
    end = skip_name(data, 12, len(data))
    return data[end + 2 : end + 4] == b"\0\1"


def peek_id(data: bytes) -> int:
    """The message id, or -1 when `data` is too short to hold one."""
    return (data[0] << 8) | data[1] if len(data) >= 2 else -1
