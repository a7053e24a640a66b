"""The translator entry points: (MeshConfig, proxy) -> Envoy resources.

`translate` is the plain pure function. `MeshTranslator` is the same function with
a memo: built once per MeshConfig (optionally from the previous generation's
translator) and asked for many proxies, it reuses every piece whose inputs did
not change — the same `EnvoyResource` object (and the same group of them) for
identical content, so callers can serialize each piece once and share it.

The memo is `translators.memo.PieceCache` (dependency rules there); from one
generation to the next the translator works out what changed (`mesh_changes`),
updates the `MeshIndex` in place of rebuilding it, and carries over every piece
that read none of it.
"""

from __future__ import annotations

import hashlib
import weakref
from collections.abc import Callable, Hashable, Iterator, Mapping
from dataclasses import dataclass, replace
from functools import partial
from itertools import compress, count
from operator import is_not
from types import MappingProxyType
from typing import Any

from translators.capture import captures_traffic
from translators.envoy.clusters import (
    cluster_bytes,
    load_assignment_bytes,
    service_cluster_bytes,
    service_load_assignment_bytes,
)
from translators.envoy.listeners import build_listener
from translators.envoy.route_version import (
    patch_digests,
    route_config_head,
    route_config_version,
    run_digests,
)
from translators.envoy.routes import (
    route_config_metadata,
    route_config_parts,
    virtual_host_bytes,
    virtual_host_field,
)
from translators.envoyfilter import envoy_filter_extension
from translators.extensions.api import ExtensionSet, Proxy
from translators.extensions.apply import Interner, apply_extensions
from translators.gateway.proxy import MeshGateways, gateway_resources, mesh_gateways
from translators.generators import ProxyBuild, generators
from translators.index import MeshIndex
from translators.ir import (
    DestinationIR,
    EndpointSetIR,
    ListenerIR,
    ProxyView,
    RouteTableIR,
    VirtualHostIR,
)
from translators.memo import EVERYTHING, MeshChanges, PieceCache, mesh_changes
from translators.mesh import MeshConfig, Workload
from translators.model.networking import SidecarSpec
from translators.model.objects import MeshObject
from translators.naming import (
    CLUSTER_TYPE,
    ENDPOINT_TYPE,
    LISTENER_TYPE,
    ROUTE_TYPE,
    TELEMETRY_KIND,
)
from translators.resources import EnvoyResource, ResourceGroup
from translators.security.index import SecurityIndex
from translators.telemetry.envoy import collector_cluster
from translators.telemetry.options import TracingProvider
from translators.telemetry.resolve import TelemetryIndex
from translators.traffic.locality import endpoint_labels, localized_assignments
from translators.traffic.source import SourceIR
from translators.unaffected import translates_as
from translators.view import (
    LocalView,
    OutboundView,
    build_local,
    build_outbound,
    combine,
    proxy_source,
)
from translators.view.ports import EgressIR


class ProxyResources:
    """One proxy's translation: its resources in groups per type URL, its warnings and
    its IR. The IR (`view`) is assembled when first asked for: the runtime, which
    translates every proxy after every change, needs only the groups and warnings."""

    __slots__ = ("_make_view", "_view", "groups", "proxy", "warnings")

    def __init__(
        self,
        proxy: str,
        view: ProxyView | Callable[[], ProxyView],
        # type URL -> the groups making up that type's resources for this proxy
        groups: Mapping[str, tuple[ResourceGroup, ...]],
        warnings: tuple[str, ...] | None = None,
    ) -> None:
        self.proxy = proxy
        self.groups = groups
        if isinstance(view, ProxyView):
            self._view: ProxyView | None = view
            self._make_view: Callable[[], ProxyView] | None = None
            self.warnings = view.warnings if warnings is None else warnings
        else:
            self._view, self._make_view = None, view
            self.warnings = view().warnings if warnings is None else warnings

    @property
    def view(self) -> ProxyView:
        if self._view is None:
            assert self._make_view is not None
            self._view, self._make_view = self._make_view(), None
        return self._view

    @property
    def resources(self) -> tuple[EnvoyResource, ...]:
        return tuple(self._iter())

    def _iter(self) -> Iterator[EnvoyResource]:
        for groups in self.groups.values():
            for group in groups:
                yield from group

    def of_type(self, type_url: str) -> list[EnvoyResource]:
        return [r for g in self.groups.get(type_url, ()) for r in g]


@dataclass(frozen=True, slots=True, eq=False)
class OutboundResources:
    view: OutboundView
    clusters: ResourceGroup
    load_assignments: ResourceGroup
    route_configs: ResourceGroup


def _cluster(ir: DestinationIR) -> EnvoyResource:
    return EnvoyResource(CLUSTER_TYPE, ir.name, provenance=ir.provenance, body=cluster_bytes(ir))


def _service_resources(
    clusters: tuple[DestinationIR, ...], assignments: tuple[EndpointSetIR, ...]
) -> tuple[tuple[EnvoyResource, ...], tuple[EnvoyResource, ...]]:
    # a locality-dependent assignment is per proxy (`MeshTranslator.localized_group`)
    shared = [a for a in assignments if a.locality_lb is None]
    return tuple(
        [
            EnvoyResource(CLUSTER_TYPE, c.name, None, c.provenance, body)
            for c, body in zip(clusters, service_cluster_bytes(clusters), strict=True)
        ]
    ), tuple(
        [
            EnvoyResource(ENDPOINT_TYPE, a.destination, None, a.provenance, body)
            for a, body in zip(shared, service_load_assignment_bytes(shared), strict=True)
        ]
    )


def _vhost_field(ir: VirtualHostIR) -> tuple[VirtualHostIR, bytes]:
    """The virtual host serialized and framed as a RouteConfiguration field (with the IR
    object, which keeps it alive: the memo key is its id)."""
    return ir, virtual_host_field(virtual_host_bytes(ir))


@dataclass(frozen=True, slots=True, eq=False)
class _RouteBuild:
    """One route configuration and what it was assembled from, so the next generation can
    patch it: only the virtual hosts that are new objects are looked at."""

    config: RouteTableIR
    fields: list[bytes]  # per virtual host, framed
    # provenance source -> how many virtual hosts name it (never changed once built: the
    # next generation's build shares it when no count moves)
    sources: dict[str, int]
    provenance: tuple[str, ...]
    metadata: bytes  # the provenance, encoded
    head: hashlib._Hash  # the version's hash of the name and `metadata` (`route_config_head`)
    resource: EnvoyResource
    digests: list[bytes]  # of the fields' runs (translators/envoy/route_version.py)


@dataclass(frozen=True, slots=True, eq=False)
class _RouteResources:
    group: ResourceGroup
    builds: Mapping[str, _RouteBuild]


@dataclass(frozen=True, slots=True, eq=False)
class _Egress:
    """A scope's outbound listeners and its Sidecar (what a proxy's own part reads of its
    outbound view), one object for equal content, from one generation to the next too:
    the identity the proxies' own pieces are keyed on (hashed in O(1), kept alive by
    the keys that hold it)."""

    listeners: tuple[EgressIR, ...]
    provenance: tuple[str, ...]


@dataclass(frozen=True, slots=True, eq=False)
class _LocalPiece:
    """A proxy's own part (`build_local`) and its resource groups, one memo piece: while
    nothing it read changes — a VirtualService edit changes none of it — the next
    generation finds it whole, with its groups (the same objects, serialized and
    versioned once by the runtime)."""

    workload: Workload
    view: LocalView
    listeners: ResourceGroup
    inbound: ResourceGroup
    collectors: tuple[ResourceGroup, ...]


@dataclass(frozen=True, slots=True, eq=False)
class _Scope:
    """Who a workload is to its outbound view (its Sidecar, the caller VirtualService
    matches and DestinationRule selectors see) and the view's memo key: one piece per
    workload, so after a change it did not read, a dictionary hit."""

    namespace: str
    sidecar: MeshObject[SidecarSpec] | None
    source: SourceIR
    view_key: Hashable


class _ContentKey:
    """A memo key that is content (IR objects) with its hash worked out once: the pieces
    a proxy's own part is made of are carried with it from one generation to the next
    (translators/memo.py, rule 5), which looks each of them up again by key."""

    __slots__ = ("_hash", "key")

    def __init__(self, key: Hashable) -> None:
        self.key = key
        self._hash = hash(key)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        return self is other or (
            isinstance(other, _ContentKey) and self._hash == other._hash and self.key == other.key
        )


# What a proxy's own part reads besides its workload, its Sidecar and its scope's egress
# listeners (translators/view/inbound.py): peer and request authentication, authorization
# and gateways (the security index's kinds), Telemetry; DestinationRules of the services
# it serves record themselves (`MeshIndex.destination_rule`).
_LOCAL_KINDS = tuple(sorted(SecurityIndex.KINDS | {TELEMETRY_KIND}))


def _listener(ir: ListenerIR) -> EnvoyResource:
    return EnvoyResource(LISTENER_TYPE, ir.name, build_listener(ir), ir.provenance)


def _assignment(ir: EndpointSetIR) -> EnvoyResource:
    return EnvoyResource(
        ENDPOINT_TYPE,
        ir.destination,
        provenance=ir.provenance,
        body=load_assignment_bytes(ir.destination, ir.endpoints, ir.groups),
    )


class MeshTranslator:
    """Translate many proxies of one MeshConfig, sharing work between them."""

    def __init__(
        self,
        mesh: MeshConfig,
        previous: MeshTranslator | None = None,
        extensions: ExtensionSet | None = None,
    ) -> None:
        self.mesh = mesh
        self.extensions = extensions or ExtensionSet()
        # Istio's EnvoyFilters run as one more extension, after the user's (only in a
        # mesh that has some: otherwise proxies keep the plain, shared groups)
        self._with_envoy_filters = ExtensionSet(
            (*self.extensions.extensions, envoy_filter_extension())
        )
        self._memo, self.index, self.changes = self._generation(mesh, previous)
        # the generation this one was made from (weak: generations must not chain in memory)
        self.parent = weakref.ref(previous) if previous is not None else None
        self.telemetry = TelemetryIndex(mesh)
        # id(workload) -> (workload, its scope), (workload, is a gateway): asked several
        # times per proxy, worked out once per workload in a generation. The view's builder
        # is made per ask, not kept here:
        # a bound method stored on the translator would make it a reference cycle, and a
        # generation's translator (a thousand proxies' entries) would then wait for the
        # cyclic GC, which frees it in one pause of tens of ms, instead of being freed as
        # soon as the next generation replaces it.
        self._view_keys: dict[int, tuple[Workload, _Scope]] = {}
        self._gateways: dict[int, tuple[Workload, bool]] = {}
        self._mesh_gateways: MeshGateways | None = None
        # this generation's scopes' outbound resources, by view object
        self._scope_resources: dict[OutboundView, OutboundResources] = {}
        self._envoy_filters: bool | None = None
        self._active: tuple[ExtensionSet | None] | None = None  # None: not worked out yet
        # this generation's answers of translators/unaffected.py (None: for every proxy)
        self.skip_answers: dict[Hashable, bool] = {}
        # this generation's scopes' egress listeners and proxies' own pieces, by object
        self._egress: dict[OutboundView, _Egress] = {}
        self._locals: dict[LocalView, _LocalPiece] = {}
        self._interner = Interner(self._memo.get)

    @staticmethod
    def _generation(
        mesh: MeshConfig, previous: MeshTranslator | None
    ) -> tuple[PieceCache, MeshIndex, MeshChanges]:
        """The memo, index and changes of `mesh`: from scratch, or from the previous
        generation's by what changed (pieces that read none of it carry over)."""
        if previous is None or previous.mesh.options != mesh.options:
            memo = PieceCache()
            return memo, MeshIndex.of(mesh, memo.read), EVERYTHING
        changes = mesh_changes(previous.mesh, mesh, security_changed=False)
        services = frozenset(d[1] for d in changes.deps if d[0] == "service")
        old = previous.index
        index = old.updated(mesh, changes.objects, services, ("workloads",) in changes.deps)
        if index.security.key != old.security.key:
            changes = mesh_changes(previous.mesh, mesh, security_changed=True)
        memo = previous._memo.next_generation(changes)
        return memo, replace(index, read=memo.read), changes

    @property
    def pieces(self) -> PieceCache:
        """This generation's memo (translators/memo.py)."""
        return self._memo

    def has_envoy_filters(self) -> bool:
        if self._envoy_filters is None:
            self._envoy_filters = bool(self._objects_by_kind().get("EnvoyFilter"))
        return self._envoy_filters

    def is_gateway(self, workload: Workload) -> bool:
        """Whether `workload` runs a gateway (translators/gateway) rather than a sidecar:
        asked once per workload in a generation."""
        found = self._gateways.get(id(workload))
        if found is None or found[0] is not workload:
            if self._mesh_gateways is None:
                self._mesh_gateways = mesh_gateways(self)
            gateway = self._mesh_gateways.is_gateway_proxy(workload)
            found = self._gateways[id(workload)] = (workload, gateway)
        return found[1]

    def translates_as(self, previous: MeshTranslator, workload: Workload) -> bool:
        """Whether `workload`'s translation here is the one `previous` (the generation
        this one was made from) gave: a change it cannot be affected by
        (translators/unaffected.py). Its pieces are then carried over as if translated."""
        return translates_as(self, previous, workload)

    def view(self, workload: Workload) -> ProxyView:
        gateway = gateway_resources(self, workload)
        if gateway is not None:
            return gateway[0]
        outbound, local = self._views(workload)
        return combine(workload, outbound, local)

    def _views(self, workload: Workload) -> tuple[OutboundView, LocalView]:
        outbound = self._memo.get(*self._outbound_view(workload))
        return outbound, self._local(workload, outbound).view

    def own_part_unchanged(self, workload: Workload) -> bool:
        """Whether `workload`'s own part (listeners, inbound clusters, span collectors)
        carries over from the previous generation, under its outbound view's egress
        listeners (it is then carried, with its parts, as a translation would carry it)."""
        key = workload.key
        if self.mesh.workloads.get(key) is not workload:
            return False  # not this mesh's own workload object: no piece of its own
        outbound = self._memo.get(*self._outbound_view(workload))
        found, piece = self._memo.unchanged(("proxy-local", key, self._egress_of(outbound)))
        if found:
            self._locals[piece.view] = piece
        return found

    def _egress_of(self, outbound: OutboundView) -> _Egress:
        """The scope's egress listeners object (the same object for equal content, from
        one generation to the next too)."""
        egress = self._egress.get(outbound)
        if egress is None:
            content = (outbound.egress, outbound.provenance)
            egress = self._egress[outbound] = self._memo.get(
                ("egress", content), lambda: _Egress(*content)
            )
        return egress

    def _local(self, workload: Workload, outbound: OutboundView) -> _LocalPiece:
        """`workload`'s own part, one piece per workload and scope egress listeners: after
        a change it did not read (any VirtualService edit that leaves the scope's
        listeners as they were), a dictionary hit."""
        egress = self._egress_of(outbound)
        key = workload.key
        if self.mesh.workloads.get(key) is workload:
            piece = self._memo.get(
                ("proxy-local", key, egress),
                lambda: self._build_local(workload, outbound),
            )
        else:
            # not this mesh's own workload object: its changes are no dependency to track
            piece = self._build_local(workload, outbound)
        self._locals[piece.view] = piece
        return piece

    def _build_local(self, workload: Workload, outbound: OutboundView) -> _LocalPiece:
        """What `_local` memoizes, with what it reads recorded (`build_local` reads of
        the outbound view only its egress listeners and provenance: the key)."""
        memo, index = self._memo, self.index
        memo.read(("workload", workload.key))
        memo.read(("jwks",))  # fetched key sets (RequestAuthentication jwksUri)
        memo.read_all(("kind", kind) for kind in _LOCAL_KINDS)
        sidecar = index.sidecar_for(workload)  # records its Sidecars
        if captures_traffic(index, workload, sidecar.spec if sidecar else None):
            memo.read(("services",))  # the services it serves (capture.served_ports)
        telemetry = self.telemetry.for_workload(workload)
        local = build_local(index, workload, sidecar, outbound, telemetry)
        return _LocalPiece(
            workload,
            local,
            self._listener_group(local),
            self._inbound_group(local),
            self._collector_groups(local),
        )

    def _outbound_view(self, workload: Workload) -> tuple[Hashable, Callable[[], OutboundView]]:
        """The memo key and builder of `workload`'s outbound view: its scope is its
        namespace, its Sidecar and its labels where some VirtualService matches on them."""
        # asked several times per proxy (its translation, its credentials, the runtime's
        # skip test): worked out once per workload object in a generation
        found = self._view_keys.get(id(workload))
        if found is not None and found[0] is workload:
            return found[1].view_key, partial(self._build_view, found[1])
        gateway = self.is_gateway(workload)
        name = workload.key
        if self.mesh.workloads.get(name) is workload:
            scope = self._memo.get(
                ("proxy-scope", name, gateway), lambda: self._scope(workload, gateway)
            )
        else:  # not this mesh's own workload object: its changes are no dependency to track
            scope = self._scope(workload, gateway)
        self._view_keys[id(workload)] = (workload, scope)
        return scope.view_key, partial(self._build_view, scope)

    def _build_view(self, scope: _Scope) -> OutboundView:
        return build_outbound(
            self.index,
            scope.namespace,
            scope.sidecar,
            self._memo,
            scope.source,
            self._memo.stale(scope.view_key),
        )

    def _scope(self, workload: Workload, gateway: bool) -> _Scope:
        """What `_outbound_view` memoizes per workload, with what it reads recorded."""
        self._memo.read(("workload", workload.key))  # its namespace and labels
        sidecar = self.index.sidecar_for(workload)  # records its Sidecars
        # records the label keys VirtualServices match on and the DestinationRules' kind
        source = proxy_source(self.index, workload, self._memo, gateway)
        key = (
            "outbound-view",
            workload.namespace,
            sidecar.ref if sidecar else "",
            source.labels,
            source.rules,
            source.gateway_namespace,
        )
        return _Scope(workload.namespace, sidecar, source, key)

    def _objects_by_kind(self) -> Mapping[str, tuple[MeshObject[Any], ...]]:
        def build() -> Mapping[str, tuple[MeshObject[Any], ...]]:
            self._memo.read(("objects",))
            return self.mesh.by_kind()

        return self._memo.get(("objects-by-kind",), build)

    def collectors(self, local: LocalView) -> tuple[ResourceGroup, ...]:
        """The span collectors' clusters, one group shared by every proxy that traces."""
        piece = self._locals.get(local)
        return piece.collectors if piece is not None else self._collector_groups(local)

    def inbound_clusters(self, local: LocalView) -> ResourceGroup:
        """Groups, not just resources, are shared: proxies with equal inbound clusters get
        the same group object, so the runtime reuses one serialized, versioned TypeSnapshot."""
        piece = self._locals.get(local)
        return piece.inbound if piece is not None else self._inbound_group(local)

    def listeners(self, local: LocalView) -> ResourceGroup:
        piece = self._locals.get(local)
        return piece.listeners if piece is not None else self._listener_group(local)

    def _collector_groups(self, local: LocalView) -> tuple[ResourceGroup, ...]:
        providers: dict[TracingProvider, str] = {}
        for listener in local.listeners:
            tracing = listener.telemetry.tracing if listener.telemetry else None
            if tracing is not None:
                providers[tracing.provider] = tracing.collector
        if not providers:
            return ()
        key = tuple(sorted(providers.items(), key=lambda p: p[1]))
        return (
            self._memo.get(
                ("collector-group", key),
                lambda: ResourceGroup(
                    EnvoyResource(CLUSTER_TYPE, name, collector_cluster(name, provider))
                    for provider, name in key
                ),
            ),
        )

    def _inbound_group(self, local: LocalView) -> ResourceGroup:
        memo = self._memo
        return memo.get(
            _ContentKey(("inbound-group", local.clusters)),
            lambda: ResourceGroup(
                memo.call(_ContentKey(("cds", c)), _cluster, c) for c in local.clusters
            ),
        )

    def _listener_group(self, local: LocalView) -> ResourceGroup:
        memo = self._memo
        return memo.get(
            _ContentKey(("listener-group", local.listeners)),
            lambda: ResourceGroup(
                memo.call(_ContentKey(("lds", li)), _listener, li) for li in local.listeners
            ),
        )

    def translate(self, workload: Workload, *, extensions: bool = True) -> ProxyResources:
        """`extensions=False`: the config as if no extension were loaded."""
        # A gateway proxy gets gateway listeners instead of a sidecar's (translators/gateway).
        gateway = gateway_resources(self, workload) if self.is_gateway(workload) else None
        if gateway is not None:
            gateway_view, gateway_groups = gateway
            extended = self._extended(workload, gateway_view, gateway_groups, extensions, True)
            return ProxyResources(workload.key, gateway_view, extended)
        view_key, build_view = self._outbound_view(workload)
        outbound_view = self._memo.get(view_key, build_view)
        local = self._local(workload, outbound_view).view
        outbound = self._outbound_resources(view_key, outbound_view)
        build = ProxyBuild(self, workload, outbound_view, local, outbound)
        # One generator per xDS type, named by the `xdstypes` table, in push order.
        groups = {type_url: generate(build) for type_url, generate in generators()}

        def view() -> ProxyView:
            return combine(workload, outbound_view, local)

        if self._active_extensions(extensions) is None:
            warnings = outbound_view.warnings + local.warnings  # as `combine` has them
            return ProxyResources(workload.key, view, MappingProxyType(groups), warnings)
        full = view()
        return ProxyResources(
            workload.key, full, self._extended(workload, full, groups, extensions, False)
        )

    def _active_extensions(self, extensions: bool) -> ExtensionSet | None:
        """The extensions a proxy's groups go through (the mesh's EnvoyFilters included):
        None when there are none, or `extensions` is off. Worked out once a generation."""
        if not extensions:
            return None
        if self._active is None:
            active = self._with_envoy_filters if self.has_envoy_filters() else self.extensions
            self._active = (active if active else None,)
        return self._active[0]

    def _extended(
        self,
        workload: Workload,
        view: ProxyView,
        groups: Mapping[str, tuple[ResourceGroup, ...]],
        extensions: bool,
        gateway: bool,
    ) -> Mapping[str, tuple[ResourceGroup, ...]]:
        """`groups` after the extensions and the mesh's EnvoyFilters (raises
        ExtensionError: the caller keeps this proxy's last good config)."""
        active = self._active_extensions(extensions)
        if active is None:
            return MappingProxyType(dict(groups))
        proxy = Proxy(self.mesh, workload, view, self._objects_by_kind(), gateway, self._memo.get)
        return MappingProxyType(apply_extensions(active, self._interner, proxy, groups))

    def _outbound_resources(self, view_key: Hashable, view: OutboundView) -> OutboundResources:
        """The resources of a scope's outbound view: worked out once per scope in a
        generation, then shared by its proxies."""
        found = self._scope_resources.get(view)
        if found is None:
            found = self._scope_resources[view] = self._build_outbound_resources(view_key, view)
        return found

    def _build_outbound_resources(
        self, view_key: Hashable, view: OutboundView
    ) -> OutboundResources:
        memo = self._memo
        clusters, assignments = memo.get(
            ("outbound-cluster-resources", view.clusters_key),
            lambda: self._cluster_resources(view),
        )

        def routes() -> _RouteResources:
            memo.inherit(view_key)  # made from the view: depends on what the view read
            stale = memo.stale(("outbound-route-resources", view_key))
            before = stale.builds if isinstance(stale, _RouteResources) else {}
            changes = view.vhost_changes
            builds = {
                rc.name: self._route_config(rc, before.get(rc.name), changes.get(rc.name))
                for rc in view.route_configs
            }
            group = self._group(tuple(b.resource for b in builds.values()))
            return _RouteResources(group, builds)

        found = memo.get(("outbound-route-resources", view_key), routes)
        return OutboundResources(view, clusters, assignments, found.group)

    def _cluster_resources(self, view: OutboundView) -> tuple[ResourceGroup, ResourceGroup]:
        """The clusters and load assignments of the view's OutboundClusters piece: kept
        while that piece is (a route change does not touch them)."""
        memo = self._memo
        memo.inherit(view.clusters_key)
        clusters = [memo.call(("cds", c), _cluster, c) for c in view.other_clusters]
        assignments: list[EnvoyResource] = []
        for chunk in view.service_chunks:
            # a service's resources are kept on its clusters piece's value (valid while it is)
            found = chunk.resources
            if found is None:
                found = chunk.resources = _service_resources(chunk.clusters, chunk.assignments)
            clusters += found[0]
            assignments += found[1]
        return self._group(tuple(clusters)), self._group(tuple(assignments))

    def localized_group(self, workload: Workload, view: OutboundView) -> ResourceGroup | None:
        """The load assignments that depend on the caller's locality, as `workload` gets
        them: one group per scope and locality (and labels, for failoverPriority)."""
        if not view.localized:
            return None
        names = sorted(
            {n for a in view.localized if a.locality_lb for n in a.locality_lb.label_names()}
        )
        labels = endpoint_labels(workload)
        key = (
            "localized-eds",
            view.clusters_key,
            workload.locality,
            bool(labels),  # Istio applies no failoverPriority for a proxy without labels
            tuple((n, labels.get(n, "")) for n in names),
        )

        # what the view read covers what its clusters read (the view was fetched in this
        # generation; its clusters piece may have been carried over without being)
        view_key, _ = self._outbound_view(workload)

        def build() -> ResourceGroup:
            self._memo.inherit(view_key)
            return ResourceGroup(
                _assignment(a) for a in localized_assignments(workload, view.localized)
            )

        return self._memo.get(key, build)

    def _group(self, resources: tuple[EnvoyResource, ...]) -> ResourceGroup:
        """The previous generation's group object when its members are the same objects:
        after one VirtualService changes, the 30,000 clusters of a large mesh keep their
        group, so the runtime reuses their serialized, versioned snapshot untouched."""
        # its hash worked out once and kept on the key: a group carried with the piece
        # it belongs to is looked up again by key, and hashing 30,000 members again was
        # ~2.5 ms of every VirtualService edit at 10,000 services
        return self._memo.get(_ContentKey(("group", resources)), lambda: ResourceGroup(resources))

    def _route_config(
        self,
        config: RouteTableIR,
        previous: _RouteBuild | None,
        changes: tuple[RouteTableIR, tuple[int, ...]] | None = None,
    ) -> _RouteBuild:
        """Route configs are assembled from per-virtual-host bytes: after one VirtualService
        changes, only its virtual host is rebuilt, even among 10,000 — and, given the last
        generation's build, only it is re-framed and re-counted. `changes`: the route
        config the view patched `config` from and the positions that differ (then no
        position is compared)."""
        memo = self._memo
        vhosts = config.virtual_hosts
        if previous is not None and previous.config is config:
            return previous
        if previous is None or len(previous.config.virtual_hosts) != len(vhosts):
            fields = [memo.call_content(("vhost-field", id(v)), _vhost_field, v)[1] for v in vhosts]
            sources: dict[str, int] = {}
            for vhost in vhosts:
                for source in vhost.provenance:
                    sources[source] = sources.get(source, 0) + 1
            provenance = tuple(sorted(sources))
            digests = run_digests(fields)
        else:
            fields = list(previous.fields)
            before = previous.config.virtual_hosts
            if changes is not None and changes[0] is previous.config:
                changed = list(changes[1])
            else:  # the positions of new virtual host objects, found at C speed
                changed = list(compress(count(), map(is_not, before, vhosts)))
            # how many more (or fewer) virtual hosts name each source: an edited
            # VirtualService names what it named, nothing moves, and the 20,000-entry
            # counts of the last generation are taken as they are (never changed once
            # built), not copied
            moved: dict[str, int] = {}
            for i in changed:
                new = vhosts[i]
                fields[i] = memo.call_content(("vhost-field", id(new)), _vhost_field, new)[1]
                for source in new.provenance:
                    moved[source] = moved.get(source, 0) + 1
                for source in before[i].provenance:
                    moved[source] = moved.get(source, 0) - 1
            moved = {source: by for source, by in moved.items() if by}
            sources = previous.sources
            provenance = previous.provenance
            if moved:
                sources = dict(sources)
                # a source named for the first time, or no longer: the provenance changes
                renamed = False
                for source, by in moved.items():
                    was = sources.get(source, 0)
                    now = was + by
                    if now:
                        sources[source] = now
                    else:
                        del sources[source]
                    renamed = renamed or not was or not now
                if renamed:
                    provenance = tuple(sorted(sources))
            digests = patch_digests(previous.digests, fields, changed)
        if previous is not None and provenance == previous.provenance:
            metadata, head = previous.metadata, previous.head
        else:
            metadata = route_config_metadata(provenance)
            head = route_config_head(config.name, metadata)
        version = route_config_version(config.name, metadata, digests, head)

        def build() -> EnvoyResource:
            # not joined here: the cache and the wire take the parts as they are
            parts = route_config_parts(config.name, fields, metadata)
            return EnvoyResource(
                ROUTE_TYPE, config.name, provenance=provenance, version=version, parts=parts
            )

        # content-keyed by the version (a function of the bytes, the provenance's among
        # them: `metadata`): not by 7.8 MB of body, nor by hashing 20,000 source names
        resource = memo.get(("rds", config.name, version), build)
        return _RouteBuild(config, fields, sources, provenance, metadata, head, resource, digests)


def translate(
    mesh: MeshConfig, workload: Workload, extensions: ExtensionSet | None = None
) -> ProxyResources:
    """Every Envoy resource `workload`'s sidecar needs, from `mesh` (and `extensions`)."""
    return MeshTranslator(mesh, extensions=extensions).translate(workload)


__all__ = [
    "EnvoyResource",
    "MeshTranslator",
    "ProxyResources",
    "ResourceGroup",
    "translate",
]
