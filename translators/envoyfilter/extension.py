"""EnvoyFilter as a built-in extension: three patches (listeners, route configurations,
clusters) on the extension API's patch mechanism, so EnvoyFilter output is shared and
interned like any extension's. Every resource an EnvoyFilter changes or adds names it in
its provenance, so a NACK of that resource is blamed on the EnvoyFilter."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import base_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.config.route.v3 import route_pb2

from translators.envoyfilter.clusters import added_clusters, adds_here, patch_cluster
from translators.envoyfilter.listeners import inline_extension_configs, patch_listener
from translators.envoyfilter.routes import patch_route_config
from translators.envoyfilter.select import ActivePatch, active_patches, filters_for
from translators.extensions.api import Extension, Output, Proxy, Resource, Sourced
from translators.model.envoy_filter import (
    LISTENER_PATCHED,
    ROUTE_CLASS,
    ApplyTo,
    Operation,
    PatchContext,
)
from translators.naming import CLUSTER_TYPE, LISTENER_TYPE, ROUTE_TYPE

KIND = "EnvoyFilter"
EXTENSION_NAME = "EnvoyFilter"


def applicable(proxy: Proxy) -> list[ActivePatch]:
    """The patches of the EnvoyFilters selecting `proxy`, in application order."""
    filters = proxy.objects(KIND)
    if not filters:
        return []
    chosen = filters_for(filters, proxy.workload, proxy.mesh.options.root_namespace)
    return active_patches(chosen, proxy.workload)


def listener_context(listener: listener_pb2.Listener, gateway: bool) -> PatchContext:
    if gateway:
        return PatchContext.GATEWAY
    if listener.traffic_direction == base_pb2.INBOUND or listener.name == "virtualInbound":
        return PatchContext.SIDECAR_INBOUND
    return PatchContext.SIDECAR_OUTBOUND


def route_context(config: route_pb2.RouteConfiguration, gateway: bool) -> PatchContext:
    if gateway:
        return PatchContext.GATEWAY
    if config.name.startswith("inbound|"):
        return PatchContext.SIDECAR_INBOUND
    return PatchContext.SIDECAR_OUTBOUND


def _patch_listeners(proxy: Proxy, resources: Sequence[Resource]) -> Iterable[Output] | None:
    patches = [p for p in applicable(proxy) if p.apply_to in LISTENER_PATCHED | ROUTE_CLASS]
    extensions = [
        p
        for p in applicable(proxy)
        if p.apply_to is ApplyTo.EXTENSION_CONFIG and p.operation is Operation.ADD
    ]
    if not patches and not extensions:
        return None
    out: list[Output] = []
    for resource in resources:
        listener = resource.message
        assert isinstance(listener, listener_pb2.Listener)
        applied: set[str] = set()
        context = listener_context(listener, proxy.gateway)
        if not patch_listener(listener, patches, context, applied):
            continue
        inline_extension_configs(listener, extensions, applied)
        resource.blame(*sorted(applied))
        out.append(resource)
    for p in patches:
        added = p.apply_to is ApplyTo.LISTENER and p.operation is Operation.ADD
        if added and adds_here(p.context, proxy.gateway):
            out.append(Sourced(p.value(), (p.source,)))
    return out


def _patch_routes(proxy: Proxy, resources: Sequence[Resource]) -> Iterable[Output] | None:
    patches = [p for p in applicable(proxy) if p.apply_to in ROUTE_CLASS]
    if not patches:
        return None
    out: list[Output] = []
    for resource in resources:
        config = resource.message
        assert isinstance(config, route_pb2.RouteConfiguration)
        applied: set[str] = set()
        patch_route_config(config, patches, route_context(config, proxy.gateway), applied)
        resource.blame(*sorted(applied))
        out.append(resource)
    return out


def _patch_clusters(proxy: Proxy, resources: Sequence[Resource]) -> Iterable[Output] | None:
    patches = [p for p in applicable(proxy) if p.apply_to is ApplyTo.CLUSTER]
    if not patches:
        return None
    out: list[Output] = []
    for resource in resources:
        cluster = resource.message
        assert isinstance(cluster, cluster_pb2.Cluster)
        applied: set[str] = set()
        if not patch_cluster(cluster, patches, proxy.gateway, applied):
            continue
        resource.blame(*sorted(applied))
        out.append(resource)
    out += [Sourced(c, (source,)) for source, c in added_clusters(patches, proxy.gateway)]
    return out


def envoy_filter_extension() -> Extension:
    """A fresh extension applying the mesh's EnvoyFilters (run after user extensions)."""
    extension = Extension(EXTENSION_NAME)
    extension.add_patch(LISTENER_TYPE, _patch_listeners, "listeners")
    extension.add_patch(ROUTE_TYPE, _patch_routes, "route configurations")
    extension.add_patch(CLUSTER_TYPE, _patch_clusters, "clusters")
    return extension
