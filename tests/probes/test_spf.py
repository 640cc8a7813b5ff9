"""SPF parsing and expansion: qualifiers, redirects, loops and RFC 7208's look-up limits."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import dns.resolver
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sovscan.model import Asset, Gap
from sovscan.probes.dns import DnsProbe
from sovscan.probes.spf import (
    SpfExpansion,
    SpfLookupError,
    SpfTerm,
    TxtFetcher,
    expand_spf,
    is_spf,
    parse_spf,
    select_spf,
)


def fetcher(records: Mapping[str, Sequence[str] | None]) -> tuple[list[str], TxtFetcher]:
    """A TXT fetcher over a dict (missing key = void), recording the domains it was asked."""
    asked: list[str] = []

    def fetch(domain: str) -> Sequence[str] | None:
        asked.append(domain)
        value = records.get(domain)
        if value == ["<servfail>"]:
            raise SpfLookupError("SERVFAIL")
        return value

    return asked, fetch


def expand(
    record: str, records: Mapping[str, Sequence[str] | None]
) -> tuple[SpfExpansion, list[str]]:
    asked, fetch = fetcher(records)
    return expand_spf("top.example", record, fetch), asked


def test_parse_reads_qualifiers_modifiers_and_skips_unknown_terms() -> None:
    terms = parse_spf(
        "v=spf1 include:a.example -include:b.example ~all a/24 mx:m.example "
        "redirect=r.example bogus:x ip4:192.0.2.0/24 exp=e.example"
    )
    assert terms == (
        SpfTerm("+", "include", "a.example"),
        SpfTerm("-", "include", "b.example"),
        SpfTerm("~", "all", ""),
        SpfTerm("+", "a", ""),
        SpfTerm("+", "mx", "m.example"),
        SpfTerm("", "redirect", "r.example"),
        SpfTerm("+", "ip4", "192.0.2.0/24"),
        SpfTerm("", "exp", "e.example"),
    )


@pytest.mark.parametrize(
    ("text", "spf"),
    [("v=spf1 -all", True), ("V=SPF1", True), ("v=spf10 -all", False), ("spf1", False)],
)
def test_is_spf(text: str, spf: bool) -> None:
    assert is_spf(text) is spf


def test_select_spf_refuses_two_records() -> None:
    assert select_spf(["MS=ms1", "v=spf1 -all"]) == ("v=spf1 -all", None)
    assert select_spf(["v=spf1 -all", "v=spf1 ~all"]) == (
        None,
        "2 SPF records published (RFC 7208 section 4.5: permerror)",
    )


def test_nested_includes_are_followed_in_order_and_counted() -> None:
    result, asked = expand(
        "v=spf1 include:a.example mx a:x.example -all",
        {"a.example": ["v=spf1 include:b.example ~all"], "b.example": ["v=spf1 ip4:192.0.2.1"]},
    )
    assert result.includes == ("a.example", "b.example")
    assert result.lookups == 4  # include a, include b, mx, a: all count, as receivers count them
    assert result.error is None
    assert result.all_qualifier == "-"
    assert asked == ["a.example", "b.example"]
    assert [domain for domain, _ in result.records] == ["top.example", "a.example", "b.example"]


def test_non_pass_includes_are_counted_but_never_authorise() -> None:
    result, asked = expand(
        "v=spf1 -include:deny.example ~include:soft.example ?include:neutral.example -all", {}
    )
    assert result.includes == ()
    assert result.non_pass_includes == ("deny.example", "soft.example", "neutral.example")
    assert result.lookups == 3
    assert asked == []


def test_redirect_is_followed_only_without_an_all_mechanism() -> None:
    records = {"r.example": ["v=spf1 include:z.example -all"], "z.example": ["v=spf1 -all"]}
    followed, _ = expand("v=spf1 redirect=r.example", records)
    assert followed.includes == ("r.example", "z.example")
    assert followed.all_qualifier is None
    ignored, asked = expand("v=spf1 ~all redirect=r.example", records)
    assert ignored.includes == ()
    assert asked == []


def test_more_than_ten_lookups_stops_with_the_reason() -> None:
    record = "v=spf1 " + " ".join(f"include:i{n}.example" for n in range(12)) + " -all"
    records = {f"i{n}.example": ["v=spf1 -all"] for n in range(12)}
    result, asked = expand(record, records)
    assert result.lookups == 11
    assert len(asked) == 10
    assert result.error == (
        "SPF needs more than 10 DNS look-ups (RFC 7208 section 4.6.4: permerror); expansion stopped"
    )


def test_a_loop_is_named() -> None:
    result, _ = expand(
        "v=spf1 include:a.example -all",
        {"a.example": ["v=spf1 include:b.example"], "b.example": ["v=spf1 redirect=a.example"]},
    )
    assert result.error == "SPF include loop: top.example -> a.example -> b.example -> a.example"
    assert result.includes == ("a.example", "b.example")


def test_the_third_void_lookup_stops_the_expansion() -> None:
    record = "v=spf1 include:n1.example include:n2.example include:n3.example include:ok.example"
    result, asked = expand(record, {"ok.example": ["v=spf1 -all"]})
    assert result.void_lookups == 3
    assert asked == ["n1.example", "n2.example", "n3.example"]
    assert result.error == (
        "SPF has more than 2 void look-ups (RFC 7208 section 4.6.4: permerror); expansion stopped"
    )


def test_an_include_without_spf_is_a_problem_but_the_rest_is_still_read() -> None:
    result, _ = expand(
        "v=spf1 include:nospf.example include:ok.example -all",
        {"nospf.example": ["MS=ms1"], "ok.example": ["v=spf1 -all"]},
    )
    assert result.includes == ("nospf.example", "ok.example")
    assert result.error == "SPF include:nospf.example has no SPF record (permerror)"
    assert result.void_lookups == 0


def test_a_failed_lookup_stops_with_its_reason_and_macros_are_skipped() -> None:
    result, asked = expand(
        "v=spf1 include:%{i}._spf.example include:down.example include:never.example",
        {"down.example": ["<servfail>"]},
    )
    assert asked == ["down.example"]
    assert result.error == "SPF include:down.example could not be looked up: SERVFAIL"


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=600), st.dictionaries(st.text(max_size=30), st.lists(st.text(max_size=80))))
def test_expansion_never_raises_and_stays_within_limits(
    record: str, records: dict[str, list[str]]
) -> None:
    result, asked = expand("v=spf1 " + record, records)
    assert result.lookups <= 11
    assert len(asked) <= 10


def spf_of(resolver: dns.resolver.Resolver, domain: str) -> tuple[Asset, list[Gap]]:
    items = list(DnsProbe([domain], [], resolver).collect())
    asset = next(i for i in items if isinstance(i, Asset) and i.kind == "dns.spf")
    return asset, [i for i in items if isinstance(i, Gap)]


def test_probe_include_bomb_is_a_gap_and_keeps_what_it_read(
    resolver: dns.resolver.Resolver,
) -> None:
    asset, gaps = spf_of(resolver, "spfbomb.example")
    assert gaps == [
        Gap(
            "dns:spfbomb.example:SPF",
            "SPF needs more than 10 DNS look-ups (RFC 7208 section 4.6.4: permerror); "
            "expansion stopped",
        )
    ]
    assert asset.attributes["spf_lookups"] == 11
    includes = asset.attributes["spf_includes"]
    assert isinstance(includes, tuple)
    assert len(includes) == 10


def test_probe_spf_loop_and_void_lookups_are_gaps(resolver: dns.resolver.Resolver) -> None:
    _, loop = spf_of(resolver, "spfloop.example")
    assert loop == [
        Gap(
            "dns:spfloop.example:SPF",
            "SPF include loop: spfloop.example -> a.spfloop.example -> spfloop.example",
        )
    ]
    void, gaps = spf_of(resolver, "spfvoid.example")
    assert gaps == [
        Gap(
            "dns:spfvoid.example:SPF",
            "SPF has more than 2 void look-ups (RFC 7208 section 4.6.4: permerror); "
            "expansion stopped",
        )
    ]
    assert void.attributes["spf_all"] == "?"
