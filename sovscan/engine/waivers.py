"""Waivers (accepted risks): exact keys only, with a reason, an owner and an expiry date."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import UTC, date, datetime
from types import MappingProxyType
from typing import Any, NoReturn

from sovscan.errors import ConfigError
from sovscan.model import Finding, Status
from sovscan.shown import shown

WAIVER_KEYS = ("finding", "asset", "reason", "owner", "expires")
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
_KEY_RE = re.compile(r"^[0-9a-f]{32}$")
MAX_TEXT = 500
# An accepted risk is reviewed at least once a year; an expiry further off is said in the report.
REVIEW_DAYS = 366


@dataclass(frozen=True, slots=True)
class Waiver:
    """An accepted risk: one finding (by key) or every finding of one asset (by exact id)."""

    reason: str
    owner: str
    expires: date  # the last day the waiver applies
    finding: str | None = None  # Finding.key
    asset: str | None = None  # exact Asset.id; never a pattern (the mutelist trap)

    def covers(self, finding: Finding) -> bool:
        """Whether this waiver names `finding` (by key, or by its asset's exact id)."""
        if self.finding is not None:
            return finding.key == self.finding
        return finding.asset_id == self.asset

    def active(self, today: date) -> bool:
        """A waiver applies up to and including its expiry day."""
        return today <= self.expires

    @property
    def target(self) -> tuple[str, str]:
        """What it names: ("finding", key) or ("asset", id). A renewal names the same."""
        if self.finding is not None:
            return ("finding", self.finding)
        return ("asset", self.asset or "")


@dataclass(frozen=True, slots=True)
class Waived:
    """Findings with the waivers that apply to them; waived findings stay in `findings`."""

    findings: tuple[Finding, ...]
    waived: Mapping[str, Waiver]  # Finding.key -> the waiver that accepts it
    expired: tuple[Waiver, ...]  # past their date, not renewed: no longer apply, and say so
    unused: tuple[Waiver, ...]  # active but waiving no finding
    # Expired finding waivers whose finding's asset a waiver in force now covers: renewed for
    # the whole asset, so kept out of `expired`.
    renewed_by_asset: tuple[Waiver, ...] = ()
    # Of `unused`, those that do name a finding: only OK ones (nothing to accept), or, for an
    # asset waiver, only RISK or UNKNOWN ones that their own finding waiver took.
    not_risks: tuple[Waiver, ...] = ()
    shadowed: tuple[Waiver, ...] = ()

    def is_waived(self, finding: Finding) -> bool:
        """Whether `finding` is accepted by an active waiver."""
        return finding.key in self.waived

    @property
    def unwaived(self) -> tuple[Finding, ...]:
        """The findings no waiver accepts: what exit codes and scores should count."""
        return tuple(f for f in self.findings if f.key not in self.waived)


def apply_waivers(findings: Sequence[Finding], waivers: Sequence[Waiver], today: date) -> Waived:
    """Mark RISK and UNKNOWN findings covered by an active waiver; OK findings need none.

    A finding-key waiver wins over an asset waiver for the same finding, being more precise.
    """
    active = [w for w in waivers if w.active(today)]
    by_key = {w.finding: w for w in active if w.finding is not None}
    by_asset = {w.asset: w for w in active if w.asset is not None}
    expired_by_key: dict[str, list[Waiver]] = {}
    for old in waivers:
        if old.finding is not None and not old.active(today):
            expired_by_key.setdefault(old.finding, []).append(old)
    renewed: dict[int, Waiver] = {}
    waived: dict[str, Waiver] = {}
    used: set[int] = set()
    named_ok: set[int] = set()  # waivers naming an OK finding
    overruled: set[int] = set()  # asset waivers naming a finding its finding waiver took
    for finding in findings:
        by_finding, for_asset = by_key.get(finding.key), by_asset.get(finding.asset_id)
        if for_asset is not None:
            renewed.update((id(old), old) for old in expired_by_key.get(finding.key, ()))
        if finding.status is Status.OK:
            named_ok.update(id(w) for w in (by_finding, for_asset) if w is not None)
            continue
        if by_finding is not None and for_asset is not None:
            overruled.add(id(for_asset))
        waiver = by_finding or for_asset
        if waiver is not None:
            waived[finding.key] = waiver
            used.add(id(waiver))
    unused = tuple(w for w in active if id(w) not in used)
    return Waived(
        findings=tuple(findings),
        waived=MappingProxyType(waived),
        expired=lapsed(waivers, today, set(renewed)),
        renewed_by_asset=tuple(renewed.values()),
        unused=unused,
        not_risks=tuple(w for w in unused if id(w) in named_ok and id(w) not in overruled),
        shadowed=tuple(w for w in unused if id(w) in overruled),
    )


def lapsed(
    waivers: Sequence[Waiver], today: date, renewed_by_asset: AbstractSet[int] = frozenset()
) -> tuple[Waiver, ...]:
    """The waivers past their date that no waiver in force renews: one for the same target, or
    (`renewed_by_asset`, ids of finding waivers) an asset waiver that now accepts the finding.
    An institution keeps the expired one beside its renewal as a record; telling at every scan
    that it expired would cry wolf, and hide the notice of a waiver that truly lapsed."""
    renewed = {w.target for w in waivers if w.active(today)}
    return tuple(
        w
        for w in waivers
        if not w.active(today) and w.target not in renewed and id(w) not in renewed_by_asset
    )


def beyond_review(waivers: Sequence[Waiver], today: date) -> tuple[Waiver, ...]:
    """The waivers in force that run more than `REVIEW_DAYS` past `today`: an acceptance dated
    2099 is never looked at again, which an auditor must be told."""
    return tuple(w for w in waivers if w.active(today) and (w.expires - today).days > REVIEW_DAYS)


def parse_waivers(items: Any, label: str) -> tuple[Waiver, ...]:
    """Check the inventory file's ``[[waivers]]`` tables; errors are one line (ConfigError)."""
    if not isinstance(items, list):
        _fail(label, "waivers", "expected a list of [[waivers]] tables")
    waivers = tuple(_waiver(item, label, f"waivers[{index}]") for index, item in enumerate(items))
    _check_duplicates(waivers, label)
    return waivers


def _check_duplicates(waivers: Sequence[Waiver], label: str, today: date | None = None) -> None:
    """One waiver in force per finding key and per asset id: of two, only one could apply, and
    the other would be reported as matching nothing. An expired one may stay beside its renewal
    as a record; since waivers only ever expire, a file valid today stays valid."""
    today = today or datetime.now(UTC).date()
    first: dict[tuple[str, str], int] = {}
    for index, waiver in enumerate(waivers):
        if not waiver.active(today):
            continue
        kind, target = waiver.target
        earlier = first.setdefault((kind, target), index)
        if earlier != index:
            named = target if kind == "finding" else shown(target)
            _fail(
                label,
                f"waivers[{index}].{kind}",
                f"{kind} {named} is already waived by waivers[{earlier}]; give one waiver in "
                f"force per {kind} (to renew one, change its expires)",
            )


def _waiver(item: Any, label: str, path: str) -> Waiver:
    if not isinstance(item, Mapping):
        _fail(label, path, "expected a table")
    for key in item:
        if key not in WAIVER_KEYS:
            _fail(label, f"{path}.{key}", f"unknown key; expected one of {', '.join(WAIVER_KEYS)}")
    finding, asset = item.get("finding"), item.get("asset")
    if (finding is None) == (asset is None):
        _fail(label, path, "expected exactly one of finding (a finding key) or asset (an asset id)")
    if finding is not None and (not isinstance(finding, str) or not _KEY_RE.match(finding)):
        _fail(label, f"{path}.finding", f"expected a 32-hex-digit finding key; got {finding!r}")
    if asset is not None and (not isinstance(asset, str) or not asset or "*" in asset):
        _fail(label, f"{path}.asset", f"expected an exact asset id (no wildcards); got {asset!r}")
    return Waiver(
        reason=_required_text(item, "reason", label, path),
        owner=_required_text(item, "owner", label, path),
        expires=_date(item.get("expires"), label, f"{path}.expires"),
        finding=finding,
        asset=asset,
    )


def _required_text(item: Mapping[str, Any], key: str, label: str, path: str) -> str:
    value = item.get(key)
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_TEXT:
        _fail(label, f"{path}.{key}", f"required: non-empty text of at most {MAX_TEXT} characters")
    return value.strip()


def _date(value: Any, label: str, path: str) -> date:
    # A TOML date, or text in exactly that form ("2027-06-30" quoted): Python alone would also
    # take "20270630" or "2027-W26-3". A datetime is refused: expiry is a day, and a time zone
    # would make "expired" depend on where the scan runs.
    if isinstance(value, date) and not hasattr(value, "hour"):
        return value
    if isinstance(value, str) and _DATE_RE.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass  # 2027-02-30: refused below like any other text
    _fail(label, path, f"required: a date such as 2027-06-30; got {shown(value)}")


def _fail(label: str, path: str, problem: str) -> NoReturn:
    raise ConfigError(f"{label}: {path}: {problem}")
