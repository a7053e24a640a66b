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
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
    StreamStartEvent,
)
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode


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


class _Resolver(yaml.resolver.Resolver):
    pass


# Kubernetes reads YAML as JSON: a timestamp is a string (pydantic parses it if needed)
_Resolver.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.resolver.Resolver.yaml_implicit_resolvers.items()
}

_MERGE_TAG = "tag:yaml.org,2002:merge"


_INT_TAG = "tag:yaml.org,2002:int"
_STR_TAG = "tag:yaml.org,2002:str"


class _Constructor(yaml.constructor.SafeConstructor):
    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        own: dict[str, Node] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG:
                continue
            if isinstance(key_node, ScalarNode) and key_node.tag == _INT_TAG:
                # Kubernetes reads YAML as JSON, where keys are strings: `8080:` in
                # portLevelMtls is the key "8080" (the model turns it back into a port)
                key_node.tag = _STR_TAG
                key_node.value = str(self.construct_yaml_int(key_node))
            if not isinstance(key_node, ScalarNode) or key_node.tag != _STR_TAG:
                shown = (
                    f"{key_node.value!r} (read as {key_node.tag.rpartition(':')[2]})"
                    if isinstance(key_node, ScalarNode)
                    else "that is a collection"
                )
                raise ConstructorError(
                    None,
                    None,
                    f"mapping key {shown} is not a string (quote it)",
                    key_node.start_mark,
                )
            first = own.get(key_node.value)
            if first is not None:
                raise ConstructorError(
                    None,
                    None,
                    f"duplicate key {key_node.value!r} (first at line {first.start_mark.line + 1})",
                    key_node.start_mark,
                )
            own[key_node.value] = key_node
        self.flatten_mapping(node)  # `<<` merge keys: explicit keys override merged ones
        mapping: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, str):  # a merged mapping's key, already checked above
                raise ConstructorError(
                    None, None, f"mapping key {key!r} is not a string", key_node.start_mark
                )
            mapping[key] = self.construct_object(value_node, deep=deep)
        return mapping


_Constructor.yaml_constructors = {
    tag: construct
    for tag, construct in yaml.constructor.SafeConstructor.yaml_constructors.items()
    if tag
    not in {f"tag:yaml.org,2002:{t}" for t in ("set", "omap", "pairs", "binary", "timestamp")}
}


class _Loader(CParser, _Constructor, _Resolver):
    """libyaml events, a bounded composer (below), the checked safe constructor."""

    def __init__(self, stream: str, limits: Limits) -> None:
        CParser.__init__(self, stream)
        _Constructor.__init__(self)
        _Resolver.__init__(self)
        self.limits = limits
        self.anchors: dict[str, tuple[Node, int]] = {}
        self.depth = 0
        self.nodes = 0  # nodes of this document, aliases counted by what they expand to
        self.written = 0  # nodes written out
        self.in_document = False

    # --- composing one document, counting as it goes -------------------------------
    def compose_document_bounded(self) -> Node:
        start: Any = self.get_event()  # DocumentStartEvent
        self.in_document = True
        self.anchors, self.depth, self.nodes, self.written = {}, 0, 0, 0
        node = self._node()
        end: Any = self.get_event()  # DocumentEndEvent
        self.in_document = False
        size = end.end_mark.index - start.start_mark.index
        if size > self.limits.document_chars:
            raise LimitError(
                None, None, f"document is {size} characters (limit {self.limits.document_chars})",
                start.start_mark,
            )  # fmt: skip
        return node

    def _node(self) -> Node:
        event: Any = self.peek_event()
        mark: Any = event.start_mark  # (libyaml's Mark type; the stubs know only PyYAML's)
        anchor: Any = event.anchor
        if isinstance(event, AliasEvent):
            self.get_event()
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
        if isinstance(event, ScalarEvent):
            node: Node = self._scalar()
        elif isinstance(event, SequenceStartEvent | MappingStartEvent):
            self.depth += 1
            if self.depth > self.limits.depth:
                raise LimitError(
                    None,
                    None,
                    f"nested more than {self.limits.depth} levels deep",
                    mark,
                )
            node = self._sequence() if isinstance(event, SequenceStartEvent) else self._mapping()
            self.depth -= 1
        else:  # pragma: no cover - the parser guarantees one of the above
            raise ComposerError(None, None, f"unexpected {event}", mark)
        if anchor is not None:
            self.anchors[anchor] = (node, self.nodes - before)
        return node

    def _scalar(self) -> ScalarNode:
        event: Any = self.get_event()
        if len(event.value) > self.limits.scalar_chars:
            raise LimitError(
                None,
                None,
                f"a value of {len(event.value)} characters (limit {self.limits.scalar_chars})",
                event.start_mark,
            )
        tag = event.tag
        if tag is None or tag == "!":
            tag = self.resolve(ScalarNode, event.value, event.implicit)  # type: ignore[no-untyped-call]
        return ScalarNode(tag, event.value, event.start_mark, event.end_mark, style=event.style)

    def _sequence(self) -> SequenceNode:
        start: Any = self.get_event()
        tag = start.tag
        if tag is None or tag == "!":
            tag = self.resolve(SequenceNode, None, start.implicit)  # type: ignore[no-untyped-call]
        items: list[Node] = []
        while not self.check_event(SequenceEndEvent):
            items.append(self._node())
        end: Any = self.get_event()
        return SequenceNode(tag, items, start.start_mark, end.end_mark, flow_style=start.flow_style)

    def _mapping(self) -> MappingNode:
        start: Any = self.get_event()
        tag = start.tag
        if tag is None or tag == "!":
            tag = self.resolve(MappingNode, None, start.implicit)  # type: ignore[no-untyped-call]
        pairs: list[tuple[Node, Node]] = []
        while not self.check_event(MappingEndEvent):
            key = self._node()
            pairs.append((key, self._node()))
        end: Any = self.get_event()
        return MappingNode(tag, pairs, start.start_mark, end.end_mark, flow_style=start.flow_style)

    def skip_document(self) -> None:
        """After a failure inside a document: drop its remaining events."""
        if not self.in_document:
            return  # it failed after composing (a constructor error): nothing left of it
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


class StreamError(Exception):
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
                node = loader.compose_document_bounded()
                value = loader.construct_document(node)
            except (LimitError, ComposerError, ConstructorError) as exc:
                loader.skip_document()
                loader.constructed_objects, loader.recursive_objects = {}, {}
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
