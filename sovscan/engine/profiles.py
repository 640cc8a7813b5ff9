"""Profiles (rules/profiles.yaml): a selection of rules, policy values and severity changes."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from sovscan.engine.loader import (
    MAX_DATA_BYTES,
    PROFILES_FILE,
    RuleSet,
    default_rules_dir,
    fail,
    read_bounded,
    safe_load,
)
from sovscan.model import Policy, Severity
from sovscan.places import is_place

PROFILE_KEYS = ("title", "rules", "policy", "severity")
PROFILE_POLICY_FIELDS = (
    "allowed_locations",
    "home_jurisdictions",
    "sensitive_classifications",
    "frameworks",
)
"""Policy fields a profile may set; the inventory file's own values win (see apply_profile)."""


@dataclass(frozen=True, slots=True)
class Profile:
    """A named selection: which rules run, which policy values apply, which severities change."""

    id: str
    title: str
    rules: tuple[str, ...] | None  # None: every rule
    policy: Mapping[str, tuple[str, ...]]
    severity: Mapping[str, Severity]


def load_profiles(path: Path | None = None) -> Mapping[str, Profile]:
    """Read profiles.yaml (the shipped one by default); errors are one line naming the key."""
    path = path or default_rules_dir() / PROFILES_FILE
    label = f"rules/{PROFILES_FILE}" if path.parent == default_rules_dir() else str(path)
    doc = safe_load(read_bounded(path, MAX_DATA_BYTES), label)
    if (
        not isinstance(doc, dict)
        or set(doc) != {"profiles"}
        or not isinstance(doc["profiles"], dict)
    ):
        fail(label, "", "expected a single key `profiles` holding a mapping of profiles")
    return MappingProxyType(
        {str(pid): _profile(str(pid), body, label) for pid, body in doc["profiles"].items()}
    )


def _profile(profile_id: str, body: Any, label: str) -> Profile:
    path = f"profiles.{profile_id}"
    if not isinstance(body, dict):
        fail(label, path, "expected a mapping")
    for key in body:
        if key not in PROFILE_KEYS:
            fail(label, f"{path}.{key}", f"unknown key; expected one of {', '.join(PROFILE_KEYS)}")
    title = body.get("title")
    if not isinstance(title, str) or not title:
        fail(label, f"{path}.title", "expected a title")
    rules = body.get("rules", "all")
    if rules != "all" and not (isinstance(rules, list) and all(isinstance(r, str) for r in rules)):
        fail(label, f"{path}.rules", f"expected `all` or a list of rule ids; got {rules!r}")
    policy: dict[str, tuple[str, ...]] = {}
    for name, values in (body.get("policy") or {}).items():
        where = f"{path}.policy.{name}"
        if name not in PROFILE_POLICY_FIELDS:
            fail(label, where, f"expected one of {', '.join(PROFILE_POLICY_FIELDS)}")
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            fail(label, where, "expected a list of text values (quote NO: YAML reads it as false)")
        places = name not in ("sensitive_classifications", "frameworks")
        if places and not all(is_place(v) for v in values):
            fail(label, where, f"expected ISO 3166 codes; got {values!r}")
        policy[name] = tuple(values)
    severity: dict[str, Severity] = {}
    for rule_id, level in (body.get("severity") or {}).items():
        if level not in {s.value for s in Severity}:
            fail(label, f"{path}.severity.{rule_id}", f"expected a severity; got {level!r}")
        severity[str(rule_id)] = Severity(level)
    return Profile(
        profile_id,
        title,
        None if rules == "all" else tuple(rules),
        MappingProxyType(policy),
        MappingProxyType(severity),
    )


def check_profiles(profiles: Mapping[str, Profile], ruleset: RuleSet) -> list[str]:
    """Problems between profiles and rules: a profile naming a rule or a framework that does not
    exist."""
    known = {rule.id for rule in ruleset.rules}
    problems: list[str] = []
    for profile in profiles.values():
        problems.extend(
            f"profiles.{profile.id}: no framework {framework!r}"
            for framework in profile.policy.get("frameworks", ())
            if framework not in ruleset.frameworks
        )
        named = (*(profile.rules or ()), *profile.severity)
        problems.extend(
            f"profiles.{profile.id}: no rule {rule_id!r}"
            for rule_id in named
            if rule_id not in known
        )
    return problems


def _shipped(source: str) -> bool:
    """Whether a rule's source (`rules/<area>/<id>.yaml` for shipped ones) is a shipped rule."""
    return source.startswith("rules/") and (default_rules_dir() / source[6:]).is_file()


def apply_profile(
    ruleset: RuleSet, policy: Policy, profile: Profile, *, keep: Collection[str] = ()
) -> tuple[RuleSet, Policy]:
    """The rules and policy under `profile`; policy fields named in `keep` (set explicitly in the
    inventory file) are not replaced, so the institution can override its profile."""
    # A profile selects among the shipped rules; an institution's own rules always run, or
    # their assets would silently go unchecked under any profile.
    rules = tuple(
        dataclasses.replace(rule, severity=profile.severity.get(rule.id, rule.severity))
        for rule in ruleset.rules
        if profile.rules is None or rule.id in profile.rules or not _shipped(rule.source)
    )
    changes = {name: value for name, value in profile.policy.items() if name not in keep}
    # The digest changes with the profile, so two reports with different profiles never compare
    # as if produced by the same rules.
    digest = f"{ruleset.digest}+{profile.id}"
    return (
        RuleSet(rules, ruleset.frameworks, digest),
        dataclasses.replace(policy, **changes),  # type: ignore[arg-type]
    )
