"""The SARIF 2.1.0 report, for code-scanning platforms: one result per risk or unknown finding.

Each result points at the line of the inventory that brought its asset into the scan (the
domain's string in `dns.domains`, the `[[saas]]` table, the `[[aws]]` source's credentials), a
path relative to the working directory under `%SRCROOT%`: in a CI job run from the checkout,
that is the file the institution owns and the line it would change. The asset itself is the
result's logical location. Without an inventory (the demo, a replay) a result points at the
file of the rule that judged it, and its location's message says so: GitHub code scanning
refuses a whole upload when one result has no physical location.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sovscan.inventory_lines import Inventory, Span
from sovscan.model import Asset, Finding, Scan, ScanScope, Severity, Status
from sovscan.report.json import dumps_indented
from sovscan.report.safe import sarif_text
from sovscan.scope import scope_unit

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://github.com/sovscan/sovscan"
_FALLBACK_URI = "sovscan.toml"  # a cloud asset has no file; code scanning needs a relative URI
SRCROOT = "%SRCROOT%"
# No absolute URI for %SRCROOT%: it would be the runner's folder (or a home folder), which means
# nothing to the repository's viewers; code scanning takes relative paths from the repository
# root. The entry says what the base is, for consumers that ask.
_SRCROOT_ENTRY = {
    "description": {
        "text": "The working directory sovscan ran in: the repository root, in a CI job run from "
        "the checkout."
    }
}
_NO_INVENTORY = (
    "This report was made without an inventory file in the working directory (the demo, a "
    "replay, or an inventory outside it): the location is the file of the rule that judged "
    "the asset."
)

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


def render(scan: Scan, inventory: Inventory | None = None) -> str:
    """The scan as a SARIF 2.1.0 log. `ok` findings are left out; `unknown` ones are notes.
    Results point into `inventory`, the file the scan was told to look at, when there is one."""
    shown = [f for f in scan.findings if f.status is not Status.OK]
    rule_ids = sorted({f.rule_id for f in shown})
    index = {rule_id: i for i, rule_id in enumerate(rule_ids)}
    assets = {resolved.asset.id: resolved.asset for resolved in scan.assets}
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
                                "message": {
                                    "text": sarif_text(f"not seen: {gap.scope}: {gap.reason}")
                                },
                            }
                            for gap in scan.gaps
                        ],
                    }
                ],
                "results": [
                    _result(scan, f, index[f.rule_id], _location(scan, f, assets, inventory))
                    for f in shown
                ],
                **(
                    {
                        "originalUriBaseIds": {SRCROOT: _SRCROOT_ENTRY},
                        "columnKind": "utf16CodeUnits",
                    }
                    if inventory is not None
                    else {}
                ),
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
    source = _rule_file(scan, next(f for f in findings if f.rule_id == rule_id))
    if source:
        rule["properties"]["ruleFile"] = source
    return rule


def _rule_file(scan: Scan, finding: Finding) -> str:
    info = scan.rules.get(finding.rule_id)
    return finding.rule_source or (info.source if info else "")


def _location(
    scan: Scan, finding: Finding, assets: Mapping[str, Asset], inventory: Inventory | None
) -> dict[str, Any]:
    """Where a result is: the inventory line that brought its asset into the scan, else the
    whole inventory, else (no inventory) the rule's file; and always the asset, by name."""
    logical = [{"fullyQualifiedName": finding.asset_id, "kind": "resource"}]
    if inventory is None:
        return {
            "physicalLocation": {
                "artifactLocation": {"uri": _rule_file(scan, finding) or _FALLBACK_URI}
            },
            "message": {"text": _NO_INVENTORY},
            "logicalLocations": logical,
        }
    asset = assets.get(finding.asset_id)
    unit = scope_unit(finding.asset_id, asset.attributes if asset is not None else None)
    declared = _declared(unit, scan.scope, inventory)
    artifact = {"uri": inventory.uri, "uriBaseId": SRCROOT}
    if declared is None:
        return {
            "physicalLocation": {"artifactLocation": artifact},
            "message": {
                "text": f"The inventory declares nothing that brings {sarif_text(finding.asset_id)}"
                " into the scan on a line of its own (a domain of the --domains file, say): the "
                "location is the whole inventory."
            },
            "logicalLocations": logical,
        }
    what, span = declared
    return {
        "physicalLocation": {"artifactLocation": artifact, "region": _region(span)},
        "message": {"text": f"{what}: brings {sarif_text(finding.asset_id)} into the scan."},
        "logicalLocations": logical,
    }


def _declared(
    unit: str | None, scope: ScanScope | None, inventory: Inventory
) -> tuple[str, Span] | None:
    """What in the inventory brings an asset of `unit` (`scope.scope_unit`) into the scan, in
    words, and where it is; None when the inventory does not declare it."""
    if unit is None:
        return None
    kind, _, rest = unit.partition(":")
    if kind == "dns" and rest in inventory.domains:
        return f"dns.domains: {rest}", inventory.domains[rest]
    if kind == "m365":  # a tenant is asked for each of its domains: the first one declared
        for domain in rest.split(" "):
            if domain in inventory.domains:
                return f"dns.domains: {domain}", inventory.domains[domain]
        return None
    if kind == "saas" and rest in inventory.saas:
        return f"[[saas]] {rest}", inventory.saas[rest]
    if kind != "aws":
        return None
    account = rest.partition(":")[0]
    names = (
        [s.source for s in scope.aws if s.accounts is None or account in s.accounts]
        if scope is not None
        else list(inventory.aws)
    )
    for name in names:
        source = inventory.aws.get(name)
        if source is None:
            continue
        member = source.role_account is not None and source.role_account != account
        if member and source.members is not None:
            return f"[[aws]] {name}: member_role, account {account}", source.members
        return f"[[aws]] {name}: account {account}", source.source
    return None


def _region(span: Span) -> dict[str, int]:
    return {
        "startLine": span.start_line,
        "startColumn": span.start_column,
        "endLine": span.end_line,
        "endColumn": span.end_column,
    }


def _result(
    scan: Scan, finding: Finding, rule_index: int, location: dict[str, Any]
) -> dict[str, Any]:
    text = finding.message
    if finding.status is Status.UNKNOWN:
        text = f"Could not be decided ({', '.join(finding.missing)}). {text}"
    result: dict[str, Any] = {
        "ruleId": finding.rule_id,
        "ruleIndex": rule_index,
        # SARIF 2.1.0 §3.27.9: a result whose kind is not "fail" has level "none".
        "level": _LEVEL[finding.severity] if finding.status is Status.RISK else "none",
        "kind": "fail" if finding.status is Status.RISK else "review",
        "message": {"text": sarif_text(text)},
        "locations": [location],
        "partialFingerprints": {
            "sovscanFindingKey/v1": finding.key,
            # The one fingerprint GitHub code scanning matches alerts by. Left out, its upload
            # action hashes the located line, and the findings of one domain or one AWS
            # account, which share their inventory line, would merge into one alert per rule.
            "primaryLocationLineHash": f"{finding.key[:16]}:1",
        },
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
