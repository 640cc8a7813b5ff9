"""Values in one-line errors read as the file wrote them, not as Python's repr."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from sovscan.config import load_config
from sovscan.errors import ConfigError
from sovscan.shown import shown


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (True, "true"),
        (False, "false"),
        (None, "nothing"),
        (datetime.date(2027, 6, 30), "2027-06-30"),
        (datetime.datetime(2027, 6, 30, 8, 0), "2027-06-30T08:00:00"),
        ({"name": "m", "on": True}, "{name = 'm', on = true}"),
        ([1, "a", False], "[1, 'a', false]"),
        ("x" * 100, "'" + "x" * 76 + "..."),
        (3, "3"),
    ],
)
def test_values_read_as_written(value: object, text: str) -> None:
    assert shown(value) == text


def test_hostile_values_cost_no_more_than_the_message_shows() -> None:
    # A YAML alias can make a list that holds itself; a file can nest or repeat without end.
    looped: list[object] = [1]
    looped.append(looped)
    assert shown(looped) == "[1, ...]"
    deep: list[object] = []
    for _ in range(100_000):
        deep = [deep]
    assert shown(deep) == "[[[[[[[[...]]]]]]]]"
    assert len(shown(list(range(10**6)))) == 80
    # A key carrying a terminal escape is quoted and escaped; a 4,000-digit hex integer is named,
    # not printed (repr refuses it past 4,300 digits: that was an internal error, exit 4).
    assert shown({"\x1b]0;pwn\x07": 1}) == "{'\\x1b]0;pwn\\x07' = 1}"
    assert shown(int("f" * 4000, 16)) == "<an integer of about 4817 digits>"


def test_a_yaml_boolean_says_why_a_word_became_one() -> None:
    assert shown(False, yaml=True) == (
        "false (YAML reads yes, no, on and off as booleans: quote the text)"
    )
    assert shown("no", yaml=True) == "'no'"


def test_an_inventory_error_shows_the_toml_value(tmp_path: Path) -> None:
    path = tmp_path / "sovscan.toml"
    path.write_text('[institution]\nname = true\nhome = "CA-QC"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    assert str(raised.value).endswith(
        "institution.name: expected a non-empty string of at most 512 characters; got true"
    )
