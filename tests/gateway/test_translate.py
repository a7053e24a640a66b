"""Gateway translation, read back from the Envoy resources and checked by real Envoy
(`--mode validate`): Istio Gateways (ports, SNI chains, certificates over SDS, merged
VirtualServices, namespace-scoped hosts, match-block gateways, httpsRedirect, TLS
passthrough, TCP) and Gateway API HTTPRoutes (precedence, whole-segment PathPrefix,
weights, filters); sidecars keep sidecar listeners."""

from __future__ import annotations

from typing import Any

import pytest
from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.config.route.v3 import route_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm,
)
from envoy.extensions.transport_sockets.tls.v3 import tls_pb2

from tests.envoy_validate import find_envoy, validate_resources
from tests.translators.helpers import docs, mesh_of, service_entry, workload_entry
from translators.explain.explain import explain
from translators.explain.request import ExplainRequest
from translators.gateway.attach import GATEWAY_NAME_LABEL
from translators.gateway.ir import Credential
from translators.gateway.proxy import gateway_credentials
from translators.mesh import MeshConfig
from translators.naming import CLUSTER_TYPE, LISTENER_TYPE, ROUTE_TYPE
from translators.translate import MeshTranslator, ProxyResources

SERVICES = docs(
    workload_entry("l4-gw", "10.9.0.4", "edge", f"{{{GATEWAY_NAME_LABEL}: l4}}"),
    service_entry("productpage", ports="[{number: 9080, name: http, protocol: HTTP}]"),
    service_entry("reviews", ports="[{number: 9080, name: http, protocol: HTTP}]"),
    service_entry("db", ports="[{number: 5432, name: tcp, protocol: TCP}]"),
    service_entry("secure", ports="[{number: 443, name: tls, protocol: TLS}]"),
    workload_entry("ingress", "10.9.0.1", "edge", "{istio: ingressgateway}"),
    workload_entry("api-gw", "10.9.0.2", "edge", f"{{{GATEWAY_NAME_LABEL}: api}}"),
    workload_entry("client", "10.9.0.3", "default", "{app: client}"),
)

ISTIO = """\
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: public, namespace: edge}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["*/shop.example.com", "default/api.example.com"]
  - port: {number: 80, name: http-redirect, protocol: HTTP}
    hosts: [secure.example.com]
    tls: {httpsRedirect: true}
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [shop.example.com]
    tls: {mode: SIMPLE, credentialName: shop-cert, cipherSuites: [ECDHE-RSA-AES128-GCM-SHA256]}
  - port: {number: 443, name: mtls, protocol: HTTPS}
    hosts: [secure.example.com]
    tls: {mode: MUTUAL, credentialName: secure-cert}
  - port: {number: 8443, name: passthrough, protocol: TLS}
    hosts: [tls.example.com]
    tls: {mode: PASSTHROUGH}
  - port: {number: 5432, name: tcp, protocol: TCP}
    hosts: ["*"]
  - port: {number: 15443, name: sni, protocol: TLS}
    hosts: ["*.local"]
    tls: {mode: AUTO_PASSTHROUGH}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: shop, namespace: default}
spec:
  hosts: [shop.example.com, secure.example.com]
  gateways: [edge/public]
  http:
  - match: [{uri: {prefix: /reviews}}]
    route: [{destination: {host: reviews}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: shop-extra, namespace: default}
spec:
  hosts: [shop.example.com]
  gateways: [edge/public, mesh]
  http:
  - match: [{uri: {prefix: /}, gateways: [edge/public]}]
    route: [{destination: {host: productpage}}]
  - match: [{uri: {prefix: /mesh-only}, gateways: [mesh]}]
    route: [{destination: {host: reviews}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: api, namespace: other}
spec:
  hosts: [api.example.com]
  gateways: [edge/public]
  http:
  - route: [{destination: {host: productpage.default.svc.cluster.local}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: l4, namespace: default}
spec:
  hosts: ["*"]
  gateways: [edge/public]
  tls:
  - match: [{sniHosts: [tls.example.com]}]
    route: [{destination: {host: secure, port: {number: 443}}}]
  tcp:
  - route: [{destination: {host: db, port: {number: 5432}}}]
"""

GATEWAY_API = """\
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: api, namespace: edge}
spec:
  gatewayClassName: xdscp
  listeners:
  - {name: http, port: 8080, protocol: HTTP, allowedRoutes: {namespaces: {from: All}}}
  - name: https
    port: 8443
    protocol: HTTPS
    hostname: api.example.com
    tls: {certificateRefs: [{name: api-cert}]}
    allowedRoutes: {namespaces: {from: All}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: reviews, namespace: default}
spec:
  parentRefs: [{name: api, namespace: edge}]
  hostnames: [api.example.com]
  rules:
  - matches: [{path: {type: PathPrefix, value: /}}]
    backendRefs: [{name: productpage, port: 9080}]
  - matches: [{path: {type: PathPrefix, value: /reviews}, headers: [{name: x-canary, value: "1"}]}]
    backendRefs: [{name: reviews, port: 9080}]
  - matches: [{path: {type: PathPrefix, value: /reviews}}]
    filters:
    - type: RequestHeaderModifier
      requestHeaderModifier: {set: [{name: x-via, value: gateway}], remove: [x-internal]}
    - type: URLRewrite
      urlRewrite: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /v2/reviews}}
    backendRefs:
    - {name: reviews, port: 9080, weight: 80}
    - {name: productpage, port: 9080, weight: 20}
  - matches: [{path: {type: Exact, value: /old}}]
    filters:
    - type: RequestRedirect
      requestRedirect: {path: {type: ReplaceFullPath, replaceFullPath: /new}, statusCode: 301}
  - matches: [{path: {type: Exact, value: /broken}}]
    backendRefs: [{name: missing, port: 80}]
"""


L4_AND_GRPC = """\
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: l4, namespace: edge}
spec:
  gatewayClassName: istio
  listeners:
  - {name: grpc, port: 9090, protocol: HTTP, allowedRoutes: {namespaces: {from: All}}}
  - name: passthrough
    port: 9443
    protocol: TLS
    tls: {mode: Passthrough}
    allowedRoutes: {namespaces: {from: All}}
  - {name: db, port: 5432, protocol: TCP, allowedRoutes: {namespaces: {from: All}}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: echo, namespace: default}
spec:
  parentRefs: [{name: l4, namespace: edge, sectionName: grpc}]
  rules:
  - matches: [{method: {service: echo.Echo}}]
    backendRefs: [{name: reviews, port: 9080}]
  - matches: [{method: {service: echo.Echo, method: Say}, headers: [{name: x-v, value: "2"}]}]
    backendRefs: [{name: productpage, port: 9080}]
---
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TLSRoute
metadata: {name: secure, namespace: default}
spec:
  parentRefs: [{name: l4, namespace: edge}]
  hostnames: [secure.example.com]
  rules: [{backendRefs: [{name: secure, port: 443}]}]
---
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TCPRoute
metadata: {name: db, namespace: default}
spec:
  parentRefs: [{name: l4, namespace: edge}]
  rules: [{backendRefs: [{name: db, port: 5432, weight: 3}, {name: db, port: 5432, weight: 1}]}]
"""


def translated(mesh: MeshConfig, key: str) -> ProxyResources:
    namespace, _, name = key.partition("/")
    workload = mesh.workload(namespace, name)
    assert workload is not None
    return MeshTranslator(mesh).translate(workload)


def listeners(resources: ProxyResources) -> dict[str, listener_pb2.Listener]:
    out = {}
    for r in resources.of_type(LISTENER_TYPE):
        message = r.message
        assert isinstance(message, listener_pb2.Listener)
        out[r.name] = message
    return out


def routes(resources: ProxyResources) -> dict[str, route_pb2.RouteConfiguration]:
    out = {}
    for r in resources.of_type(ROUTE_TYPE):
        config = route_pb2.RouteConfiguration()
        config.ParseFromString(r.body())
        out[r.name] = config
    return out


def manager(chain: Any) -> hcm.HttpConnectionManager:
    out = hcm.HttpConnectionManager()
    chain.filters[0].typed_config.Unpack(out)
    return out


def tls_context(chain: Any) -> tls_pb2.DownstreamTlsContext:
    out = tls_pb2.DownstreamTlsContext()
    chain.transport_socket.typed_config.Unpack(out)
    return out


def vhost_routes(config: route_pb2.RouteConfiguration, domain: str) -> list[str]:
    vhost = next(v for v in config.virtual_hosts if domain in v.domains)
    return [r.name for r in vhost.routes]


def test_istio_gateway_listeners_chains_and_routes() -> None:
    mesh = mesh_of(docs(SERVICES, ISTIO))
    resources = translated(mesh, "edge/ingress")
    found = listeners(resources)
    assert sorted(found) == [
        "10.9.0.1_15443",
        "10.9.0.1_443",
        "10.9.0.1_5432",
        "10.9.0.1_80",
        "10.9.0.1_8443",
    ]

    http = found["10.9.0.1_80"]
    (chain,) = http.filter_chains
    assert manager(chain).rds.route_config_name == "http.80"
    # as Istio's gateways: the Host keeps its port (the upstream sees it as sent) and
    # every route configuration matches virtual hosts on the Host without it
    assert not manager(chain).strip_any_host_port
    configs = routes(resources)
    assert configs and all(c.ignore_port_in_host_matching for c in configs.values())

    https = found["10.9.0.1_443"]
    assert [list(c.filter_chain_match.server_names) for c in https.filter_chains] == [
        ["shop.example.com"],
        ["secure.example.com"],
    ]
    simple, mutual = (tls_context(c) for c in https.filter_chains)
    assert simple.common_tls_context.tls_certificate_sds_secret_configs[0].name == (
        "kubernetes://edge/shop-cert"
    )
    assert list(simple.common_tls_context.tls_params.cipher_suites) == [
        "ECDHE-RSA-AES128-GCM-SHA256"
    ]
    assert not simple.require_client_certificate.value
    assert mutual.require_client_certificate.value
    assert mutual.common_tls_context.validation_context_sds_secret_config.name == (
        "kubernetes://edge/secure-cert-cacert"
    )
    assert https.listener_filters[0].name == "envoy.filters.listener.tls_inspector"

    passthrough = found["10.9.0.1_8443"].filter_chains[0]
    assert list(passthrough.filter_chain_match.server_names) == ["tls.example.com"]
    assert passthrough.filters[0].name == "envoy.filters.network.tcp_proxy"
    tcp = found["10.9.0.1_5432"].filter_chains[0]
    assert not tcp.filter_chain_match.server_names

    configs = routes(resources)
    assert sorted(configs) == [
        "http.80",
        "https.443.https.public.edge",
        "https.443.mtls.public.edge",
    ]
    plain = configs["http.80"]
    # two VirtualServices for shop.example.com merge, oldest first; the mesh-only block
    # of shop-extra stays on sidecars
    assert vhost_routes(plain, "shop.example.com") == ["default.shop.0", "default.shop-extra.0"]
    # api.example.com is bound to namespace `default` only: other/api does not apply
    assert all("api.example.com" not in v.domains for v in plain.virtual_hosts)
    redirect = next(v for v in plain.virtual_hosts if "secure.example.com" in v.domains)
    assert redirect.routes[0].redirect.scheme_redirect == "https"  # a 301 (response_code 0)
    assert redirect.routes[0].redirect.response_code == 0
    assert vhost_routes(configs["https.443.mtls.public.edge"], "secure.example.com") == [
        "default.shop.0"
    ]
    assert gateway_credentials(MeshTranslator(mesh), mesh.workloads["edge/ingress"]) == (
        Credential("edge", "shop-cert"),
        Credential("edge", "secure-cert", with_ca=True),
    )


def test_gateway_api_routes_in_precedence_order() -> None:
    mesh = mesh_of(docs(SERVICES, GATEWAY_API))
    resources = translated(mesh, "edge/api-gw")
    found = listeners(resources)
    assert sorted(found) == ["10.9.0.2_8080", "10.9.0.2_8443"]
    https = found["10.9.0.2_8443"].filter_chains[0]
    assert list(https.filter_chain_match.server_names) == ["api.example.com"]
    assert tls_context(https).common_tls_context.tls_certificate_sds_secret_configs[0].name == (
        "kubernetes://edge/api-cert"
    )
    config = routes(resources)["http.8080"]
    vhost = next(v for v in config.virtual_hosts if "api.example.com" in v.domains)
    matched = [
        (
            r.match.WhichOneof("path_specifier"),
            getattr(r.match, r.match.WhichOneof("path_specifier") or "path"),
        )
        for r in vhost.routes
    ]
    # Exact paths first, then the longest prefix (header-matching one first), `/` last;
    # PathPrefix /reviews is /reviews exactly and /reviews/..., never /reviewsX
    assert matched == [
        ("path", "/broken"),
        ("path", "/old"),
        ("path", "/reviews"),
        ("prefix", "/reviews/"),
        ("path", "/reviews"),
        ("prefix", "/reviews/"),
        ("prefix", "/"),
    ]
    canary, _, weighted, weighted_prefix = vhost.routes[2:6]
    assert canary.match.headers[0].name == "x-canary"
    assert canary.route.cluster == "outbound|9080||reviews.default.svc.cluster.local"
    assert [(c.name, c.weight.value) for c in weighted.route.weighted_clusters.clusters] == [
        ("outbound|9080||reviews.default.svc.cluster.local", 80),
        ("outbound|9080||productpage.default.svc.cluster.local", 20),
    ]
    assert weighted.route.prefix_rewrite == "/v2/reviews"
    assert weighted_prefix.route.prefix_rewrite == "/v2/reviews/"
    assert [h.header.key for h in weighted.request_headers_to_add] == ["x-via"]
    assert list(weighted.request_headers_to_remove) == ["x-internal"]
    old = vhost.routes[1]
    assert (old.redirect.path_redirect, old.redirect.response_code) == ("/new", 0)  # 0 = 301
    broken = vhost.routes[0]
    assert broken.direct_response.status == 500  # its backend does not resolve


def test_a_sidecar_is_not_a_gateway() -> None:
    mesh = mesh_of(docs(SERVICES, ISTIO, GATEWAY_API))
    resources = translated(mesh, "default/client")
    chains = [c.name for lst in listeners(resources).values() for c in lst.filter_chains]
    assert chains and not any("|http" in c or "|https" in c for c in chains)
    assert not any(name.startswith(("http.", "https.")) for name in routes(resources))
    assert gateway_credentials(MeshTranslator(mesh), mesh.workloads["default/client"]) == ()


def test_grpc_tls_and_tcp_routes() -> None:
    mesh = mesh_of(docs(SERVICES, L4_AND_GRPC))
    resources = translated(mesh, "edge/l4-gw")
    found = listeners(resources)
    assert sorted(found) == ["10.9.0.4_5432", "10.9.0.4_9090", "10.9.0.4_9443"]
    config = routes(resources)["http.9090"]
    (vhost,) = config.virtual_hosts
    # the exact method first (whatever the rule order), the service prefix after
    assert [(r.match.path or r.match.prefix) for r in vhost.routes] == [
        "/echo.Echo/Say",
        "/echo.Echo/",
    ]
    assert vhost.routes[0].match.headers[0].name == "x-v"
    passthrough = found["10.9.0.4_9443"].filter_chains[0]
    assert list(passthrough.filter_chain_match.server_names) == ["secure.example.com"]
    assert not passthrough.HasField("transport_socket")  # passed through, not terminated
    (tcp,) = found["10.9.0.4_5432"].filter_chains
    assert not tcp.filter_chain_match.server_names
    assert tcp.filters[0].name == "envoy.filters.network.tcp_proxy"


AUTO_PASSTHROUGH = """\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: default}
spec:
  host: reviews
  subsets: [{name: v1, labels: {version: v1}}]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: cross-network, namespace: edge}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 15443, name: tls, protocol: TLS}
    hosts: ["default/*.local"]
    tls: {mode: AUTO_PASSTHROUGH}
  - port: {number: 15444, name: none, protocol: TLS}
    hosts: ["*.example.com"]
    tls: {mode: AUTO_PASSTHROUGH}
"""


def clusters(resources: ProxyResources) -> dict[str, cluster_pb2.Cluster]:
    out = {}
    for r in resources.of_type(CLUSTER_TYPE):
        message = r.message
        assert isinstance(message, cluster_pb2.Cluster)
        out[r.name] = message
    return out


def test_auto_passthrough_routes_mesh_sni_to_plain_copies_of_the_clusters() -> None:
    mesh = mesh_of(docs(SERVICES, service_entry("other", namespace="other"), AUTO_PASSTHROUGH))
    resources = translated(mesh, "edge/ingress")
    found = listeners(resources)
    # a server whose hosts take no service has nothing to route: no listener
    assert "10.9.0.1_15444" not in found
    (chain,) = found["10.9.0.1_15443"].filter_chains
    names = list(chain.filter_chain_match.server_names)
    # every cluster (and subset) of the namespace `default` hosts, none of `other`
    assert names == sorted(
        [
            "outbound_.443_._.secure.default.svc.cluster.local",
            "outbound_.5432_._.db.default.svc.cluster.local",
            "outbound_.9080_._.productpage.default.svc.cluster.local",
            "outbound_.9080_._.reviews.default.svc.cluster.local",
            "outbound_.9080_.v1_.reviews.default.svc.cluster.local",
        ]
    )
    assert [f.name for f in chain.filters] == [
        "envoy.filters.network.sni_cluster",
        "envoy.filters.network.tcp_proxy",
    ]
    assert not chain.HasField("transport_socket")  # the gateway never decrypts
    by_name = clusters(resources)
    for name in names:
        dnat = by_name[name]
        # the caller's mTLS passes through: no TLS origination of its own
        assert not dnat.HasField("transport_socket") and not dnat.transport_socket_matches
    subset = by_name["outbound_.9080_.v1_.reviews.default.svc.cluster.local"]
    original = by_name["outbound|9080|v1|reviews.default.svc.cluster.local"]
    # the same endpoints as the subset cluster it copies
    if original.HasField("eds_cluster_config"):
        assert subset.eds_cluster_config.service_name == original.name
    else:
        assert subset.load_assignment.endpoints == original.load_assignment.endpoints
    assert "outbound_.8080_._.other.other.svc.cluster.local" not in by_name
    if find_envoy() is not None:
        result = validate_resources(resources.resources)
        assert result.ok, result.output


@pytest.mark.skipif(find_envoy() is None, reason="no envoy binary")
@pytest.mark.parametrize("key", ["edge/ingress", "edge/api-gw", "edge/l4-gw"])
def test_envoy_accepts_the_gateway_config(key: str) -> None:
    mesh = mesh_of(docs(SERVICES, ISTIO, GATEWAY_API, L4_AND_GRPC))
    result = validate_resources(translated(mesh, key).resources)
    assert result.ok, result.output


def test_explain_from_a_gateway() -> None:
    mesh = mesh_of(docs(SERVICES, ISTIO))
    found = explain(
        MeshTranslator(mesh),
        ExplainRequest("edge/ingress", "http", "shop.example.com", 80, "/reviews/1"),
    )
    assert found.listener is not None and found.listener.route_config == "http.80"
    assert found.route is not None
    assert (found.route.object, found.route.rule) == ("VirtualService/default/shop", "http[0]")
    assert [d.cluster for d in found.destinations] == [
        "outbound|9080||reviews.default.svc.cluster.local"
    ]


def test_an_istio_credential_is_read_where_the_gateway_proxy_runs() -> None:
    """Istio's bookinfo layout: the Gateway in the app's namespace, the ingress proxy (and
    so the Secret) in another."""
    gateway = ISTIO.split("---")[0].replace("namespace: edge", "namespace: default")
    mesh = mesh_of(docs(SERVICES, gateway))
    https = listeners(translated(mesh, "edge/ingress"))["10.9.0.1_443"]
    names = [
        tls_context(c).common_tls_context.tls_certificate_sds_secret_configs[0].name
        for c in https.filter_chains
    ]
    assert names == ["kubernetes://edge/shop-cert", "kubernetes://edge/secure-cert"]


def test_http_listeners_of_one_port_share_one_virtual_host_per_hostname() -> None:
    shared = """\
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: api, namespace: edge}
spec:
  gatewayClassName: xdscp
  listeners:
  - {name: any, port: 8080, protocol: HTTP, allowedRoutes: {namespaces: {from: All}}}
  - name: b
    port: 8080
    protocol: HTTP
    hostname: b.example.com
    allowedRoutes: {namespaces: {from: All}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: both, namespace: default}
spec:
  parentRefs: [{name: api, namespace: edge}]
  hostnames: [b.example.com]
  rules: [{backendRefs: [{name: reviews, port: 9080}]}]
"""
    mesh = mesh_of(docs(SERVICES, shared))
    resources = translated(mesh, "edge/api-gw")
    (config,) = routes(resources).values()
    assert [list(v.domains) for v in config.virtual_hosts] == [["b.example.com"]]
    assert len(config.virtual_hosts[0].routes) == 1  # attached twice, routed once
    if find_envoy() is not None:
        result = validate_resources(resources.resources)
        assert result.ok, result.output


def test_two_gateways_terminating_one_host_on_one_port_keep_the_older() -> None:
    second = """\
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: public-copy, namespace: edge}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [shop.example.com]
    tls: {mode: SIMPLE, credentialName: other-cert}
"""
    mesh = mesh_of(docs(SERVICES, ISTIO, second))
    resources = translated(mesh, "edge/ingress")
    https = listeners(resources)["10.9.0.1_443"]
    assert [list(c.filter_chain_match.server_names) for c in https.filter_chains] == [
        ["shop.example.com"],
        ["secure.example.com"],
    ]
    assert "already terminates TLS for shop.example.com" in " ".join(resources.view.warnings)
