"""Decoding YAML that anyone may have written, with bounded cost and no surprises.

libyaml (C) scans and parses; composing nodes happens here, in Python, so that
nesting depth, alias expansion and scalar size are counted while events stream in
and a hostile document fails after reading its first offending event, not after
expanding it. Constructing values uses the safe schema, minus implicit timestamps
(Kubernetes decodes YAML as JSON: `creationTimestamp` stays a string), integer keys
become strings as in Kubernetes' YAML-to-JSON, and it refuses what Kubernetes would
not mean: duplicate keys (never "last one wins") and other keys that are not strings.

Only a broken token stream (a real syntax error) fails the whole file; every other
problem fails only its document, and the documents after it are still read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml
from yaml._yaml import CParser  # libyaml: the scanner and parser run in C
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError
from yaml.events import (
    AliasEvent,
    DocumentEndEvent,
    MappingEndEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
    StreamStartEvent,
)
from yaml.nodes import ScalarNode

from xdscp.errors import XdscpError


@dataclass(frozen=True, slots=True)
class Limits:
    """Far above any real Istio object (Kubernetes stores at most ~1.5 MB per object),
    far below what hurts the control plane."""

    file_bytes: int = 64 * 1024 * 1024
    document_chars: int = 16 * 1024 * 1024
    scalar_chars: int = 1024 * 1024
    depth: int = 100
    # nodes that aliases may add to a document on top of the nodes written out: a few
    # shared anchors are fine, a "billion laughs" is not
    alias_nodes: int = 10_000


DEFAULT_LIMITS = Limits()


class LimitError(yaml.MarkedYAMLError):
    """A document beyond one of the `Limits` (or with duplicate/non-string keys)."""


@dataclass(frozen=True, slots=True)
class Document:
    """One document of a stream: its decoded value, or why it could not be decoded."""

    index: int
    value: Any
    error: str = ""  # "(line L, column C): problem" when the document failed
    line: int = 0  # 1-based line where the document starts


# Kubernetes reads YAML as JSON: a timestamp is a string (pydantic parses it if needed)
_IMPLICIT = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.resolver.Resolver.yaml_implicit_resolvers.items()
}
_YAML = "tag:yaml.org,2002:"
_STR, _INT, _FLOAT, _BOOL, _NULL, _MERGE = (
    _YAML + t for t in ("str", "int", "float", "bool", "null", "merge")
)
_SCALARS = yaml.constructor.SafeConstructor()  # only its int/float/bool parsing


def _resolve_plain(value: str) -> str:
    """The tag of an unquoted scalar (YAML 1.1 core rules, as PyYAML's SafeLoader)."""
    for tag, regexp in _IMPLICIT.get(value[:1] if value else "", ()):
        if regexp.match(value):
            return str(tag)
    return _STR


def _scalar_value(tag: str, value: str, mark: Any) -> Any:
    if tag == _STR:
        return value
    node = ScalarNode(tag, value)
    if tag == _INT:
        return _SCALARS.construct_yaml_int(node)
    if tag == _FLOAT:
        return _SCALARS.construct_yaml_float(node)
    if tag == _BOOL:
        return _SCALARS.construct_yaml_bool(node)
    if tag == _NULL:
        return None
    # sets, ordered maps, binary, timestamps, custom tags: nothing Istio or JSON has
    raise ConstructorError(None, None, f"unsupported tag {tag!r}", mark)


# An unquoted scalar's value depends on its text alone, and the same texts come back
# all the time (every key, `v1`, `HTTP`, ...): resolving each distinct text once makes
# decoding twice as fast. Values are immutable (str, int, float, bool, None); the cache
# is bounded and only holds short texts.
_PLAIN: dict[str, Any] = {}
_PLAIN_MAX_ENTRIES = 100_000
_PLAIN_MAX_CHARS = 256


def _plain_value(value: str, mark: Any) -> Any:
    try:
        return _PLAIN[value]
    except KeyError:
        pass
    decoded = _scalar_value(_resolve_plain(value), value, mark)
    if len(value) <= _PLAIN_MAX_CHARS:
        if len(_PLAIN) >= _PLAIN_MAX_ENTRIES:
            _PLAIN.clear()
        _PLAIN[value] = decoded
    return decoded


class _Loader(CParser):
    """libyaml's events, turned straight into JSON-shaped values (no node tree, no
    second pass), counting depth, alias expansion and sizes on the way."""

    def __init__(self, stream: str, limits: Limits) -> None:
        CParser.__init__(self, stream)
        self.limits = limits
        # anchor -> (value, how many nodes it stands for)
        self.anchors: dict[str, tuple[Any, int]] = {}
        self.depth = 0
        self.nodes = 0  # nodes of this document, aliases counted by what they expand to
        self.written = 0  # nodes written out
        self.in_document = False

    # --- one document, counted as it goes ----------------------------------------------
    def document(self) -> Any:
        start: Any = self.get_event()  # DocumentStartEvent
        self.in_document = True
        self.anchors, self.depth, self.nodes, self.written = {}, 0, 0, 0
        value = self._value()
        end: Any = self.get_event()  # DocumentEndEvent
        self.in_document = False
        size = end.end_mark.index - start.start_mark.index
        if size > self.limits.document_chars:
            raise LimitError(
                None, None, f"document is {size} characters (limit {self.limits.document_chars})",
                start.start_mark,
            )  # fmt: skip
        return value

    def _value(self) -> Any:
        event: Any = self.get_event()
        kind = type(event)
        anchor: Any = event.anchor
        if kind is ScalarEvent:
            # the common case first, with as few steps as possible (it runs per scalar)
            text: str = event.value
            if len(text) > self.limits.scalar_chars:
                raise LimitError(
                    None,
                    None,
                    f"a value of {len(text)} characters (limit {self.limits.scalar_chars})",
                    event.start_mark,
                )
            self.nodes += 1
            self.written += 1
            tag = event.tag
            scalar: Any
            if tag is None or tag == "!":
                scalar = _plain_value(text, event.start_mark) if event.implicit[0] else text
            else:
                scalar = _scalar_value(tag, text, event.start_mark)
            if anchor is not None:
                self.anchors[anchor] = (scalar, 1)
            return scalar
        mark: Any = event.start_mark  # (libyaml's Mark type; the stubs know only PyYAML's)
        if kind is AliasEvent:
            found = self.anchors.get(anchor)
            if found is None:
                raise ComposerError(None, None, f"found undefined alias {anchor!r}", mark)
            self.nodes += found[1]
            if self.nodes - self.written > self.limits.alias_nodes:
                raise LimitError(
                    None,
                    None,
                    f"aliases expand to more than {self.limits.alias_nodes} extra nodes "
                    "(an alias bomb?)",
                    mark,
                )
            return found[0]
        before = self.nodes
        self.nodes += 1
        self.written += 1
        if event.tag not in (None, "!", _YAML + "seq", _YAML + "map"):
            raise ConstructorError(None, None, f"unsupported tag {event.tag!r}", mark)
        self.depth += 1
        if self.depth > self.limits.depth:
            raise LimitError(None, None, f"nested more than {self.limits.depth} levels deep", mark)
        value: Any
        if kind is SequenceStartEvent:
            value = []
            while not self.check_event(SequenceEndEvent):
                value.append(self._value())
        else:
            value = self._mapping()
        self.get_event()  # the end event
        self.depth -= 1
        if anchor is not None:
            self.anchors[anchor] = (value, self.nodes - before)
        return value

    def _mapping(self) -> dict[str, Any]:
        own: dict[str, Any] = {}
        lines: dict[str, int] = {}
        merged: dict[str, Any] = {}
        while not self.check_event(MappingEndEvent):
            key_event: Any = self.peek_event()
            mark: Any = key_event.start_mark
            is_scalar = type(key_event) is ScalarEvent
            if (
                is_scalar
                and key_event.value == "<<"
                and key_event.implicit[0]
                and key_event.tag is None
            ):
                merged.update(self._merge(mark))  # explicit keys override merged ones
                continue
            key = self._value()
            if type(key) is not str:
                if isinstance(key, int) and not isinstance(key, bool):
                    # Kubernetes reads YAML as JSON, where keys are strings: `8080:` in
                    # portLevelMtls is the key "8080" (the model turns it back into a port)
                    key = str(key)
                elif not isinstance(key, str):
                    shown = (
                        f"{key_event.value!r} (read as {type(key).__name__})"
                        if is_scalar
                        else "that is a collection"
                    )
                    raise ConstructorError(
                        None, None, f"mapping key {shown} is not a string (quote it)", mark
                    )
            if key in own:
                raise ConstructorError(
                    None, None, f"duplicate key {key!r} (first at line {lines[key]})", mark
                )
            lines[key] = mark.line + 1
            own[key] = self._value()
        return {**merged, **own} if merged else own

    def _merge(self, mark: Any) -> dict[str, Any]:
        self.get_event()  # the `<<` key itself
        value = self._value()
        sources = value if isinstance(value, list) else [value]
        merged: dict[str, Any] = {}
        for source in reversed(sources):  # earlier mappings in the list win
            if not isinstance(source, dict):
                raise ConstructorError(None, None, "`<<` merges only mappings", mark)
            merged.update(source)
        return merged

    def skip_document(self) -> None:
        """After a failure inside a document: drop its remaining events."""
        if not self.in_document:
            return
        self.in_document = False
        while not self.check_event(DocumentEndEvent, StreamEndEvent):
            self.get_event()
        if self.check_event(DocumentEndEvent):
            self.get_event()


def describe(exc: yaml.YAMLError) -> str:
    """`(line L, column C): problem` from a PyYAML error."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    if context and not problem.startswith(context):
        problem = f"{context}: {problem}"
    where = f"(line {mark.line + 1}, column {mark.column + 1}): " if mark is not None else ": "
    return f"{where}{problem}"


class StreamError(XdscpError):
    """The token stream itself is broken: nothing after this point can be trusted."""


def load_documents(text: str, limits: Limits = DEFAULT_LIMITS) -> list[Document]:
    """Every document of `text`, each decoded or failed on its own. Raises StreamError
    when the file cannot be tokenized (or is too large) — then no document is known."""
    if len(text) > limits.file_bytes:
        raise StreamError(f": file is {len(text)} characters (limit {limits.file_bytes})")
    loader = _Loader(text, limits)
    documents: list[Document] = []
    try:
        if loader.check_event(StreamStartEvent):
            loader.get_event()
        while not loader.check_event(StreamEndEvent):
            index = len(documents)
            first: Any = loader.peek_event()
            line = first.start_mark.line + 1
            try:
                value = loader.document()
            except (LimitError, ComposerError, ConstructorError) as exc:
                loader.skip_document()
                documents.append(Document(index, None, describe(exc), line))
                continue
            documents.append(Document(index, value, "", line))
    except yaml.YAMLError as exc:
        raise StreamError(describe(exc)) from None
    except RecursionError:  # cannot happen with the depth limit; never let it escape
        raise StreamError(": nested too deeply") from None
    finally:
        loader.dispose()
    return documents
