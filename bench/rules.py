"""Rules workload: N synthetic resolved assets by the shipped rules, engine versus a naive one."""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from typing import Any

import numpy as np

from bench.harness import Report, check, fail, measure, ratio
from sovscan.engine import default_rules_dir, evaluate, load_rules
from sovscan.engine.columns import OUT_OF_SCOPE, verdicts
from sovscan.engine.evaluate import compile_rule
from sovscan.engine.facts import facts_of, location_detail, location_where
from sovscan.engine.rule import All, AnyOf, ConfigRef, Leaf, Node, Not
from sovscan.model import (
    UNKNOWN_CONTROL,
    UNKNOWN_LOCATION,
    Asset,
    AttrValue,
    Confidence,
    Control,
    Evidence,
    Location,
    Method,
    Policy,
    ResolvedAsset,
    Status,
    rests_there,
    run_by,
)
from sovscan.places import within

SIZES = {"quick": 10_000, "default": 100_000, "full": 1_000_000}
POLICY = Policy("Bench University", "CA-QC", ("CA-QC", "CA"), ("CA-QC", "CA"), "internal")
KINDS = (
    "aws.s3.bucket",
    "aws.ec2.instance",
    "aws.rds.instance",
    "aws.ebs.volume",
    "aws.dynamodb.table",
    "aws.sqs.queue",
    "aws.kms.key",
    "aws.account",
    "dns.mx",
    "dns.ns",
    "dns.txt",
    "dns.host",
    "dns.dmarc",
    "saas.endpoint",
)
_WHEN = datetime(2026, 11, 24, tzinfo=UTC)


def _locations() -> list[Location]:
    ev = (Evidence("bench", "synthetic", _WHEN, Confidence.HIGH),)
    rows = [
        ("aws", "ca-central-1", "CA", "CA-QC", False),
        ("aws", "ca-central-1", "CA", None, False),
        ("aws", "us-east-1", "US", "US-VA", False),
        ("aws", "eu-west-3", "FR", None, False),
        ("microsoft", "canadacentral", "CA", "CA-ON", False),
        ("cloudflare", "GLOBAL", None, None, True),
        ("aws-eusc", "eusc-de-east-1", "DE", None, False),
        ("ovh", "bhs", "CA", "CA-QC", False),
    ]
    out = [
        Location(p, r, c, s, e, Method.PUBLISHED_RANGES, Confidence.HIGH, ev)
        for p, r, c, s, e in rows
    ]
    return [*out, UNKNOWN_LOCATION]


def _controls() -> list[Control]:
    ev = (Evidence("catalogue", "synthetic", _WHEN, Confidence.MEDIUM),)
    rows: list[tuple[str | None, str | None, tuple[str, ...] | None, tuple[str, ...] | None]] = [
        ("Amazon Web Services, Inc.", "Amazon.com, Inc.", ("US",), ("us-cloud-act",)),
        ("Microsoft Corporation", "Microsoft Corporation", ("US",), ("us-cloud-act",)),
        ("OVH Hébergement inc.", "OVH Groupe SA", ("CA-QC", "FR"), ()),
        ("Université Exemple", None, ("CA-QC",), ()),
        ("Vendor Inc.", None, None, None),
    ]
    out = [Control(o, p, j, law, Method.CATALOGUE, Confidence.MEDIUM, ev) for o, p, j, law in rows]
    # An operator at home only by inference: control.confirmed is unknown, so its rules are too.
    guessed = Control("Hébergeur inc.", None, ("CA-QC",), (), Method.ASN_TABLE, Confidence.LOW, ev)
    return [*out, guessed, UNKNOWN_CONTROL]


def make_assets(n: int, seed: int = 42) -> list[ResolvedAsset]:
    """`n` seeded synthetic resolved assets over every kind the shipped rules apply to."""
    rng = random.Random(seed)
    locations, controls = _locations(), _controls()
    ev = (Evidence("bench", "observed", _WHEN, Confidence.HIGH),)
    classes = ("personal", "internal", "public", "confidential", None)
    out = []
    for i in range(n):
        kind = KINDS[rng.randrange(len(KINDS))]
        attributes: dict[str, AttrValue] = {"region": "ca-central-1", "domain": "bench.test"}
        cls = classes[rng.randrange(len(classes))]
        if cls is not None:
            attributes["classification"] = cls
        if kind.startswith("aws."):
            attributes["key_manager"] = rng.choice(
                ("aws-owned", "aws-managed", "customer", "unknown")
            )
            attributes["encryption"] = rng.choice(("none", "sse-s3", "sse-kms"))
            attributes["replica_places"] = rng.choice(((), ("CA-QC",), ("US",), ("CA", "FR")))
            attributes["region_guardrail"] = rng.random() < 0.5
        asset = Asset(f"bench:{kind}:{i}", kind, f"asset-{i}", attributes, ev)
        loc = locations[rng.randrange(len(locations))]
        ctl = controls[rng.randrange(len(controls))]
        out.append(ResolvedAsset(asset, loc, ctl))
    return out


# --- the naive interpreter: parse the field path and dispatch the operator on every evaluation ---


def _naive_field(path: str, resolved: ResolvedAsset, policy: Policy) -> Any:
    parts = path.split(".")
    root = parts[0]
    if root == "asset":
        asset = resolved.asset
        if parts[1] == "attr":
            value = asset.attributes.get(".".join(parts[2:]))
            return None if value == "unknown" else value
        if parts[1] in ("classification", "sensitive"):
            raw = asset.attributes.get("classification")
            cls = raw if isinstance(raw, str) else policy.default_classification
            if parts[1] == "classification":
                return cls
            # Sensitive unless declared public (an unknown label never relaxes a check).
            sensitive, public = policy.sensitive_classifications, policy.public_classifications
            return cls in sensitive or cls not in public
        return getattr(asset, parts[1])
    if root == "location":
        loc = resolved.location
        if parts[1] == "edge":
            return None if loc.method is Method.UNKNOWN else loc.edge
        if parts[1] == "at_rest":  # derived facts: the same words as the engine's
            return rests_there(loc.method)
        if parts[1] == "detail":
            return location_detail(loc)
        if parts[1] == "where":
            return location_where(loc)
        return getattr(loc, parts[1])
    if parts[1] == "run_by":
        return run_by(resolved.control.operator, resolved.control.parent)
    if parts[1] == "confirmed":  # unknown, never false, for an operator only inferred
        return None if resolved.control.confidence is Confidence.LOW else True
    return getattr(resolved.control, parts[1])


def _naive_tuple(value: Any) -> tuple[Any, ...]:
    if isinstance(value, tuple):
        return value
    return () if value is None else (value,)


def _naive_leaf(leaf: Leaf, resolved: ResolvedAsset, policy: Policy) -> bool | None:
    actual = _naive_field(leaf.field, resolved, policy)
    if leaf.op == "exists":
        return actual is not None
    if actual is None:
        return None
    expected: Any = leaf.value
    if isinstance(expected, ConfigRef):
        expected = policy.config_values()[expected.name]
    op = leaf.op
    if op == "equals":
        return bool(actual == expected)
    if op == "in":
        return None if isinstance(actual, tuple) else actual in _naive_tuple(expected)
    if op == "intersects":
        return bool(set(_naive_tuple(expected)) & set(_naive_tuple(actual)))
    if op == "subset_of":
        return set(_naive_tuple(actual)) <= set(_naive_tuple(expected))
    if op == "matches":
        return bool(expected.fullmatch(actual)) if isinstance(actual, str) else None
    if op == "within":
        areas = [str(a) for a in _naive_tuple(expected)]
        result: bool | None = True
        for place in _naive_tuple(actual):
            verdict = within(str(place), areas)
            if verdict is False:
                return False
            if verdict is None:
                result = None
        return result
    raise ValueError(f"unknown operator {op}")


def naive_eval(node: Node, resolved: ResolvedAsset, policy: Policy) -> bool | None:
    """Kleene evaluation of `node`, walking the tree for every asset."""
    if isinstance(node, Leaf):
        return _naive_leaf(node, resolved, policy)
    if isinstance(node, Not):
        inner = naive_eval(node.item, resolved, policy)
        return None if inner is None else not inner
    values = [naive_eval(item, resolved, policy) for item in node.items]
    if isinstance(node, All):
        return False if False in values else (None if None in values else True)
    assert isinstance(node, AnyOf)  # noqa: S101 - the node types are closed
    return True if True in values else (None if None in values else False)


_CODE = {Status.RISK: b"r", Status.OK: b"o", Status.UNKNOWN: b"u"}
_VERDICT_BYTES = np.frombuffer(b"our", dtype=np.uint8)  # indexed by FALSE, UNKNOWN, TRUE
_VERDICT = {True: ord("r"), False: ord("o"), None: ord("u")}


def run(contender: str, spec: Mapping[str, Any]) -> dict[str, float]:
    """One timed evaluation of every rule on every asset; returns figures and the status digest."""
    n = int(spec["n"])
    ruleset = load_rules(default_rules_dir())
    assets = make_assets(n)
    digest = hashlib.sha256()
    if contender == "sovscan":
        started = time.perf_counter()
        findings = evaluate(ruleset, assets, POLICY)
        seconds = time.perf_counter() - started
        codes = b"".join(_CODE[f.status] for f in findings)
        evaluations = len(findings)
        risks = codes.count(b"r")
    elif contender == "sovscan-predicates":
        # The compiled closures alone, without Finding objects and messages: the figure comparable
        # with issue 8's research note ("0.34 us per rule evaluation" for compiled data rules).
        config = POLICY.config_values()
        compiled = [compile_rule(rule, config) for rule in ruleset.rules]
        by_kind: dict[str, list[Any]] = {}
        out = bytearray()
        started = time.perf_counter()
        for resolved in assets:
            kind = resolved.asset.kind
            preds = by_kind.get(kind)
            if preds is None:
                preds = by_kind[kind] = [c.predicate for c in compiled if c.rule.applies(kind)]
            if preds:
                facts = facts_of(resolved, POLICY)
                out += bytes(_VERDICT[p(facts)] for p in preds)
        seconds = time.perf_counter() - started
        codes = bytes(out)
        evaluations = len(codes)
        risks = codes.count(b"r")
    elif contender == "sovscan-verdicts":
        # The engine's rule evaluation: every rule decided for the whole batch by columns
        # (`sovscan.engine.columns.verdicts`), as `evaluate` does before writing the findings.
        started = time.perf_counter()
        rows = verdicts(ruleset.rules, assets, POLICY, POLICY.config_values())
        # Asset order, then rule order within an asset: the order of the other contenders.
        matrix = np.frombuffer(b"".join(rows), dtype=np.int8).reshape(len(rows), n).T.ravel()
        seconds = time.perf_counter() - started
        codes = _VERDICT_BYTES[matrix[matrix != OUT_OF_SCOPE]].tobytes()
        evaluations = len(codes)
        risks = codes.count(b"r")
    else:
        applies: dict[str, list[Any]] = {}
        out = bytearray()
        started = time.perf_counter()
        for resolved in assets:
            kind = resolved.asset.kind
            rules = applies.get(kind)
            if rules is None:
                rules = applies[kind] = [
                    r for r in ruleset.rules if any(fnmatchcase(kind, p) for p in r.applies_to)
                ]
            for rule in rules:
                verdict = naive_eval(rule.match, resolved, POLICY)
                out += b"r" if verdict is True else (b"o" if verdict is False else b"u")
        seconds = time.perf_counter() - started
        codes = bytes(out)
        evaluations = len(codes)
        risks = codes.count(b"r")
    digest.update(codes)
    return {
        "seconds": seconds,
        "evaluations": evaluations,
        "us_per_evaluation": seconds / max(evaluations, 1) * 1e6,
        "findings_per_s": evaluations / seconds,
        "risk_findings": risks,
        "rules": len(ruleset.rules),
        "digest": int(digest.hexdigest()[:12], 16),
    }


def plan(report: Report, size: str, workdir: Any) -> None:
    """Measure the engine and the naive interpreter on the same assets; gate on equal statuses."""
    n = SIZES[size]
    print(f"[rules] {n} assets x shipped rules", flush=True)
    ours = measure(report, "rules", "sovscan", n, {"n": n})
    preds = measure(report, "rules", "sovscan-predicates", n, {"n": n})
    columns = measure(report, "rules", "sovscan-verdicts", n, {"n": n})
    naive = measure(report, "rules", "naive-interpreter", n, {"n": n})
    if ours.runs and naive.runs:
        expected = naive.runs[0]["digest"]
        for m in (ours, preds, columns, naive):
            if any(run["digest"] != expected for run in m.runs):
                fail(report, m, "statuses differ from the naive interpreter's")
    ratio(report, f"rules {n}: engine vs naive interpreter", ours, naive, "seconds",
          higher_is_better=False)  # fmt: skip
    ratio(report, f"rules {n}: compiled predicates vs naive interpreter", preds, naive, "seconds",
          higher_is_better=False)  # fmt: skip
    ratio(report, f"rules {n}: columnar verdicts vs naive interpreter", columns, naive, "seconds",
          higher_is_better=False)  # fmt: skip
    for m, what in (
        (ours, "evaluate() incl. Finding objects"),
        (preds, "per-asset predicates"),
        (columns, "columnar verdicts (the engine's rule evaluation)"),
    ):
        if m.runs and m.correct:
            check(report, f"rules {n}: us per rule evaluation, {what}",
                  m.median("us_per_evaluation"), 0.5, at_most=True)  # fmt: skip
