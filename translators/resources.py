"""One generated Envoy resource and groups of them: the translator's output unit.

Separate from `translators.translate` so extensions (which build and patch these)
and the translator can both depend on it without importing each other.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping

from google.protobuf.message import Message

import xdstypes


def resolve(path: str) -> object:
    """The object a registry row names as `module:attribute`."""
    module, _, attribute = path.partition(":")
    return getattr(importlib.import_module(module), attribute)


def _message_class(row: xdstypes.XdsType) -> type[Message]:
    found = resolve(row.message)
    if not (isinstance(found, type) and issubclass(found, Message)):
        raise TypeError(f"xdstypes row {row.short}: {row.message} is not a protobuf message")
    if found.DESCRIPTOR.full_name != row.message_name:
        raise TypeError(f"xdstypes row {row.short}: {row.message} is not {row.message_name}")
    return found


class _MessageTypes(Mapping[str, type[Message]]):
    """type URL -> protobuf class, from the `xdstypes` table; each class is imported on
    first use, so importing this module loads no protobuf module."""

    def __init__(self) -> None:
        self._loaded: dict[str, type[Message]] = {}

    def __getitem__(self, type_url: str) -> type[Message]:
        found = self._loaded.get(type_url)
        if found is None:
            found = self._loaded[type_url] = _message_class(xdstypes.BY_URL[type_url])
        return found

    def __iter__(self) -> Iterator[str]:
        return iter(xdstypes.PUSH_ORDER)

    def __len__(self) -> int:
        return len(xdstypes.PUSH_ORDER)


MESSAGE_TYPES: Mapping[str, type[Message]] = _MessageTypes()


class EnvoyResource:
    """One Envoy resource with the mesh objects it came from: a protobuf message, or its
    already-serialized bytes (large route configs are assembled from cached pieces).
    Compared by identity: the translator returns the same object for the same content."""

    __slots__ = ("_body", "_message", "_parts", "name", "provenance", "type_url", "version")

    def __init__(
        self,
        type_url: str,
        name: str,
        message: Message | None = None,
        provenance: tuple[str, ...] = (),
        body: bytes | None = None,
        version: str | None = None,
        parts: tuple[bytes, ...] | None = None,
    ) -> None:
        if message is None and body is None and parts is None:
            raise ValueError("an EnvoyResource needs a message or its bytes")
        self.type_url = type_url
        self.name = name
        self.provenance = provenance
        self._message = message
        self._body = body
        # Bytes whose concatenation is the body (a route configuration of 10,000 virtual
        # hosts: one per host, shared with the last generation): the cache and the wire
        # use them as they are, and the megabytes are joined only for whoever asks for
        # `body()` (not kept: they would be a second copy).
        self._parts = parts
        # A content version worked out by whoever assembled the body from parts (a
        # function of the bytes: equal bodies, equal versions), so the cache need not
        # hash megabytes again; None: the cache hashes the body.
        self.version = version

    @property
    def message(self) -> Message:
        if self._message is None:
            parsed = MESSAGE_TYPES[self.type_url]()
            parsed.ParseFromString(self.body())
            return parsed
        return self._message

    def parts(self) -> tuple[bytes, ...]:
        """Bytes whose concatenation is `body()` (one part, unless assembled from many)."""
        return self._parts if self._parts is not None else (self.body(),)

    def body(self) -> bytes:
        """Deterministic serialization (what versions are hashed from).

        A resource assembled from `parts` (a sidecar's route configuration: megabytes at
        10,000 services) joins them on EVERY call, nothing kept: a hot path (the cache,
        the send path, anything per proxy or per edit) must use `parts()` and `version`,
        never `body()`; a cold one that needs the bytes calls it once and keeps them."""
        if self._body is None and self._parts is not None:
            return b"".join(self._parts)
        if self._body is None:
            self._body = self.message.SerializeToString(deterministic=True)
            # The bytes are what is kept (memoized, shared, sent); the parsed form costs
            # its upb arena per resource for as long as the translator keeps the piece
            # (a listener per proxy), and `message` re-parses on demand.
            self._message = None
        return self._body

    def __repr__(self) -> str:
        return f"EnvoyResource({self.type_url.rsplit('.', 1)[-1]}, {self.name!r})"


class ResourceGroup(tuple[EnvoyResource, ...]):
    """A tuple of resources built together and shared by identity between proxies, so the
    cache can serialize, hash and version the group once, not once per proxy."""

    __slots__ = ()
