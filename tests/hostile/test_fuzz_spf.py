"""The SPF parser and expander on arbitrary records and hostile include graphs."""

from __future__ import annotations

import time
from collections.abc import Sequence

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from sovscan.probes.spf import (
    MAX_LOOKUPS,
    MAX_TERMS,
    MAX_VOID_LOOKUPS,
    SpfLookupError,
    expand_spf,
    parse_spf,
    select_spf,
)

SETTINGS = settings(
    max_examples=200,
    deadline=1000,
    database=None,
    phases=(Phase.explicit, Phase.generate),
    suppress_health_check=[HealthCheck.too_slow],
)

MECHANISMS = ["include:", "redirect=", "a", "mx", "ptr", "exists:", "ip4:", "ip6:", "all", "exp="]
QUALIFIERS = ["", "+", "-", "~", "?"]
NAMES = [f"d{i}.example" for i in range(12)]
word = st.one_of(
    st.builds(
        lambda q, m, n: f"{q}{m}{n if m.endswith((':', '=')) else ''}",
        st.sampled_from(QUALIFIERS),
        st.sampled_from(MECHANISMS),
        st.one_of(st.sampled_from(NAMES), st.text(max_size=12)),
    ),
    st.text(min_size=1, max_size=12).filter(lambda w: not w.isspace()),
)
records = st.lists(word, max_size=30).map(lambda ws: "v=spf1 " + " ".join(ws))
# What the DNS answers for each name: records, no record (None), or a failure.
answers = st.one_of(
    st.lists(records, min_size=1, max_size=2),
    st.none(),
    st.just("fail"),
    st.lists(st.text(max_size=30), max_size=2),
)


@SETTINGS
@given(st.text(max_size=6000))
def test_parse_any_text(text: str) -> None:
    terms = parse_spf(text)
    assert len(terms) <= MAX_TERMS
    for term in terms:
        assert term.qualifier in {"", "+", "-", "~", "?"}
        assert term.name == term.name.lower()


@SETTINGS
@given(st.lists(st.text(max_size=40), max_size=5))
def test_select_any_texts(texts: list[str]) -> None:
    record, problem = select_spf(texts)
    assert (record is None) or (problem is None)


@SETTINGS
@given(records, st.dictionaries(st.sampled_from(NAMES), answers, max_size=12))
def test_expansion_is_bounded_on_any_include_graph(
    record: str, dns: dict[str, list[str] | str | None]
) -> None:
    asked: list[str] = []

    def fetch(domain: str) -> Sequence[str] | None:
        asked.append(domain)
        answer = dns.get(domain)
        if answer == "fail":
            raise SpfLookupError("SERVFAIL")
        return answer if isinstance(answer, list) else None

    started = time.monotonic()
    result = expand_spf("top.example", record, fetch)
    assert time.monotonic() - started < 0.5
    # A receiver stops at ten DNS-querying terms; so does the expander: never more queries.
    assert len(asked) <= MAX_LOOKUPS
    assert result.lookups <= MAX_LOOKUPS + 1
    assert result.void_lookups <= MAX_VOID_LOOKUPS + 1
    if result.lookups > MAX_LOOKUPS or result.void_lookups > MAX_VOID_LOOKUPS:
        assert result.error is not None
    assert set(result.includes) <= set(asked) | {d.lower() for d in asked}
    assert len(result.records) <= len(asked) + 1
    assert result.error is None or "\n" not in result.error


def test_a_mutual_include_bomb_stops_at_the_lookup_limit() -> None:
    # Every name includes every other: an exponential tree a naive walker would never finish.
    bomb = "v=spf1 " + " ".join(f"include:d{i}.example" for i in range(10)) + " -all"
    asked: list[str] = []

    def fetch(domain: str) -> Sequence[str] | None:
        asked.append(domain)
        return [bomb]

    result = expand_spf("d0.example", bomb, fetch)
    assert len(asked) <= MAX_LOOKUPS
    assert result.error is not None and "loop" in result.error.lower()


def test_a_redirect_loop_is_named() -> None:
    def fetch(domain: str) -> Sequence[str] | None:
        other = "b.example" if domain == "a.example" else "a.example"
        return [f"v=spf1 redirect={other}"]

    result = expand_spf("a.example", "v=spf1 redirect=b.example", fetch)
    assert result.error == "SPF include loop: a.example -> b.example -> a.example"


def test_an_include_chain_longer_than_ten_stops_with_permerror() -> None:
    def fetch(domain: str) -> Sequence[str] | None:
        n = int(domain.split(".")[0][1:])
        return [f"v=spf1 include:n{n + 1}.example -all"]

    result = expand_spf("n0.example", "v=spf1 include:n1.example -all", fetch)
    assert result.lookups == MAX_LOOKUPS + 1
    assert result.error is not None and "more than 10 DNS look-ups" in result.error
