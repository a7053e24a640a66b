"""GAMMA routes for sidecars: the HTTPRoutes that name a Service as their parent become
that Service's outbound virtual host routes, built by the same HTTPRoute translation
gateways use (matches, filters, weights, timeouts, the spec's precedence across routes),
with each route's provenance the HTTPRoute it came from.

Several routes for one Service are merged, ordered by the spec's precedence (Istio
merges them the same way). A request no rule matches gets Envoy's 404: the routes take
over the Service's frontend, as Istio's generated configuration does.
"""

from __future__ import annotations

from typing import Any

from translators.gateway.attach import (
    BackendState,
    GatewayAPIState,
    RouteState,
    backend_state,
    route_backend_refs,
)
from translators.gateway.httproute import HTTPRouteTranslation
from translators.hosts import resolve_host
from translators.index import MeshIndex
from translators.ir import RouteIR
from translators.model.gateway_api import HTTPRouteSpec
from translators.model.objects import MeshObject

_NO_GATEWAYS = GatewayAPIState({}, {})


def _backends(route: MeshObject[HTTPRouteSpec], index: MeshIndex) -> tuple[BackendState, ...]:
    """The route's backends resolved as status judges them, recording what is read."""
    suffix = index.mesh.options.domain_suffix
    out = []
    for ref in route_backend_refs(route.spec):
        namespace = ref.namespace or route.namespace
        index.read(("service", resolve_host(ref.name, namespace, suffix)))
        if namespace != route.namespace:
            index.read(("kind", "ReferenceGrant"))
        out.append(backend_state(index.mesh, route, ref))
    return tuple(out)


def mesh_route_irs(routes: tuple[MeshObject[Any], ...], index: MeshIndex) -> tuple[RouteIR, ...]:
    """The virtual host routes of a Service from its applicable GAMMA `routes`."""
    translation = HTTPRouteTranslation(_NO_GATEWAYS, index.mesh.options.domain_suffix)
    states = []
    for route in routes:
        index.uses(route)
        states.append(RouteState(route, (), (), _backends(route, index)))
    ranked = sorted(
        (
            found
            for state in states
            for i, rule in enumerate(state.obj.spec.rules)
            for found in translation.rule_routes(state, i, rule)
        ),
        key=lambda r: r.key,
    )
    return tuple(r.route for r in ranked)


__all__ = ["mesh_route_irs"]
