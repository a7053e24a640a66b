"""State-of-the-World ADS: one stream, its per-type protocol state and rules (DESIGN §5).

Per type the stream keeps only: the names last requested, the latest nonce and
version sent, a pointer to the (shared) body sent, a timestamp and two flags.
Everything heavy (bytes, name sets) is shared across streams via `SotwBodies`.

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

from xdscp.cache import FULL_STATE_TYPES, PUSH_ORDER
from xdscp.metrics import type_label
from xdscp.server.stream import DEPENDENTS, PARENTS, Stream, names_in_error, next_nonce
from xdscp.server.wire import Prepared, nonce_field

_log = structlog.get_logger(__name__)

_MUST_ANSWER = 1  # the client added names since our last response
_FORCE = 2  # a CDS/LDS push may have re-created this type's watchers


class _TypeState:
    __slots__ = ("flags", "names", "nonce", "sent", "sent_at", "version")

    def __init__(self) -> None:
        self.names: frozenset[str] | None = None  # None for full-state types
        self.nonce = ""  # latest nonce sent on this stream; "" = nothing sent yet
        self.version = ""  # version sent (or, after a reconnect, held by the client)
        self.sent: Prepared | None = None
        self.sent_at = 0.0  # monotonic
        self.flags = 0


class SotwStream(Stream):
    __slots__ = ("_types",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._types: dict[str, _TypeState] = {}

    async def handle(self, request: Any) -> None:
        async with self.lock:
            await self._handle(request)

    async def _handle(self, req: Any) -> None:
        type_url: str = req.type_url
        if not type_url:
            _log.warning("xds_request_without_type", proxy=self.key)
            return
        st = self._types.get(type_url)
        if st is None:
            if len(self._types) >= self.shared.settings.max_types_per_stream:
                _log.warning("xds_too_many_types", proxy=self.key, type=type_url)
                return
            st = self._types[type_url] = _TypeState()

        if type_url not in FULL_STATE_TYPES:
            names = frozenset(req.resource_names)
            if st.names is not None and not names <= st.names:
                st.flags |= _MUST_ANSWER
            if names != st.names:
                st.names = names

        nonce: str = req.response_nonce
        fresh = not st.nonce
        if not fresh and nonce != st.nonce:
            _log.debug("xds_stale_nonce", proxy=self.key, type=type_label(type_url), nonce=nonce)
            return
        nack = False
        if not fresh:
            if req.HasField("error_detail"):
                nack = True
                self._record_nack(type_url, st, req)
            else:
                self.proxy.acked(type_url, st.version, time.monotonic() - st.sent_at)
                _log.debug(
                    "xds_ack", proxy=self.key, type=type_label(type_url), version=st.version,
                    nonce=nonce,
                )  # fmt: skip

        snapshot = self.shared.cache.get(self.key)
        if snapshot is None:
            return  # answered by push_changes once the runtime provides a snapshot
        prepared = self.shared.bodies.prepare(snapshot.get(type_url), st.names)
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
                _log.debug("xds_resumed", proxy=self.key, type=type_label(type_url),
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
        snapshot = self.shared.cache.get(self.key)
        if snapshot is None:
            return
        for type_url in self._ordered_types():
            st = self._types[type_url]
            prepared = self.shared.bodies.prepare(snapshot.get(type_url), st.names)
            if prepared.version != st.version:
                await self._send(type_url, st, prepared)

    def _ordered_types(self) -> list[str]:
        """Subscribed types in make-before-break order; unknown types last."""
        types = self._types
        ordered: list[str] = [t for t in PUSH_ORDER if t in types]
        if len(ordered) != len(types):
            ordered += sorted(t for t in types if t not in PUSH_ORDER)
        return ordered

    def _parent_sent(self, type_url: str) -> bool:
        for parent in PARENTS.get(type_url, ()):
            state = self._types.get(parent)
            if state is not None and state.nonce:
                return True
        return False

    async def _send(self, type_url: str, st: _TypeState, prepared: Prepared) -> None:
        nonce = next_nonce()
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
        _log.debug(
            "xds_push", proxy=self.key, type=type_label(type_url), version=prepared.version,
            nonce=nonce, resources=len(prepared.resources),
        )  # fmt: skip
        await self.write(prepared.body + nonce_field(nonce))

    def _record_nack(self, type_url: str, st: _TypeState, req: Any) -> None:
        error: str = req.error_detail.message
        resources = st.sent.resources if st.sent is not None else ()
        named = [r for r in resources if names_in_error(r.name, error)]
        blamed = named or resources
        provenance = sorted({p for r in blamed for p in r.provenance})
        self.proxy.nacked(
            type_url, st.version, st.nonce, error, provenance, [r.name for r in named]
        )
        _log.warning(
            "xds_nack", proxy=self.key, node=self.proxy.node_id, type=type_label(type_url),
            version=st.version, nonce=st.nonce, error=error, provenance=provenance,
        )  # fmt: skip
