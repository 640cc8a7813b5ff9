"""The JSON report: the versioned `sovscan.scan/1` document that scripts build on."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, NoReturn, cast

import orjson

from sovscan.model import (
    AttrValue,
    Control,
    DnsResolver,
    Evidence,
    Finding,
    Gap,
    Location,
    ReplayOf,
    ResolvedAsset,
    Scan,
    Score,
)
from sovscan.report.safe import json_text_safe
from sovscan.scope import scope_document

SCHEMA = "sovscan.scan/1"


def render(scan: Scan) -> str:
    """The scan as a JSON document (see docs/json-report.md and sovscan/schemas/scan-1.json)."""
    return "".join(pieces(scan))


def pieces(scan: Scan) -> Iterator[str]:
    """`render`'s text in pieces, one asset or finding at a time: the whole document is never
    built as one object (for 100,000 assets that held five times the report's size)."""
    summary = dataclasses.replace(scan, assets=(), findings=())
    lists: dict[str, Callable[[], Iterable[str]]] = {
        "assets": lambda: (item_json(asset_document(item)) for item in scan.assets),
        "findings": lambda: (item_json(finding_document(item)) for item in scan.findings),
    }
    return spliced_json(scan_document(summary), lists)


def indented_json(value: Any, level: int = 0) -> Iterator[str]:
    """`json.dumps(value, indent=2, ensure_ascii=False)` in pieces, byte for byte.

    With `indent`, json.dumps runs its pure-Python encoder over the whole document and joins
    one small string per token: for a scan of 60,000 assets that held ten times the report's
    size in memory. Here the top two levels are walked and each item below is encoded on its
    own, so only the finished pieces are kept.
    """
    pad = "  " * level
    if level < 2 and isinstance(value, dict) and value:
        yield "{"
        for index, (key, item) in enumerate(value.items()):
            yield f"{',' if index else ''}\n{pad}  {json.dumps(key, ensure_ascii=False)}: "
            yield from indented_json(item, level + 1)
        yield f"\n{pad}}}"
    elif level < 2 and isinstance(value, list) and value:
        yield "["
        for index, item in enumerate(value):
            yield f"{',' if index else ''}\n{pad}  "
            yield from indented_json(item, level + 1)
        yield f"\n{pad}]"
    else:
        yield dumps_indented(value).replace("\n", "\n" + pad)


def item_json(item: Any) -> str:
    """One element of a top-level list (`assets`, `findings`) as `indented_json` encodes it."""
    return dumps_indented(item).replace("\n", "\n    ")


# A backstop: `_needs_json` already sends such values to json.dumps, but should one reach orjson,
# types it would encode where json.dumps raises (or, for subclasses, encodes otherwise) go to
# `_refuse` and so to json.dumps, which then writes or refuses them as it always did.
_ORJSON_INDENTED = (
    orjson.OPT_INDENT_2
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)


def _refuse(value: object) -> NoReturn:
    raise TypeError(type(value).__name__)


def dumps_indented(value: Any) -> str:
    """`json.dumps(value, indent=2, ensure_ascii=False)`, byte for byte, mostly by orjson.

    json.dumps runs its pure-Python encoder whenever it indents: a tenth of a 1,000-domain scan
    went there. orjson writes the same text (same separators, escapes and key order) for plain
    dicts, lists, tuples, strings, integers, booleans and None, but it writes floats otherwise
    (1e-05 as 0.00001, NaN as null) and encodes enums and UUIDs where json.dumps refuses them: a
    value holding anything else goes to json.dumps, as does one orjson refuses (integers beyond
    64 bits, lone surrogates, keys that are not strings).
    """
    if _needs_json(value):
        return json.dumps(value, indent=2, ensure_ascii=False)
    try:
        return orjson.dumps(value, default=_refuse, option=_ORJSON_INDENTED).decode()
    except (orjson.JSONEncodeError, TypeError):
        return json.dumps(value, indent=2, ensure_ascii=False)


def _needs_json(value: object) -> bool:
    """Whether `value` holds anything but plain containers, strings, integers, booleans, None.

    A depth-first loop, not recursion, that walks each container once: a value that shares
    lists, or holds itself, costs one visit per distinct container (a circular value then goes
    to orjson, which refuses it, and to json.dumps, which says it is circular). A value nested
    deeper than orjson goes (`_MAX_DEPTH`) is json.dumps's to write or refuse.
    """
    if type(value) in _PLAIN:
        return False
    pending: list[tuple[object, int]] = [(value, 1)]
    pushed = {id(value)}
    while pending:
        current, depth = pending.pop()
        if depth > _MAX_DEPTH:
            return True
        kind = type(current)
        if kind is dict:
            children: Iterable[object] = cast("dict[object, object]", current).values()
        elif kind is list or kind is tuple:
            children = cast("Iterable[object]", current)
        else:
            return True
        for child in children:
            child_kind = type(child)
            if child_kind in _PLAIN:
                continue
            if child_kind not in _NESTED:
                return True
            if id(child) not in pushed:
                pushed.add(id(child))
                pending.append((child, depth + 1))
    return False


_MAX_DEPTH = 255  # orjson refuses containers nested more than 255 deep
_PLAIN = frozenset({str, int, bool, type(None)})
_NESTED = frozenset({dict, list, tuple})


def spliced_json(
    document: Mapping[str, Any], lists: Mapping[str, Callable[[], Iterable[str]]]
) -> Iterator[str]:
    """`render`'s text of `document`, where each top-level list named in `lists` comes as its
    elements already encoded by `item_json` (read back from disk by a streamed scan); the
    characters JSON leaves raw that a terminal acts on escaped (`safe.json_text_safe`)."""
    return (json_text_safe(piece) for piece in _spliced(document, lists))


def _spliced(
    document: Mapping[str, Any], lists: Mapping[str, Callable[[], Iterable[str]]]
) -> Iterator[str]:
    yield "{"
    for index, (key, value) in enumerate(document.items()):
        yield f"{',' if index else ''}\n  {json.dumps(key, ensure_ascii=False)}: "
        if key not in lists:
            yield from indented_json(value, 1)
            continue
        count = 0
        for count, piece in enumerate(lists[key](), 1):
            yield f"{'[' if count == 1 else ','}\n    {piece}"
        yield "\n  ]" if count else "[]"
    yield "\n}\n"


def compact_json(value: Any) -> str:
    """The compact text the history store keeps: `json.dumps` with sorted keys."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def spliced_compact_json(
    document: Mapping[str, Any], lists: Mapping[str, Callable[[], Iterable[str]]]
) -> Iterator[str]:
    """`compact_json(document)`, where each top-level list named in `lists` comes as its
    elements already encoded by `compact_json`."""
    yield "{"
    for index, key in enumerate(sorted(document)):
        yield f"{', ' if index else ''}{json.dumps(key, ensure_ascii=False)}: "
        if key not in lists:
            yield compact_json(document[key])
            continue
        yield "["
        for count, piece in enumerate(lists[key]()):
            yield f"{', ' if count else ''}{piece}"
        yield "]"
    yield "}"


def scan_document(scan: Scan) -> dict[str, Any]:
    """The scan as plain JSON-ready data, keys in a stable order."""
    policy = scan.policy
    return {
        "schema": SCHEMA,
        "scan_id": scan.id,
        "tool_version": scan.tool_version,
        "started_at": scan.started_at.isoformat(),
        "finished_at": scan.finished_at.isoformat(),
        # Only in a replay's report: a live scan's document is as it always was.
        **_replay_of(scan.replay_of),
        "complete": scan.complete,
        "institution": {
            "name": policy.institution,
            "home": policy.home,
            "allowed_locations": list(policy.allowed_locations),
            "home_jurisdictions": list(policy.home_jurisdictions),
            "default_classification": policy.default_classification,
            # The frameworks whose controls findings cite (null: every framework a rule names).
            "frameworks": None if policy.frameworks is None else list(policy.frameworks),
            "sector": policy.sector,
        },
        # What the run was configured to look at; absent when unknown (a replay).
        **({} if scan.scope is None else {"scope": scope_document(scan.scope)}),
        # The DNS servers the probes asked; absent when none was (or a replay's bundle does
        # not say which).
        **(
            {}
            if scan.dns_resolver is None
            else {"dns_resolver": dns_resolver_document(scan.dns_resolver)}
        ),
        "profile": scan.profile,
        "notices": list(scan.notices),
        "digests": {"rules": scan.rules_digest, "data": scan.data_digest},
        "score": _score(scan.score),
        "assets": [asset_document(item) for item in scan.assets],
        "findings": [finding_document(item) for item in scan.findings],
        "gaps": [_gap(item) for item in scan.gaps],
        "laws": {law_id: dict(entry) for law_id, entry in sorted(scan.laws.items())},
        "rules": {
            rule_id: {
                "title": info.title,
                "severity": info.severity.value,
                "source": info.source,
                "rationale": info.rationale,
                "remediation": info.remediation,
            }
            for rule_id, info in sorted(scan.rules.items())
        },
    }


def dns_resolver_document(resolver: DnsResolver) -> dict[str, Any]:
    """The DNS servers a scan asked, as the JSON report and the evidence bundle record them."""
    return {
        "servers": list(resolver.servers),
        "source": resolver.source,
        "given_by": resolver.given_by,
    }


def _replay_of(replay_of: ReplayOf | None) -> dict[str, dict[str, str]]:
    if replay_of is None:
        return {}
    return {
        "replay_of": {
            "scan_id": replay_of.scan_id,
            "started_at": replay_of.started_at.isoformat(),
            "finished_at": replay_of.finished_at.isoformat(),
        }
    }


def _score(score: Score) -> dict[str, Any]:
    return {
        "value": score.value,
        "complete": score.complete,
        "assets_total": score.assets_total,
        "assets_at_risk": score.assets_at_risk,
        "assets_unknown": score.assets_unknown,
        "by_severity": dict(score.by_severity),
        "by_status": dict(score.by_status),
        "upper_bound": score.upper_bound,
        "known_share": score.known_share,
    }


def asset_document(item: ResolvedAsset) -> dict[str, Any]:
    asset = item.asset
    return {
        "id": asset.id,
        "kind": asset.kind,
        "name": asset.name,
        "attributes": _attributes(asset.attributes),
        "location": location_document(item.location),
        "control": control_document(item.control),
        "evidence": [evidence_document(e) for e in asset.evidence],
    }


def _attributes(attributes: Mapping[str, AttrValue]) -> dict[str, Any]:
    return {
        key: list(value) if isinstance(value, tuple) else value
        for key, value in sorted(attributes.items())
    }


def location_document(location: Location) -> dict[str, Any]:
    """A Location as JSON-ready data (also used by `sovscan lookup --format json`)."""
    return {
        "provider": location.provider,
        "region": location.region,
        "country": location.country,
        "subdivision": location.subdivision,
        "edge": location.edge,
        "method": location.method.value,
        "confidence": location.confidence.value,
        "evidence": [evidence_document(e) for e in location.evidence],
        # Only when the institution declared where a SaaS vendor keeps the data.
        **({"declared": location.declared} if location.declared is not None else {}),
    }


def control_document(control: Control) -> dict[str, Any]:
    """A Control as JSON-ready data."""
    return {
        "operator": control.operator,
        "parent": control.parent,
        "jurisdictions": None if control.jurisdictions is None else list(control.jurisdictions),
        "laws": None if control.laws is None else list(control.laws),
        "method": control.method.value,
        "confidence": control.confidence.value,
        "evidence": [evidence_document(e) for e in control.evidence],
    }


def finding_document(finding: Finding) -> dict[str, Any]:
    return {
        "key": finding.key,
        "rule_id": finding.rule_id,
        "asset_id": finding.asset_id,
        "status": finding.status.value,
        "severity": finding.severity.value,
        "message": finding.message,
        "missing": list(finding.missing),
        "references": [
            {"framework": r.framework, "control": r.control} for r in finding.references
        ],
        "rule_source": finding.rule_source,
        "waiver": None
        if finding.waiver is None
        else {
            "reason": finding.waiver.reason,
            "owner": finding.waiver.owner,
            "expires": finding.waiver.expires,
        },
        "evidence": [evidence_document(e) for e in finding.evidence],
    }


def _gap(gap: Gap) -> dict[str, str]:
    return {"scope": gap.scope, "reason": gap.reason}


def evidence_document(evidence: Evidence) -> dict[str, str]:
    """An Evidence item as JSON-ready data."""
    return {
        "source": evidence.source,
        "detail": evidence.detail,
        "observed_at": evidence.observed_at.isoformat(),
        "confidence": evidence.confidence.value,
    }
