"""GAMMA (the Gateway API for service mesh): which HTTPRoutes route sidecar traffic to
which Service, read from the routes' `parentRefs` alone (no translation here, so the
mesh index can use it without importing the gateway translators).

A parentRef with group `""` (or `core`) and kind `Service` names the Service whose
*frontend* (its name and ports) the route takes over for callers in the mesh; an
optional `port` (or `sectionName`, a port name) limits it to that service port.

Which routes a caller sees for a Service, as the GAMMA spec says: a *consumer* route
(in the caller's namespace, naming a Service of another namespace) applies to callers
of its own namespace only, and where there is one, the Service's *producer* routes
(in the Service's own namespace) do not apply to that namespace's callers. Producer
routes apply to every other caller.

Against a VirtualService of the same host, Istio (which turns each HTTPRoute into a
VirtualService with Gateway API semantics) lists, for a sidecar, the Gateway API routes
of the sidecar's own namespace first and the rest in age order, and the first one for a
host applies: a route in the caller's namespace wins; a producer route seen from another
namespace wins only if it is older than the VirtualService.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from translators.hosts import resolve_host
from translators.model.gateway_api import ParentReference
from translators.model.objects import MeshObject, age_order

SERVICE_GROUPS = frozenset({"", "core"})
# the route kinds whose Service parents xdscp translates for sidecars
MESH_ROUTE_KINDS = ("HTTPRoute",)


def is_service_parent(ref: ParentReference) -> bool:
    return ref.kind == "Service" and ref.group in SERVICE_GROUPS


def service_parents(
    obj: MeshObject[Any], suffix: str
) -> Iterator[tuple[ParentReference, str, str]]:
    """(parentRef, service hostname, service namespace) of each Service parent of `obj`."""
    if obj.kind not in MESH_ROUTE_KINDS:
        return
    for ref in obj.spec.parent_refs:
        if is_service_parent(ref):
            namespace = ref.namespace or obj.namespace
            yield ref, resolve_host(ref.name, namespace, suffix), namespace


def service_parent_hosts(obj: MeshObject[Any], suffix: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(host for _, host, _ in service_parents(obj, suffix)))


def names_port(ref: ParentReference, port: int, port_name: str) -> bool:
    """Does a Service parentRef cover the service port `port` (named `port_name`)? Its
    `port` by number, its `sectionName` by name (the spec's two ways), or neither: all."""
    if ref.port is not None and ref.port != port:
        return False
    return ref.section_name is None or ref.section_name == port_name


def applicable_routes(
    routes: Iterable[MeshObject[Any]],
    host: str,
    port: int,
    port_name: str,
    caller_namespace: str,
    suffix: str,
) -> tuple[MeshObject[Any], ...]:
    """The routes (oldest first, as given) that route a caller in `caller_namespace` to
    `host` on `port`: its consumer routes if it has any, else the producer routes."""
    consumer: list[MeshObject[Any]] = []
    producer: list[MeshObject[Any]] = []
    for route in routes:
        for ref, parent_host, namespace in service_parents(route, suffix):
            if parent_host != host or not names_port(ref, port, port_name):
                continue
            if route.namespace == namespace:
                producer.append(route)
            elif route.namespace == caller_namespace:
                consumer.append(route)
            break
    return tuple(consumer or producer)


def routes_win(
    routes: tuple[MeshObject[Any], ...], vs: MeshObject[Any] | None, caller_namespace: str
) -> bool:
    """Do the applicable GAMMA `routes` (non-empty) apply rather than `vs`?"""
    if vs is None:
        return True
    if routes[0].namespace == caller_namespace:
        return True
    return age_order(routes[0]) < age_order(vs)
