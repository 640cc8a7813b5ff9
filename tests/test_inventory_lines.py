"""The inventory's lines: where a domain, a [[saas]] table or an [[aws]] source is declared,
found by reading the TOML as text, and checked against what tomllib reads from it."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sovscan.config import load_config
from sovscan.inventory_lines import Span, declarations, entries, locate, relative_uri
from sovscan.probes.dns import normalize_domain

TRICKY = r'''# dns.domains = ["in-a-comment.example"]
[institution]
name = 'C:\no\escapes # [dns]'
home = "CA-QC"

[[waivers]]
asset = "a # [dns] \" ] domains = [\"fake.example\"]"
reason = """
[dns]
domains = ["in-a-string.example"]
"""
owner = "dpo@x.example"
expires = 2099-05-27

[[aws]]  # the first source
name = "main"
profile = "audit"

[[aws]]
"role_arn" = "arn:aws:iam::123456789012:role/sovscan-audit"
member_role = "sovscan-audit"

["dns"]
"domains" = [
  "sub.example.ca",   # "example.ca" is not this one
  'example.ca',
  # "commented.example",
  "\u00c9cole.example.",  "example.ca",
]

[[saas]]
name = "LMS"
url = "https://lms.example.ca/path"
classification = "personal"

[[saas]]
name = "Mail"
url = "https://MAIL.example.ca:8443"
classification = "personal"
'''


def line_of(text: str, needle: str, occurrence: int = 1) -> int:
    """The 1-based line of the `occurrence`th line holding `needle`."""
    lines = [n for n, line in enumerate(text.splitlines(), 1) if needle in line]
    return lines[occurrence - 1]


def write(folder: Path, text: str) -> Path:
    path = folder / "sovscan.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_domains_are_found_on_their_own_line_of_a_multi_line_array(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, TRICKY))
    domains, _, _ = declarations(TRICKY, config, normalize_domain)
    assert (
        set(domains)
        == set(config.domains)
        == {
            "sub.example.ca",
            "example.ca",
            "xn--cole-9oa.example",
        }
    )
    # a prefix or a suffix of another name is its own entry, on its own line
    sub, plain = domains["sub.example.ca"], domains["example.ca"]
    assert sub.start_line == line_of(TRICKY, '"sub.example.ca"')
    assert plain.start_line == line_of(TRICKY, "'example.ca'")
    assert sub != plain
    # the region is the string, quotes included
    assert (plain.start_column, plain.end_column) == (3, 3 + len("'example.ca'"))
    # escapes and IDN: the name as the scan has it; a duplicate: the first one
    ecole = domains["xn--cole-9oa.example"]
    assert ecole.start_line == line_of(TRICKY, "\\u00c9cole")


def test_comments_and_strings_declare_nothing() -> None:
    found = entries(TRICKY)
    values = {entry.value for entry in found}
    assert "in-a-comment.example" not in values
    assert "commented.example" not in values
    assert not any(entry.path[:1] == ("dns",) and entry.value == "fake.example" for entry in found)
    # the multi-line string holds "[dns]" and a domains line: one value, not a table
    (reason,) = [entry for entry in found if entry.path == ("waivers", 0, "reason")]
    assert reason.value == '[dns]\ndomains = ["in-a-string.example"]\n'
    headers = [entry.path for entry in found if entry.value is None and len(entry.path) <= 2]
    assert ("dns",) in headers and headers.count(("dns",)) == 1


def test_every_string_found_is_the_one_tomllib_reads_there() -> None:
    """The oracle: each string the text reader finds, at its path, is tomllib's value."""
    text = (
        TRICKY + "[other]\nwhen = 1979-05-27 07:32:00Z\nt = 07:32:00\nn = [1, 2.5, true, -inf]\n"
        'm = """two \\\n    lines"""\nq = \'\'\'a\'b\'\'\'\nlast = "after all that"\n'
    )
    document = tomllib.loads(text)
    strings = [entry for entry in entries(text) if entry.value is not None]
    assert strings[-1].value == "after all that"
    assert len(strings) >= 15
    for entry in strings:
        assert dig(document, entry.path) == entry.value, entry.path
    assert len(strings) == count_strings(document)


def dig(document: Any, path: tuple[str | int, ...]) -> Any:
    for part in path:
        document = document[part]
    return document


def count_strings(value: Any) -> int:
    if isinstance(value, str):
        return 1
    if isinstance(value, dict):
        return sum(count_strings(v) for v in value.values())
    if isinstance(value, list):
        return sum(count_strings(v) for v in value)
    return 0


@pytest.mark.parametrize(
    "dns",
    [
        'dns.domains = ["a.example", "b.example"]\n',
        'dns = { domains = ["a.example", "b.example"] }\n',
        '[dns]\ndomains = ["a.example",\n"b.example"]\n',
        '[dns]\ndomains = [ # several lines\n  "a.example", # first\n\n  "b.example"\n]\n',
    ],
)
def test_domains_wherever_the_inventory_writes_them(tmp_path: Path, dns: str) -> None:
    # dotted keys and inline tables belong to the root table: before any header
    text = (
        f'{dns}[institution]\nname = "X"\nhome = "CA"\n'
        if "[dns]" not in dns
        else (f'[institution]\nname = "X"\nhome = "CA"\n{dns}')
    )
    config = load_config(write(tmp_path, text))
    domains, _, _ = declarations(text, config, normalize_domain)
    assert domains["a.example"].start_line == line_of(text, '"a.example"')
    assert domains["b.example"].start_line == line_of(text, '"b.example"')


def test_saas_tables_and_aws_sources(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, TRICKY))
    _, saas, aws = declarations(TRICKY, config, normalize_domain)
    assert saas["lms.example.ca"].start_line == line_of(TRICKY, "[[saas]]", 1)
    assert saas["mail.example.ca"].start_line == line_of(TRICKY, "[[saas]]", 2)
    main, role = aws["aws:main"], aws["aws:arn:aws:iam::123456789012:role/sovscan-audit"]
    assert main.source.start_line == line_of(TRICKY, 'profile = "audit"')
    assert main.role_account is None and main.members is None
    assert role.source.start_line == line_of(TRICKY, '"role_arn"')
    assert role.role_account == "123456789012"
    assert role.members is not None
    assert role.members.start_line == line_of(TRICKY, "member_role")


def test_an_aws_source_with_neither_profile_nor_role_is_its_table(tmp_path: Path) -> None:
    text = '[institution]\nname = "X"\nhome = "CA"\n\n[[aws]]\nregions = ["ca-central-1"]\n'
    config = load_config(write(tmp_path, text))
    _, _, aws = declarations(text, config, normalize_domain)
    assert aws["aws:source-0"].source == Span(5, 1, 5, 8)


def test_columns_count_utf16_code_units() -> None:
    # SARIF's default column unit: an emoji outside the BMP is two code units
    text = 'dns.domains = ["\U0001f600", "a.example"]\n'
    (_, second) = [e for e in entries(text) if len(e.path) == 3]
    before = len("dns.domains = [") + 4 + len(", ")  # the quoted emoji is 4 code units
    assert second.span == Span(1, before + 1, 1, before + 1 + len('"a.example"'))


@pytest.mark.parametrize(
    "text",
    [
        'dns.domains = ["a.example", "b.example"\n',  # an array never closed
        'dns.domains = ["a.example", "b.exam',  # a string never closed
        '[dns\ndomains = ["a.example"]\n',
        "dns.domains = " + "[" * 5000 + "]" * 5000,  # deeper than the stack
        'dns.domains = ["a.example", "\\q", "b.example"]\n',  # no such escape
        "\x00\ufeff[[[",
    ],
)
def test_odd_text_keeps_what_it_read_and_never_raises(text: str) -> None:
    found = entries(text)
    if text.startswith('dns.domains = ["a.example", "b.example"\n'):
        assert [e.value for e in found] == ["a.example", "b.example"]


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list('[]{}"\'#=,.\\\n abc1u"""')), max_size=80))
def test_any_text_is_read_without_an_error(text: str) -> None:
    for entry in entries(text):
        assert entry.span.start_line >= 1 and entry.span.start_column >= 1


def test_relative_uri_is_relative_to_the_working_directory(tmp_path: Path) -> None:
    repo = tmp_path / "my repo"
    (repo / "audit").mkdir(parents=True)
    inventory = write(repo / "audit", "")
    assert relative_uri(inventory, repo) == "audit/sovscan.toml"
    assert relative_uri(repo / "audit" / ".." / "audit" / "sovscan.toml", repo) == (
        "audit/sovscan.toml"
    )
    assert relative_uri(inventory, repo / "audit") == "sovscan.toml"
    (repo / "é t").mkdir()
    assert relative_uri(write(repo / "é t", ""), repo) == "%C3%A9%20t/sovscan.toml"
    # outside the working directory: no path at all, never an absolute one or a `..`
    assert relative_uri(inventory, repo / "elsewhere") is None
    outside = write(tmp_path, "")
    link = repo / "linked.toml"
    os.symlink(outside, link)
    assert relative_uri(link, repo) is None
    # a link inside the repository: the file it leads to (code scanning does not follow links)
    inner = repo / "inner-link.toml"
    os.symlink(inventory, inner)
    assert relative_uri(inner, repo) == "audit/sovscan.toml"


def test_locate_gives_the_uri_and_the_lines(tmp_path: Path) -> None:
    path = write(tmp_path, TRICKY)
    config = load_config(path)
    inventory = locate(path, config, normalize_domain, tmp_path)
    assert inventory is not None
    assert inventory.uri == "sovscan.toml"
    assert set(inventory.domains) == set(config.domains)
    assert locate(path, config, normalize_domain, tmp_path / "sub") is None
