"""A scan too large to hold: resolved and evaluated in batches, kept on disk, reported from there.

`run_scan` holds every asset and finding until the report is written; for thousands of domains
that is gigabytes. Here each batch of observations is resolved, evaluated and written to a
sorted run file; the runs are merged once (dropping repeated assets, as `collect` does, and
tallying the score), and the JSON and CSV reports and the history rows are read back from the
merged file. Memory holds one batch, whatever the size of the estate; the reports are the same
bytes `run_scan` and the reporters would give.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

import orjson

from sovscan import __version__
from sovscan.engine import RuleSet, Waiver, apply_waivers, beyond_review, evaluate, lapsed
from sovscan.engine.scoring import ScoreTally, classification_weight
from sovscan.evidence import asset_document as observed_document
from sovscan.history import AssetRow, FindingRow, asset_row, finding_row
from sovscan.model import (
    Asset,
    DeclaredNetwork,
    DnsResolver,
    Finding,
    Gap,
    Policy,
    ReplayOf,
    ResolvedAsset,
    Scan,
    ScanScope,
    Severity,
    Status,
)
from sovscan.probes import Clock, Probe, utc_now
from sovscan.report import csv as csv_report
from sovscan.report.json import (
    asset_document,
    compact_json,
    finding_document,
    item_json,
    scan_document,
    spliced_compact_json,
    spliced_json,
)
from sovscan.report.safe import utf8_safe
from sovscan.resolve import (
    DeclaredTable,
    KnowledgeBase,
    RdapClient,
    declared_table,
    law_summaries,
    resolve_all,
)
from sovscan.scan import (
    AccountsSeen,
    Progress,
    mark_waived,
    observe,
    rule_infos,
    scan_id,
    silent,
    waiver_notices,
)
from sovscan.workdir import disk_errors, work_folder

BATCH_ASSETS = 2_000
"""Assets resolved and evaluated at once: large enough for the bulk IP look-up to pay, small
enough that a batch is a few megabytes."""

MAX_OPEN_RUNS = 128

_STATUS = {status.value: status for status in Status}
_SEVERITY = {severity.value: severity for severity in Severity}


@dataclass(frozen=True, slots=True)
class StreamedScan:
    """A finished streamed scan: everything but its assets and findings, which stay on disk."""

    summary: Scan  # assets and findings are empty; the score counts them
    merged: Path  # one record a line, in asset id order (see `_Batches._record`)
    risks: int  # RISK findings, waived or not

    def records(self) -> Iterator[list[Any]]:
        with self.merged.open(encoding="utf-8") as lines:
            for line in lines:
                yield read_record(line)

    def json_pieces(self) -> Iterator[str]:
        """The JSON report, as `sovscan.report.json.render` writes it."""

        def assets() -> Iterator[str]:
            return (record[5] for record in self.records())

        def findings() -> Iterator[str]:
            return (f[6] for record in self.records() for f in record[7])

        pieces = spliced_json(scan_document(self.summary), {"assets": assets, "findings": findings})
        return (utf8_safe(piece) for piece in pieces)

    def observed_pieces(self) -> Iterator[str]:
        """Each observed asset as an evidence bundle keeps it (`evidence.write_bundle_pieces`'s
        `observed`); only for a scan prepared with the "observations" format."""
        return (record[11] for record in self.records())

    def stored_pieces(self) -> Iterator[str]:
        """The compact document the history store keeps, as `history.save_scan` writes it."""

        def assets() -> Iterator[str]:
            return (compact_json(json.loads(record[5])) for record in self.records())

        def findings() -> Iterator[str]:
            return (compact_json(json.loads(f[6])) for record in self.records() for f in record[7])

        pieces = spliced_compact_json(
            scan_document(self.summary), {"assets": assets, "findings": findings}
        )
        return (utf8_safe(piece) for piece in pieces)

    def csv_pieces(self) -> Iterator[str]:
        """The CSV report, as `sovscan.report.csv.render` writes it."""
        yield csv_report.header()
        yield utf8_safe(csv_report.scan_row_text(self.summary))
        for record in self.records():
            yield utf8_safe(record[6])
        yield utf8_safe(csv_report.closing_rows_text(self.summary))

    def finding_rows(self) -> Iterator[FindingRow]:
        for record in self.records():
            for key, rule_id, status, severity, message, waived, _piece in record[7]:
                columns = (0, None, None) if waived is None else (1, *map(utf8_safe, waived))
                yield key, rule_id, record[0], status, severity, message, *columns

    def asset_rows(self) -> Iterator[AssetRow]:
        for record in self.records():
            yield record[0], record[1], record[2], record[3], record[8], record[9], record[10]

    def failing(self, threshold: int, only_keys: set[str] | None = None) -> int:
        """How many unwaived RISK findings reach severity rank `threshold` (among `only_keys`
        when given): `cli.failing_findings` for a scan that is not held."""
        count = 0
        for record in self.records():
            for key, _rule, status, severity, _message, waived, _piece in record[7]:
                if status != Status.RISK.value or waived:
                    continue
                if _SEVERITY[severity].rank < threshold:
                    continue
                if only_keys is None or key in only_keys:
                    count += 1
        return count


@contextmanager
def streamed_scan(
    policy: Policy,
    probes: Sequence[Probe],
    knowledge: KnowledgeBase,
    ruleset: RuleSet,
    *,
    clock: Clock = utc_now,
    rdap: RdapClient | None = None,
    extra_gaps: Sequence[Gap] = (),
    waivers: Sequence[Waiver] = (),
    profile: str | None = None,
    progress: Progress = silent,
    formats: frozenset[str] = frozenset({"json", "csv"}),
    batch_assets: int = BATCH_ASSETS,
    open_runs: int = MAX_OPEN_RUNS,
    work_dir: Path | None = None,
    scope: ScanScope | None = None,
    networks: Sequence[DeclaredNetwork] = (),
    dns_resolver: DnsResolver | None = None,
    replay_of: ReplayOf | None = None,
) -> Iterator[StreamedScan]:
    """Probe, resolve, evaluate and score as `run_scan` does, one batch at a time.

    `formats` names the report texts to prepare ("json" also serves the history's document;
    "observations", the observed assets an evidence bundle keeps).
    `scope`: what the inventory asks to look at (`scan.configured_scope`), None when unknown.
    `networks`: the address space the inventory declares ([[networks]]).
    `dns_resolver`: the DNS servers the probes ask (`scan.resolver_record`), when any.
    `replay_of`: for a replayed bundle (its observations come as a probe's), the scan that
    observed them: waivers and declarations are judged on its day, as `scan.assess` judges them.
    The scan's files live in a work folder inside `work_dir` (the temporary folder when None),
    removed when the context ends.
    """
    started = clock()
    observed = replay_of.started_at if replay_of is not None else started
    with work_folder(work_dir) as folder:
        declared = declared_table(networks, observed)
        batches = _Batches(
            folder,
            policy,
            knowledge,
            ruleset,
            rdap,
            waivers,
            observed,
            formats,
            declared,
            csv_report.Units.of(scope),
        )
        gaps = list(extra_gaps)
        done = 0
        seen = AccountsSeen()
        for batch in _batched(observe(probes, progress, seen), gaps, batch_assets):
            batches.add(batch)
            done += len(batch)
            progress(f"resolved and evaluated {done} assets")
        finished = clock()
        merged = folder / "merged.jsonl"
        progress("merging the batches")
        with disk_errors(folder):
            tally, risks = _merge(batches.runs, merged, open_runs)
        today = observed.date()
        active = [w for w in waivers if w.active(today)]
        unused = [w for w in active if id(w) not in batches.used_waivers]
        notices = waiver_notices(
            lapsed(waivers, today, batches.renewed_waivers),
            unused,
            [w for w in unused if id(w) in batches.not_risk_waivers],
            [w for w in unused if id(w) in batches.shadowed_waivers],
            beyond_review(waivers, today),
        )
        summary = Scan(
            id=scan_id(
                policy,
                started.isoformat(),
                ruleset.digest,
                knowledge.digest,
                replay_of=None if replay_of is None else replay_of.scan_id,
            ),
            started_at=started,
            finished_at=finished,
            tool_version=__version__,
            rules_digest=ruleset.digest,
            data_digest=knowledge.digest,
            policy=policy,
            assets=(),
            gaps=tuple(gaps),
            findings=(),
            score=tally.score(len(gaps)),
            laws=law_summaries(knowledge),
            rules=rule_infos(ruleset, policy),
            profile=profile,
            notices=notices,
            scope=None if scope is None else seen.scope(scope),
            dns_resolver=dns_resolver,
            replay_of=replay_of,
        )
        yield StreamedScan(summary, merged, risks)


def _batched(items: Iterable[Asset | Gap], gaps: list[Gap], size: int) -> Iterator[list[Asset]]:
    """Assets in batches of about `size`, never splitting a domain's assets (a DMARC record is
    resolved beside its domain's mailbox); gaps go to `gaps` as they come."""
    batch: list[Asset] = []
    last_domain: object = None
    for item in items:
        if isinstance(item, Gap):
            gaps.append(item)
            continue
        domain = item.attributes.get("domain")
        if len(batch) >= size and (domain is None or domain != last_domain):
            yield batch
            batch = []
        batch.append(item)
        last_domain = domain
    if batch:
        yield batch


class _Batches:
    """Resolves and evaluates each batch, writing it as a run file sorted by asset id."""

    def __init__(
        self,
        folder: Path,
        policy: Policy,
        knowledge: KnowledgeBase,
        ruleset: RuleSet,
        rdap: RdapClient | None,
        waivers: Sequence[Waiver],
        started: datetime,
        formats: frozenset[str],
        declared: DeclaredTable | None = None,
        units: csv_report.Units | None = None,
    ) -> None:
        self.folder = folder
        self.declared = declared
        self.policy = policy
        self.knowledge = knowledge
        self.ruleset = ruleset
        self.rdap = rdap
        self.waivers = waivers
        self.today = started.date()
        self.formats = formats
        self.runs: list[Path] = []
        self.used_waivers: set[int] = set()
        self.not_risk_waivers: set[int] = set()  # see Waived.not_risks and Waived.shadowed
        self.shadowed_waivers: set[int] = set()
        self.renewed_waivers: set[int] = set()  # see Waived.renewed_by_asset
        self.units = units or csv_report.Units()  # what the CSV rows' units are read with

    def add(self, batch: Sequence[Asset]) -> None:
        unique: dict[str, Asset] = {}
        for asset in batch:
            unique.setdefault(asset.id, asset)
        assets = sorted(unique.values(), key=lambda a: a.id)
        resolved = resolve_all(assets, self.knowledge, self.rdap, self.declared)
        waived = apply_waivers(
            evaluate(self.ruleset, resolved, self.policy), self.waivers, self.today
        )
        unused = {id(w) for w in waived.unused}
        self.used_waivers.update(id(w) for w in self.waivers if id(w) not in unused)
        self.not_risk_waivers.update(id(w) for w in waived.not_risks)
        self.shadowed_waivers.update(id(w) for w in waived.shadowed)
        self.renewed_waivers.update(id(w) for w in waived.renewed_by_asset)
        by_asset: dict[str, list[Finding]] = {}
        for finding in waived.findings:
            by_asset.setdefault(finding.asset_id, []).append(
                mark_waived(finding, waived.waived.get(finding.key))
            )
        run = self.folder / f"run-{len(self.runs):06d}.jsonl"
        with disk_errors(self.folder), run.open("w", encoding="utf-8") as out:
            for item in resolved:
                findings = by_asset.get(item.asset.id, [])
                out.write(record_line(self._record(item, findings)))
        self.runs.append(run)

    def _record(self, item: ResolvedAsset, findings: Sequence[Finding]) -> list[Any]:
        """[id, kind, place, jurisdictions, weight, asset JSON, CSV lines, findings,
        classification, scope unit, operator, observed asset JSON], each finding [key, rule id,
        status, severity, message, waiver (null, or [owner, expires]), finding JSON]."""
        want_json = "json" in self.formats
        _id, kind, place, jurisdictions, classification, unit, operator = asset_row(
            item, self.policy
        )
        return [
            item.asset.id,
            kind,
            place,
            jurisdictions,
            classification_weight(item, self.policy),
            item_json(asset_document(item)) if want_json else None,
            csv_report.rows_text(findings, item, self.units) if "csv" in self.formats else None,
            [
                [
                    *finding_row(f)[:2],
                    f.status.value,
                    f.severity.value,
                    f.message,
                    None if f.waiver is None else [f.waiver.owner, f.waiver.expires],
                    item_json(finding_document(f)) if want_json else None,
                ]
                for f in findings
            ],
            classification,
            unit,
            operator,
            item_json(observed_document(item.asset)) if "observations" in self.formats else None,
        ]


def _merge(runs: Sequence[Path], merged: Path, open_runs: int) -> tuple[ScoreTally, int]:
    """Merge the sorted runs into one file, keeping the first of repeated asset ids (the one
    `collect` keeps: runs are in the order observed, and the merge is stable), and tally the
    score on the way."""
    tally = ScoreTally()
    risks = 0
    runs = _fewer_runs(list(runs), merged.parent, open_runs)
    with _open_all(runs) as streams, merged.open("w", encoding="utf-8") as out:
        previous: str | None = None
        for asset_id, record, line in heapq.merge(*map(_keyed, streams), key=_first):
            if asset_id == previous:
                continue
            previous = asset_id
            unwaived = [(_STATUS[f[2]], _SEVERITY[f[3]]) for f in record[7] if not f[5]]
            tally.add(record[4], unwaived)
            risks += sum(1 for f in record[7] if f[2] == Status.RISK.value)
            out.write(line)
    for run in runs:
        run.unlink()
    return tally, risks


def _fewer_runs(runs: list[Path], folder: Path, most: int) -> list[Path]:
    """At most `most` runs, merging neighbours (order kept, so the first of repeated ids
    still comes first): a million domains must not open thousands of files at once."""
    stage = 0
    while len(runs) > most:
        stage += 1
        merged: list[Path] = []
        for start in range(0, len(runs), most):
            group = runs[start : start + most]
            target = folder / f"stage-{stage}-{start:06d}.jsonl"
            with _open_all(group) as streams, target.open("w", encoding="utf-8") as out:
                for _id, _record, line in heapq.merge(*map(_keyed, streams), key=_first):
                    out.write(line)
            for run in group:
                run.unlink()
            merged.append(target)
        runs = merged
    return runs


def _keyed(stream: TextIO) -> Iterator[tuple[str, list[Any], str]]:
    for line in stream:
        record = read_record(line)
        yield record[0], record, line


def record_line(record: list[Any]) -> str:
    """One line of a run file. orjson writes it (five times faster than json.dumps); what it
    refuses, a lone surrogate in hostile text above all, json.dumps writes with ASCII escapes,
    so the write never stops: the reports clean it when read back (utf8_safe), as the held path
    does. Records hold strings, small integers, booleans and None, which both read the same."""
    try:
        return orjson.dumps(record).decode() + "\n"
    except (orjson.JSONEncodeError, TypeError):
        return json.dumps(record) + "\n"


def read_record(line: str) -> Any:
    """A line of a run file read back: by orjson, or by json.loads when orjson refuses it (an
    escaped lone surrogate, which json.loads reads as written). Not for any JSON: orjson reads
    an integer beyond 64 bits as a float, and records hold none (an item's JSON, which may, is a
    string in the record, read by json.loads)."""
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        return json.loads(line)


def _first(item: tuple[str, list[Any], str]) -> str:
    return item[0]


@contextmanager
def _open_all(paths: Sequence[Path]) -> Iterator[list[TextIO]]:
    with ExitStack() as stack:
        yield [stack.enter_context(path.open(encoding="utf-8")) for path in paths]
