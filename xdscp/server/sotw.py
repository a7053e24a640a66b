"""State-of-the-World ADS: one stream, its per-type protocol state and rules (DESIGN §5).

Per type the stream keeps only: the names last requested, the latest nonce and
version sent, a pointer to the (shared) response sent, a timestamp and two
flags. Everything heavy (bytes, name sets) is shared across streams via
`SotwResponses`; a push writes the same bytes object to every stream.

Decisions, in one place:
* a request whose nonce is not the latest we sent for its type is stale and
  is not answered (the answer to the newest response is on its way; its
  ACK/NACK will carry the client's current names);
* ACK/NACK are judged against the latest nonce; a NACK is recorded and the
  rejected version stays "sent", so the same content is never re-sent — only a
  content change (new version) is pushed again;
* a type is answered when its version for the requested names differs from
  what was sent, when the client added names since (re-requested names are
  re-sent), or after a CDS/LDS push re-created watchers (see DEPENDENTS);
* a fresh request carrying the current version (reconnect) is not answered.
"""

from __future__ import annotations

import time
from typing import Any

import structlog
from envoy.service.discovery.v3.discovery_pb2 import DiscoveryRequest

import xdstypes
from xdscp.cache import Resource
from xdscp.logging import debug_enabled
from xdscp.metrics import type_label
from xdscp.server.stream import DEPENDENTS, PARENTS, Stream, names_in_error
from xdscp.server.wire import Prepared

_log = structlog.get_logger(__name__)

_MUST_ANSWER = 1  # the client added names since our last response
_FORCE = 2  # a CDS/LDS push may have re-created this type's watchers


# Up to this many names, hashing them as Python strings is cheaper than the upb copy
# (about 0.6 us against 1.6 us for one name; even at 16): RDS ACKs name one or a few
# route configurations, and a thousand proxies ACK every push.
_SHORT_NAME_LIST = 8


def names_fingerprint(req: Any) -> int:
    """A cheap fingerprint of a request's resource_names.

    Envoy repeats its full list of names (often hundreds of EDS clusters) in
    every ACK; turning them into Python strings costs far more than copying and
    serializing them inside upb, so unchanged lists are recognised by this
    fingerprint and only a changed list is materialised as a set. (A fresh
    message each time: reusing one would grow its upb arena without bound.)
    A short list is hashed as strings; the same list always takes the same way,
    since its length decides (and `NameSets` keys on the length too).
    """
    names = req.resource_names
    if len(names) <= _SHORT_NAME_LIST:
        return hash(tuple(names))
    names_only = DiscoveryRequest()
    names_only.CopyFrom(req)
    for field in ("version_info", "node", "type_url", "response_nonce", "error_detail"):
        names_only.ClearField(field)
    return hash(names_only.SerializeToString(deterministic=True))


class _TypeState:
    __slots__ = ("acked", "flags", "names", "names_fp", "nonce", "sent", "sent_at", "version")

    def __init__(self) -> None:
        self.names: frozenset[str] | None = None  # None for full-state types
        self.names_fp = 0  # names_fingerprint of the request that set `names`
        self.nonce = ""  # latest nonce sent on this stream; "" = nothing sent yet
        self.version = ""  # version sent (or, after a reconnect, held by the client)
        self.sent: Prepared | None = None
        # The last response the proxy accepted: a NACK that names no resource is blamed
        # on what changed since (a shared object from the response cache, not a copy).
        self.acked: Prepared | None = None
        self.sent_at = 0.0  # monotonic
        self.flags = 0


class SotwStream(Stream):
    __slots__ = ("_push_order", "_types")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._types: dict[str, _TypeState] = {}
        # `_types` in push order, kept as types are added (every push walks it)
        self._push_order: list[tuple[str, _TypeState]] = []

    async def _handle(self, req: Any) -> None:
        type_url: str = req.type_url
        if not type_url:
            self.warn_limited("xds.request_without_type")
            return
        if type_url in xdstypes.DELTA_ONLY_TYPES:
            # Envoy never asks (it refuses VHDS on a SotW stream); nothing serves it here
            self.warn_limited("xds.delta_only_type", type_url, type=type_url)
            return
        # Counted before anything is materialized: a huge list costs nothing until read.
        self.check_names(len(req.resource_names))
        st = self._types.get(type_url)
        if st is None:
            if len(self._types) >= self.shared.settings.max_types_per_stream:
                self.warn_limited("xds.too_many_types", type_url[:200], type=type_url[:200])
                return
            st = self._types[type_url] = _TypeState()
            types = self._types
            self._push_order = [(t, types[t]) for t in xdstypes.ordered(types)]

        names_changed = False
        if type_url not in xdstypes.FULL_STATE_TYPES:
            fingerprint = names_fingerprint(req)
            if st.names is None or fingerprint != st.names_fp:
                others = sum(len(t.names or ()) for t in self._types.values() if t is not st)
                self.check_stream_names(others + len(req.resource_names))
                st.names_fp = fingerprint
                names = self.shared.name_sets.of(type_url, fingerprint, req)
                if names != st.names:
                    if st.names is not None and not names <= st.names:
                        st.flags |= _MUST_ANSWER
                    st.names = names
                    names_changed = True

        nonce: str = req.response_nonce
        fresh = not st.nonce
        if not fresh and nonce != st.nonce:
            _log.debug("xds.stale_nonce", proxy=self.key, type=type_label(type_url), nonce=nonce)
            return
        nack = False
        if not fresh:
            if req.HasField("error_detail"):
                nack = True
                self._record_nack(type_url, st, req)
            else:
                st.acked = st.sent
                self.proxy.acked(type_url, st.version, time.monotonic() - st.sent_at)
                if debug_enabled():  # one per proxy per push: skip the logger's cost
                    _log.debug(
                        "xds.ack", proxy=self.key, type=type_label(type_url),
                        version=st.version, nonce=nonce,
                    )  # fmt: skip
            if not (names_changed or st.flags & _MUST_ANSWER or (st.flags & _FORCE and not nack)):
                # A plain ACK/NACK: nothing to answer. Content changes are pushed
                # by watch() (which waits for this lock), never by requests.
                return

        snapshot = self.snapshot()
        if snapshot is None:
            return  # answered by push_changes once the runtime provides a snapshot
        prepared = self.shared.responses.prepare(snapshot.get(type_url), st.names)
        if fresh:
            client_version: str = req.version_info
            if (
                client_version
                and client_version == prepared.version
                and not st.flags & _FORCE
                and not self._parent_sent(type_url)
            ):
                # Reconnect: the proxy already runs this exact content.
                st.version = prepared.version
                st.names = prepared.names
                self.proxy.resumed(type_url, prepared.version)
                _log.debug("xds.resumed", proxy=self.key, type=type_label(type_url),
                           version=client_version)  # fmt: skip
                return
            await self._send(type_url, st, prepared)
        elif (
            prepared.version != st.version
            or st.flags & _MUST_ANSWER
            or (st.flags & _FORCE and not nack)
        ):
            await self._send(type_url, st, prepared)

    async def push_changes(self) -> None:
        snapshot = self.snapshot()
        if snapshot is None:
            return
        responses = self.shared.responses
        # Make-before-break order (the `xdstypes` table); unknown types (rare) go last.
        # Inline, not a coroutine per type: a push to a thousand streams walks five types
        # each, and most of them (all but the changed one) are skipped right here.
        for type_url, st in self._push_order:
            ts = snapshot.get(type_url)
            sent = st.sent
            if sent is not None and sent.source_version == ts.version and sent.names is st.names:
                continue  # same source content, same names: nothing can differ
            prepared = responses.prepare(ts, st.names)
            if prepared.version != st.version:
                await self._send(type_url, st, prepared)

    def _parent_sent(self, type_url: str) -> bool:
        for parent in PARENTS.get(type_url, ()):
            state = self._types.get(parent)
            if state is not None and state.nonce:
                return True
        return False

    async def _send(self, type_url: str, st: _TypeState, prepared: Prepared) -> None:
        nonce = prepared.nonce
        st.nonce = nonce
        st.version = prepared.version
        st.names = prepared.names
        st.sent = prepared
        st.sent_at = time.monotonic()
        st.flags = 0
        for dependent in DEPENDENTS.get(type_url, ()):
            dep = self._types.get(dependent)
            if dep is not None:
                dep.flags |= _FORCE
        self.proxy.sent(type_url, prepared.version, nonce)
        if debug_enabled():  # one per proxy per push: skip the logger's cost
            _log.debug(
                "xds.push", proxy=self.key, type=type_label(type_url),
                version=prepared.version, nonce=nonce, resources=len(prepared.resources),
            )  # fmt: skip
        await self.write(prepared.response)

    def _record_nack(self, type_url: str, st: _TypeState, req: Any) -> None:
        error = self.nack_error(req.error_detail.message)
        resources = st.sent.resources if st.sent is not None else ()
        named = [r for r in resources if names_in_error(r.name, error)]
        # Envoy names the resource for most errors, but not for those found while decoding
        # (e.g. "Invalid duration"): then the resources new or changed since the last
        # accepted response are the suspects, and only if that is unknown all of them.
        suspects = named or _changed_since(resources, st.acked)
        blamed = suspects or resources
        provenance = sorted({p for r in blamed for p in r.provenance})
        self.proxy.nacked(
            type_url, st.version, st.nonce, error, provenance, [r.name for r in suspects]
        )
        self.log_nack(type_url, st.version, st.nonce, error, provenance)


def _changed_since(resources: tuple[Resource, ...], accepted: Prepared | None) -> list[Resource]:
    if accepted is None:
        return []
    before = {r.name: r.version for r in accepted.resources}
    return [r for r in resources if before.get(r.name) != r.version]
