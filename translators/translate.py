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

from collections.abc import Callable, Hashable, Iterator, Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any

from translators.envoy.clusters import cluster_bytes, load_assignment_bytes
from translators.envoy.listeners import build_listener
from translators.envoy.routes import route_config_bytes, virtual_host_bytes
from translators.extensions.api import ExtensionSet, Proxy
from translators.extensions.apply import Interner, apply_extensions
from translators.generators import ProxyBuild, generators
from translators.index import MeshIndex
from translators.ir import (
    ClusterIR,
    ListenerIR,
    LoadAssignmentIR,
    ProxyView,
    RouteConfigIR,
    VirtualHostIR,
)
from translators.memo import PieceCache, mesh_changes
from translators.mesh import MeshConfig, Workload
from translators.model.objects import MeshObject
from translators.naming import CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE
from translators.resources import EnvoyResource, ResourceGroup
from translators.telemetry.envoy import collector_cluster
from translators.telemetry.options import TracingProvider
from translators.telemetry.resolve import TelemetryIndex
from translators.view import (
    LocalView,
    OutboundView,
    build_local,
    build_outbound,
    combine,
    proxy_source,
)


@dataclass(frozen=True, slots=True)
class ProxyResources:
    proxy: str
    view: ProxyView
    # type URL -> the groups making up that type's resources for this proxy
    groups: Mapping[str, tuple[ResourceGroup, ...]]

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


def _cluster(ir: ClusterIR) -> EnvoyResource:
    return EnvoyResource(CLUSTER_TYPE, ir.name, provenance=ir.provenance, body=cluster_bytes(ir))


def _service_resources(
    clusters: tuple[ClusterIR, ...], assignments: tuple[LoadAssignmentIR, ...]
) -> tuple[tuple[EnvoyResource, ...], tuple[EnvoyResource, ...]]:
    return tuple(_cluster(c) for c in clusters), tuple(_assignment(a) for a in assignments)


def _vhost_bytes(ir: VirtualHostIR) -> tuple[VirtualHostIR, bytes]:
    return ir, virtual_host_bytes(ir)


def _listener(ir: ListenerIR) -> EnvoyResource:
    return EnvoyResource(LISTENER_TYPE, ir.name, build_listener(ir), ir.provenance)


def _assignment(ir: LoadAssignmentIR) -> EnvoyResource:
    return EnvoyResource(
        ENDPOINT_TYPE,
        ir.cluster,
        provenance=ir.provenance,
        body=load_assignment_bytes(ir.cluster, ir.endpoints),
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
        self._memo, self.index = self._generation(mesh, previous)
        self.telemetry = TelemetryIndex(mesh)
        self._interner = Interner(self._memo.get)

    @staticmethod
    def _generation(
        mesh: MeshConfig, previous: MeshTranslator | None
    ) -> tuple[PieceCache, MeshIndex]:
        """The memo and index of `mesh`: from scratch, or from the previous generation's
        by what changed (pieces that read none of it carry over)."""
        if previous is None or previous.mesh.options != mesh.options:
            memo = PieceCache()
            return memo, MeshIndex.of(mesh, memo.read)
        changes = mesh_changes(previous.mesh, mesh, security_changed=False)
        services = frozenset(d[1] for d in changes.deps if d[0] == "service")
        old = previous.index
        index = old.updated(mesh, changes.objects, services, ("workloads",) in changes.deps)
        if index.security.key != old.security.key:
            changes = mesh_changes(previous.mesh, mesh, security_changed=True)
        memo = previous._memo.next_generation(changes)
        return memo, replace(index, read=memo.read)

    def view(self, workload: Workload) -> ProxyView:
        outbound, local = self._views(workload)
        return combine(workload, outbound, local)

    def _views(self, workload: Workload) -> tuple[OutboundView, LocalView]:
        outbound = self._memo.get(*self._outbound_view(workload))
        sidecar = self.index.sidecar_for(workload)
        local = build_local(self.index, workload, sidecar, outbound)
        return outbound, self._with_telemetry(workload, local)

    def _outbound_view(self, workload: Workload) -> tuple[Hashable, Callable[[], OutboundView]]:
        """The memo key and builder of `workload`'s outbound view: its scope is its
        namespace, its Sidecar and its labels where some VirtualService matches on them."""
        sidecar = self.index.sidecar_for(workload)
        source = proxy_source(self.index, workload, self._memo)
        key = ("outbound-view", workload.namespace, sidecar.ref if sidecar else "", source.labels)
        return key, lambda: build_outbound(
            self.index, workload.namespace, sidecar, self._memo, source, self._memo.stale(key)
        )

    def _with_telemetry(self, workload: Workload, local: LocalView) -> LocalView:
        telemetry = self.telemetry.for_workload(workload)
        listeners = telemetry.attach(local.listeners)
        if listeners == local.listeners and not telemetry.warnings:
            return local
        return replace(local, listeners=listeners, warnings=local.warnings + telemetry.warnings)

    def _objects_by_kind(self) -> Mapping[str, tuple[MeshObject[Any], ...]]:
        def build() -> Mapping[str, tuple[MeshObject[Any], ...]]:
            self._memo.read(("objects",))
            grouped: dict[str, list[MeshObject[Any]]] = {}
            for obj in self.mesh.objects:
                grouped.setdefault(obj.kind, []).append(obj)
            return MappingProxyType({k: tuple(v) for k, v in grouped.items()})

        return self._memo.get(("objects-by-kind",), build)

    def collectors(self, local: LocalView) -> tuple[ResourceGroup, ...]:
        """The span collectors' clusters, one group shared by every proxy that traces."""
        providers: dict[TracingProvider, str] = {}
        for listener in local.listeners:
            tracing = listener.telemetry.tracing if listener.telemetry else None
            if tracing is not None:
                providers[tracing.provider] = tracing.cluster
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

    def inbound_clusters(self, local: LocalView) -> ResourceGroup:
        """Groups, not just resources, are shared: proxies with equal inbound clusters get
        the same group object, so the runtime reuses one serialized, versioned TypeSnapshot."""
        memo = self._memo
        return memo.get(
            ("inbound-group", local.clusters),
            lambda: ResourceGroup(memo.call(("cds", c), _cluster, c) for c in local.clusters),
        )

    def listeners(self, local: LocalView) -> ResourceGroup:
        memo = self._memo
        return memo.get(
            ("listener-group", local.listeners),
            lambda: ResourceGroup(memo.call(("lds", li), _listener, li) for li in local.listeners),
        )

    def translate(self, workload: Workload, *, extensions: bool = True) -> ProxyResources:
        """`extensions=False`: the config as if no extension were loaded."""
        outbound_view, local = self._views(workload)
        view_key, _ = self._outbound_view(workload)
        outbound = self._outbound_resources(view_key, outbound_view)
        build = ProxyBuild(self, workload, outbound_view, local, outbound)
        # One generator per xDS type, named by the `xdstypes` table, in push order.
        groups = {type_url: generate(build) for type_url, generate in generators()}
        view = combine(workload, outbound_view, local)
        if extensions and self.extensions:
            # raises ExtensionError (the caller keeps this proxy's last good config)
            proxy = Proxy(self.mesh, workload, view, self._objects_by_kind())
            groups = apply_extensions(self.extensions, self._interner, proxy, groups)
        return ProxyResources(workload.key, view, MappingProxyType(groups))

    def _outbound_resources(self, view_key: Hashable, view: OutboundView) -> OutboundResources:
        memo = self._memo
        clusters, assignments = memo.get(
            ("outbound-cluster-resources", view.clusters_key),
            lambda: self._cluster_resources(view),
        )

        def routes() -> ResourceGroup:
            memo.inherit(view_key)  # made from the view: depends on what the view read
            return self._group(tuple(self._route_config(rc) for rc in view.route_configs))

        return OutboundResources(
            view, clusters, assignments, memo.get(("outbound-route-resources", view_key), routes)
        )

    def _cluster_resources(self, view: OutboundView) -> tuple[ResourceGroup, ResourceGroup]:
        """The clusters and load assignments of the view's OutboundClusters piece: kept
        while that piece is (a route change does not touch them)."""
        memo = self._memo
        memo.inherit(view.clusters_key)
        per_service = [
            memo.get(
                ("service-resources", key),
                lambda key=key, c=c, a=a: self._service(key, c, a),  # type: ignore[misc]
            )
            for key, c, a in view.service_chunks
        ]
        in_chunks = {id(ir) for _, c, a in view.service_chunks for ir in (*c, *a)}
        clusters = tuple(
            [memo.call(("cds", c), _cluster, c) for c in view.clusters if id(c) not in in_chunks]
            + [r for cds, _ in per_service for r in cds]
        )
        assignments = tuple(
            [
                memo.call(("eds", a), _assignment, a)
                for a in view.load_assignments
                if id(a) not in in_chunks
            ]
            + [r for _, eds in per_service for r in eds]
        )
        return self._group(clusters), self._group(assignments)

    def _service(
        self,
        key: Hashable,
        clusters: tuple[ClusterIR, ...],
        assignments: tuple[LoadAssignmentIR, ...],
    ) -> tuple[tuple[EnvoyResource, ...], tuple[EnvoyResource, ...]]:
        self._memo.inherit(key)  # the service's IR piece: its bytes depend on what it read
        return _service_resources(clusters, assignments)

    def _group(self, resources: tuple[EnvoyResource, ...]) -> ResourceGroup:
        """The previous generation's group object when its members are the same objects:
        after one VirtualService changes, the 30,000 clusters of a large mesh keep their
        group, so the runtime reuses their serialized, versioned snapshot untouched."""
        return self._memo.get(("group", resources), lambda: ResourceGroup(resources))

    def _route_config(self, config: RouteConfigIR) -> EnvoyResource:
        """Route configs are assembled from per-virtual-host bytes: after one VirtualService
        changes, only its virtual host is rebuilt, even among 10,000."""
        memo = self._memo
        # Keyed by the IR object's identity, not its content (hashing 10,000 virtual hosts
        # after every change cost more than the change): the piece holds the object, so
        # no other live object can have its id.
        pieces = [
            memo.call(("vhost-bytes", id(v)), _vhost_bytes, v)[1] for v in config.virtual_hosts
        ]
        provenance = tuple(sorted({s for v in config.virtual_hosts for s in v.provenance}))
        return memo.get(
            ("rds", config.name, provenance, tuple(pieces)),
            lambda: EnvoyResource(
                ROUTE_TYPE,
                config.name,
                provenance=provenance,
                body=route_config_bytes(config.name, pieces, provenance),
            ),
        )


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
