"""Reading rule folders: strict validation with one-line errors, then a RuleSet with its digest."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, NoReturn

import yaml

from sovscan.engine.facts import fact_type, is_fact_field
from sovscan.engine.kinds import known_kinds_matching
from sovscan.engine.rule import (
    LIST_OPERATORS,
    OPERATORS,
    All,
    AnyOf,
    ConfigRef,
    Leaf,
    Literal,
    Node,
    Not,
    Rule,
)
from sovscan.errors import RuleError
from sovscan.model import SECTORS, Policy, Reference, Severity
from sovscan.places import is_place, within
from sovscan.shown import shown

MAX_RULE_BYTES = 64 * 1024
MAX_DATA_BYTES = 512 * 1024  # frameworks.yaml and profiles.yaml
MAX_DEPTH = 16
MAX_REGEX = 512
FRAMEWORKS_FILE = "frameworks.yaml"
PROFILES_FILE = "profiles.yaml"
_NOT_RULES = frozenset({FRAMEWORKS_FILE, PROFILES_FILE})

RULE_KEYS = (
    "id",
    "title",
    "severity",
    "applies_to",
    "match",
    "message",
    "rationale",
    "remediation",
    "references",
    "tags",
    "place",
)
_OPTIONAL_KEYS = frozenset({"tags", "place"})
# Where a finding's place can be read: a place code, or a list of them in an attribute.
DEFAULT_PLACE = "location.place"  # where the asset is: a rule about another place names it
_PLACE_FIELDS = ("location.place", "location.country", "location.subdivision", "location.declared")
# A list place that may leave out places nobody could name, and the fact set (True) only when
# it names every one: without it, the places left out are unknown, and may lie outside.
PLACE_COMPLETE = MappingProxyType(
    {"asset.attr.replica_places": "asset.attr.replica_places_complete"}
)
_ID_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_KIND_GLOB_RE = re.compile(r"^[a-z0-9*?.\-\[\]]{1,64}$")
_TAG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_PLACEHOLDER_RE = re.compile(r"\{([^{}]*)\}")
# A placeholder-free policy, only to learn which names `{config: ...}` may use and their types.
_CONFIG_SHAPE = Policy("", "", (), (), "").config_values()


@dataclass(frozen=True, slots=True)
class FrameworkControl:
    """One control of a framework, with the citation an auditor can look up."""

    id: str
    title: str
    citation: str
    url: str
    # "public" or "private": the control binds only institutions of that sector (Quebec's
    # public bodies answer to, its private sector to P-39.1). None: every institution.
    sector: str | None = None
    # Areas (ISO codes, EU, EEA) whose outside the control is about: it is cited on a finding
    # only when the rule's `place` is outside them, or unknown, or the finding is unknown. GDPR
    # Chapter V governs transfers to third countries, never storage inside the EEA (art. 1(3)).
    transfers_outside: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Framework:
    """A law, standard or control catalogue that rules map to."""

    id: str
    title: str
    version: str
    url: str
    controls: Mapping[str, FrameworkControl]
    # Homes of the institutions the framework binds (ISO 3166 codes or EU/EEA): its controls are
    # cited for them by default. Empty: cited only when the institution or its profile chooses it.
    binds: tuple[str, ...] = ()


@dataclass(frozen=True)
class RuleSet:
    """The rules of one scan, sorted by id, with the frameworks they cite and a content digest."""

    rules: tuple[Rule, ...]
    frameworks: Mapping[str, Framework]
    digest: str  # sha256 over the rule files and frameworks.yaml used, in path order

    def get(self, rule_id: str) -> Rule | None:
        """The rule with this id, if any."""
        return next((rule for rule in self.rules if rule.id == rule_id), None)


def default_rules_dir() -> Path:
    """The shipped rules: ``sovscan/_rules`` in a wheel, else ``rules/`` of a source checkout."""
    package = Path(__file__).resolve().parent.parent
    bundled = package / "_rules"
    return bundled if bundled.is_dir() else package.parent / "rules"


def load_rules(*dirs: Path, as_stored: bool = False) -> RuleSet:
    """Load and check every rule under `dirs`; later folders add rules, a repeated id is an error.

    frameworks.yaml is read from the first folder that has one, else from the shipped rules.
    A folder with no rule file, or with a ``*.yml`` file, is an error (`check_rule_folder`),
    unless `as_stored`: an evidence bundle's copies are read as the scan that made them read
    them, so a bundle made before the check still replays.
    """
    roots = dirs or (default_rules_dir(),)
    frameworks_path = next(
        (root / FRAMEWORKS_FILE for root in roots if (root / FRAMEWORKS_FILE).is_file()),
        default_rules_dir() / FRAMEWORKS_FILE,
    )
    digest = hashlib.sha256()
    frameworks_text = read_bounded(frameworks_path, MAX_DATA_BYTES)
    digest.update(b"frameworks\0" + frameworks_text.encode() + b"\0")
    frameworks_label = rule_label(frameworks_path.parent, frameworks_path)
    frameworks = parse_frameworks(safe_load(frameworks_text, frameworks_label), frameworks_label)
    rules: dict[str, Rule] = {}
    for root in roots:
        if not root.is_dir():
            raise RuleError(f"{root}: not a folder of rules")
        paths = rule_files(root)
        if not as_stored:
            check_rule_folder(root, paths)
        for path in paths:
            label = rule_label(root, path)
            text = read_bounded(path, MAX_RULE_BYTES)
            rule = parse_rule(safe_load(text, label), label, path.name[: -len(".yaml")], frameworks)
            if rule.id in rules:
                raise RuleError(
                    f"{label}: id: {rule.id!r} is already defined in {rules[rule.id].source}"
                )
            rules[rule.id] = rule
            # The path inside its folder, not where the folder sits, so the digest is reproducible.
            relative = path.relative_to(root).as_posix()
            digest.update(relative.encode() + b"\0" + text.encode() + b"\0")
    ordered = tuple(sorted(rules.values(), key=lambda rule: rule.id))
    return RuleSet(ordered, frameworks, digest.hexdigest())


def rule_files(root: Path) -> list[Path]:
    """The rule files under `root`, in a stable order (test files and data files left out, and
    hidden folders: a rules folder kept in git holds .github/ and .pre-commit-config.yaml)."""
    return sorted(
        path
        for path in root.rglob("*.yaml")
        if path.is_file()
        and not _hidden(root, path)
        and not path.name.endswith(".test.yaml")
        and path.name not in _NOT_RULES
    )


def _hidden(root: Path, path: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def check_rule_folder(root: Path, paths: Sequence[Path]) -> None:
    """Refuse a rules folder that would silently add nothing: one without a rule file (a wrong
    folder, rules saved under another extension), or one holding a ``*.yml`` file, which the
    loader would skip. Only ``.yaml`` is read, so a file has one name and a rule one spelling
    of its id, test file and label."""
    for path in sorted(root.rglob("*.yml")):
        if path.is_file() and not _hidden(root, path):
            renamed = path.name[: -len(".yml")] + ".yaml"
            raise RuleError(
                f"{rule_label(root, path)}: rule files end in .yaml and this .yml file would be "
                f"ignored; rename it to {renamed}"
            )
    if not paths:
        raise RuleError(
            f"{root}: no rule files; a rules folder holds <id>.yaml rules (see rules/README.md)"
        )


def rule_label(root: Path, path: Path) -> str:
    """How errors and findings name a rule file: ``rules/<area>/<id>.yaml`` for shipped rules."""
    relative = path.relative_to(root).as_posix()
    if root.resolve() == default_rules_dir().resolve():
        return f"rules/{relative}"
    return f"{root.as_posix().rstrip('/')}/{relative}"


def read_bounded(path: Path, limit: int) -> str:
    """The UTF-8 text of `path`, refusing files larger than `limit` bytes."""
    try:
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        raise RuleError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if len(data) > limit:
        raise RuleError(f"{path}: larger than {limit} bytes; a rule file is small")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise RuleError(f"{path}: expected UTF-8 text") from None


class _StrictLoader(yaml.SafeLoader):
    """yaml.SafeLoader that refuses duplicate keys, which safe_load would silently overwrite."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    keys: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if not isinstance(key, Hashable):
            raise yaml.constructor.ConstructorError(
                None, None, "a mapping key must be text or a number", key_node.start_mark
            )
        if key in keys:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        keys.add(key)
    return dict(loader.construct_mapping(node))


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def safe_load(text: str, label: str) -> Any:
    """Parse YAML with the safe loader (no Python objects), duplicate keys refused."""
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).split("\n")[0]
        raise RuleError(f"{label}: {where}invalid YAML: {problem}") from None
    except RecursionError:
        raise RuleError(f"{label}: invalid YAML: nested too deeply") from None
    except ValueError as exc:  # e.g. an integer longer than Python converts (4300 digits)
        raise RuleError(f"{label}: invalid YAML: {str(exc).splitlines()[0][:120]}") from None


def fail(label: str, path: str, problem: str) -> NoReturn:
    """Raise the one-line error `label: path: problem`."""
    raise RuleError(f"{label}: {path}: {problem}" if path else f"{label}: {problem}")


def _mapping(value: Any, label: str, path: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        fail(label, path, f"expected a mapping; got {_shown(value)}")
    return value


def _text(value: Any, label: str, path: str, limit: int = 4096) -> str:
    if not isinstance(value, str) or not value.strip():
        fail(label, path, f"expected non-empty text; got {_shown(value)}")
    if len(value) > limit:
        fail(label, path, f"expected at most {limit} characters; got {len(value)}")
    return value.strip()


def _list(value: Any, label: str, path: str) -> list[Any]:
    if not isinstance(value, list):
        fail(label, path, f"expected a list; got {_shown(value)}")
    return value


def _shown(value: Any) -> str:
    return shown(value, 60, yaml=True)


def _keys(doc: Mapping[str, Any], allowed: Sequence[str], label: str, path: str) -> None:
    prefix = f"{path}." if path else ""
    for key in doc:
        if key not in allowed:
            fail(label, f"{prefix}{key}", f"unknown key; expected one of {', '.join(allowed)}")


def parse_rule(doc: Any, label: str, stem: str, frameworks: Mapping[str, Framework]) -> Rule:
    """Check one parsed rule document and build its Rule; `stem` is the file name without .yaml."""
    doc = _mapping(doc, label, "")
    _keys(doc, RULE_KEYS, label, "")
    for key in RULE_KEYS:
        if key not in doc and key not in _OPTIONAL_KEYS:
            fail(label, key, "required key is missing")
    rule_id = doc["id"]
    if not isinstance(rule_id, str) or not _ID_RE.match(rule_id):
        fail(label, "id", f"expected a kebab-case id; got {_shown(rule_id)}")
    if rule_id != stem:
        fail(label, "id", f"must equal the file name {stem!r}; got {rule_id!r}")
    severities = [s.value for s in Severity]
    if doc["severity"] not in severities:
        fail(
            label,
            "severity",
            f"expected one of {', '.join(severities)}; got {_shown(doc['severity'])}",
        )
    match = parse_node(doc["match"], label, "match", 0)
    message = _text(doc["message"], label, "message")
    _check_placeholders(message, label)
    references = _references(doc["references"], label, frameworks)
    place = _place(doc.get("place"), label)
    return Rule(
        id=rule_id,
        title=_text(doc["title"], label, "title", 200),
        severity=Severity(doc["severity"]),
        applies_to=_applies_to(doc["applies_to"], label),
        match=match,
        message=" ".join(message.split()),
        rationale=_text(doc["rationale"], label, "rationale"),
        remediation=_text(doc["remediation"], label, "remediation"),
        references=references,
        tags=_tags(doc.get("tags", []), label),
        source=label,
        place=place,
    )


def _place(value: Any, label: str) -> str | None:
    """The rule's `place` field, if it names one (without it, `location.place`)."""
    if value is None:
        return None
    if not isinstance(value, str) or not (
        value in _PLACE_FIELDS or (value.startswith("asset.attr.") and is_fact_field(value))
    ):
        fail(
            label,
            "place",
            f"expected one of {', '.join(_PLACE_FIELDS)} or asset.attr.<key>; got {_shown(value)}",
        )
    return value


def _applies_to(value: Any, label: str) -> tuple[str, ...]:
    patterns = _list(value, label, "applies_to")
    if not patterns:
        fail(label, "applies_to", "expected at least one asset kind or glob")
    for index, pattern in enumerate(patterns):
        if not isinstance(pattern, str) or not _KIND_GLOB_RE.match(pattern):
            fail(
                label,
                f"applies_to[{index}]",
                f"expected an asset kind or glob such as aws.s3.bucket or aws.rds.*; "
                f"got {_shown(pattern)}",
            )
        if not known_kinds_matching(pattern):
            # A typo (aws.s3.bukcet) would otherwise make the rule silently never apply.
            fail(
                label,
                f"applies_to[{index}]",
                f"matches no asset kind a probe produces (engine/kinds.py); got {pattern!r}",
            )
    return tuple(patterns)


def _tags(value: Any, label: str) -> tuple[str, ...]:
    tags = _list(value, label, "tags")
    for index, tag in enumerate(tags):
        if not isinstance(tag, str) or not _TAG_RE.match(tag):
            fail(label, f"tags[{index}]", f"expected a kebab-case tag; got {_shown(tag)}")
    return tuple(tags)


def _references(
    value: Any, label: str, frameworks: Mapping[str, Framework]
) -> tuple[Reference, ...]:
    references: list[Reference] = []
    for index, item in enumerate(_list(value, label, "references")):
        path = f"references[{index}]"
        item = _mapping(item, label, path)
        _keys(item, ("framework", "control"), label, path)
        framework = frameworks.get(item.get("framework"))  # type: ignore[arg-type]
        if framework is None:
            fail(
                label,
                f"{path}.framework",
                f"expected one of {', '.join(sorted(frameworks))}; "
                f"got {_shown(item.get('framework'))}",
            )
        control = item.get("control")
        if not isinstance(control, str) or control not in framework.controls:
            fail(
                label,
                f"{path}.control",
                f"expected a control of {framework.id} ({', '.join(framework.controls)}); "
                f"got {_shown(control)}",
            )
        references.append(Reference(framework.id, control))
    return tuple(references)


def _check_placeholders(message: str, label: str) -> None:
    for name in _PLACEHOLDER_RE.findall(message):
        if name.startswith("config."):
            if name[len("config.") :] not in _CONFIG_SHAPE:
                fail(
                    label,
                    "message",
                    f"unknown placeholder {{{name}}}; expected config.<name> "
                    f"with a name from {', '.join(_CONFIG_SHAPE)}",
                )
        elif not is_fact_field(name):
            fail(
                label,
                "message",
                f"unknown placeholder {{{name}}}; expected a fact field (see rules/README.md)",
            )


def parse_node(value: Any, label: str, path: str, depth: int) -> Node:
    """Check one match node: `all`, `any`, `not`, or a leaf `{field, op, value}`."""
    if depth > MAX_DEPTH:
        fail(label, path, f"nested deeper than {MAX_DEPTH} levels")
    doc = _mapping(value, label, path)
    if "all" in doc or "any" in doc or "not" in doc:
        if len(doc) != 1:
            fail(
                label,
                path,
                f"expected exactly one of all, any, not; got {', '.join(map(str, doc))}",
            )
        ((key, inner),) = doc.items()
        if key == "not":
            return Not(parse_node(inner, label, f"{path}.not", depth + 1))
        items = _list(inner, label, f"{path}.{key}")
        if not items:
            fail(label, f"{path}.{key}", "expected at least one item")
        nodes = tuple(
            parse_node(item, label, f"{path}.{key}[{index}]", depth + 1)
            for index, item in enumerate(items)
        )
        return All(nodes) if key == "all" else AnyOf(nodes)
    _keys(doc, ("field", "op", "value"), label, path)
    return _leaf(doc, label, path)


def _leaf(doc: Mapping[str, Any], label: str, path: str) -> Leaf:
    field = doc.get("field")
    if not isinstance(field, str) or not is_fact_field(field):
        fail(
            label,
            f"{path}.field",
            f"expected a fact field (see rules/README.md); got {_shown(field)}",
        )
    op = doc.get("op")
    if op not in OPERATORS:
        fail(label, f"{path}.op", f"expected one of {', '.join(OPERATORS)}; got {_shown(op)}")
    kind = fact_type(field)
    if op in ("matches", "in") and kind == "list":
        fail(label, f"{path}.op", f"{op} needs a single value, but {field} is a list")
    if op in ("within", "matches") and kind == "bool":
        fail(label, f"{path}.op", f"{op} needs text, but {field} is true or false")
    if op == "exists":
        if "value" in doc:
            fail(label, f"{path}.value", "exists takes no value")
        return Leaf(field, op, None)
    if "value" not in doc:
        fail(label, f"{path}.value", f"{op} needs a value")
    raw = doc["value"]
    vpath = f"{path}.value"
    if isinstance(raw, dict):
        return Leaf(field, op, _config_ref(raw, op, label, vpath))
    if op == "matches":
        return Leaf(field, op, _regex(raw, label, vpath))
    value = _literal(raw, label, vpath)
    if op in LIST_OPERATORS and not isinstance(value, tuple):
        fail(label, vpath, f"{op} needs a list; got {_shown(raw)}")
    if op == "within" and isinstance(value, tuple):
        for index, code in enumerate(value):
            if not isinstance(code, str) or not is_place(code):
                hint = " (quote it: YAML reads NO as false)" if code is False else ""
                fail(
                    label,
                    f"{vpath}[{index}]",
                    f"expected an ISO 3166 code{hint}; got {_shown(code)}",
                )
    return Leaf(field, op, value)


def _config_ref(raw: Mapping[str, Any], op: str, label: str, path: str) -> ConfigRef:
    _keys(raw, ("config",), label, path)
    name = raw.get("config")
    if not isinstance(name, str) or name not in _CONFIG_SHAPE:
        fail(
            label,
            f"{path}.config",
            f"expected one of {', '.join(_CONFIG_SHAPE)}; got {_shown(name)}",
        )
    is_list = isinstance(_CONFIG_SHAPE[name], tuple)
    if op in LIST_OPERATORS and not is_list:
        fail(label, f"{path}.config", f"{op} needs a list, but {name} is a single value")
    return ConfigRef(name)


def _regex(raw: Any, label: str, path: str) -> re.Pattern[str]:
    if not isinstance(raw, str) or len(raw) > MAX_REGEX:
        fail(label, path, f"expected a regular expression of at most {MAX_REGEX} characters")
    try:
        return re.compile(raw)
    except re.error as exc:
        fail(label, path, f"invalid regular expression: {exc}")


def _literal(raw: Any, label: str, path: str) -> Literal:
    if isinstance(raw, str | bool | int):
        return raw
    if isinstance(raw, list):
        for index, item in enumerate(raw):
            if not isinstance(item, str | bool | int):
                fail(
                    label,
                    f"{path}[{index}]",
                    f"expected text, a number or true/false; got {_shown(item)}",
                )
        return tuple(raw)
    fail(label, path, f"expected text, a number, true/false or a list; got {_shown(raw)}")


def parse_frameworks(doc: Any, label: str) -> Mapping[str, Framework]:
    """Check frameworks.yaml: ``frameworks: {id: {title, version, url, controls: {id: ...}}}``."""
    doc = _mapping(doc, label, "")
    _keys(doc, ("frameworks",), label, "")
    frameworks: dict[str, Framework] = {}
    for framework_id, body in _mapping(doc.get("frameworks"), label, "frameworks").items():
        path = f"frameworks.{framework_id}"
        if not isinstance(framework_id, str) or not _ID_RE.match(framework_id):
            fail(label, path, "expected a kebab-case framework id")
        body = _mapping(body, label, path)
        _keys(body, ("title", "version", "url", "binds", "controls"), label, path)
        binds = body.get("binds", [])
        if not isinstance(binds, list) or not all(
            isinstance(place, str) and is_place(place) for place in binds
        ):
            fail(label, f"{path}.binds", f"expected a list of ISO 3166 codes; got {_shown(binds)}")
        controls: dict[str, FrameworkControl] = {}
        for control_id, control in _mapping(
            body.get("controls"), label, f"{path}.controls"
        ).items():
            cpath = f"{path}.controls.{control_id}"
            control = _mapping(control, label, cpath)
            _keys(
                control, ("title", "citation", "url", "sector", "transfers_outside"), label, cpath
            )
            sector = control.get("sector")
            if sector is not None and sector not in SECTORS:
                fail(label, f"{cpath}.sector", f"expected public or private; got {_shown(sector)}")
            outside = control.get("transfers_outside", [])
            if (
                not isinstance(outside, list)
                or not all(isinstance(place, str) and is_place(place) for place in outside)
                or ("transfers_outside" in control and not outside)
            ):
                fail(
                    label,
                    f"{cpath}.transfers_outside",
                    "expected a non-empty list of ISO 3166 codes, EU or EEA; "
                    f"got {_shown(outside)}",
                )
            controls[str(control_id)] = FrameworkControl(
                str(control_id),
                _text(control.get("title"), label, f"{cpath}.title", 1000),
                _text(control.get("citation"), label, f"{cpath}.citation", 300),
                _text(control.get("url"), label, f"{cpath}.url", 300),
                sector,
                tuple(outside),
            )
        if not controls:
            fail(label, f"{path}.controls", "expected at least one control")
        frameworks[framework_id] = Framework(
            framework_id,
            _text(body.get("title"), label, f"{path}.title", 300),
            _text(body.get("version"), label, f"{path}.version", 100),
            _text(body.get("url"), label, f"{path}.url", 300),
            MappingProxyType(controls),
            tuple(binds),
        )
    return MappingProxyType(frameworks)


def other_sector_controls(
    frameworks: Mapping[str, Framework], sector: str | None
) -> frozenset[tuple[str, str]]:
    """(framework, control) pairs that bind another sector than the institution's: not cited.
    With no sector given, none are left out (a finding then cites both sectors' controls)."""
    if sector is None:
        return frozenset()
    return frozenset(
        (fid, cid)
        for fid, framework in frameworks.items()
        for cid, control in framework.controls.items()
        if control.sector is not None and control.sector != sector
    )


def transfer_controls(
    frameworks: Mapping[str, Framework],
) -> Mapping[tuple[str, str], tuple[str, ...]]:
    """(framework, control) -> the areas whose outside it is about, for controls that say so."""
    return MappingProxyType(
        {
            (fid, cid): control.transfers_outside
            for fid, framework in frameworks.items()
            for cid, control in framework.controls.items()
            if control.transfers_outside
        }
    )


def cites_transfer(place: Any, areas: Sequence[str]) -> bool:
    """Whether a finding whose place is `place` (a code, a list of codes, or None: unknown) may
    be about a transfer outside `areas`: some place is outside them, or cannot be told inside."""
    if place is None:
        return True
    places = place if isinstance(place, tuple | list) else (place,)
    return any(not isinstance(p, str) or within(p, areas) is not True for p in places)


def transfer_condition(rule: Rule, control: FrameworkControl) -> str:
    """How a rule's findings cite a `transfers_outside` control, in words; "" if always."""
    if not control.transfers_outside:
        return ""
    areas = ", ".join(control.transfers_outside)
    return f"cited only where {rule.place or DEFAULT_PLACE} is outside {areas}, or not known"


def frameworks_in_force(frameworks: Mapping[str, Framework], policy: Policy) -> tuple[str, ...]:
    """The frameworks a scan's findings cite: those binding the institution's home, and those it
    (or its profile) chose. A Quebec university's finding on data in France is no GDPR art. 44
    transfer, and its Montreal buckets are not "ok" under SecNumCloud."""
    binding = {fid for fid, f in frameworks.items() if f.binds and within(policy.home, f.binds)}
    return tuple(sorted(binding | set(policy.frameworks or ())))
