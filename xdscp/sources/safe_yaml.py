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
from xdscp.sources import plain_yaml


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


def _string_key(key: Any, event: Any, mark: Any) -> str:
    """Kubernetes reads YAML as JSON, where keys are strings: `8080:` in portLevelMtls is
    the key "8080" (the model turns it back into a port); any other key that is not a
    string is refused."""
    if isinstance(key, int) and not isinstance(key, bool):
        return str(key)
    if isinstance(key, str):
        return key
    shown = (
        f"{event.value!r} (read as {type(key).__name__})"
        if type(event) is ScalarEvent
        else "that is a collection"
    )
    raise ConstructorError(None, None, f"mapping key {shown} is not a string (quote it)", mark)


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


def _plain_scalar(value: str) -> Any:
    """An unquoted scalar's value, as the loader reads it (for `plain_yaml`)."""
    found = _PLAIN.get(value, _MISSING)
    return _plain_value(value, None) if found is _MISSING else found


_MISSING: Any = object()


class _Loader(CParser):
    """libyaml's events, turned straight into JSON-shaped values (no node tree, no
    second pass), counting depth, alias expansion and sizes on the way.

    Written for speed (it runs once per event of every file at start): the common event,
    a scalar with no anchor and no tag, is handled inline in the mapping and sequence
    loops; nodes are counted per collection, not per scalar; and when the whole text is
    shorter than the scalar limit no scalar can exceed it (a value is never longer than
    its source), so scalars are not measured one by one."""

    def __init__(self, stream: str, limits: Limits) -> None:
        CParser.__init__(self, stream)
        self.limits = limits
        self.measure_scalars = len(stream) > limits.scalar_chars
        # anchor -> (value, how many nodes it stands for)
        self.anchors: dict[str, tuple[Any, int]] = {}
        self.depth = 0
        self.nodes = 0  # nodes of this document so far, aliases counted by what they expand to
        self.extra = 0  # nodes that aliases added on top of those written out
        self.in_document = False

    # --- one document, counted as it goes ----------------------------------------------
    def document(self) -> Any:
        start: Any = self.get_event()  # DocumentStartEvent
        self.in_document = True
        self.anchors, self.depth, self.nodes, self.extra = {}, 0, 0, 0
        value = self._node(self.get_event())
        end: Any = self.get_event()  # DocumentEndEvent
        self.in_document = False
        size = end.end_mark.index - start.start_mark.index
        if size > self.limits.document_chars:
            raise LimitError(
                None, None, f"document is {size} characters (limit {self.limits.document_chars})",
                start.start_mark,
            )  # fmt: skip
        return value

    def _too_long(self, event: Any) -> LimitError:
        return LimitError(
            None,
            None,
            f"a value of {len(event.value)} characters (limit {self.limits.scalar_chars})",
            event.start_mark,
        )

    def _node(self, event: Any) -> Any:
        """The value of the node `event` starts (any kind, anchored or tagged)."""
        kind = type(event)
        if kind is ScalarEvent:
            return self._scalar(event)
        if kind is AliasEvent:
            return self._alias(event)
        return self._collection(event, kind)

    def _scalar(self, event: Any) -> Any:
        text: str = event.value
        if self.measure_scalars and len(text) > self.limits.scalar_chars:
            raise self._too_long(event)
        self.nodes += 1
        tag = event.tag
        scalar: Any
        if tag is None or tag == "!":
            scalar = _plain_value(text, event.start_mark) if event.implicit[0] else text
        else:
            scalar = _scalar_value(tag, text, event.start_mark)
        if event.anchor is not None:
            self.anchors[event.anchor] = (scalar, 1)
        return scalar

    def _alias(self, event: Any) -> Any:
        found = self.anchors.get(event.anchor)
        if found is None:
            raise ComposerError(
                None, None, f"found undefined alias {event.anchor!r}", event.start_mark
            )
        self.nodes += found[1]
        self.extra += found[1]
        if self.extra > self.limits.alias_nodes:
            raise LimitError(
                None,
                None,
                f"aliases expand to more than {self.limits.alias_nodes} extra nodes "
                "(an alias bomb?)",
                event.start_mark,
            )
        return found[0]

    def _collection(self, event: Any, kind: type) -> Any:
        mark: Any = event.start_mark  # (libyaml's Mark type; the stubs know only PyYAML's)
        if event.tag not in (None, "!", _YAML + "seq", _YAML + "map"):
            raise ConstructorError(None, None, f"unsupported tag {event.tag!r}", mark)
        self.depth += 1
        if self.depth > self.limits.depth:
            raise LimitError(None, None, f"nested more than {self.limits.depth} levels deep", mark)
        before = self.nodes
        value: Any
        if kind is SequenceStartEvent:
            value, scalars = self._sequence()
        else:
            value, scalars = self._mapping()
        self.nodes += 1 + scalars
        self.depth -= 1
        if event.anchor is not None:
            self.anchors[event.anchor] = (value, self.nodes - before)
        return value

    def _sequence(self) -> tuple[list[Any], int]:
        """The items up to the end event, and how many plain scalars among them were
        read inline (not yet counted in `nodes`)."""
        items: list[Any] = []
        scalars = 0
        get_event = self.get_event
        measure, limit = self.measure_scalars, self.limits.scalar_chars
        while True:
            event: Any = get_event()
            kind = type(event)
            if kind is ScalarEvent and event.anchor is None and event.tag is None:
                text = event.value
                if measure and len(text) > limit:
                    raise self._too_long(event)
                scalars += 1
                if event.implicit[0]:
                    item = _PLAIN.get(text, _MISSING)
                    items.append(_plain_value(text, event.start_mark) if item is _MISSING else item)
                else:
                    items.append(text)
            elif kind is SequenceEndEvent:
                return items, scalars
            else:
                items.append(self._node(event))

    def _mapping(self) -> tuple[dict[str, Any], int]:
        """The mapping up to the end event (as `_sequence`). Keys are strings, each once."""
        own: dict[str, Any] = {}
        marks: list[Any] = []  # where each key of `own` is, in order (for duplicates)
        merged: dict[str, Any] = {}
        scalars = 0
        get_event = self.get_event
        measure, limit = self.measure_scalars, self.limits.scalar_chars
        while True:
            event: Any = get_event()
            kind = type(event)
            mark: Any = event.start_mark
            plain = kind is ScalarEvent and event.tag is None and event.implicit[0]
            if plain and event.value == "<<":
                merged.update(self._merge(mark))  # explicit keys override merged ones
                continue
            key: Any
            if plain and event.anchor is None:
                text = event.value
                if measure and len(text) > limit:
                    raise self._too_long(event)
                scalars += 1
                key = _PLAIN.get(text, _MISSING)
                if key is _MISSING:
                    key = _plain_value(text, mark)
            elif kind is MappingEndEvent:
                return ({**merged, **own} if merged else own), scalars
            else:
                key = self._node(event)
            if type(key) is not str:
                key = _string_key(key, event, mark)
            if key in own:
                first = marks[list(own).index(key)].line + 1
                raise ConstructorError(
                    None, None, f"duplicate key {key!r} (first at line {first})", mark
                )
            marks.append(mark)
            event = get_event()
            if type(event) is ScalarEvent and event.anchor is None and event.tag is None:
                text = event.value
                if measure and len(text) > limit:
                    raise self._too_long(event)
                scalars += 1
                if event.implicit[0]:
                    value = _PLAIN.get(text, _MISSING)
                    own[key] = _plain_value(text, event.start_mark) if value is _MISSING else value
                else:
                    own[key] = text
            else:
                own[key] = self._node(event)

    def _merge(self, mark: Any) -> dict[str, Any]:
        """`<<: value` (the `<<` key event already read)."""
        value = self._node(self.get_event())
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


def load_documents(
    text: str, limits: Limits = DEFAULT_LIMITS, *, plain: bool = True
) -> list[Document]:
    """Every document of `text`, each decoded or failed on its own. Raises StreamError
    when the file cannot be tokenized (or is too large) — then no document is known.
    `plain` False: always libyaml, never `plain_yaml` (the tests compare the two)."""
    if len(text) > limits.file_bytes:
        raise StreamError(f": file is {len(text)} characters (limit {limits.file_bytes})")
    if plain and len(text) <= min(limits.document_chars, limits.scalar_chars):
        # no document or scalar can be over its limit: plain block YAML is read directly
        decoded = plain_yaml.decode(text, limits.depth // 2, _plain_scalar)
        if decoded is not None:
            return [Document(i, value, "", line) for i, (line, value) in enumerate(decoded)]
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
