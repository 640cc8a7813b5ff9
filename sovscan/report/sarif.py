"""The SARIF 2.1.0 report, for code-scanning platforms: one result per risk or unknown finding."""

from __future__ import annotations

from typing import Any

from sovscan.model import Finding, Scan, Severity, Status
from sovscan.report.json import dumps_indented

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://github.com/sovscan/sovscan"
_FALLBACK_URI = "sovscan.toml"  # a cloud asset has no file; code scanning needs a relative URI

# SARIF levels and GitHub's security-severity scores, as Prowler maps them.
_LEVEL = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "note",
}
_SECURITY_SEVERITY = {
    Severity.CRITICAL: "9.0",
    Severity.HIGH: "7.0",
    Severity.MEDIUM: "4.0",
    Severity.LOW: "2.0",
    Severity.INFO: "0.0",
}


def render(scan: Scan) -> str:
    """The scan as a SARIF 2.1.0 log. `ok` findings are left out; `unknown` ones are notes."""
    shown = [f for f in scan.findings if f.status is not Status.OK]
    rule_ids = sorted({f.rule_id for f in shown})
    index = {rule_id: i for i, rule_id in enumerate(rule_ids)}
    log = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "sovscan",
                        "version": scan.tool_version,
                        "semanticVersion": scan.tool_version,
                        "informationUri": INFORMATION_URI,
                        "rules": [_rule(scan, rule_id, shown) for rule_id in rule_ids],
                    }
                },
                "automationDetails": {"id": f"sovscan/{scan.policy.institution}/"},
                "invocations": [
                    {
                        "executionSuccessful": scan.complete,
                        "startTimeUtc": scan.started_at.isoformat(),
                        "endTimeUtc": scan.finished_at.isoformat(),
                        "toolExecutionNotifications": [
                            {
                                "level": "warning",
                                "message": {"text": f"not seen: {gap.scope}: {gap.reason}"},
                            }
                            for gap in scan.gaps
                        ],
                    }
                ],
                "results": [_result(scan, f, index[f.rule_id]) for f in shown],
                "properties": {
                    "scanId": scan.id,
                    "rulesDigest": scan.rules_digest,
                    "dataDigest": scan.data_digest,
                    "score": scan.score.value,
                    "scoreUpperBound": scan.score.upper_bound,
                    "knownShare": scan.score.known_share,
                    **({"notices": list(scan.notices)} if scan.notices else {}),
                    **_replay_of(scan),
                },
            }
        ],
    }
    return dumps_indented(log) + "\n"


def _replay_of(scan: Scan) -> dict[str, Any]:
    # The invocation's times are the replay's; the scan that observed is named beside them.
    if scan.replay_of is None:
        return {}
    return {
        "replayOf": {
            "scanId": scan.replay_of.scan_id,
            "startTimeUtc": scan.replay_of.started_at.isoformat(),
            "endTimeUtc": scan.replay_of.finished_at.isoformat(),
        }
    }


def _rule(scan: Scan, rule_id: str, findings: list[Finding]) -> dict[str, Any]:
    info = scan.rules.get(rule_id)
    severity = (
        info.severity
        if info
        else max((f.severity for f in findings if f.rule_id == rule_id), key=lambda s: s.rank)
    )
    title = info.title if info else rule_id
    rule: dict[str, Any] = {
        "id": rule_id,
        "name": "".join(part.capitalize() for part in rule_id.split("-")),
        "shortDescription": {"text": title},
        "fullDescription": {"text": info.rationale if info else title},
        "defaultConfiguration": {"level": _LEVEL[severity]},
        "properties": {
            "security-severity": _SECURITY_SEVERITY[severity],
            "tags": ["security", "sovereignty"],
        },
    }
    if info:
        rule["help"] = {"text": info.remediation}
    return rule


def _result(scan: Scan, finding: Finding, rule_index: int) -> dict[str, Any]:
    info = scan.rules.get(finding.rule_id)
    uri = finding.rule_source or (info.source if info else "") or _FALLBACK_URI
    text = finding.message
    if finding.status is Status.UNKNOWN:
        text = f"Could not be decided ({', '.join(finding.missing)}). {text}"
    result: dict[str, Any] = {
        "ruleId": finding.rule_id,
        "ruleIndex": rule_index,
        # SARIF 2.1.0 §3.27.9: a result whose kind is not "fail" has level "none".
        "level": _LEVEL[finding.severity] if finding.status is Status.RISK else "none",
        "kind": "fail" if finding.status is Status.RISK else "review",
        "message": {"text": text},
        "locations": [
            {
                "physicalLocation": {"artifactLocation": {"uri": uri}},
                "logicalLocations": [{"fullyQualifiedName": finding.asset_id, "kind": "resource"}],
            }
        ],
        "partialFingerprints": {"sovscanFindingKey/v1": finding.key},
        "properties": {
            "status": finding.status.value,
            "severity": finding.severity.value,
            "assetId": finding.asset_id,
            "references": [f"{r.framework}:{r.control}" for r in finding.references],
        },
    }
    if finding.waiver is not None:
        result["suppressions"] = [
            {
                "kind": "external",
                "status": "accepted",
                "justification": f"{finding.waiver.reason} ({finding.waiver.owner}, "
                f"until {finding.waiver.expires})",
            }
        ]
    return result
