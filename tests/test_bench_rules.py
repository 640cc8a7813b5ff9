"""The rules benchmark's correctness gate, at a size `make test` can afford: the naive interpreter
it compares against must read every fact the engine offers, or `make bench` fails at its gate
(it broke twice when derived facts were added)."""

from __future__ import annotations

import pytest

from bench import rules as bench_rules
from sovscan.engine.facts import ATTR_PREFIX, FACT_TYPES, facts_of


def test_the_naive_interpreter_reads_every_fact_as_the_engine_does() -> None:
    assets = bench_rules.make_assets(200)
    for resolved in assets:
        facts = facts_of(resolved, bench_rules.POLICY)
        for field in FACT_TYPES:
            assert bench_rules._naive_field(field, resolved, bench_rules.POLICY) == facts[field], (
                field,
                resolved.asset.id,
            )
    assert not any(f.startswith(ATTR_PREFIX) for f in FACT_TYPES)


@pytest.mark.parametrize("contender", ["sovscan", "sovscan-predicates", "sovscan-verdicts"])
def test_every_contender_decides_as_the_naive_interpreter(contender: str) -> None:
    naive = bench_rules.run("naive-interpreter", {"n": 500})
    measured = bench_rules.run(contender, {"n": 500})
    assert measured["digest"] == naive["digest"]
    assert measured["evaluations"] == naive["evaluations"] > 0
    # The synthetic estate has risks, oks and unknowns, so an all-one-status bug cannot pass.
    assert 0 < measured["risk_findings"] < measured["evaluations"]
