"""Incremental (Delta) ADS: send each proxy only the resources it lacks, per resource version.

Per type the stream remembers what the client holds (name -> version, the
strings are the cache's own objects, so this is a table of pointers) and which
names it subscribed to. On a snapshot change it does not rescan every
resource: it asks the shared `DeltaDiffs` which names changed between the
TypeSnapshot it last reconciled and the new one — a diff computed once and
reused by every proxy that made the same transition.

Rules (DESIGN §5): subscriptions apply from every request, stale or not; the
nonce only correlates ACK/NACK; CDS/LDS are wildcard when the first request
names nothing; a re-subscribed name is sent again; an unknown EDS name gets an
empty assignment and any other unknown name is reported in
`removed_resources`; a NACK is recorded and the rejected versions still count
as held, so the same content is never re-sent.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any

import structlog

import xdstypes
from xdscp.cache import Resource, Snapshot, TypeSnapshot
from xdscp.logging import debug_enabled
from xdscp.metrics import type_label
from xdscp.server.stream import Stream, names_in_error
from xdscp.server.vhds import ROUTE_TYPE, VIRTUAL_HOST_TYPE, VhdsForms, scope_of
from xdscp.server.wire import delta_resource_field, delta_response, empty_cla, next_nonce

_log = structlog.get_logger(__name__)

_WILDCARD = "*"
_MAX_OUTSTANDING = 8  # unanswered responses remembered per type (for ACK/NACK correlation)


class _Sent:
    __slots__ = ("resources", "sent_at", "version")

    def __init__(self, version: str, sent_at: float, resources: tuple[Resource, ...]) -> None:
        self.version = version
        self.sent_at = sent_at
        self.resources = resources


class _DeltaTypeState:
    __slots__ = ("known", "outstanding", "pending", "subscribed", "synced", "wildcard")

    def __init__(self) -> None:
        self.wildcard = False
        self.subscribed: set[str] = set()
        self.known: dict[str, str] = {}  # name -> version the client holds
        self.pending: set[str] = set()  # newly subscribed names to answer
        self.synced: TypeSnapshot | None = None  # None = reconcile everything next time
        self.outstanding: OrderedDict[str, _Sent] = OrderedDict()  # nonce -> response

    def wants(self, name: str) -> bool:
        return self.wildcard or name in self.subscribed


class DeltaStream(Stream):
    __slots__ = ("_scopes", "_types")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._types: dict[str, _DeltaTypeState] = {}
        # Route configurations this proxy holds as VHDS shells: Envoy listens for their
        # virtual hosts (`<name>/...`) only from then on, so only those are sent.
        self._scopes: frozenset[str] = frozenset()

    async def _handle(self, req: Any) -> None:
        type_url: str = req.type_url
        if not type_url:
            self.warn_limited("xds.request_without_type")
            return
        # Counted before anything is materialized: a huge list costs nothing until read.
        self.check_names(
            max(
                len(req.resource_names_subscribe),
                len(req.resource_names_unsubscribe),
                len(req.initial_resource_versions),
            )
        )
        st = self._types.get(type_url)
        first = st is None
        if st is None:
            if len(self._types) >= self.shared.settings.max_types_per_stream:
                self.warn_limited("xds.too_many_types", type_url[:200], type=type_url[:200])
                return
            st = self._types[type_url] = _DeltaTypeState()
            if type_url in xdstypes.WILDCARD_TYPES and not req.resource_names_subscribe:
                st.wildcard = True  # legacy wildcard: the first request names nothing
            st.known = dict(req.initial_resource_versions)

        changed = self._apply_subscriptions(st, req, first)
        if req.resource_names_subscribe:
            # counted once applied (a re-subscribed name is not a new one); at most one
            # request's worth (max_names_per_request) over the limit is ever held
            self.check_stream_names(sum(len(t.subscribed) for t in self._types.values()))

        nonce: str = req.response_nonce
        if nonce:
            sent = st.outstanding.pop(nonce, None)
            if sent is None:
                _log.debug("xds.stale_nonce", proxy=self.key, type=type_label(type_url),
                           nonce=nonce)  # fmt: skip
            elif req.HasField("error_detail"):
                self._record_nack(type_url, nonce, sent, req.error_detail.message)
            else:
                self.proxy.acked(type_url, sent.version, time.monotonic() - sent.sent_at)

        if first or changed:
            # Reconnect with everything current (initial versions given, nothing
            # to send): stay quiet, like SotW. A fresh subscription is always
            # answered, even when empty, so Envoy can finish initialising.
            quiet_if_empty = not first or bool(req.initial_resource_versions)
            await self._reconcile_and_send(type_url, st, quiet_if_empty)

    def _apply_subscriptions(self, st: _DeltaTypeState, req: Any, first: bool) -> bool:
        changed = False
        for name in req.resource_names_subscribe:
            changed = True
            if name == _WILDCARD:
                if not st.wildcard:
                    st.wildcard = True
                    st.synced = None
                continue
            st.subscribed.add(name)
            st.pending.add(name)
            if not first:
                # Re-subscribing means "send it to me" even if it was sent before.
                st.known.pop(name, None)
        for name in req.resource_names_unsubscribe:
            changed = True
            if name == _WILDCARD:
                st.wildcard = False
                st.known = {n: v for n, v in st.known.items() if n in st.subscribed}
                continue
            st.subscribed.discard(name)
            st.pending.discard(name)
            if not st.wildcard:
                st.known.pop(name, None)
        if first and not st.wildcard:
            st.known = {n: v for n, v in st.known.items() if n in st.subscribed}
        return changed

    async def push_changes(self) -> None:
        for type_url in self._ordered_types():
            st = self._types[type_url]
            # Never reconciled (subscribed before a snapshot existed): answer even
            # if empty, or Envoy waits out its initial fetch timeout.
            await self._reconcile_and_send(type_url, st, quiet_if_empty=st.synced is not None)

    def _ordered_types(self) -> list[str]:
        return xdstypes.ordered(self._types)

    def _served(self, snapshot: Snapshot, type_url: str) -> tuple[TypeSnapshot, VhdsForms | None]:
        """What this stream is served for `type_url`: with VHDS, route configurations as
        shells and their virtual hosts one by one (see xdscp.server.vhds)."""
        if self.shared.settings.vhds and type_url in (ROUTE_TYPE, VIRTUAL_HOST_TYPE):
            forms = self.shared.vhds_cuts.forms(snapshot.get(ROUTE_TYPE))
            return (forms.routes if type_url == ROUTE_TYPE else forms.virtual_hosts), forms
        return snapshot.get(type_url), None

    async def _reconcile_and_send(
        self, type_url: str, st: _DeltaTypeState, quiet_if_empty: bool
    ) -> None:
        snapshot = self.snapshot()
        if snapshot is None:
            return  # push_changes will reconcile once the runtime provides one
        ts, forms = self._served(snapshot, type_url)
        # a scoped type (`xdstypes` column): only names under a shell the proxy holds
        scopes = self._scopes if type_url in xdstypes.SCOPED_BY else None
        updates, removed = self._reconcile(st, ts, scopes)
        if not (quiet_if_empty and not updates and not removed):
            await self._send(type_url, st, ts, updates, removed)
        if forms is not None and type_url == ROUTE_TYPE and self._rescope(forms):
            hosts = self._types.get(VIRTUAL_HOST_TYPE)
            if hosts is not None and hosts.synced is not None:
                # The shells just sent made Envoy listen for their virtual hosts: now.
                await self._reconcile_and_send(VIRTUAL_HOST_TYPE, hosts, quiet_if_empty=True)

    def _rescope(self, forms: VhdsForms) -> bool:
        """Track which shells the proxy holds; True when it holds new ones (whose virtual
        hosts are then pending). Virtual hosts of a shell it no longer holds are
        forgotten, so they are sent again if that route configuration comes back."""
        routes = self._types.get(ROUTE_TYPE)
        held = frozenset(n for n in forms.scoped if routes is not None and n in routes.known)
        if held == self._scopes:
            return False
        added, gone = held - self._scopes, self._scopes - held
        self._scopes = held
        hosts = self._types.get(VIRTUAL_HOST_TYPE)
        if hosts is not None:
            for scope in added:
                hosts.pending.update(forms.scoped[scope])
            if gone:
                hosts.known = {n: v for n, v in hosts.known.items() if scope_of(n) not in gone}
        return bool(added)

    async def _send(
        self,
        type_url: str,
        st: _DeltaTypeState,
        ts: TypeSnapshot,
        updates: list[Resource],
        removed: list[str],
    ) -> None:
        nonce = next_nonce()
        # Names the snapshot lacks (empty EDS placeholders) are the client's choice, not
        # the mesh's: encode them per response instead of filling the shared cache.
        cached = self.shared.delta_fields.get
        known = ts.resources
        fields = [cached(r) if known.get(r.name) is r else delta_resource_field(r) for r in updates]
        data = delta_response(
            type_url, ts.version, fields, removed, nonce, self.shared.control_plane
        )
        st.outstanding[nonce] = _Sent(ts.version, time.monotonic(), tuple(updates))
        while len(st.outstanding) > _MAX_OUTSTANDING:
            st.outstanding.popitem(last=False)
        self.proxy.sent(type_url, ts.version, nonce)
        if debug_enabled():  # one per proxy per push: skip the logger's cost
            _log.debug(
                "xds.push", proxy=self.key, type=type_label(type_url), version=ts.version,
                nonce=nonce, resources=len(updates), removed=len(removed),
            )  # fmt: skip
        await self.write(data)

    def _reconcile(
        self, st: _DeltaTypeState, ts: TypeSnapshot, scopes: frozenset[str] | None = None
    ) -> tuple[list[Resource], list[str]]:
        """What the client lacks (updates) and holds in vain (removed); updates `known`.
        With `scopes` (VHDS), a resource outside them is not sent yet (nor removed)."""
        old = st.synced
        if old is None:
            names: set[str] | tuple[str, ...] = set(st.subscribed)
            if st.wildcard:
                names |= ts.resources.keys()
            stale = [n for n in st.known if n not in names]
        else:
            names = set(st.pending)
            if old.version != ts.version:
                names.update(n for n in self.shared.delta_diffs.changed(old, ts) if st.wants(n))
            stale = []
        updates: list[Resource] = []
        removed: list[str] = []
        eds = ts.type_url == xdstypes.EDS.type_url
        for name in sorted(names):
            resource = ts.resources.get(name)
            if resource is None and eds and name in st.subscribed:
                resource = empty_cla(name)
            if resource is None:
                if st.known.pop(name, None) is not None or name in st.pending:
                    removed.append(name)
                continue
            if scopes is not None and scope_of(name) not in scopes:
                continue  # its route configuration is not held yet: sent with it
            if st.known.get(name) != resource.version:
                st.known[name] = resource.version
                updates.append(resource)
        for name in stale:
            del st.known[name]
            removed.append(name)
        st.pending.clear()
        st.synced = ts
        return updates, removed

    def _record_nack(self, type_url: str, nonce: str, sent: _Sent, error: str) -> None:
        error = self.nack_error(error)
        named = [r for r in sent.resources if names_in_error(r.name, error)]
        blamed = named or sent.resources
        provenance = sorted({p for r in blamed for p in r.provenance})
        self.proxy.nacked(type_url, sent.version, nonce, error, provenance, [r.name for r in named])
        self.log_nack(type_url, sent.version, nonce, error, provenance)
