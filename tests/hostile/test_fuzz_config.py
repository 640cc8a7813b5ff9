"""The inventory parser on any document or bytes: a ScanConfig or one line naming the file."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from sovscan.config import ScanConfig, load_config, parse_config
from sovscan.errors import ConfigError

SETTINGS = settings(
    max_examples=80,
    deadline=1000,
    database=None,
    phases=(Phase.explicit, Phase.generate),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
LABEL = "/nonexistent/fuzz/sovscan.toml"

KEYS = [
    "institution", "aws", "dns", "saas", "waivers", "rules", "name", "home", "profile",
    "allowed_locations", "home_jurisdictions", "default_classification",
    "sensitive_classifications", "role_arn", "external_id", "regions", "domains", "names", "url",
    "classification", "dirs", "finding", "asset", "reason", "owner", "expires", "rule",
]  # fmt: skip
ODD_STRINGS = [
    "", " ", "all", "CA-QC", "ca", "EU", "ca-central-1", "universite.example", "xn--", "-a.b",
    "https://lms.universite.example", "http://[::1", "http://[v1.x]/", "https://:0/",
    "http://a:99999/", "https://ex\x00ample.org", "https://é.example", "arn:aws:iam::1:role/x",
    "arn:aws:iam::123456789012:role/sovscan", "www", "_sip._tls", "..", "a" * 600, "é" * 64,
    "2026-01-01", "\ud800", "\u202e", "personal", "../../etc", "*", "%s%n",
]  # fmt: skip

scalars = st.one_of(
    st.sampled_from(ODD_STRINGS),
    st.text(max_size=30),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True),
    st.booleans(),
    st.dates(),
    st.datetimes(timezones=st.one_of(st.none(), st.just(dt.UTC))),
    st.times(),
    st.none(),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=8)), inner, max_size=5),
    ),
    max_leaves=25,
)
INSTITUTION_OPTIONAL = (
    "allowed_locations",
    "default_classification",
    "profile",
    "sensitive_classifications",
    "home_jurisdictions",
)
documents = st.dictionaries(st.sampled_from(KEYS), values, max_size=6)
# Documents near the valid shape, so the parser's deeper branches are reached.
tables = st.dictionaries(st.sampled_from(KEYS), values, max_size=8)
institution = st.fixed_dictionaries(
    {"name": scalars, "home": scalars}, optional=dict.fromkeys(INSTITUTION_OPTIONAL, values)
)
near_valid = st.fixed_dictionaries(
    {"institution": institution},
    optional={
        "aws": st.lists(tables, max_size=3),
        "dns": tables,
        "saas": st.lists(tables, max_size=3),
        "waivers": st.one_of(st.lists(tables, max_size=3), values),
        "rules": tables,
    },
)  # fmt: skip


def _check(call: Any) -> None:
    try:
        result = call()
    except ConfigError as exc:
        message = str(exc)
        assert message.startswith(LABEL), message
        assert "\n" not in message and "\r" not in message, message
        assert len(message) < 1200
    else:
        assert isinstance(result, ScanConfig)
        assert result.source == LABEL


@SETTINGS
@given(documents)
def test_arbitrary_documents(document: dict[str, Any]) -> None:
    _check(lambda: parse_config(document, LABEL))


@SETTINGS
@given(near_valid)
def test_near_valid_documents(document: dict[str, Any]) -> None:
    _check(lambda: parse_config(document, LABEL))


VALID = """\
[institution]
name = "Université Exemple"
home = "CA-QC"
allowed_locations = ["CA-QC", "CA"]
default_classification = "personal"

[[aws]]
profile = "audit"
regions = ["ca-central-1", "us-east-1"]

[dns]
domains = ["universite.example"]
names = ["intranet"]

[[saas]]
name = "LMS"
url = "https://lms.universite.example"
classification = "personal"
"""


@SETTINGS
@given(
    st.lists(
        st.tuples(st.integers(0, len(VALID)), st.integers(0, 8), st.text(max_size=6)),
        max_size=4,
    )
)
def test_mutated_toml_text(tmp_path_factory: Any, edits: list[tuple[int, int, str]]) -> None:
    text = VALID
    for position, cut, insert in edits:
        text = text[:position] + insert + text[position + cut :]
    folder = tmp_path_factory.mktemp("cfg")
    path = folder / "sovscan.toml"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))

    def load() -> ScanConfig:
        return load_config(path)

    try:
        result = load()
    except ConfigError as exc:
        assert str(exc).startswith(str(path)), str(exc)
        assert "\n" not in str(exc), str(exc)
    else:
        assert isinstance(result, ScanConfig)


@SETTINGS
@given(st.binary(max_size=300))
def test_arbitrary_bytes(tmp_path_factory: Any, data: bytes) -> None:
    path = Path(tmp_path_factory.mktemp("cfg")) / "sovscan.toml"
    path.write_bytes(data)
    try:
        load_config(path)
    except ConfigError as exc:
        assert str(exc).startswith(str(path)) and "\n" not in str(exc), str(exc)


def test_the_valid_base_document_loads(tmp_path: Path) -> None:
    path = tmp_path / "sovscan.toml"
    path.write_text(VALID, encoding="utf-8")
    config = load_config(path)
    assert config.domains == ("universite.example",)
    assert config.saas[0].host == "lms.universite.example"


def test_a_malformed_saas_url_is_one_config_error() -> None:
    document = {
        "institution": {"name": "U", "home": "CA-QC"},
        "saas": [{"name": "LMS", "url": "http://[::1"}],
    }
    _check(lambda: parse_config(document, LABEL))
