"""A fast decoder for the plain block YAML most config files are, or None.

libyaml makes a Python event object (with two position marks) for every scalar, key
and collection; at a cold start of 10,000 services that is most of decoding 20,000
files. Nearly all of them are written the same way: block mappings and sequences by
indentation, one `key: value` per line, plain or simply quoted scalars. For exactly that
subset this module reads the lines itself (a fourth of the CPU time) and gives the
very values `safe_yaml.load_documents` gives: scalars are resolved by the same cached
resolver (`safe_yaml._plain_value`). Anything else anywhere in a file — flow
collections, block scalars, anchors, aliases, tags, multi-line scalars, escapes, tabs,
non-ASCII text, duplicate or non-string keys, anything malformed — makes it answer
None, and the whole file is decoded by libyaml as before, errors and all. It never
decides what is an error; it only recognizes what certainly is not one.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

# one line: its indentation, then either a sequence dash or a plain key and its rest
_KEY = re.compile(r"([A-Za-z0-9_][A-Za-z0-9_./-]*):(?: +(.*))?")
# a character anywhere in the text that takes libyaml's path: control characters, tab
_UNUSUAL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")
# the first character of a plain scalar that is not one (YAML indicators)
_INDICATORS = frozenset("[]{},#&*!|>'\"%@`")
# the value of an empty flow collection, the only flow forms taken here
_EMPTY_FLOW = {"{}": dict, "[]": list}
# keys seen to read as strings (the same few hundred come back in every file); bounded
_STRING_KEYS: set[str] = set()
_STRING_KEYS_MAX = 100_000


# raised (and caught in `decode`) where the text leaves the plain subset
_Unusual = ValueError

Line = tuple[int, str, int]  # indentation, content (stripped), 1-based line number


Resolve = Callable[[str], Any]


def decode(text: str, max_depth: int, resolve: Resolve) -> list[tuple[int, Any]] | None:
    """Each document's (first line, value), as `load_documents` would give them, or None
    when `text` is not plain block YAML (see the module). `resolve`: the value of an
    unquoted scalar (the loader's own resolver, so both read a scalar alike)."""
    if not text.isascii() or _UNUSUAL.search(text):
        return None
    documents: list[list[Line]] = []
    current: list[Line] | None = None
    starts: list[int] = []
    for number, raw in enumerate(text.split("\n"), 1):
        content = raw.strip(" ")
        if not content or content[0] == "#":
            continue  # a blank line or a whole-line comment
        if raw[0] in "-." and (raw.startswith("---") or raw.startswith("...")):
            if content != "---":
                return None  # `--- value`, `...`, `----`: libyaml's to read
            current = []
            documents.append(current)
            starts.append(number)
            continue
        if raw[0] == "%":
            return None  # a directive
        if current is None:
            current = []
            documents.append(current)
            starts.append(number)
        current.append((len(raw) - len(raw.lstrip(" ")), content, number))
    found: list[tuple[int, Any]] = []
    try:
        for start, lines in zip(starts, documents, strict=True):
            if not lines:
                found.append((start, None))
                continue
            parser = _Parser(lines, max_depth, resolve)
            value = parser.node(0, lines[0][0], 0)
            if parser.position != len(lines):
                return None  # something after the root node
            found.append((start, value))
    except _Unusual:
        return None
    return found


class _Parser:
    def __init__(self, lines: list[Line], max_depth: int, resolve: Resolve) -> None:
        self.lines = lines
        self.position = 0
        self.max_depth = max_depth
        self.resolve = resolve

    def node(self, index: int, column: int, depth: int) -> Any:
        """The block collection starting at line `index`, in `column`."""
        if depth >= self.max_depth:
            raise _Unusual  # libyaml tells how deep is too deep
        content = self.lines[index][1]
        if content == "-" or content.startswith("- "):
            return self.sequence(index, column, depth + 1)
        return self.mapping(index, column, depth + 1)

    def _after(self, index: int, column: int, depth: int) -> Any:
        """The value of a `key:` or `-` with nothing after it on line `index - 1`: the
        block below it, or null."""
        lines = self.lines
        if index < len(lines):
            below = lines[index][0]
            if below > column:
                return self.node(index, below, depth)
        self.position = index
        return None

    def sequence(self, index: int, column: int, depth: int) -> list[Any]:
        lines, items = self.lines, []
        while index < len(lines):
            indent, content, number = lines[index]
            if indent != column or not (content == "-" or content.startswith("- ")):
                break
            rest = content[1:].lstrip(" ")
            if not rest:
                items.append(self._after(index + 1, column, depth))
            elif rest == "-" or rest.startswith("- ") or _KEY.fullmatch(rest):
                # a compact collection: its first line starts after the dash
                inner = column + len(content) - len(rest)
                lines[index] = (inner, rest, number)
                items.append(self.node(index, inner, depth))
            else:
                items.append(self.scalar(rest))
                self.position = index + 1
            index = self.position
        if index < len(lines) and lines[index][0] > column:
            raise _Unusual  # a continued scalar, or bad indentation
        self.position = index
        return items

    def mapping(self, index: int, column: int, depth: int) -> dict[str, Any]:
        lines, values = self.lines, {}
        while index < len(lines):
            indent, content, _ = lines[index]
            if indent != column:
                break
            match = _KEY.fullmatch(content)
            if match is None:
                raise _Unusual  # a sequence entry here, a quoted key, `key :`, ...
            key, rest = match.groups()
            if key in values:
                raise _Unusual  # a duplicate: libyaml says where
            if key not in _STRING_KEYS:
                if type(self.plain(key)) is not str:
                    raise _Unusual  # `8080:`, `true:`: libyaml's (and the loader's) to read
                if len(_STRING_KEYS) >= _STRING_KEYS_MAX:
                    _STRING_KEYS.clear()
                _STRING_KEYS.add(key)
            if rest:
                values[key] = self.scalar(rest)
                index += 1
            elif (
                index + 1 < len(lines)
                and lines[index + 1][0] == column
                and (lines[index + 1][1] == "-" or lines[index + 1][1].startswith("- "))
            ):
                values[key] = self.sequence(index + 1, column, depth + 1)  # `key:\n- item`
                index = self.position
            else:
                values[key] = self._after(index + 1, column, depth)
                index = self.position
        if index < len(lines) and lines[index][0] > column:
            raise _Unusual
        self.position = index
        return values

    def scalar(self, text: str) -> Any:
        """A scalar written on one line (`text` has no surrounding spaces)."""
        first = text[0]
        if first == "'":
            inner = text[1:-1]
            if len(text) < 2 or text[-1] != "'" or "'" in inner:
                raise _Unusual
            return inner
        if first == '"':
            inner = text[1:-1]
            if len(text) < 2 or text[-1] != '"' or '"' in inner or "\\" in inner:
                raise _Unusual
            return inner
        empty = _EMPTY_FLOW.get(text)
        if empty is not None:
            return empty()
        if (
            first in _INDICATORS
            or first in "?:"
            or (first == "-" and (len(text) == 1 or text[1] == " "))
            or ": " in text
            or " #" in text
            or text[-1] == ":"
        ):
            raise _Unusual
        return self.plain(text)

    def plain(self, text: str) -> Any:
        try:
            return self.resolve(text)
        except Exception as exc:  # an unsupported implicit tag (`=`): libyaml's error
            raise _Unusual from exc
