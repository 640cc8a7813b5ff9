"""The `rules` commands: list the rules (or one framework's view), show one, validate a folder."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import click
from tabulate import tabulate

from sovscan.engine import RuleSet, default_rules_dir, load_profiles, load_rules
from sovscan.engine.cases import check_folder
from sovscan.engine.loader import transfer_condition
from sovscan.engine.profiles import check_profiles
from sovscan.engine.rule import Rule
from sovscan.errors import RuleError
from sovscan.report.safe import terminal_safe

_rules_dirs_option = click.option(
    "--rules",
    "rule_dirs",
    multiple=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="An extra folder of rules (the institution's own), on top of the shipped ones.",
)

logger = logging.getLogger("sovscan")


@click.group("rules")
def rules() -> None:
    """List, show and validate rules."""


@rules.command("list")
@click.option("--framework", "framework_id", help="Show one framework's controls and their rules.")
@_rules_dirs_option
def list_rules(framework_id: str | None, rule_dirs: Sequence[Path]) -> None:
    """List the rules, or the rules behind each control of one framework."""
    ruleset = load_rules(default_rules_dir(), *rule_dirs)
    if framework_id is None:
        rows = [
            (rule.id, rule.severity.value, _kinds(rule.applies_to), rule.title)
            for rule in ruleset.rules
        ]
        click.echo(_table(rows, ("id", "severity", "applies to", "title")))
        return
    click.echo(framework_view(ruleset, framework_id))


def framework_view(ruleset: RuleSet, framework_id: str) -> str:
    """One framework's controls, each with the rules that cite it (the inverted references)."""
    framework = ruleset.frameworks.get(framework_id)
    if framework is None:
        known = ", ".join(sorted(ruleset.frameworks))
        raise RuleError(f"--framework: expected one of {known}; got {framework_id!r}")
    rows = []
    for control in framework.controls.values():
        citing = [
            rule.id
            for rule in ruleset.rules
            if any(r.framework == framework.id and r.control == control.id for r in rule.references)
        ]
        rows.append((control.id, control.citation, ", ".join(citing) or "(no rule)"))
        if control.transfers_outside:
            rows.append(
                ("", f"(only for places outside {', '.join(control.transfers_outside)})", "")
            )
    header = f"{framework.title} ({framework.version})\n{framework.url}\n"
    return header + "\n" + _table(rows, ("control", "citation", "rules"))


@rules.command("show")
@click.argument("rule_id")
@_rules_dirs_option
def show_rule(rule_id: str, rule_dirs: Sequence[Path]) -> None:
    """Show one rule: what it matches, why it matters, what to do, what it cites."""
    ruleset = load_rules(default_rules_dir(), *rule_dirs)
    rule = ruleset.get(rule_id)
    if rule is None:
        raise RuleError(f"rules show: no rule {rule_id!r}; `sovscan rules list` lists them")
    click.echo(describe(ruleset, rule))


def describe(ruleset: RuleSet, rule: Rule) -> str:
    """A rule as plain text for people."""
    lines = [
        f"{rule.id} ({rule.severity.value}): {rule.title}",
        f"source: {rule.source}",
        f"applies to: {', '.join(rule.applies_to)}",
        f"reads: {', '.join(rule.fields)}",
        f"tags: {', '.join(rule.tags) or '-'}",
        "",
        f"message: {rule.message}",
        "",
        f"rationale: {' '.join(rule.rationale.split())}",
        "",
        f"remediation: {' '.join(rule.remediation.split())}",
        "",
        "references:",
    ]
    for reference in rule.references:
        framework = ruleset.frameworks[reference.framework]
        control = framework.controls[reference.control]
        lines.append(f"  {framework.id} {control.id}: {control.citation} - {control.url}")
        if condition := transfer_condition(rule, control):
            lines.append(f"    {condition}")
    if not rule.references:
        lines.append("  (none)")
    return "\n".join(terminal_safe(line) for line in lines)


@rules.command("validate")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
def validate(folder: Path) -> None:
    """Check a folder of rules and run its test cases (exit 2 on the first problem)."""
    shipped = default_rules_dir()
    is_shipped = folder.resolve() == shipped.resolve()
    ruleset = load_rules(shipped) if is_shipped else load_rules(shipped, folder)
    count, failures = check_folder(ruleset, folder)
    if is_shipped:
        failures.extend(check_profiles(load_profiles(), ruleset))
    if failures:
        # Errors are one line (the CLI's contract); the count says there are others, and -v
        # names them (a case that fails can leave a kind of case missing: both are needed).
        for failure in failures[1:]:
            logger.info("rules validate: also: %s", failure)
        more = f" (and {len(failures) - 1} more; -v lists them)" if len(failures) > 1 else ""
        raise RuleError(failures[0] + more)
    own = sum(1 for rule in ruleset.rules if is_shipped or not rule.source.startswith("rules/"))
    rules_word = "rule" if own == 1 else "rules"
    cases_word = "test case" if count == 1 else "test cases"
    click.echo(f"{folder}: {own} {rules_word} valid, {count} {cases_word} passed")


def _kinds(patterns: Sequence[str], limit: int = 3) -> str:
    shown = ", ".join(patterns[:limit])
    return shown if len(patterns) <= limit else f"{shown} +{len(patterns) - limit}"


def _table(rows: Sequence[Sequence[str]], headers: Sequence[str]) -> str:
    safe = [[terminal_safe(cell) for cell in row] for row in rows]
    return tabulate(safe, headers=list(headers), tablefmt="simple")
