"""EnvoyFilter as a built-in extension: three patches (listeners, route configurations,
clusters) on the extension API's patch mechanism, so EnvoyFilter output is shared and
interned like any extension's. Every resource an EnvoyFilter changes or adds names it in
its provenance, so a NACK of that resource is blamed on the EnvoyFilter."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from functools import partial

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import base_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.config.route.v3 import route_pb2
from google.protobuf.message import Message

from translators.envoyfilter.clusters import added_clusters, adds_here, patch_cluster
from translators.envoyfilter.listeners import inline_extension_configs, patch_listener
from translators.envoyfilter.routes import patch_route_config
from translators.envoyfilter.select import ActivePatch, active_patches, filters_for
from translators.extensions.api import Extension, Output, Proxy, Resource, Sourced
from translators.extensions.apply import resource_name
from translators.model.envoy_filter import (
    LISTENER_PATCHED,
    ROUTE_CLASS,
    ApplyTo,
    Operation,
    PatchContext,
)
from translators.naming import CLUSTER_TYPE, LISTENER_TYPE, ROUTE_TYPE
from translators.resources import MESSAGE_TYPES, EnvoyResource

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


PatchOne = Callable[[Message, set[str]], bool]


def _patched_each(
    proxy: Proxy,
    resources: Sequence[Resource],
    patches: Sequence[ActivePatch],
    patch_one: PatchOne,
) -> list[Output]:
    """Each resource patched by `patch_one` (in place on a copy; False: removed), memoized
    by (original resource, patches, proxy kind): proxies sharing a resource and the same
    EnvoyFilters share the patched result, and no patch runs twice for one input."""
    patches_key = tuple(p.key for p in patches)
    out: list[Output] = []
    for resource in resources:
        original = resource.original
        key = ("envoyfilter", original, patches_key, proxy.gateway)
        result = proxy.cached(key, partial(_patched, original, patch_one))
        if result is not None:
            out.append(result)
    return out


def _patched(original: EnvoyResource, patch_one: PatchOne) -> EnvoyResource | None:
    message = MESSAGE_TYPES[original.type_url]()
    original_body = original.body()  # joined once: `body()` joins a route config's parts
    message.ParseFromString(original_body)
    applied: set[str] = set()
    if not patch_one(message, applied):
        return None
    body = message.SerializeToString(deterministic=True)
    if body == original_body:
        return original
    sources = tuple(s for s in sorted(applied) if s not in original.provenance)
    provenance = original.provenance + sources
    # a REPLACE may rename it: the resource is named as its message says
    name = resource_name(message) or original.name
    return EnvoyResource(original.type_url, name, provenance=provenance, body=body)


def _patch_listeners(proxy: Proxy, resources: Sequence[Resource]) -> Iterable[Output] | None:
    active = applicable(proxy)
    patches = [p for p in active if p.apply_to in LISTENER_PATCHED | ROUTE_CLASS]
    extensions = [
        p for p in active if p.apply_to is ApplyTo.EXTENSION_CONFIG and p.operation is Operation.ADD
    ]
    if not patches and not extensions:
        return None

    def patch_one(listener: Message, applied: set[str]) -> bool:
        assert isinstance(listener, listener_pb2.Listener)
        context = listener_context(listener, proxy.gateway)
        if not patch_listener(listener, patches, context, applied):
            return False
        inline_extension_configs(listener, extensions, applied)
        return True

    out = _patched_each(proxy, resources, [*patches, *extensions], patch_one)
    for p in patches:
        added = p.apply_to is ApplyTo.LISTENER and p.operation is Operation.ADD
        if added and adds_here(p.context, proxy.gateway):
            out.append(Sourced(p.value(), (p.source,)))
    return out


def _patch_routes(proxy: Proxy, resources: Sequence[Resource]) -> Iterable[Output] | None:
    patches = [p for p in applicable(proxy) if p.apply_to in ROUTE_CLASS]
    if not patches:
        return None

    def patch_one(config: Message, applied: set[str]) -> bool:
        assert isinstance(config, route_pb2.RouteConfiguration)
        patch_route_config(config, patches, route_context(config, proxy.gateway), applied)
        return True

    return _patched_each(proxy, resources, patches, patch_one)


def _patch_clusters(proxy: Proxy, resources: Sequence[Resource]) -> Iterable[Output] | None:
    patches = [p for p in applicable(proxy) if p.apply_to is ApplyTo.CLUSTER]
    if not patches:
        return None

    def patch_one(cluster: Message, applied: set[str]) -> bool:
        assert isinstance(cluster, cluster_pb2.Cluster)
        return patch_cluster(cluster, patches, proxy.gateway, applied)

    out = _patched_each(proxy, resources, patches, patch_one)
    out += [Sourced(c, (source,)) for source, c in added_clusters(patches, proxy.gateway)]
    return out


def envoy_filter_extension() -> Extension:
    """A fresh extension applying the mesh's EnvoyFilters (run after user extensions)."""
    extension = Extension(EXTENSION_NAME)
    extension.add_patch(LISTENER_TYPE, _patch_listeners, "listeners")
    extension.add_patch(ROUTE_TYPE, _patch_routes, "route configurations")
    extension.add_patch(CLUSTER_TYPE, _patch_clusters, "clusters")
    return extension
