"""Evidence bundles: a scan's observations, inputs and report, hashed, to verify and replay."""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import math
import mmap
import os
import re
import secrets
import shutil
import time
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from datetime import time as dt_time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sovscan.config import parse_networks
from sovscan.engine.waivers import Waiver
from sovscan.errors import ConfigError, SovscanError
from sovscan.files import STALE_SECONDS
from sovscan.model import (
    SECTORS,
    Asset,
    AttrValue,
    Confidence,
    DeclaredNetwork,
    DnsResolver,
    Evidence,
    Gap,
    Policy,
    Scan,
)
from sovscan.report.json import dns_resolver_document, item_json, spliced_json
from sovscan.report.json import pieces as render_json_pieces
from sovscan.report.safe import utf8_safe
from sovscan.shown import shown
from sovscan.urls import without_secrets

if TYPE_CHECKING:
    from sovscan.engine.loader import RuleSet
    from sovscan.engine.rule import Rule

BUNDLE_SCHEMA = "sovscan.evidence/1"
MANIFEST = "manifest.json"
OBSERVATIONS = "observations.json"
POLICY = "policy.json"
REPORT = "report.json"
REPORT_FILES = {
    "csv": "report.csv",
    "html": "report.html",
    "markdown": "report.md",
    "sarif": "report.sarif",
    "table": "report.txt",
}
"""The bundle's copy of the report in the format the scan was asked for, beside report.json."""
RULES_DIR = "rules"
MAX_BUNDLE_FILE = 512 * 1024 * 1024  # refuse to hash absurd files planted in a bundle
_SCAN_ID_RE = re.compile(r"[A-Za-z0-9._-]{1,64}")
_DIGEST_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9+._-]{0,199}")  # a profile's rules: "<sha>+<id>"


class EvidenceError(SovscanError):
    """An evidence bundle cannot be written, read or trusted."""


class ManifestRewritten(EvidenceError):
    """The manifest is not the one whose SHA-256 was recorded when the bundle was made."""


@dataclass(frozen=True, slots=True)
class Observations:
    """What the probes saw, as stored in a bundle: enough to replay the scan offline."""

    policy: Policy
    assets: tuple[Asset, ...]
    gaps: tuple[Gap, ...]
    started_at: datetime
    finished_at: datetime
    scan_id: str  # the scan that made them, as the manifest names it
    waivers: tuple[Waiver, ...] = ()
    profile: str | None = None
    # The address space the inventory declared ([[networks]]): resolution reads it, so a replay
    # must resolve with it. Empty for a bundle from before declarations.
    networks: tuple[DeclaredNetwork, ...] = ()
    # The digests of the rules and the offline data the scan used, as its manifest records them
    # (None for a bundle that does not record one).
    rules_digest: str | None = None
    data_digest: str | None = None
    # The DNS servers that answered the probes (None: no DNS question, or a bundle from before
    # sovscan recorded them).
    dns_resolver: DnsResolver | None = None


def write_bundle(
    target: Path,
    scan: Scan,
    *,
    config_file: Path | None,
    rule_dirs: Sequence[Path],
    waivers: Sequence[Waiver] = (),
    report: tuple[str, str] | None = None,
    networks: Sequence[DeclaredNetwork] = (),
) -> None:
    """Write the bundle for `scan` to the new folder `target`, all or nothing.

    The rule folders used are copied, so a replay evaluates exactly the same rules unless told
    otherwise. `report` is (format, text): the report as the scan handed it over, stored byte
    for byte as `REPORT_FILES[format]` so the manifest covers it too (a json report is
    report.json already). Raises EvidenceError if `target` exists or cannot be written.
    """
    write_bundle_pieces(
        target,
        scan,
        observed=lambda: (item_json(asset_document(item.asset)) for item in scan.assets),
        report_json=render_json_pieces(scan),
        config_file=config_file,
        rule_dirs=rule_dirs,
        waivers=waivers,
        report=None if report is None else (report[0], (report[1],)),
        networks=networks,
    )


def write_bundle_pieces(
    target: Path,
    summary: Scan,
    *,
    observed: Callable[[], Iterable[str]],
    report_json: Iterable[str],
    config_file: Path | None,
    rule_dirs: Sequence[Path],
    waivers: Sequence[Waiver] = (),
    report: tuple[str, Iterable[str]] | None = None,
    networks: Sequence[DeclaredNetwork] = (),
) -> None:
    """`write_bundle` for a scan too large to hold (sovscan.stream): `summary` is the scan but
    its assets and findings; `observed` gives each observed asset's `asset_document` as
    `item_json` encodes it, in asset id order; `report_json` is the JSON report's text, and
    `report`'s the other format's, in pieces. The files are the bytes `write_bundle` writes."""
    if report is not None and report[0] not in REPORT_FILES and report[0] != "json":
        raise ValueError(f"no bundle file for the report format {report[0]!r}")
    if target.exists():
        raise EvidenceError(f"--evidence: {target}: already exists; give a new folder")
    parent = target.parent if str(target.parent) else Path(".")
    _remove_stale_staging(parent, target.name)
    staging = parent / f".{target.name}.{secrets.token_hex(6)}.tmp"
    try:
        staging.mkdir(mode=0o777)  # the umask applies, as for any folder the user makes
    except OSError as exc:
        raise EvidenceError(f"--evidence: {target}: cannot create ({exc.strerror})") from None
    try:
        observations = spliced_json(_observations_document(summary), {"assets": observed})
        _write_pieces(staging / OBSERVATIONS, (utf8_safe(piece) for piece in observations))
        _write_json(
            staging / POLICY, _policy_document(summary.policy, summary.profile, waivers, networks)
        )
        _write_pieces(staging / REPORT, report_json)
        if report is not None and report[0] in REPORT_FILES:
            # Bytes as --output wrote them (UTF-8, no newline translation): `sha256sum` of the
            # report handed over equals the manifest's entry.
            _write_pieces(staging / REPORT_FILES[report[0]], report[1])
        if config_file is not None:
            (staging / "config.toml").write_text(
                redact_inventory(config_file.read_text(encoding="utf-8")), encoding="utf-8"
            )
        for index, folder in enumerate(rule_dirs):
            shutil.copytree(
                folder, staging / RULES_DIR / f"{index}-{folder.name}", ignore=_not_rules
            )
        files = {
            path.relative_to(staging).as_posix(): _sha256(path)
            for path in sorted(staging.rglob("*"))
            if path.is_file()
        }
        manifest = {
            "schema": BUNDLE_SCHEMA,
            "scan_id": summary.id,
            "tool_version": summary.tool_version,
            "created_at": datetime.now(UTC).isoformat(),
            "rules_digest": summary.rules_digest,
            "data_digest": summary.data_digest,
            "files": files,
        }
        _write_json(staging / MANIFEST, manifest)
        os.replace(staging, target)
    except BaseException as exc:
        shutil.rmtree(staging, ignore_errors=True)
        if isinstance(exc, OSError):
            raise EvidenceError(f"--evidence: {target}: cannot write ({exc.strerror})") from None
        raise


def _not_rules(folder: str, names: list[str]) -> set[str]:
    """What a rules folder holds besides rule files (`.yaml`, all the loader reads) and the
    folders holding them (not through a link: the loader does not follow one): left out of the
    bundle, for a folder from elsewhere may link to any file of the user's (`notes.txt ->
    ~/.aws/credentials`), which copying would follow."""

    def kept(path: str) -> bool:
        if os.path.islink(path) and os.path.isdir(path):
            return False
        return path.endswith(".yaml") or os.path.isdir(path)

    return {
        name
        for name in names
        if name.startswith(".") or name == "__pycache__" or not kept(os.path.join(folder, name))
    }


def _remove_stale_staging(parent: Path, name: str) -> None:
    """Remove staging folders that killed bundle writes of `name` left behind."""
    cutoff = time.time() - STALE_SECONDS
    for stale in parent.glob(f".{glob.escape(name)}.*.tmp"):
        with contextlib.suppress(OSError):
            if stale.is_dir() and not stale.is_symlink() and stale.stat().st_mtime < cutoff:
                shutil.rmtree(stale)


def verify_bundle(folder: Path) -> list[str]:
    """Every problem found in the bundle, one line each; an empty list means it is intact."""
    return checked_bundle(folder)[0]


def checked_bundle(folder: Path) -> tuple[list[str], str | None]:
    """`verify_bundle`'s problems, and the SHA-256 of the very manifest bytes they were checked
    against (read once, so a manifest swapped during the check cannot pass as the recorded one);
    None when there is no manifest file to hash.

    A manifest that is missing or unusable is a problem of the bundle, like a modified file:
    deleting or rewriting it is what tampering looks like. Raises EvidenceError only when the
    manifest exists but cannot be read (permissions, I/O).
    """
    problems, digest, _manifest = _checked(folder)
    return problems, digest


def _checked(folder: Path) -> tuple[list[str], str | None, dict[str, Any]]:
    """`checked_bundle`, and the manifest those problems were checked against ({} if unusable)."""
    path = folder / MANIFEST
    unchecked = "no file of the bundle can be checked"
    if path.is_symlink() or (path.exists() and not path.is_file()):
        return [f"{MANIFEST}: not a regular file; {unchecked}"], None, {}
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return [f"{MANIFEST}: missing; {unchecked}"], None, {}
    except OSError as exc:
        raise EvidenceError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if size > MAX_BUNDLE_FILE:
        return [f"{MANIFEST}: {size} bytes, too large to be a manifest; {unchecked}"], None, {}
    raw = _read_bytes(path)
    digest = hashlib.sha256(raw).hexdigest()
    try:
        manifest = _json(raw)
    except ValueError as exc:
        return [f"{MANIFEST}: not valid JSON ({exc}); {unchecked}"], digest, {}
    if (
        not isinstance(manifest, dict)
        or manifest.get("schema") != BUNDLE_SCHEMA
        or not isinstance(manifest.get("files"), dict)
    ):
        shape = f'a JSON object with "schema": "{BUNDLE_SCHEMA}" and a "files" object'
        return (
            [f"{MANIFEST}: not a {BUNDLE_SCHEMA} manifest (expected {shape}); {unchecked}"],
            digest,
            {},
        )
    return _problems(folder, manifest["files"]), digest, manifest


def rewritten_manifest(digest: str | None, recorded: str) -> str | None:
    """The problem `verify --manifest-sha256` reports when the manifest's SHA-256 `digest` is
    not the `recorded` one (any case), else None (also when there is no manifest to hash)."""
    if digest is None or digest == recorded.lower():
        return None
    return (
        f"{MANIFEST}: SHA-256 {digest} is not the recorded {recorded.lower()}; "
        "the bundle was rewritten"
    )


def _problems(folder: Path, expected: dict[str, Any]) -> list[str]:
    problems = []
    present = {
        p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() or p.is_symlink()
    } - {MANIFEST}
    for name, digest in sorted(expected.items()):
        path = folder / name
        if name not in present:
            problems.append(f"{name}: missing")
        elif path.is_symlink() or not path.is_file():
            problems.append(f"{name}: not a regular file")
        elif _sha256(path) != digest:
            problems.append(f"{name}: modified (SHA-256 differs from the manifest)")
    problems += [f"{name}: not in the manifest" for name in sorted(present - expected.keys())]
    return problems


def manifest_sha256(folder: Path) -> str:
    """The SHA-256 of the bundle's manifest: it pins every file of the bundle.

    The manifest alone cannot show that the whole bundle was not rewritten, manifest included;
    this digest, kept apart from the bundle (a ticket, a signed message), can.
    """
    return hashlib.sha256(_read_bytes(folder / MANIFEST)).hexdigest()


def load_observations(folder: Path, *, manifest_sha256: str | None = None) -> Observations:
    """The stored observations of a verified bundle. Raises EvidenceError if it was tampered,
    ManifestRewritten if `manifest_sha256` (recorded when it was made) is not its manifest's."""
    problems, digest, manifest = _checked(folder)
    rewritten = None if manifest_sha256 is None else rewritten_manifest(digest, manifest_sha256)
    if rewritten is not None:
        raise ManifestRewritten(f"{folder}: {rewritten}")
    if problems:
        raise EvidenceError(f"{folder}: the bundle does not verify: {problems[0]}")
    document = _read_json(folder / OBSERVATIONS)
    policy = _read_json(folder / POLICY)
    original = manifest.get("scan_id")
    if not isinstance(original, str) or not _SCAN_ID_RE.fullmatch(original):
        # Reports print it as the replay's provenance: an id, not text planted in the bundle.
        raise EvidenceError(
            f"{folder / MANIFEST}: expected a scan_id (up to 64 letters, digits, '.', '_', '-'); "
            "a replay names the scan it replays"
        )
    digests = {key: _manifest_digest(folder, manifest, key) for key in ("rules", "data")}
    try:
        return Observations(
            policy=Policy(
                policy["institution"],
                policy["home"],
                tuple(policy["allowed_locations"]),
                tuple(policy["home_jurisdictions"]),
                policy["default_classification"],
                tuple(policy["sensitive_classifications"]),
                tuple(policy.get("public_classifications", ["public"])),
                # A bundle from before frameworks were settled cites every framework, as it did.
                _frameworks(policy.get("frameworks")),
                _sector(policy.get("sector")),
            ),
            assets=tuple(asset_from_document(item) for item in document["assets"]),
            gaps=tuple(Gap(g["scope"], g["reason"]) for g in document["gaps"]),
            started_at=datetime.fromisoformat(document["started_at"]),
            finished_at=datetime.fromisoformat(document["finished_at"]),
            waivers=tuple(
                Waiver(
                    w["reason"],
                    w["owner"],
                    date.fromisoformat(w["expires"]),
                    finding=w["finding"],
                    asset=w["asset"],
                )
                for w in policy.get("waivers", [])
            ),
            profile=_profile(policy.get("profile")),
            networks=_networks(folder, policy.get("networks", [])),
            scan_id=original,
            rules_digest=digests["rules"],
            data_digest=digests["data"],
            dns_resolver=_dns_resolver(document.get("dns_resolver")),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        # AttributeError: a list or a number where an object belongs (`attributes: [1]`).
        raise EvidenceError(f"{folder / OBSERVATIONS}: malformed observations ({exc!r})") from None


def _manifest_digest(folder: Path, manifest: Mapping[str, Any], name: str) -> str | None:
    """The manifest's `<name>_digest`, None when it records none; a replay prints it."""
    value = manifest.get(f"{name}_digest")
    if value is None:
        return None
    if not isinstance(value, str) or not _DIGEST_RE.fullmatch(value):
        raise EvidenceError(
            f"{folder / MANIFEST}: {name}_digest: expected a digest (a SHA-256, and +PROFILE "
            "for the rules of a profile); a replay prints it"
        )
    return value


def with_original_rule_sources(ruleset: RuleSet, folder: Path) -> RuleSet:
    """The bundle's own rules named as the scan named them (`rules/control/x.yaml`, or the
    institution's folder as the inventory gave it), not by where the bundle sits now.

    Each stored folder's original name is learnt from the rules the bundle's report.json names
    (by rule id, when the name ends with the same path inside the folder) and given to all its
    rules, those a profile left out included: a profile tells the shipped rules it selects by
    these names. A folder the report names no rule of is the shipped rules (`rules/`) when it is
    the first, which a scan always copies first, else named inside the bundle (`rules/1-own/`).
    """
    report = _report_rules(folder / REPORT)
    named = report if isinstance(report, dict) else {}
    roots = [f"{root.as_posix().rstrip('/')}/" for root in bundled_rule_dirs(folder)]
    bundle = f"{folder.as_posix().rstrip('/')}/"
    placed: list[tuple[Rule, str, str]] = []  # (rule, its folder in the bundle, path inside)
    learnt: dict[str, str] = {}
    for rule in ruleset.rules:
        root = next((r for r in roots if rule.source.startswith(r)), None)
        if root is None:
            continue  # not one of the bundle's rules
        inside = rule.source[len(root) :]
        placed.append((rule, root, inside))
        entry = named.get(rule.id)
        original = entry.get("source") if isinstance(entry, dict) else None
        if isinstance(original, str) and original.endswith(inside):
            prefix = original[: len(original) - len(inside)]
            if prefix.endswith("/") and len(prefix) <= 300:
                learnt.setdefault(root, prefix)
    if roots and roots[0] not in learnt:
        learnt[roots[0]] = "rules/"
    renamed = {
        rule.id: replace(rule, source=learnt.get(root, root.removeprefix(bundle)) + inside)
        for rule, root, inside in placed
    }
    return replace(ruleset, rules=tuple(renamed.get(rule.id, rule) for rule in ruleset.rules))


_RULES_KEY = b'\n  "rules": '  # the report's top-level key, as `report.json.render` writes it


def _report_rules(path: Path) -> Any:
    """The `rules` of a bundle's report.json. A national audit's report is hundreds of MB and
    its rules a few KB at its end: read from where the key stands at the top level (a newline
    and two spaces: inside a string, a newline is escaped), else, for a report written
    otherwise, from the whole file."""
    try:
        with (
            path.open("rb") as stream,
            mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ) as view,
        ):
            at = view.rfind(_RULES_KEY)
            tail = bytes(view[at + len(_RULES_KEY) :]) if at >= 0 else None
    except (OSError, ValueError):  # ValueError: an empty file cannot be mapped
        tail = None
    if tail is not None:
        try:
            return json.JSONDecoder().raw_decode(tail.decode("utf-8"))[0]
        except (UnicodeDecodeError, ValueError, RecursionError):
            pass
    return _read_json(path).get("rules")


def bundled_rule_dirs(folder: Path) -> list[Path]:
    """The rule folders stored in the bundle, in the order the scan loaded them."""
    root = folder / RULES_DIR
    if not root.is_dir():
        return []
    return sorted(
        (p for p in root.iterdir() if p.is_dir()), key=lambda p: int(p.name.split("-", 1)[0])
    )


def _observations_document(scan: Scan) -> dict[str, Any]:
    """observations.json but its assets, which `write_bundle_pieces` splices in."""
    return {
        "schema": "sovscan.observations/1",
        "started_at": scan.started_at.isoformat(),
        "finished_at": scan.finished_at.isoformat(),
        # Which servers answered what the assets and gaps record (absent: no DNS question).
        **(
            {}
            if scan.dns_resolver is None
            else {"dns_resolver": dns_resolver_document(scan.dns_resolver)}
        ),
        "assets": [],
        "gaps": [{"scope": g.scope, "reason": g.reason} for g in scan.gaps],
    }


_SERVER_RE = re.compile(r"[^\x00-\x1f\x7f]{1,300}")


def _dns_resolver(value: Any) -> DnsResolver | None:
    """The `dns_resolver` of observations.json; None when the bundle records none. Reports
    print it, so only short printable texts are taken."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise TypeError("dns_resolver: expected an object")
    servers, source, given_by = value["servers"], value["source"], value.get("given_by")
    if not isinstance(servers, list) or len(servers) > 64:
        raise TypeError("dns_resolver.servers: expected a list of up to 64 servers")
    if not all(isinstance(s, str) and _SERVER_RE.fullmatch(s) for s in servers):
        raise ValueError("dns_resolver.servers: expected address:port texts")
    if source not in ("given", "system"):
        raise ValueError("dns_resolver.source: expected given or system")
    if given_by is not None and not (isinstance(given_by, str) and _SERVER_RE.fullmatch(given_by)):
        raise ValueError("dns_resolver.given_by: expected a short text")
    return DnsResolver(tuple(servers), source, given_by if source == "given" else None)


def asset_document(asset: Asset) -> dict[str, Any]:
    """An observed Asset as JSON-ready data; tuples keep their type as {"list": [...]}."""
    return {
        "id": asset.id,
        "kind": asset.kind,
        "name": asset.name,
        "attributes": {
            key: {"list": list(value)} if isinstance(value, tuple) else value
            for key, value in sorted(asset.attributes.items())
        },
        "evidence": [
            {
                "source": e.source,
                "detail": e.detail,
                "observed_at": e.observed_at.isoformat(),
                "confidence": e.confidence.value,
            }
            for e in asset.evidence
        ],
    }


def asset_from_document(document: Mapping[str, Any]) -> Asset:
    """The Asset written by `asset_document`. Raises KeyError/TypeError/ValueError if malformed."""
    attributes: dict[str, AttrValue] = {}
    for key, value in document["attributes"].items():
        if isinstance(value, dict):
            attributes[str(key)] = tuple(str(v) for v in value["list"])
        elif isinstance(value, str | int | bool):
            attributes[str(key)] = value
        else:
            raise TypeError(f"attribute {key!r} has an unsupported value")
    attributes = _without_other_tags(attributes)
    evidence = tuple(
        Evidence(
            e["source"],
            e["detail"],
            datetime.fromisoformat(e["observed_at"]),
            Confidence(e["confidence"]),
        )
        for e in document["evidence"]
    )
    return Asset(document["id"], document["kind"], document["name"], attributes, evidence)


def _without_other_tags(attributes: dict[str, AttrValue]) -> dict[str, AttrValue]:
    """A bundle written before sovscan kept only the classification tag holds every tag, and a
    classification cut from the tag's value whatever it held: keep the tag the classification
    came from (or an empty one, as the probe writes it), withheld as the probe now withholds
    it, and drop the others, so a replay does not spread them into new reports."""
    from sovscan.probes.aws import REDACTED, classification_label

    tags = {key: value for key, value in attributes.items() if key.startswith("tag:")}
    if not tags:  # a classification from the inventory, or none: nothing a tag could hold
        return attributes
    raw = attributes.get("classification")
    kept = {key: value for key, value in attributes.items() if not key.startswith("tag:")}
    if isinstance(raw, str) and raw.strip():
        kept["classification"] = classification_label(raw)
    for key, value in tags.items():
        if not isinstance(value, str):
            continue
        if not value.strip():
            kept[key] = value
            continue
        # The classification tag: its label is the classification, or the classification was
        # cut from its value (older probes kept 40 characters of it).
        source = isinstance(raw, str) and value.strip().lower()[: len(raw)] == raw
        label = classification_label(value)
        if label != REDACTED and label == kept.get("classification"):
            kept[key] = value
        elif label == REDACTED and source:
            kept[key] = kept["classification"] = REDACTED
    return kept


_SECRET_KEY_RE = re.compile(
    r"""^(\s*(?:member_)?external_id\s*=\s*)("(?:[^"\\]|\\.)*"|'[^']*')""", re.MULTILINE
)


_URL_RE = re.compile(r"""^(\s*url\s*=\s*)(["'])(.*?)\2""", re.MULTILINE)


_REDACTED = "<redacted>"
_SECRET_KEYS = frozenset({"external_id", "member_external_id"})
_REWRITTEN = (
    "# The inventory as sovscan read it, its secrets redacted: it writes one of them in a form\n"
    "# (a quoted key, a multi-line string, an inline table) that its lines could not be\n"
    "# redacted in, so comments and layout are not kept.\n"
)


def redact_inventory(text: str) -> str:
    """The inventory file with the values that act as shared secrets hidden: STS external ids,
    and what a SaaS URL may carry (user information, query, fragment, path parameters).

    The file as written, line by line, when that hides them all (checked on the parsed
    result); else the parsed inventory written again, redacted, since TOML can write a key
    or a string in forms no pattern over lines follows."""
    lines = _SECRET_KEY_RE.sub(rf'\1"{_REDACTED}"', text)
    lines = _URL_RE.sub(lambda m: f"{m[1]}{m[2]}{without_secrets(m[3])}{m[2]}", lines)
    try:
        parsed = tomllib.loads(lines)
        if _redacted(parsed) == parsed:
            return lines
    except (tomllib.TOMLDecodeError, RecursionError):
        pass  # the patterns cut into a form they do not follow (`external_id = """...`)
    try:
        document = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError):
        return _REWRITTEN  # not an inventory sovscan could have read: nothing of it is kept
    redacted = _redacted(document)
    return _REWRITTEN + "".join(f"{_toml_key(k)} = {_toml(v)}\n" for k, v in redacted.items())


def _redacted(value: Any, key: str | None = None) -> Any:
    """`value` (parsed TOML) with every secret in it replaced."""
    if isinstance(value, dict):
        return {k: _redacted(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_redacted(v, key) for v in value]
    if key in _SECRET_KEYS:
        return _REDACTED
    if key == "url" and isinstance(value, str):
        return without_secrets(value)
    return value


def _toml(value: Any) -> str:
    """`value` (parsed TOML) as a TOML value on one line: tables become inline tables."""
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, datetime | date | dt_time):
        return value.isoformat()
    return _toml_key(str(value))


def _toml_key(text: str) -> str:
    """`text` as a TOML basic string (also a quoted key)."""
    escaped = re.sub(
        r'[\\"\x00-\x1f\x7f]',
        lambda m: {"\\": "\\\\", '"': '\\"'}.get(m[0], f"\\u{ord(m[0]):04x}"),
        text,
    )
    return f'"{escaped}"'


def _policy_document(
    policy: Policy,
    profile: str | None = None,
    waivers: Sequence[Waiver] = (),
    networks: Sequence[DeclaredNetwork] = (),
) -> dict[str, Any]:
    return {
        "profile": profile,
        "waivers": [
            {
                "finding": w.finding,
                "asset": w.asset,
                "reason": w.reason,
                "owner": w.owner,
                "expires": w.expires.isoformat(),
            }
            for w in waivers
        ],
        "institution": policy.institution,
        "home": policy.home,
        "allowed_locations": list(policy.allowed_locations),
        "home_jurisdictions": list(policy.home_jurisdictions),
        "default_classification": policy.default_classification,
        "sensitive_classifications": list(policy.sensitive_classifications),
        "public_classifications": list(policy.public_classifications),
        "frameworks": None if policy.frameworks is None else list(policy.frameworks),
        "sector": policy.sector,
        # As the inventory writes them, so the loader checks them as the inventory's are.
        "networks": [
            {
                "name": n.name,
                "prefixes": list(n.prefixes),
                "operator": n.operator,
                "parent": n.parent,
                "jurisdictions": list(n.jurisdictions),
                "place": n.place,
                "basis": n.basis,
            }
            for n in networks
        ],
    }


def _networks(folder: Path, value: Any) -> tuple[DeclaredNetwork, ...]:
    try:
        return parse_networks(value, str(folder / POLICY))
    except ConfigError as exc:
        raise EvidenceError(f"malformed declared networks: {exc}") from None


def _profile(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise TypeError(f"profile: expected a profile name; got {shown(value)}")


def _frameworks(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise EvidenceError(f"{POLICY}: frameworks: expected a list of framework ids")
    return tuple(value)


def _sector(value: Any) -> str | None:
    # A bundle from before sectors cites both sectors' controls, as it did.
    if value is None or value in SECTORS:
        return value  # type: ignore[no-any-return]
    raise EvidenceError(f"{POLICY}: sector: expected public or private; got {shown(value)}")


def _write_json(path: Path, document: Any) -> None:
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _write_pieces(path: Path, pieces: Iterable[str]) -> None:
    """Text written piece by piece, as UTF-8 with no newline translation."""
    with path.open("w", encoding="utf-8", newline="") as out:
        for piece in pieces:
            out.write(piece)


def _read_json(path: Path) -> dict[str, Any]:
    return _parsed(path, _read_bytes(path))


def _read_bytes(path: Path) -> bytes:
    try:
        if path.stat().st_size > MAX_BUNDLE_FILE:
            raise EvidenceError(f"{path}: too large to be a sovscan bundle file")
        return path.read_bytes()
    except OSError as exc:
        raise EvidenceError(f"{path}: cannot read ({exc.strerror or exc})") from None


def _parsed(path: Path, raw: bytes) -> dict[str, Any]:
    try:
        document = _json(raw)
    except ValueError as exc:
        raise EvidenceError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(document, dict):
        raise EvidenceError(f"{path}: expected a JSON object")
    return document


def _json(raw: bytes) -> Any:
    """`raw` decoded; ValueError (UnicodeDecodeError and JSONDecodeError are ones) when it is
    not UTF-8 JSON, deep nesting included, on which json.loads raises RecursionError."""
    try:
        return json.loads(raw.decode("utf-8"))
    except RecursionError:
        raise ValueError("nested too deeply") from None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
