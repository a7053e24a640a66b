"""IR -> xDS for one sidecar proxy, from its `ProxyView` alone: the second stage with no
memo and no mesh.

`MeshTranslator.translate` produces the same resources from the same IR, assembled from
memoized pieces shared between proxies and generations; this is the reference it must
equal (tests/translators/test_ir_roundtrip.py), and what turns an IR loaded from YAML
into Envoy resources. Gateway proxies are built from their own IR
(translators/gateway/ir.py), not from a `ProxyView`, and extensions run after both.
"""

from __future__ import annotations

from translators.envoy.clusters import cluster_bytes, load_assignment_bytes
from translators.envoy.listeners import build_listener
from translators.envoy.routes import route_config_bytes, virtual_host_bytes
from translators.ir import ProxyView, RouteTableIR
from translators.naming import CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE
from translators.resources import EnvoyResource
from translators.telemetry.envoy import collector_cluster
from translators.telemetry.options import TracingProvider


def proxy_resources(view: ProxyView) -> dict[str, tuple[EnvoyResource, ...]]:
    """type URL -> the proxy's resources of that type, in the IR's order."""
    return {
        CLUSTER_TYPE: (
            *(
                EnvoyResource(CLUSTER_TYPE, c.name, provenance=c.provenance, body=cluster_bytes(c))
                for c in view.destinations
            ),
            *_collectors(view),
        ),
        ENDPOINT_TYPE: tuple(
            EnvoyResource(
                ENDPOINT_TYPE,
                a.destination,
                provenance=a.provenance,
                body=load_assignment_bytes(a.destination, a.endpoints, a.groups),
            )
            for a in view.endpoint_sets
        ),
        LISTENER_TYPE: tuple(
            EnvoyResource(LISTENER_TYPE, li.name, build_listener(li), li.provenance)
            for li in view.listeners
        ),
        ROUTE_TYPE: tuple(_route_config(rc) for rc in view.route_tables),
    }


def _collectors(view: ProxyView) -> tuple[EnvoyResource, ...]:
    """One cluster per span collector the proxy's listeners trace to."""
    providers: dict[TracingProvider, str] = {}
    for listener in view.listeners:
        tracing = listener.telemetry.tracing if listener.telemetry else None
        if tracing is not None:
            providers[tracing.provider] = tracing.collector
    return tuple(
        EnvoyResource(CLUSTER_TYPE, name, collector_cluster(name, provider))
        for provider, name in sorted(providers.items(), key=lambda p: p[1])
    )


def _route_config(config: RouteTableIR) -> EnvoyResource:
    """A sidecar's outbound route configuration (ports ignored in host matching)."""
    provenance = tuple(sorted({s for v in config.virtual_hosts for s in v.provenance}))
    body = route_config_bytes(
        config.name,
        [virtual_host_bytes(v) for v in config.virtual_hosts],
        provenance,
        ignore_port=True,
    )
    return EnvoyResource(ROUTE_TYPE, config.name, provenance=provenance, body=body)
