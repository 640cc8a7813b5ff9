"""The rule engine: load rules, evaluate them three-valued on resolved assets, score the result."""

from __future__ import annotations

from sovscan.engine.evaluate import evaluate
from sovscan.engine.facts import FACT_FIELDS
from sovscan.engine.loader import (
    Framework,
    FrameworkControl,
    RuleSet,
    default_rules_dir,
    frameworks_in_force,
    load_rules,
    other_sector_controls,
    transfer_condition,
)
from sovscan.engine.profiles import Profile, apply_profile, load_profiles
from sovscan.engine.rule import Rule
from sovscan.engine.scoring import ScoreDetail, score, score_detail
from sovscan.engine.waivers import (
    Waived,
    Waiver,
    apply_waivers,
    beyond_review,
    lapsed,
    parse_waivers,
)

__all__ = [
    "FACT_FIELDS",
    "Framework",
    "FrameworkControl",
    "Profile",
    "Rule",
    "RuleSet",
    "ScoreDetail",
    "Waived",
    "Waiver",
    "apply_profile",
    "apply_waivers",
    "beyond_review",
    "default_rules_dir",
    "evaluate",
    "frameworks_in_force",
    "lapsed",
    "load_profiles",
    "load_rules",
    "other_sector_controls",
    "parse_waivers",
    "score",
    "score_detail",
    "transfer_condition",
]
