"""Reports say why a finding matters: the rule's rationale, its remedy, the framework controls
it maps to and the laws they name, once per rule and law, not per finding."""

from __future__ import annotations

from sovscan.engine import default_rules_dir, load_rules
from sovscan.scan import rule_infos


def test_a_scans_rule_info_words_its_controls_as_frameworks_yaml_does() -> None:
    ruleset = load_rules(default_rules_dir())
    rule = next(r for r in ruleset.rules if r.id == "foreign-law-reach")
    info = rule_infos(ruleset)["foreign-law-reach"]
    cited = [(c.framework, c.control) for c in info.references]
    assert cited == [(r.framework, r.control) for r in rule.references]
    s70 = next(c for c in info.references if c.control == "a2.1-s70.1")
    assert s70.framework_title.startswith("Quebec Law 25 (S.Q. 2021, c. 25)")
    assert s70.citation == "CQLR c. A-2.1, s. 70.1"
    assert s70.title.startswith("Public bodies: before releasing personal information outside")
