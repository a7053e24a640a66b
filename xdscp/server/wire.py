"""Discovery responses assembled from pre-encoded bytes, built once and shared.

Why: serializing the same DiscoveryResponse for 1,000 streams costs 1,000
protobuf encodings and 1,000 copies in memory. Protobuf lets fields appear in
any order and a repeated message field is just its elements concatenated, so a
response is the concatenation of already-encoded fields: the resources were
encoded once when they entered the cache (`Resource.any_bytes`), and the
response is built once per distinct content and shared by every stream
through `SotwResponses`.

The nonce belongs to the prepared response, not to the stream: every stream
that is sent the same content gets the very same bytes object, nonce
included, so a push to 1,000 proxies allocates nothing per proxy. This is
safe because a nonce only has to tell one stream's responses apart, and two
responses carrying the same nonce are, by construction, the same content for
the same requested names: acknowledging one is acknowledging the other. A
response with different content always carries a different nonce, so
stale-nonce detection is unaffected.

The functions here are also what a benchmark "floor" server should reuse to
replay the exact same bytes without any protocol logic.
"""

from __future__ import annotations

import hashlib
import itertools
import weakref
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from xdscp.cache import ENDPOINT_TYPE, Resource, TypeSnapshot, make_resource
from xdscp.cache.snapshot import field_head, length_delimited

# google.protobuf field numbers (envoy.service.discovery.v3).
_SOTW_VERSION_INFO = 1
_SOTW_RESOURCES = 2
_SOTW_TYPE_URL = 4
_SOTW_NONCE = 5
_SOTW_CONTROL_PLANE = 6
_DELTA_SYSTEM_VERSION = 1
_DELTA_RESOURCES = 2
_DELTA_TYPE_URL = 4
_DELTA_NONCE = 5
_DELTA_REMOVED = 6
_DELTA_CONTROL_PLANE = 7
_RESOURCE_VERSION = 1  # envoy.service.discovery.v3.Resource
_RESOURCE_BODY = 2
_RESOURCE_NAME = 3
_CONTROL_PLANE_IDENTIFIER = 1  # envoy.config.core.v3.ControlPlane
_CLA_CLUSTER_NAME = 1  # envoy.config.endpoint.v3.ClusterLoadAssignment


# Process-wide: a nonce never names two different responses (and logs are unambiguous).
_nonces = itertools.count(1)


def next_nonce() -> str:
    return format(next(_nonces), "x")


def nonce_field(nonce: str) -> bytes:
    """The per-stream tail of a SotW or Delta response (both use field 5)."""
    return length_delimited(_SOTW_NONCE, nonce.encode())


def control_plane_message(identifier: str) -> bytes:
    """Encoded `envoy.config.core.v3.ControlPlane` (shown by Envoy in config dumps)."""
    return length_delimited(_CONTROL_PLANE_IDENTIFIER, identifier.encode())


def sotw_body(
    type_url: str,
    version: str,
    resources: Iterable[Resource],
    control_plane: bytes = b"",
    nonce: str = "",
) -> bytes:
    """A DiscoveryResponse; without `nonce`, append `nonce_field(...)` to send it. Each
    resource's body is copied once, into the response (no framed copy first)."""
    parts = [length_delimited(_SOTW_VERSION_INFO, version.encode())]
    for r in resources:
        parts += (field_head(_SOTW_RESOURCES, r.any_size), r.any_head, *r.parts)
    parts.append(length_delimited(_SOTW_TYPE_URL, type_url.encode()))
    if control_plane:
        parts.append(length_delimited(_SOTW_CONTROL_PLANE, control_plane))
    if nonce:
        parts.append(nonce_field(nonce))
    return b"".join(parts)


def delta_resource_field(resource: Resource) -> bytes:
    """One `resources` entry of a DeltaDiscoveryResponse (a discovery `Resource` message)."""
    head = length_delimited(_RESOURCE_NAME, resource.name.encode()) + length_delimited(
        _RESOURCE_VERSION, resource.version.encode()
    )
    body = field_head(_RESOURCE_BODY, resource.any_size)
    size = len(head) + len(body) + resource.any_size
    return b"".join(
        (field_head(_DELTA_RESOURCES, size), head, body, resource.any_head, *resource.parts)
    )


def delta_response(
    type_url: str,
    system_version: str,
    resource_fields: Sequence[bytes],
    removed: Iterable[str],
    nonce: str,
    control_plane: bytes = b"",
) -> bytes:
    """A complete DeltaDiscoveryResponse from pre-encoded `delta_resource_field`s."""
    parts = [length_delimited(_DELTA_SYSTEM_VERSION, system_version.encode())]
    parts.extend(resource_fields)
    parts.append(length_delimited(_DELTA_TYPE_URL, type_url.encode()))
    parts.extend(length_delimited(_DELTA_REMOVED, name.encode()) for name in removed)
    if control_plane:
        parts.append(length_delimited(_DELTA_CONTROL_PLANE, control_plane))
    parts.append(nonce_field(nonce))
    return b"".join(parts)


def empty_cla(cluster_name: str) -> Resource:
    """An empty ClusterLoadAssignment for an EDS name the snapshot does not know.

    Envoy keeps an EDS cluster warming until it gets *some* assignment, so an
    unknown name must be answered, with "no endpoints", rather than ignored.
    Not memoized: such names are the client's choice (rare from a healthy Envoy), and
    a cache would keep objects of a burst of them alive, scattered through memory the
    allocator then cannot give back.
    """
    body = length_delimited(_CLA_CLUSTER_NAME, cluster_name.encode())
    return make_resource(ENDPOINT_TYPE, cluster_name, body)


def subset_version(names: Sequence[str], resources: Sequence[Resource | None]) -> str:
    """Content version of a named subset: changes when a name or a resource version does.

    Derived only from content (never from time or counters) so that a proxy
    reconnecting to a restarted or different replica presents a version we can
    recognise and need not be re-sent.
    """
    digest = hashlib.blake2b(digest_size=8)
    for name, resource in zip(names, resources, strict=True):
        digest.update(name.encode())
        digest.update(b"\0")
        digest.update(resource.version.encode() if resource is not None else b"-")
        digest.update(b"\0")
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class SotwAnswer:
    """What a SotW response for some names of a TypeSnapshot carries (before encoding)."""

    version: str
    resources: tuple[Resource, ...]
    unknown: int  # requested names the snapshot lacks


def sotw_answer(ts: TypeSnapshot, names: frozenset[str] | None) -> SotwAnswer:
    """The version and resources answering `names` of `ts` (all of it when None): a
    full-state type is the whole snapshot; a named type exactly the names requested,
    an unknown EDS name answered with an empty assignment (DESIGN §5). The one place
    this is decided — the benchmark's floor replays bytes built from it too."""
    if names is None:
        return SotwAnswer(ts.version, tuple(ts.resources[n] for n in sorted(ts.resources)), 0)
    ordered = sorted(names)
    found: list[Resource | None] = [ts.resources.get(n) for n in ordered]
    unknown = found.count(None)
    if unknown and ts.type_url == ENDPOINT_TYPE:
        found = [r if r is not None else empty_cla(n) for n, r in zip(ordered, found, strict=True)]
    version = subset_version(ordered, found)
    return SotwAnswer(version, tuple(r for r in found if r is not None), unknown)


@dataclass(frozen=True, slots=True, weakref_slot=True)
class Prepared:
    """A complete SotW response, shared by every stream that is sent the same content."""

    type_url: str
    version: str
    nonce: str
    response: bytes  # the encoded DiscoveryResponse, nonce included
    # The requested names this body answers (None = full state). Streams keep this
    # canonical object instead of their own copy, so 1,000 proxies with the same
    # subscriptions hold one set.
    names: frozenset[str] | None
    resources: tuple[Resource, ...]  # for NACK attribution (provenance)
    # Version of the TypeSnapshot this was built from: lets a stream see "nothing
    # changed for me" without a cache lookup.
    source_version: str


_Key = tuple[str, str, frozenset[str] | None]


class SotwResponses:
    """Bounded LRU of prepared SotW responses keyed by content, not by proxy.

    The key is (type URL, TypeSnapshot version, requested names): two proxies
    whose snapshots hold identical resources of a type get the *same* bytes
    object (nonce included, see the module docstring). Bounded by entries and
    bytes so a mesh of all-distinct proxies degrades to "build per push"
    instead of growing without limit.
    """

    __slots__ = (
        "_bytes",
        "_control_plane",
        "_entries",
        "_held",
        "hits",
        "max_bytes",
        "max_entries",
        "misses",
    )

    def __init__(
        self,
        control_plane_id: str | None = None,
        max_entries: int = 8192,
        max_bytes: int = 256 * 1024 * 1024,
    ) -> None:
        self._control_plane = control_plane_message(control_plane_id) if control_plane_id else b""
        self._entries: OrderedDict[_Key, Prepared] = OrderedDict()
        # responses larger than _KEEP_UNHELD_MAX_BYTES: found while a stream holds them
        self._held: weakref.WeakValueDictionary[_Key, Prepared] = weakref.WeakValueDictionary()
        self._bytes = 0
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.hits = 0
        self.misses = 0

    def prepare(self, ts: TypeSnapshot, names: frozenset[str] | None) -> Prepared:
        """The response for `names` of `ts` (all of it when `names` is None)."""
        key = (ts.type_url, ts.version, names)
        found = self._entries.get(key)
        if found is not None:
            self._entries.move_to_end(key)
            self.hits += 1
            return found
        found = self._held.get(key)
        if found is not None:
            self.hits += 1
            return found
        self.misses += 1
        prepared, unknown = self._build(ts, names)
        if unknown > _MAX_CACHED_UNKNOWN:
            # Mostly names the mesh does not have: the client's choice, not shared
            # content. Built for this stream only, so the memory leaves with it.
            return prepared
        if len(prepared.response) > _KEEP_UNHELD_MAX_BYTES:
            self._held[key] = prepared
            return prepared
        self._entries[key] = prepared
        self._bytes += _weight(prepared)
        while self._entries and (
            len(self._entries) > self.max_entries or self._bytes > self.max_bytes
        ):
            _, evicted = self._entries.popitem(last=False)
            self._bytes -= _weight(evicted)
        return prepared

    def _build(self, ts: TypeSnapshot, names: frozenset[str] | None) -> tuple[Prepared, int]:
        """The response, and how many requested names the snapshot lacks."""
        answer = sotw_answer(ts, names)
        nonce = next_nonce()
        response = sotw_body(
            ts.type_url, answer.version, answer.resources, self._control_plane, nonce
        )
        prepared = Prepared(
            ts.type_url, answer.version, nonce, response, names, answer.resources, ts.version
        )
        return prepared, answer.unknown

    def __len__(self) -> int:
        return len(self._entries) + len(self._held)


# A response for more names than this that the snapshot lacks is not shared (see prepare).
_MAX_CACHED_UNKNOWN = 1000

# A response larger than this is kept only while a stream holds it (sent, or the last one
# acknowledged), not in the LRU: every stream that gets the same content still shares it,
# but once they all moved on it is freed. At 10,000 services a route configuration is
# 7.8 MB and every VirtualService edit makes a new one: the LRU kept the last 32 of them
# (its byte bound) for no stream at all, and each new one was built in memory never
# touched before (1,900 page faults, 6-8 ms of the edit); freed, the last version's
# memory takes the next one. Rebuilding one when needed again costs ~1 ms per MB.
_KEEP_UNHELD_MAX_BYTES = 2 * 1024 * 1024

# Approximate bytes a requested name costs while an entry holds it (str + set slot).
_NAME_OVERHEAD = 80


def _weight(prepared: Prepared) -> int:
    """What an entry holds: the response and, for the named types, the client-chosen
    name set (up to AdsSettings.max_names_per_request strings, counted too)."""
    names = prepared.names
    held = len(prepared.response)
    if names:
        held += sum(len(n) for n in names) + _NAME_OVERHEAD * len(names)
    return held


class DeltaFields:
    """Bounded LRU of encoded Delta `Resource` entries, shared across streams.

    Delta responses differ per stream (each gets only what it lacks), but the
    per-resource encoding does not, so that is what is shared.
    """

    __slots__ = ("_entries", "max_entries")

    def __init__(self, max_entries: int = 65536) -> None:
        self._entries: OrderedDict[tuple[str, str, str], bytes] = OrderedDict()
        self.max_entries = max_entries

    def get(self, resource: Resource) -> bytes:
        key = (resource.type_url, resource.name, resource.version)
        found = self._entries.get(key)
        if found is not None:
            self._entries.move_to_end(key)
            return found
        encoded = self._entries[key] = delta_resource_field(resource)
        if len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
        return encoded
