"""Serialized resources and versioned TypeSnapshots, shared by every proxy that has them.

The translator hands the runtime *pieces*: resources, in groups, where the same object
means the same content (its memo returns the object it built before for inputs that
did not change, and a new object for anything that did). This module turns pieces
into what the cache holds — a `Resource` (bytes, version) per distinct resource and a
`TypeSnapshot` per distinct tuple of groups — and keeps them so that proxies with equal
scope share one copy of the bytes and the very same TypeSnapshot objects, and a new
generation does no serialization or hashing for pieces that survived.

Invalidation rule (the whole of it):
* Nothing here is ever *invalidated*, because nothing is keyed by anything mutable.
  A `Resource` is keyed by its content (type URL, name, provenance, body bytes); a
  `TypeSnapshot` by the identity of the groups it was built from, and it holds those
  groups, so an identity cannot be reused for other content while its entry lives.
  When the translator's memo rebuilds a piece because an input it read changed, the
  new piece is a new object (new key); the old entry is simply no longer asked for.
* Retention: an entry lives exactly as long as something uses its value — a published
  snapshot, or the next lookup while the translator still holds the piece (weak
  references). No generation counting: a proxy whose snapshot was left untouched for
  many generations keeps sharing its pieces with every proxy that gets them anew.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import Protocol

from xdscp.cache.snapshot import Resource, TypeSnapshot, make_resource


class Piece(Protocol):
    """One generated resource as the translator hands it over (`EnvoyResource`)."""

    type_url: str
    name: str
    provenance: tuple[str, ...]
    # a content version the translator worked out from the parts it assembled the body
    # from (a function of the bytes); None: the body is hashed here
    version: str | None

    def body(self) -> bytes: ...

    def parts(self) -> tuple[bytes, ...]: ...


# (type URL, name, provenance, body) or, when the piece has a content version, (type
# URL, name, version): a megabyte body is not hashed again to be found, nor a provenance
# of 20,000 names (a found resource's provenance is compared instead: the same object,
# as a rule)
_ResourceKey = tuple[str, str, tuple[str, ...], bytes] | tuple[str, str, str]


class SnapshotParts:
    """Content-addressed `Resource`s and group-addressed `TypeSnapshot`s (see module doc)."""

    def __init__(self) -> None:
        self._resources: weakref.WeakValueDictionary[_ResourceKey, Resource] = (
            weakref.WeakValueDictionary()
        )
        self._types: weakref.WeakValueDictionary[tuple[object, ...], TypeSnapshot] = (
            weakref.WeakValueDictionary()
        )
        self.serialized = 0  # resources serialized and hashed (a new body): for tests/stats

    def resource(self, piece: Piece) -> Resource:
        version = piece.version
        if version is None:
            body = piece.body()
            key: _ResourceKey = (piece.type_url, piece.name, piece.provenance, body)
            content: bytes | tuple[bytes, ...] = body
        else:  # found by its version; its parts taken as they are (not joined)
            key = (piece.type_url, piece.name, version)
            content = piece.parts()
        found = self._resources.get(key)
        if found is None or (
            found.provenance is not piece.provenance and found.provenance != piece.provenance
        ):
            found = make_resource(piece.type_url, piece.name, content, piece.provenance, version)
            self._resources[key] = found
            self.serialized += 1
        return found

    def type_snapshot(self, type_url: str, groups: Sequence[Sequence[Piece]]) -> TypeSnapshot:
        """The TypeSnapshot of `groups` (each a tuple the translator shares by identity)."""
        groups = tuple(g for g in groups if g)  # an empty group changes nothing
        key = (type_url, *map(id, groups))
        found = self._types.get(key)
        if found is None or found.origin != groups:
            resources = [self.resource(r) for group in groups for r in group]
            found = TypeSnapshot.of(type_url, resources, origin=groups)
            self._types[key] = found
        return found

    def adopt(self, found: TypeSnapshot) -> None:
        """Take `found`, built from its `origin` groups elsewhere (a warm start's kept
        translation, xdscp/warm_start.py), as those groups' TypeSnapshot: asked for
        them, `type_snapshot` gives it back instead of building it again."""
        groups = found.origin
        assert isinstance(groups, tuple)
        self._types[(found.type_url, *map(id, groups))] = found

    def __len__(self) -> int:
        return len(self._types)
