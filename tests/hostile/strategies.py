"""Hypothesis strategies for hostile text and hand-built Scan values."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import strategies as st

from sovscan.model import (
    Asset,
    CitedControl,
    Confidence,
    Control,
    Evidence,
    Finding,
    Gap,
    Location,
    Method,
    Reference,
    ResolvedAsset,
    RuleInfo,
    Scan,
    Severity,
    Status,
)
from tests.factories import POLICY, T0, make_scan

# Characters an attacker controls in DNS records, AWS tags and RDAP answers.
C0 = [chr(c) for c in range(0x20)]
C1 = [chr(c) for c in range(0x7F, 0xA0)]
BIDI = [chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F)]
SURROGATES = ["\ud800", "\udbff", "\udc00", "\udfff"]
MARKUP = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '"><svg onload=alert(1)>',
    "</script><script>",
    "<!--",
    "]]>",
    "javascript:alert(1)",
    "&lt;",
    "&#x3c;",
]
FORMULAS = [
    '=HYPERLINK("http://evil.example","x")',
    "+1+1",
    "-2+3",
    "@SUM(A1)",
    "=cmd|' /C calc'!A0",
]
MARKDOWN = ["|", "`", "*", "_", "[x](javascript:alert(1))", "![i](http://evil.example/t.png)", "\\"]
TERMINAL = ["\x1b[31m", "\x1b]8;;http://evil.example\x1b\\", "\x1b[2J", "\x9b31m", "\r", "\x08"]
FULLWIDTH = ["\uff1d", "\uff0b", "\uff0d", "\uff20"]

hostile_char = st.one_of(
    st.sampled_from(C0 + C1 + BIDI + FULLWIDTH + ["\u2028", "\u2029", "\ufeff", "\u0085"]),
    st.characters(codec="utf-8"),
)
piece = st.one_of(
    st.sampled_from(MARKUP + FORMULAS + MARKDOWN + TERMINAL), st.text(hostile_char, max_size=8)
)
# Text without lone surrogates: JSON must round-trip it exactly.
hostile_text = st.one_of(
    st.lists(piece, max_size=6).map("".join),
    st.builds(lambda p, n: p * n, piece, st.integers(100, 600)),  # very long
)
# Text that may also carry lone surrogates (invalid in UTF-8): must never crash a writer.
surrogate_text = st.lists(st.one_of(piece, st.sampled_from(SURROGATES)), max_size=6).map("".join)


def is_formula_start(cell: str) -> bool:
    return cell.startswith(("=", "+", "-", "@", "\t", "\r"))


@st.composite
def hostile_scans(draw: st.DrawFn, text: st.SearchStrategy[str] = hostile_text) -> Scan:
    """A Scan whose every free-text field (names, ids, messages, gaps, evidence) is hostile."""
    name, ident, tag, message, scope, reason, detail, title = (draw(text) for _ in range(8))
    evidence = Evidence(draw(text), detail, T0, Confidence.LOW)
    asset = Asset(
        "aws:123456789012:s3:" + ident,
        "aws.s3.bucket",
        name,
        {"tag:Owner": tag, "hostname": draw(text), "addresses": (draw(text), "192.0.2.1")},
        (evidence,),
    )
    location = Location(
        draw(st.one_of(st.none(), text)),
        draw(st.one_of(st.none(), text)),
        draw(st.one_of(st.none(), text)),
        None,
        draw(st.booleans()),
        Method.CATALOGUE,
        Confidence.MEDIUM,
        (evidence,),
    )
    control = Control(
        draw(st.one_of(st.none(), text)),
        draw(st.one_of(st.none(), text)),
        (draw(text),),
        (draw(text), "us-cloud-act"),  # a hostile id, and one the law catalogue words
        Method.CATALOGUE,
        Confidence.MEDIUM,
        (evidence,),
    )
    item = ResolvedAsset(asset, location, control)
    rule_id = draw(st.sampled_from(["foreign-law-reach", "location-unknown"]))
    finding = Finding(
        rule_id,
        asset.id,
        draw(st.sampled_from(list(Status))),
        draw(st.sampled_from(list(Severity))),
        message,
        missing=(draw(text),),
        evidence=(evidence,),
        references=(Reference("qc-law25", draw(text)),),
        rule_source=draw(text),
    )
    scan = make_scan(assets=(item,), findings=(finding,), gaps=(Gap(scope, reason),))
    cited = CitedControl("qc-law25", draw(text), draw(text), draw(text), draw(text))
    rules = {
        rule_id: RuleInfo(
            rule_id, title, Severity.HIGH, draw(text), draw(text), draw(text), (cited,)
        )
    }
    return replace(
        scan,
        policy=replace(POLICY, institution=draw(text)),
        rules=rules,
        notices=(draw(text),),
        laws={
            "us-cloud-act": {
                "name": draw(text),
                "citation": draw(text),
                "jurisdiction": draw(text),
                "reach": draw(text),
            }
        },
        profile=draw(st.one_of(st.none(), text)),
    )
