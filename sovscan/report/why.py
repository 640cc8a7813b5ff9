"""What a report says of why its findings matter: each rule that found a risk or an unknown, with
the framework controls it maps to, and each law the report names. One entry per rule and per law,
never per finding, so the section stays small for a scan of 100,000 assets.

Selection only: each renderer words and escapes these for its own medium."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sovscan.model import CitedControl, Reference, RuleInfo, Scan, Severity, Status


@dataclass(frozen=True, slots=True)
class RuleFound:
    """A rule with at least one risk or unknown finding in the scan, and how many it had."""

    id: str
    info: RuleInfo | None  # None: the scan recorded nothing of the rule
    severity: Severity  # the rule's, else its most severe finding's
    risks: int  # risk findings, waived ones included
    waived: int  # of the risks and unknowns, those a waiver accepts
    unknowns: int
    unmapped: str = "No framework control maps to this rule."  # said when it cites none


@dataclass(frozen=True, slots=True)
class LawNamed:
    """A law the report names (an asset's operator answers to it), as the scan's catalogue says."""

    id: str
    name: str  # "" when the scan's law catalogue does not hold the law
    jurisdiction: str
    reach: str  # one sentence: whom it compels to do what
    citation: str


def rules_found(scan: Scan) -> list[RuleFound]:
    """The rules with a risk or unknown finding, the most severe first, then by id."""
    risks: dict[str, int] = {}
    unknowns: dict[str, int] = {}
    waived: dict[str, int] = {}
    worst: dict[str, Severity] = {}
    for finding in scan.findings:
        if finding.status is Status.OK:
            continue
        rule_id = finding.rule_id
        counts = risks if finding.status is Status.RISK else unknowns
        counts[rule_id] = counts.get(rule_id, 0) + 1
        if finding.waiver is not None:
            waived[rule_id] = waived.get(rule_id, 0) + 1
        if rule_id not in worst or finding.severity.rank > worst[rule_id].rank:
            worst[rule_id] = finding.severity
    cited = scan.policy.frameworks
    # Not "no framework": a rule may cite controls of frameworks this institution is not under.
    unmapped = (
        "No framework control maps to this rule."
        if cited is None
        else f"No control of the frameworks this report cites ({', '.join(cited) or 'none'}) "
        "maps to this rule."
    )
    found = []
    for rule_id, severity in worst.items():
        info = scan.rules.get(rule_id)
        found.append(
            RuleFound(
                rule_id,
                info,
                info.severity if info is not None else severity,
                risks.get(rule_id, 0),
                waived.get(rule_id, 0),
                unknowns.get(rule_id, 0),
                unmapped,
            )
        )
    found.sort(key=lambda rule: (-rule.severity.rank, rule.id))
    return found


def counts_text(rule: RuleFound) -> str:
    """'3 risk findings (1 waived), 2 unknown' in words every format uses."""
    parts = []
    if rule.risks:
        parts.append(f"{rule.risks} risk finding" + ("" if rule.risks == 1 else "s"))
    if rule.unknowns:
        parts.append(f"{rule.unknowns} unknown")
    text = ", ".join(parts)
    return text + (f" ({rule.waived} waived)" if rule.waived else "")


def by_framework(cited: Iterable[CitedControl]) -> list[tuple[str, list[CitedControl]]]:
    """The controls grouped under their framework's title, in the order the rule cites them."""
    groups: dict[str, list[CitedControl]] = {}
    for control in cited:
        groups.setdefault(control.framework_title or control.framework, []).append(control)
    return list(groups.items())


def control_label(control: CitedControl) -> str:
    """The control as an auditor looks it up: its citation, and its id when the citation lacks
    it ('CQLR c. A-2.1, s. 70.1 (a2.1-s70.1)', 'SecNumCloud 3.2, ch. 19.2')."""
    if control.control in control.citation:
        return control.citation
    return f"{control.citation} ({control.control})"


def when(control: CitedControl) -> str:
    """ " (cited only where ...)" after a control that findings cite by their place."""
    return f" ({control.condition})" if control.condition else ""


def references_text(references: Sequence[Reference]) -> str:
    """A finding's references in one short line: 'qc-law25 p39.1-s17, a2.1-s70.1; gdpr art-48'."""
    groups: dict[str, list[str]] = {}
    for reference in references:
        groups.setdefault(reference.framework, []).append(reference.control)
    return "; ".join(f"{framework} {', '.join(ids)}" for framework, ids in groups.items())


def laws_named(scan: Scan) -> list[LawNamed]:
    """The laws the report names beside its assets (those their operators answer to), by id."""
    named = {law for item in scan.assets for law in (item.control.laws or ())}
    laws = []
    for law_id in sorted(named):
        entry = scan.laws.get(law_id, {})
        laws.append(
            LawNamed(
                law_id,
                entry.get("name", ""),
                entry.get("jurisdiction", ""),
                entry.get("reach", ""),
                entry.get("citation", ""),
            )
        )
    return laws
