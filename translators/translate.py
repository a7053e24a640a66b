"""The translator entry points: (MeshConfig, proxy) -> Envoy resources.

`translate` is the plain pure function. `MeshTranslator` is the same function with
a memo: built once per MeshConfig (optionally from the previous generation's
translator) and asked for many proxies, it reuses every piece whose inputs did
not change — the same `EnvoyResource` object (and the same group of them) for
identical content, so callers can serialize each piece once and share it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.endpoint.v3 import endpoint_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.config.route.v3 import route_pb2
from google.protobuf.message import Message

from translators.envoy.clusters import cluster_bytes, load_assignment_bytes
from translators.envoy.listeners import build_listener
from translators.envoy.routes import route_config_bytes, virtual_host_bytes
from translators.index import MeshIndex
from translators.ir import ClusterIR, ListenerIR, LoadAssignmentIR, ProxyView, RouteConfigIR
from translators.mesh import MeshConfig, Workload
from translators.naming import CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE
from translators.telemetry.envoy import collector_cluster
from translators.telemetry.options import TracingProvider
from translators.telemetry.resolve import TelemetryIndex
from translators.view import (
    LocalView,
    Memo,
    OutboundView,
    build_local,
    build_outbound,
    combine,
)

_MESSAGE_TYPES: dict[str, type[Message]] = {
    CLUSTER_TYPE: cluster_pb2.Cluster,
    ENDPOINT_TYPE: endpoint_pb2.ClusterLoadAssignment,
    LISTENER_TYPE: listener_pb2.Listener,
    ROUTE_TYPE: route_pb2.RouteConfiguration,
}


class EnvoyResource:
    """One Envoy resource with the mesh objects it came from: a protobuf message, or its
    already-serialized bytes (large route configs are assembled from cached pieces).
    Compared by identity: the translator returns the same object for the same content."""

    __slots__ = ("_body", "_message", "name", "provenance", "type_url")

    def __init__(
        self,
        type_url: str,
        name: str,
        message: Message | None = None,
        provenance: tuple[str, ...] = (),
        body: bytes | None = None,
    ) -> None:
        if message is None and body is None:
            raise ValueError("an EnvoyResource needs a message or its bytes")
        self.type_url = type_url
        self.name = name
        self.provenance = provenance
        self._message = message
        self._body = body

    @property
    def message(self) -> Message:
        if self._message is None:
            parsed = _MESSAGE_TYPES[self.type_url]()
            parsed.ParseFromString(self._body or b"")
            return parsed
        return self._message

    def body(self) -> bytes:
        """Deterministic serialization (what versions are hashed from)."""
        if self._body is None:
            self._body = self.message.SerializeToString(deterministic=True)
        return self._body

    def __repr__(self) -> str:
        return f"EnvoyResource({self.type_url.rsplit('.', 1)[-1]}, {self.name!r})"


class ResourceGroup(tuple[EnvoyResource, ...]):
    """A tuple of resources built together and shared by identity between proxies, so the
    cache can serialize, hash and version the group once, not once per proxy."""

    __slots__ = ()


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
class _OutboundResources:
    view: OutboundView
    clusters: ResourceGroup
    load_assignments: ResourceGroup
    route_configs: ResourceGroup


def _cluster(ir: ClusterIR) -> EnvoyResource:
    return EnvoyResource(CLUSTER_TYPE, ir.name, provenance=ir.provenance, body=cluster_bytes(ir))


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

    def __init__(self, mesh: MeshConfig, previous: MeshTranslator | None = None) -> None:
        self.mesh = mesh
        self.index = MeshIndex.of(mesh)
        self.telemetry = TelemetryIndex(mesh)
        self._memo: Memo = previous._memo.next_generation() if previous else Memo()

    def view(self, workload: Workload) -> ProxyView:
        outbound, local = self._views(workload)
        return combine(workload, outbound, local)

    def _views(self, workload: Workload) -> tuple[OutboundView, LocalView]:
        sidecar = self.index.sidecar_for(workload)
        outbound = self._memo.generation_get(
            ("outbound-view", workload.namespace, sidecar.ref if sidecar else ""),
            lambda: build_outbound(self.index, workload.namespace, sidecar, self._memo),
        )
        local = build_local(self.index, workload, sidecar, outbound)
        return outbound, self._with_telemetry(workload, local)

    def _with_telemetry(self, workload: Workload, local: LocalView) -> LocalView:
        telemetry = self.telemetry.for_workload(workload)
        listeners = telemetry.attach(local.listeners)
        if listeners == local.listeners and not telemetry.warnings:
            return local
        return replace(local, listeners=listeners, warnings=local.warnings + telemetry.warnings)

    def _collectors(self, local: LocalView) -> tuple[ResourceGroup, ...]:
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

    def translate(self, workload: Workload) -> ProxyResources:
        outbound_view, local = self._views(workload)
        outbound = self._memo.generation_get(
            ("outbound-resources", outbound_view.key),
            lambda: self._outbound_resources(outbound_view),
        )
        memo = self._memo
        # Groups, not just resources, are shared: proxies with equal inbound clusters get the
        # same group object, so the runtime reuses one serialized, versioned TypeSnapshot.
        inbound = memo.generation_get(
            ("inbound-group", local.clusters),
            lambda: ResourceGroup(memo.call(("cds", c), _cluster, c) for c in local.clusters),
        )
        listeners = memo.generation_get(
            ("listener-group", local.listeners),
            lambda: ResourceGroup(memo.call(("lds", li), _listener, li) for li in local.listeners),
        )
        groups = {
            CLUSTER_TYPE: (outbound.clusters, inbound, *self._collectors(local)),
            ENDPOINT_TYPE: (outbound.load_assignments,),
            LISTENER_TYPE: (listeners,),
            ROUTE_TYPE: (outbound.route_configs,),
        }
        return ProxyResources(
            workload.key, combine(workload, outbound_view, local), MappingProxyType(groups)
        )

    def _outbound_resources(self, view: OutboundView) -> _OutboundResources:
        memo = self._memo
        clusters = [memo.call(("cds", c), _cluster, c) for c in view.clusters]
        assignments = [memo.call(("eds", a), _assignment, a) for a in view.load_assignments]
        routes = [self._route_config(rc) for rc in view.route_configs]
        return _OutboundResources(
            view, ResourceGroup(clusters), ResourceGroup(assignments), ResourceGroup(routes)
        )

    def _route_config(self, config: RouteConfigIR) -> EnvoyResource:
        """Route configs are assembled from per-virtual-host bytes: after one VirtualService
        changes, only its virtual host is rebuilt, even among 10,000."""
        memo = self._memo
        pieces = [
            memo.call(("vhost-bytes", v), virtual_host_bytes, v) for v in config.virtual_hosts
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


def translate(mesh: MeshConfig, workload: Workload) -> ProxyResources:
    """Every Envoy resource `workload`'s sidecar needs, from `mesh` alone."""
    return MeshTranslator(mesh).translate(workload)


__all__ = [
    "EnvoyResource",
    "MeshTranslator",
    "ProxyResources",
    "ResourceGroup",
    "translate",
]
