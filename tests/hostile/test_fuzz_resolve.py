"""The host-name fingerprint matcher and the IP index on any input: no crash, label-anchored."""

from __future__ import annotations

import ipaddress
import re
from functools import cache

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from sovscan.model import Asset, Method
from sovscan.resolve import KnowledgeBase, load_knowledge, resolve
from sovscan.resolve.catalog import compile_host_pattern

SETTINGS = settings(
    max_examples=150,
    deadline=2000,
    database=None,
    phases=(Phase.explicit, Phase.generate),
    suppress_health_check=[HealthCheck.too_slow],
)


@cache
def kb() -> KnowledgeBase:
    return load_knowledge()


label_chars = st.sampled_from("abcdefghijklmnopqrstuvwxyz0123456789-_")
label = st.text(label_chars, min_size=1, max_size=10)


def _instance(pattern: str, fill: list[str]) -> str:
    """A host name the pattern should match: wildcards replaced by drawn label text."""
    out = []
    for i, part in enumerate(pattern.lower().rstrip(".").split(".")):
        if i == 0 and part == "*":
            out.append(fill[0])
            continue
        part = part.replace("<region>", "ca-central-1")
        part = re.sub(r"\*", lambda _m: fill[1], part)
        part = part.replace("?", "a")
        out.append(part)
    return ".".join(out)


@SETTINGS
@given(st.data(), st.lists(label, min_size=2, max_size=2), label)
def test_catalogue_patterns_match_whole_labels_only(
    data: st.DataObject, fill: list[str], evil: str
) -> None:
    patterns = kb().host_patterns
    pattern = data.draw(st.sampled_from(patterns))
    host = _instance(pattern.pattern, fill)
    if not pattern.regex.match(host):
        return  # e.g. "?" followed by "_": the drawn text did not fit the pattern
    # Anchored at both ends and on label boundaries: a suffix or a glued prefix never matches.
    assert not pattern.regex.match(f"{host}.{evil}.example")
    assert not pattern.regex.match(f"{host}.")
    assert not pattern.regex.match(f"{host}\n")
    first, _, rest = host.partition(".")
    if rest and not re.search(r"[*?<]", pattern.pattern.split(".")[0]):
        # A literal first label: letters glued on either side make another name.
        assert not pattern.regex.match(f"{evil}{first}.{rest}")
        assert not pattern.regex.match(f"{first}{evil}.{rest}")


@SETTINGS
@given(st.text(max_size=60), st.text(max_size=60))
def test_compiled_patterns_are_anchored(pattern: str, host: str) -> None:
    regex = compile_host_pattern(pattern)
    found = regex.match(host)
    if found:
        assert found.end() == len(host)


hostnames = st.one_of(
    st.text(max_size=80),
    st.lists(label, min_size=1, max_size=6).map(".".join),
    st.builds(
        lambda p, evil: f"{p}.{evil}.example",
        st.sampled_from(["mail.protection.outlook.com", "d1.cloudfront.net", "aspmx.l.google.com"]),
        label,
    ),
)


@SETTINGS
@given(hostnames, st.lists(st.text(max_size=45), max_size=3))
def test_resolve_any_dns_asset(host: str, addresses: list[str]) -> None:
    asset = Asset(
        f"dns:universite.example:mx:{host}",
        "dns.mx",
        host,
        {"hostname": host, "addresses": tuple(addresses), "cname_chain": (host,)},
    )
    item = resolve(asset, kb())
    for evidence in (*item.location.evidence, *item.control.evidence):
        assert len(evidence.detail) <= 2000
    if host.endswith(".example"):
        # A name under an attacker's domain is never fingerprinted as the vendor it imitates.
        assert item.control.method is not Method.CATALOGUE or item.control.operator is None


@pytest.mark.parametrize(
    "host",
    [
        "mail.protection.outlook.com.evil.example",
        "evil-outlook.com",
        "protection.outlook.com-evil.example",
        "d111111abcdef8.cloudfront.net.evil.example",
        "aspmx.l.google.com\x00.evil.example",
    ],
)
def test_imitating_names_are_not_fingerprinted(host: str) -> None:
    asset = Asset(f"dns:universite.example:mx:{host}", "dns.mx", host, {"hostname": host})
    item = resolve(asset, kb())
    assert item.control.operator is None, item.control
    assert item.location.provider is None


addresses = st.one_of(
    st.ip_addresses().map(str),
    st.ip_addresses(v=6).map(lambda a: f"{a}%eth0"),
    st.ip_addresses(v=4).map(lambda a: f"::ffff:{a}"),
    st.text(st.sampled_from("0123456789abcdef:.%/ x\x00"), max_size=45),
    st.text(max_size=45),
)


@SETTINGS
@given(st.lists(addresses, max_size=20))
def test_ip_index_any_text(values: list[str]) -> None:
    index = kb().index
    many = index.lookup_many(values)
    assert [m.address for m in many] == values
    for value, match in zip(values, many, strict=True):
        assert match == index.lookup(value)
        try:
            ipaddress.ip_address(value.strip().split("%", 1)[0])
            parses = True
        except ValueError:
            parses = False
        if match.valid:
            assert parses, value  # never a "valid" address that is not one
        if not match.valid:
            assert match.cloud is None and match.asn is None


def test_a_nul_byte_in_an_ipv6_like_text_is_invalid_not_a_crash() -> None:
    # `sovscan lookup` and replayed bundles hand user text to the index.
    match = kb().index.lookup("::1\x00")
    assert not match.valid


@SETTINGS
@given(st.ip_addresses(v=4))
def test_ipv4_mapped_ipv6_is_the_ipv4_answer(address: ipaddress.IPv4Address) -> None:
    index = kb().index
    plain, mapped = index.lookup_many([str(address), f"::ffff:{address}"])
    assert (plain.cloud, plain.asn) == (mapped.cloud, mapped.asn)
