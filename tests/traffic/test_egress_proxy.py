"""Sidecar `outboundTrafficPolicy.egressProxy`: ALLOW_ANY traffic to unknown hosts goes to
the egress proxy's cluster (Istio's `allow_any` virtual host and, with traffic capture,
the virtualOutbound fallback), not out by itself. Judged on the golden case
`sidecar-egress-proxy`, which real Envoy validates in tests/golden."""

from __future__ import annotations

import pytest
from envoy.config.listener.v3 import listener_pb2
from envoy.extensions.filters.network.tcp_proxy.v3 import tcp_proxy_pb2

from tests.golden.cases import case_named, translate_case
from translators.behaviour.routing import Request, route_on_port, to_service
from translators.naming import (
    ALLOW_ANY,
    ALLOW_ANY_DYNAMIC_DNS_CLUSTER,
    CLUSTER_TYPE,
    LISTENER_TYPE,
)
from translators.translate import ProxyResources

SQUID = "outbound|3128||squid.egress.svc.cluster.local"


@pytest.fixture(scope="module")
def proxies() -> dict[str, ProxyResources]:
    _, results = translate_case(case_named("sidecar-egress-proxy"))
    return {r.proxy: r for r in results}


@pytest.mark.parametrize("proxy", ["shop/web", "shop/batch"])
def test_unknown_authorities_go_to_the_egress_proxy(
    proxies: dict[str, ProxyResources], proxy: str
) -> None:
    resources = proxies[proxy].resources
    decision = route_on_port(resources, 8080, Request("www.example.org"))
    assert decision is not None
    assert (decision.virtual_host, decision.clusters) == (ALLOW_ANY, ((SQUID, 100),))
    assert to_service(decision) is None  # no service took it: the catch-all did
    known = route_on_port(resources, 8080, Request("cart"))
    assert known is not None and known.clusters == (
        ("outbound|8080||cart.shop.svc.cluster.local", 100),
    )
    clusters = {r.name for r in proxies[proxy].of_type(CLUSTER_TYPE)}
    assert SQUID in clusters
    assert ALLOW_ANY_DYNAMIC_DNS_CLUSTER not in clusters  # nothing routes to it


def test_captured_unknown_destinations_go_to_the_egress_proxy(
    proxies: dict[str, ProxyResources],
) -> None:
    listeners = {
        r.name: r.message
        for r in proxies["shop/web"].of_type(LISTENER_TYPE)
        if isinstance(r.message, listener_pb2.Listener)
    }
    (chain,) = listeners["virtualOutbound"].filter_chains
    proxy = tcp_proxy_pb2.TcpProxy()
    assert chain.filters[0].typed_config.Unpack(proxy)
    assert proxy.cluster == SQUID
