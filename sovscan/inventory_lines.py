"""Where an inventory file declares what a scan looks at: the line of each domain, [[saas]]
table and [[aws]] source, for reports that point into the file (SARIF).

A TOML parser that keeps positions would be one more dependency for one report; this reads the
file as text instead. It knows just enough TOML to never be fooled: comments, the four kinds of
strings with their escapes, dotted and quoted keys, table headers, arrays (over several lines)
and inline tables. It runs after `config.load_config` accepted the file, so the text is valid
TOML; should it still meet something it does not follow, it keeps what it found before, and a
report falls back to what it would say without the file.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TypeAlias
from urllib.parse import quote, urlsplit

from sovscan.config import ScanConfig, aws_source_name

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_ACCOUNT_IN_ARN = re.compile(r"^arn:[^:]*:iam::(\d{12}):")
_ESCAPES = {"b": "\b", "t": "\t", "n": "\n", "f": "\f", "r": "\r", '"': '"', "\\": "\\"}
_SCALAR = re.compile(r"[^,\]}\s#]+(?: [0-9][^,\]}\s#]*)?")  # a date-time may hold one space
_JOINED_LINES = re.compile(r"\\[ \t]*\r?\n[ \t\r\n]*")

KeyPath: TypeAlias = tuple[str | int, ...]
"""A value's place in the document: keys, and an index for an array element or an entry of an
array of tables (`("aws", 0, "profile")`, `("dns", "domains", 2)`)."""

Normalize: TypeAlias = Callable[[str], str | None]
"""A domain as written to the scan's name for it, None if it is not a domain name."""


@dataclass(frozen=True, slots=True)
class Span:
    """A stretch of a text file as SARIF's `region` gives it: lines from 1, columns from 1 in
    UTF-16 code units, `end_column` the column after the last character."""

    start_line: int
    start_column: int
    end_line: int
    end_column: int


@dataclass(frozen=True, slots=True)
class Entry:
    """A table header, a key's value or an array element, where the text has it. `value` is the
    string a string holds (escapes decoded), None for anything else."""

    path: KeyPath
    value: str | None
    span: Span


@dataclass(frozen=True, slots=True)
class AwsDeclaration:
    """Where an [[aws]] source is declared: its credentials line (`role_arn`, else `profile`,
    else the table header), and its `member_role` line, which brings in an Organization's
    other accounts."""

    source: Span
    role_account: str | None  # the account of role_arn: that one is not a member
    members: Span | None


@dataclass(frozen=True, slots=True)
class Inventory:
    """An inventory file as a report points into it: its URI reference relative to the working
    directory (where a CI job's checkout is), and where it declares each part of the scope."""

    uri: str
    domains: Mapping[str, Span]  # domain as the scan names it -> its string in dns.domains
    saas: Mapping[str, Span]  # asset host -> the header of its [[saas]] table
    aws: Mapping[str, AwsDeclaration]  # by probe name, `aws:<name>` (config.aws_source_name)


class _Unfollowed(Exception):
    """The text holds something this reader does not follow; what was read so far stands."""


def entries(text: str) -> tuple[Entry, ...]:
    """The table headers, keys and array elements of a TOML text, in order."""
    found: list[Entry] = []
    with contextlib.suppress(_Unfollowed, RecursionError):
        _document(_Text(text), found)
    return tuple(found)


def declarations(
    text: str, config: ScanConfig, normalize: Normalize
) -> tuple[Mapping[str, Span], Mapping[str, Span], Mapping[str, AwsDeclaration]]:
    """Where the inventory `text` (already read into `config`) declares its domains, SaaS
    endpoints and AWS sources. `normalize` turns a domain as written into the scan's name for
    it (None if it is not one), as the inventory's reader does: "Université.example" is
    xn--universit-...; the first of duplicates is the one that counts."""
    found = entries(text)
    domains: dict[str, Span] = {}
    for entry in found:
        path = entry.path
        if len(path) == 3 and path[:2] == ("dns", "domains") and entry.value is not None:
            name = normalize(entry.value)
            if name is not None:
                domains.setdefault(name, entry.span)
    by_path = {entry.path: entry for entry in found}
    saas: dict[str, Span] = {}
    for index in range(len(config.saas)):
        table, url = by_path.get(("saas", index)), by_path.get(("saas", index, "url"))
        if table is None or url is None or url.value is None:
            continue
        host = (urlsplit(url.value).hostname or "").rstrip(".").lower()
        saas.setdefault(host, table.span)
    aws: dict[str, AwsDeclaration] = {}
    for index, source in enumerate(config.aws):
        table = by_path.get(("aws", index))
        if table is None:
            continue
        role = by_path.get(("aws", index, "role_arn"))
        line = role or by_path.get(("aws", index, "profile")) or table
        account = _ACCOUNT_IN_ARN.match(role.value or "") if role else None
        members = by_path.get(("aws", index, "member_role"))
        aws[aws_source_name(source, index)] = AwsDeclaration(
            line.span,
            account.group(1) if account else None,
            members.span if members else None,
        )
    return MappingProxyType(domains), MappingProxyType(saas), MappingProxyType(aws)


def relative_uri(path: Path, working_directory: Path) -> str | None:
    """`path` as a URI reference relative to `working_directory`, both with their symbolic
    links resolved (code scanning cannot show a result in a file it reaches through a link),
    or None when it lies outside it: a runner's absolute path, or a `..` into the home
    folder, means nothing to the repository's viewers and says what it should not."""
    target = Path(os.path.realpath(path))
    root = Path(os.path.realpath(working_directory))
    if not target.is_relative_to(root) or target == root:
        return None
    return quote(target.relative_to(root).as_posix(), safe="/")


def locate(
    path: Path, config: ScanConfig, normalize: Normalize, working_directory: Path
) -> Inventory | None:
    """The inventory at `path` (which `config` was read from) as reports point into it; None
    when it is outside the working directory or can no longer be read."""
    uri = relative_uri(path, working_directory)
    if uri is None:
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    domains, saas, aws = declarations(text, config, normalize)
    return Inventory(uri, domains, saas, aws)


class _Text:
    """The text being read and where the reader is in it."""

    __slots__ = ("at", "line_starts", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.at = 0
        self.line_starts = [0, *(m.end() for m in re.finditer(r"\n", text))]

    def peek(self, count: int = 1) -> str:
        return self.text[self.at : self.at + count]

    def position(self, offset: int) -> tuple[int, int]:
        """Line and UTF-16 column (both from 1) of the character at `offset`."""
        line = _bisect(self.line_starts, offset)
        before = self.text[self.line_starts[line] : offset]
        return line + 1, len(before.encode("utf-16-le", "surrogatepass")) // 2 + 1

    def span(self, start: int, end: int) -> Span:
        first_line, first_column = self.position(start)
        last_line, after_column = self.position(end)
        return Span(first_line, first_column, last_line, after_column)


def _bisect(starts: Sequence[int], offset: int) -> int:
    low, high = 0, len(starts) - 1
    while low < high:
        middle = (low + high + 1) // 2
        if starts[middle] <= offset:
            low = middle
        else:
            high = middle - 1
    return low


def _blank(text: _Text, *, newlines: bool) -> None:
    """Skip spaces, tabs and comments, and line ends too when `newlines`."""
    while text.at < len(text.text):
        char = text.text[text.at]
        if char in " \t" or (newlines and char in "\r\n"):
            text.at += 1
        elif char == "#":
            end = text.text.find("\n", text.at)
            text.at = len(text.text) if end < 0 else end
        else:
            return


def _document(text: _Text, found: list[Entry]) -> None:
    table: KeyPath = ()
    arrays: dict[KeyPath, int] = {}  # each array of tables' last index
    while True:
        _blank(text, newlines=True)
        if text.at >= len(text.text):
            return
        start = text.at
        if text.peek() == "[":
            table = _header(text, arrays)
            found.append(Entry(table, None, text.span(start, text.at)))
            continue
        _key_value(text, table, found)


def _key_value(text: _Text, table: KeyPath, found: list[Entry]) -> None:
    """Read `key = value` in `table`; its entry spans the whole of it."""
    start = text.at
    keys = _key(text)
    _blank(text, newlines=False)
    if text.peek() != "=":
        raise _Unfollowed
    text.at += 1
    _blank(text, newlines=False)
    path = (*table, *keys)
    value = _value(text, path, found)
    found.append(Entry(path, value, text.span(start, text.at)))


def _header(text: _Text, arrays: dict[KeyPath, int]) -> KeyPath:
    """Read `[a.b]` or `[[a.b]]`: the table's path, with the index of each array of tables it
    lies in (`[aws.x]` after the second `[[aws]]` is `("aws", 1, "x")`)."""
    double = text.peek(2) == "[["
    text.at += 2 if double else 1
    _blank(text, newlines=False)
    keys = _key(text)
    _blank(text, newlines=False)
    close = "]]" if double else "]"
    if text.peek(len(close)) != close:
        raise _Unfollowed
    text.at += len(close)
    path: KeyPath = ()
    for number, key in enumerate(keys, 1):
        path = (*path, key)
        if double and number == len(keys):
            arrays[path] = arrays.get(path, -1) + 1
            path = (*path, arrays[path])
        elif path in arrays:
            path = (*path, arrays[path])
    return path


def _key(text: _Text) -> tuple[str, ...]:
    keys: list[str] = []
    while True:
        _blank(text, newlines=False)
        if text.peek() in ('"', "'"):
            key = _string(text)
            if key is None:
                raise _Unfollowed
            keys.append(key)
        else:
            match = _BARE_KEY.match(text.text, text.at)
            if match is None:
                raise _Unfollowed
            keys.append(match.group())
            text.at = match.end()
        _blank(text, newlines=False)
        if text.peek() != ".":
            return tuple(keys)
        text.at += 1


def _value(text: _Text, path: KeyPath, found: list[Entry]) -> str | None:
    char = text.peek()
    if char in ('"', "'"):
        return _string(text)
    if char == "[":
        _array(text, path, found)
    elif char == "{":
        _inline_table(text, path, found)
    else:  # a number, a boolean or a date: up to what ends a value
        match = _SCALAR.match(text.text, text.at)
        if match is None:
            raise _Unfollowed
        text.at = match.end()
    return None


def _array(text: _Text, path: KeyPath, found: list[Entry]) -> None:
    text.at += 1
    index = 0
    while True:
        _blank(text, newlines=True)
        if text.peek() == "]":
            text.at += 1
            return
        start = text.at
        element = (*path, index)
        value = _value(text, element, found)
        found.append(Entry(element, value, text.span(start, text.at)))
        index += 1
        _blank(text, newlines=True)
        if text.peek() == ",":
            text.at += 1
        elif text.peek() != "]":
            raise _Unfollowed


def _inline_table(text: _Text, path: KeyPath, found: list[Entry]) -> None:
    text.at += 1
    while True:
        _blank(text, newlines=True)
        if text.peek() == "}":
            text.at += 1
            return
        _key_value(text, path, found)
        _blank(text, newlines=True)
        if text.peek() == ",":
            text.at += 1


def _string(text: _Text) -> str | None:
    """Read a string at the reader; its value, or None when an escape is not one TOML has (the
    string is still passed over, so nothing after it is misread)."""
    quote_char = text.peek()
    multi = text.peek(3) == quote_char * 3
    delimiter = quote_char * 3 if multi else quote_char
    text.at += len(delimiter)
    if multi and text.peek() == "\n":
        text.at += 1  # a newline right after the opening delimiter is not part of the string
    elif multi and text.peek(2) == "\r\n":
        text.at += 2
    pieces: list[str] = []
    valid = True
    while True:
        if text.at >= len(text.text):
            raise _Unfollowed
        char = text.text[text.at]
        if text.text.startswith(delimiter, text.at):
            # A multi-line string may end in up to two quotes of its own before the delimiter.
            extra = 0
            while multi and extra < 2 and text.text.startswith(delimiter, text.at + extra + 1):
                extra += 1
            pieces.append(quote_char * extra)
            text.at += extra + len(delimiter)
            return "".join(pieces) if valid else None
        if char == "\n" and not multi:
            raise _Unfollowed
        if char == "\\" and quote_char == '"':
            decoded = _escape(text, multi)
            if decoded is None:
                valid = False
            else:
                pieces.append(decoded)
            continue
        pieces.append(char)
        text.at += 1


def _escape(text: _Text, multi: bool) -> str | None:
    """Read the escape at the reader (at its backslash): what it stands for, or None."""
    code = text.text[text.at + 1 : text.at + 2]
    if code in _ESCAPES:
        text.at += 2
        return _ESCAPES[code]
    if code in ("u", "U"):
        digits = text.text[text.at + 2 : text.at + (6 if code == "u" else 10)]
        text.at += 2 + len(digits)
        if re.fullmatch(r"[0-9A-Fa-f]{4}|[0-9A-Fa-f]{8}", digits):
            number = int(digits, 16)
            if number <= 0x10FFFF and not 0xD800 <= number <= 0xDFFF:
                return chr(number)
        return None
    if multi:  # a line-ending backslash joins lines: it and the blanks after it are dropped
        match = _JOINED_LINES.match(text.text, text.at)
        if match:
            text.at = match.end()
            return ""
    text.at += 1
    return None
