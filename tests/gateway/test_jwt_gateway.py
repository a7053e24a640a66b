"""RequestAuthentication on a gateway, as Istio applies it to ingress gateways: the
policy selecting the gateway's pods puts jwt_authn on its HTTP chains, enforcing (invalid
token 401) and clearing the route cache, so a VirtualService bound to the gateway routes
on the claims it verified (Istio's supported claim routing). Read back from the Envoy
resources and checked by real Envoy."""

from __future__ import annotations

import pytest
from envoy.extensions.filters.http.jwt_authn.v3 import config_pb2 as jwt_pb2

from tests.envoy_validate import find_envoy, validate_resources
from tests.gateway.test_translate import listeners, manager, routes, translated
from tests.jwt_tokens import SigningKey, jwks
from tests.translators.helpers import docs, mesh_of, service_entry, workload_entry
from translators.naming import JWT_AUTHN_FILTER

MESH = docs(
    workload_entry("ingress", "10.9.0.1", "edge", "{istio: ingressgateway}"),
    workload_entry("client", "10.9.0.3", "default", "{app: client}"),
    service_entry(
        "reviews",
        ports="[{number: 9080, name: http, protocol: HTTP}]",
        endpoints="[{address: 10.1.0.1, labels: {version: v1}}, "
        "{address: 10.1.0.2, labels: {version: v2}}]",
    ),
    f"""\
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {{name: ingress-jwt, namespace: edge}}
spec:
  selector: {{matchLabels: {{istio: ingressgateway}}}}
  jwtRules:
  - issuer: https://idp.example.com/
    jwks: '{jwks(SigningKey.ec("gw"))}'
""",
    """\
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: public, namespace: edge}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["*/shop.example.com"]
""",
    """\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: default}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
""",
    """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: shop, namespace: default}
spec:
  hosts: [shop.example.com]
  gateways: [edge/public]
  http:
  - match: [{headers: {"@request.auth.claims.group": {exact: admin}}}]
    route: [{destination: {host: reviews, subset: v2}}]
  - route: [{destination: {host: reviews, subset: v1}}]
""",
)


def test_gateway_enforces_and_routes_on_claims() -> None:
    resources = translated(mesh_of(MESH), "edge/ingress")
    (listener,) = listeners(resources).values()
    (chain,) = listener.filter_chains
    filters = manager(chain).http_filters
    assert [f.name for f in filters] == [JWT_AUTHN_FILTER, "envoy.filters.http.router"]
    config = jwt_pb2.JwtAuthentication()
    filters[0].typed_config.Unpack(config)
    provider = config.providers["origins-0"]
    assert provider.clear_route_cache and not provider.forward
    requires = config.rules[0].requires.requires_any.requirements
    assert [r.WhichOneof("requires_type") for r in requires] == ["provider_name", "allow_missing"]
    (route_config,) = routes(resources).values()
    first = route_config.virtual_hosts[0].routes[0]
    assert [s.key for s in first.match.dynamic_metadata[0].path] == ["payload", "group"]
    assert (
        "RequestAuthentication/edge/ingress-jwt"
        in resources.of_type("type.googleapis.com/envoy.config.listener.v3.Listener")[0].provenance
    )


def test_a_sidecar_of_the_namespace_is_not_selected() -> None:
    resources = translated(mesh_of(MESH), "default/client")
    for listener in listeners(resources).values():
        for chain in listener.filter_chains:
            if chain.filters and chain.filters[0].name.endswith("http_connection_manager"):
                assert JWT_AUTHN_FILTER not in [f.name for f in manager(chain).http_filters]


@pytest.mark.skipif(find_envoy() is None, reason="no envoy binary")
def test_envoy_accepts_the_gateway_jwt_config() -> None:
    result = validate_resources(translated(mesh_of(MESH), "edge/ingress").resources)
    assert result.ok, result.output
