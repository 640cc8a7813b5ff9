"""Loading rules: strict validation with one-line errors naming the file and the key path."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from sovscan.engine import default_rules_dir, load_rules
from sovscan.engine.loader import MAX_RULE_BYTES
from sovscan.engine.rule import All, ConfigRef, Leaf, Not
from sovscan.errors import RuleError
from sovscan.model import Reference, Severity

VALID: dict[str, Any] = {
    "id": "own-rule",
    "title": "An institution's own rule",
    "severity": "low",
    "applies_to": ["aws.s3.*", "saas.endpoint"],
    "match": {
        "all": [
            {"field": "asset.attr.project", "op": "matches", "value": "grant-[0-9]+"},
            {"not": {"field": "location.place", "op": "within", "value": {"config": "home"}}},
        ]
    },
    "message": "{asset.name} of {asset.attr.project} is in {location.place}",
    "rationale": "Grant contracts require data at home.",
    "remediation": "Move it.",
    "references": [{"framework": "gdpr", "control": "art-44"}],
    "tags": ["location"],
}
VALID["match"]["all"][1]["not"]["value"] = {"config": "allowed_locations"}


def write_rule(folder: Path, doc: Any, name: str = "own-rule", area: str = "own") -> Path:
    path = folder / area / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    text = doc if isinstance(doc, str) else yaml.safe_dump(doc, sort_keys=False)
    path.write_text(text, encoding="utf-8")
    return path


def load_error(tmp_path: Path, doc: Any, name: str = "own-rule") -> str:
    write_rule(tmp_path, doc, name)
    with pytest.raises(RuleError) as caught:
        load_rules(default_rules_dir(), tmp_path)
    message = str(caught.value)
    assert "\n" not in message
    return message


def mutated(path: str, value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(VALID)
    target: Any = doc
    keys = path.split(".")
    for key in keys[:-1]:
        target = target[int(key)] if key.isdigit() else target[key]
    last = keys[-1]
    if value is _DELETE:
        del target[last]
    elif last.isdigit():
        target[int(last)] = value
    else:
        target[last] = value
    return doc


_DELETE = object()


def test_a_valid_rule_is_added_to_the_shipped_ones(tmp_path: Path) -> None:
    write_rule(tmp_path, VALID)
    shipped = load_rules(default_rules_dir())
    ruleset = load_rules(default_rules_dir(), tmp_path)
    rule = ruleset.get("own-rule")
    assert rule is not None
    assert len(ruleset.rules) == len(shipped.rules) + 1
    assert rule.severity is Severity.LOW
    assert rule.references == (Reference("gdpr", "art-44"),)
    assert rule.source == f"{tmp_path.as_posix()}/own/own-rule.yaml"
    assert isinstance(rule.match, All)
    negated = rule.match.items[1]
    assert isinstance(negated, Not)
    assert negated.item == Leaf("location.place", "within", ConfigRef("allowed_locations"))
    assert rule.fields == ("asset.attr.project", "location.place")
    assert ruleset.digest != shipped.digest
    assert [r.id for r in ruleset.rules] == sorted(r.id for r in ruleset.rules)


def test_the_digest_follows_the_content(tmp_path: Path) -> None:
    write_rule(tmp_path, VALID)
    first = load_rules(default_rules_dir(), tmp_path).digest
    assert load_rules(default_rules_dir(), tmp_path).digest == first
    write_rule(tmp_path, mutated("title", "Another title"))
    assert load_rules(default_rules_dir(), tmp_path).digest != first


def test_the_digest_does_not_depend_on_where_the_folder_sits(tmp_path: Path) -> None:
    write_rule(tmp_path / "a", VALID)
    write_rule(tmp_path / "elsewhere" / "b", VALID)
    first = load_rules(default_rules_dir(), tmp_path / "a").digest
    assert load_rules(default_rules_dir(), tmp_path / "elsewhere" / "b").digest == first


def test_test_files_and_data_files_are_not_rules(tmp_path: Path) -> None:
    write_rule(tmp_path, VALID)
    (tmp_path / "own" / "own-rule.test.yaml").write_text("rule: own-rule\n", encoding="utf-8")
    (tmp_path / "notes.md").write_text("# not a rule\n", encoding="utf-8")
    assert load_rules(default_rules_dir(), tmp_path).get("own-rule") is not None


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("match.all.0.op", "contains", "match.all[0].op: expected one of equals, in, intersects"),
        ("match.all.0.field", "asset.owner", "match.all[0].field: expected a fact field"),
        ("match.all.0.value", "grant-[", "match.all[0].value: invalid regular expression"),
        ("severity", "severe", "severity: expected one of info, low, medium, high, critical"),
        ("applies_to", "aws.s3.bucket", "applies_to: expected a list"),
        ("applies_to", [], "applies_to: expected at least one asset kind"),
        ("applies_to", ["AWS S3"], "applies_to[0]: expected an asset kind or glob"),
        (
            "applies_to",
            ["aws.s3.*", "aws.s3.bukcet"],
            "applies_to[1]: matches no asset kind a probe produces",
        ),
        ("references.0.framework", "iso27001", "references[0].framework: expected one of"),
        ("references.0.control", "art-99", "references[0].control: expected a control of gdpr"),
        ("id", "Own_Rule", "id: expected a kebab-case id"),
        ("id", "other-rule", "id: must equal the file name 'own-rule'"),
        ("message", "{asset.secret}", "message: unknown placeholder {asset.secret}"),
        ("message", "{config.password}", "message: unknown placeholder {config.password}"),
        ("title", "", "title: expected non-empty text"),
        ("remediation", _DELETE, "remediation: required key is missing"),
        ("tags", ["Not A Tag"], "tags[0]: expected a kebab-case tag"),
        ("match", {"all": []}, "match.all: expected at least one item"),
        ("match", {"any": [], "all": []}, "match: expected exactly one of all, any, not"),
        ("match", {"field": "asset.name", "op": "exists", "value": 1}, "exists takes no value"),
        ("match", {"field": "asset.name", "op": "equals"}, "match.value: equals needs a value"),
        ("match", {"field": "asset.name", "op": "in", "value": "x"}, "in needs a list"),
        (
            "match",
            {"field": "control.laws", "op": "matches", "value": "us-.*"},
            "matches needs a single value, but control.laws is a list",
        ),
        (
            "match",
            {"field": "asset.name", "op": "equals", "value": {"config": "secret"}},
            "match.value.config: expected one of institution, home",
        ),
        (
            "match",
            {"field": "location.place", "op": "within", "value": {"config": "home"}},
            "within needs a list, but home is a single value",
        ),
        (
            "match",
            {"field": "location.place", "op": "within", "value": ["CA", "Quebec"]},
            "match.value[1]: expected an ISO 3166 code; got 'Quebec'",
        ),
        (
            "match",
            {"field": "location.place", "op": "within", "value": ["SE", False]},
            "quote it: YAML reads NO as false",
        ),
    ],
)
def test_an_invalid_rule_is_one_line_naming_file_and_key(
    tmp_path: Path, path: str, value: Any, expected: str
) -> None:
    message = load_error(tmp_path, mutated(path, value))
    assert message.startswith(f"{tmp_path.as_posix()}/own/own-rule.yaml: ")
    assert expected in message


def test_an_unknown_key_is_an_error(tmp_path: Path) -> None:
    doc = {**VALID, "languages": ["python"]}
    message = load_error(tmp_path, doc)
    assert message.endswith(
        "own-rule.yaml: languages: unknown key; expected one of id, title, severity, "
        "applies_to, match, message, rationale, remediation, references, tags, place"
    )


def test_an_unknown_key_in_a_leaf_names_its_path(tmp_path: Path) -> None:
    doc = mutated("match.all.0", {"field": "asset.name", "op": "exists", "vlaue": 1})
    assert "match.all[0].vlaue: unknown key; expected one of field, op, value" in load_error(
        tmp_path, doc
    )


def test_the_exact_format_of_a_bad_operator_error(tmp_path: Path) -> None:
    doc = mutated("match", {"any": [VALID["match"]["all"][0], {"field": "asset.name", "op": "x"}]})
    doc["match"]["any"][1]["op"] = "contains"
    assert load_error(tmp_path, doc).endswith(
        "own-rule.yaml: match.any[1].op: expected one of equals, in, intersects, subset_of, "
        "matches, exists, within; got 'contains'"
    )


def test_duplicate_ids_across_folders_are_an_error(tmp_path: Path) -> None:
    doc = mutated("id", "foreign-law-reach")
    message = load_error(tmp_path, doc, name="foreign-law-reach")
    assert "id: 'foreign-law-reach' is already defined in rules/control/foreign-law-reach.yaml" in (
        message
    )


def test_duplicate_yaml_keys_are_refused(tmp_path: Path) -> None:
    text = yaml.safe_dump(VALID, sort_keys=False) + "severity: critical\n"
    message = load_error(tmp_path, text)
    assert "duplicate key 'severity'" in message


def test_yaml_tags_that_build_python_objects_are_refused(tmp_path: Path) -> None:
    text = yaml.safe_dump(VALID, sort_keys=False).replace(
        "title: An institution's own rule", "title: !!python/object/apply:os.system [echo hi]"
    )
    assert "invalid YAML" in load_error(tmp_path, text)


def test_a_huge_rule_file_is_refused(tmp_path: Path) -> None:
    text = yaml.safe_dump(VALID, sort_keys=False) + "#" * MAX_RULE_BYTES
    assert f"larger than {MAX_RULE_BYTES} bytes" in load_error(tmp_path, text)


def test_a_deeply_nested_match_is_refused(tmp_path: Path) -> None:
    node: dict[str, Any] = {"field": "asset.name", "op": "exists"}
    for _ in range(20):
        node = {"not": node}
    assert "nested deeper than" in load_error(tmp_path, mutated("match", node))


def test_a_missing_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(RuleError, match="not a folder of rules"):
        load_rules(default_rules_dir(), tmp_path / "absent")


def test_a_bad_frameworks_file_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "frameworks.yaml").write_text(
        "frameworks:\n  gdpr:\n    title: GDPR\n    version: x\n    url: u\n    controls: {}\n",
        encoding="utf-8",
    )
    with pytest.raises(RuleError, match=r"frameworks\.gdpr\.controls: expected at least one"):
        load_rules(tmp_path)


def test_default_rules_dir_is_the_repository_rules_folder_in_a_checkout() -> None:
    folder = default_rules_dir()
    assert (folder / "frameworks.yaml").is_file()
    assert (folder / "control" / "foreign-law-reach.yaml").is_file()


def test_a_yml_rule_file_is_an_error_naming_it(tmp_path: Path) -> None:
    # It was skipped: "0 rules valid", and scans ran without the institution's rule.
    path = write_rule(tmp_path, VALID)
    path.rename(path.with_name("own-rule.yml"))
    with pytest.raises(RuleError) as caught:
        load_rules(default_rules_dir(), tmp_path)
    assert str(caught.value) == (
        f"{tmp_path.as_posix()}/own/own-rule.yml: rule files end in .yaml and this .yml file "
        "would be ignored; rename it to own-rule.yaml"
    )


def test_a_yml_file_beside_yaml_rules_is_an_error_too(tmp_path: Path) -> None:
    write_rule(tmp_path, VALID)
    write_rule(tmp_path, VALID, name="other-rule").rename(tmp_path / "own" / "other-rule.yml")
    with pytest.raises(RuleError, match=r"other-rule\.yml: .* rename it to other-rule\.yaml"):
        load_rules(default_rules_dir(), tmp_path)


def test_hidden_folders_of_a_rules_repository_are_not_read(tmp_path: Path) -> None:
    # A rules folder kept in git: CI workflows (.yml) and pre-commit settings (.yaml) are not
    # rules, and neither is refused nor read as one.
    write_rule(tmp_path, VALID)
    (tmp_path / ".github" / "workflows").mkdir(parents=True)
    (tmp_path / ".github" / "workflows" / "ci.yml").write_text("on: push\n", encoding="utf-8")
    (tmp_path / ".hooks").mkdir()
    (tmp_path / ".hooks" / "pre-commit-config.yaml").write_text("repos: []\n", encoding="utf-8")
    assert "own-rule" in {rule.id for rule in load_rules(default_rules_dir(), tmp_path).rules}


@pytest.mark.parametrize("present", [[], ["own/notes.txt"], ["own/own-rule.test.yaml"]])
def test_a_folder_without_a_rule_file_is_an_error(tmp_path: Path, present: list[str]) -> None:
    for name in present:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x: 1\n", encoding="utf-8")
    with pytest.raises(RuleError) as caught:
        load_rules(default_rules_dir(), tmp_path)
    assert str(caught.value) == (
        f"{tmp_path}: no rule files; a rules folder holds <id>.yaml rules (see rules/README.md)"
    )


def test_a_bundles_stored_folders_load_as_the_scan_read_them(tmp_path: Path) -> None:
    # A bundle made before the check may hold an empty folder or a skipped .yml: replay reads
    # it as that scan did rather than refusing the evidence.
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "x.yml").write_text("id: x\n", encoding="utf-8")
    shipped = load_rules(default_rules_dir())
    assert load_rules(default_rules_dir(), tmp_path / "empty", as_stored=True).rules == (
        shipped.rules
    )
