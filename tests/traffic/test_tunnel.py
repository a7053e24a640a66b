"""DestinationRule `tunnel` -> tcp_proxy tunneling_config, as Istio's tunnelingconfig.Apply:
only for a route to one destination; a subset's own tunnel, never the top level's."""

from __future__ import annotations

from envoy.config.listener.v3 import listener_pb2
from envoy.extensions.filters.network.tcp_proxy.v3 import tcp_proxy_pb2

from tests.translators.helpers import mesh_of, workload
from translators.naming import LISTENER_TYPE
from translators.translate import translate

MESH = """
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: proxy}
spec:
  hosts: [proxy.corp.example]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports: [{number: 3128, name: tcp, protocol: TCP}]
  endpoints: [{address: 10.5.0.1, labels: {tier: a}}, {address: 10.5.0.2, labels: {tier: b}}]
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: client}
spec: {address: 10.9.0.1}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: proxy}
spec:
  host: proxy.corp.example
  trafficPolicy:
    tunnel: {targetHost: backend.example, targetPort: 8443}
  subsets:
  - name: a
    labels: {tier: a}
    trafficPolicy: {tunnel: {protocol: POST, targetHost: 10.1.2.3, targetPort: 443}}
  - name: b
    labels: {tier: b}
"""


def _proxies(text: str) -> list[tcp_proxy_pb2.TcpProxy]:
    mesh = mesh_of(text)
    out = []
    for resource in translate(mesh, workload(mesh, "default/client")).of_type(LISTENER_TYPE):
        listener = resource.message
        assert isinstance(listener, listener_pb2.Listener)
        for chain in listener.filter_chains:
            for f in chain.filters:
                if f.name == "envoy.filters.network.tcp_proxy":
                    proxy = tcp_proxy_pb2.TcpProxy()
                    f.typed_config.Unpack(proxy)
                    out.append(proxy)
    return out


def _route(destinations: str) -> str:
    return (
        "---\napiVersion: networking.istio.io/v1\nkind: VirtualService\n"
        "metadata: {name: proxy}\nspec:\n  hosts: [proxy.corp.example]\n"
        f"  tcp: [{{route: {destinations}}}]\n"
    )


def test_top_level_tunnel() -> None:
    (proxy,) = _proxies(MESH)
    assert proxy.tunneling_config.hostname == "backend.example:8443"
    assert not proxy.tunneling_config.use_post


def test_subset_tunnel_and_no_fallback_to_the_top_level() -> None:
    (proxy,) = _proxies(MESH + _route("[{destination: {host: proxy.corp.example, subset: a}}]"))
    assert proxy.tunneling_config.hostname == "10.1.2.3:443"
    assert proxy.tunneling_config.use_post
    (proxy,) = _proxies(MESH + _route("[{destination: {host: proxy.corp.example, subset: b}}]"))
    assert not proxy.HasField("tunneling_config")


def test_weighted_destinations_are_not_tunnelled() -> None:
    (proxy,) = _proxies(
        MESH
        + _route(
            "[{destination: {host: proxy.corp.example, subset: a}, weight: 50},"
            " {destination: {host: proxy.corp.example, subset: b}, weight: 50}]"
        )
    )
    assert len(proxy.weighted_clusters.clusters) == 2
    assert not proxy.HasField("tunneling_config")
