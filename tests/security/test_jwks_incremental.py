"""Fetched keys are a translator input like any object: a new key set (rotation at the
IdP, or the first successful fetch) reaches the listener on the next generation, built
incrementally from the previous one, and equals a fresh translation."""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType

from envoy.config.listener.v3 import listener_pb2
from envoy.extensions.filters.http.jwt_authn.v3 import config_pb2 as jwt_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)

from tests.jwt_tokens import SigningKey, jwks
from tests.translators.helpers import mesh_of, workload
from translators.mesh import MeshConfig
from translators.model.request_authn import discovery_url
from translators.naming import JWT_AUTHN_FILTER, LISTENER_TYPE
from translators.security.request_authn import UNREACHABLE_JWKS
from translators.translate import MeshTranslator

URI = "https://idp.example.com/jwks.json"
MESH = f"""
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {{name: idp, namespace: prod}}
spec: {{jwtRules: [{{issuer: idp, jwksUri: "{URI}"}}]}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {{name: orders, namespace: prod}}
spec: {{address: 10.0.0.2, labels: {{app: orders}}}}
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {{name: orders, namespace: prod}}
spec:
  workloadSelector: {{labels: {{app: orders}}}}
  ingress:
  - port: {{number: 8080, protocol: HTTP, name: http}}
    defaultEndpoint: 127.0.0.1:18080
"""


def _keys(translator: MeshTranslator) -> str:
    resources = translator.translate(workload(translator.mesh, "prod/orders"))
    listener = listener_pb2.Listener()
    (inbound,) = [r for r in resources.of_type(LISTENER_TYPE) if r.name.endswith("_8080")]
    listener.ParseFromString(inbound.body())
    manager = hcm_pb2.HttpConnectionManager()
    listener.filter_chains[0].filters[0].typed_config.Unpack(manager)
    (found,) = [f for f in manager.http_filters if f.name == JWT_AUTHN_FILTER]
    config = jwt_pb2.JwtAuthentication()
    found.typed_config.Unpack(config)
    inline: str = config.providers["origins-0"].local_jwks.inline_string
    return inline


def _with(mesh: MeshConfig, keys: str) -> MeshConfig:
    return replace(mesh, jwks=MappingProxyType({URI: keys}))


def test_new_keys_reach_the_listener_incrementally() -> None:
    mesh = mesh_of(MESH)
    first = MeshTranslator(mesh)
    assert _keys(first) == UNREACHABLE_JWKS  # not fetched yet: no token verifies
    fetched, rotated = jwks(SigningKey.ec("k1")), jwks(SigningKey.ec("k2"))
    second = MeshTranslator(_with(mesh, fetched), first)
    assert _keys(second) == fetched
    third = MeshTranslator(_with(mesh, rotated), second)
    assert _keys(third) == rotated == _keys(MeshTranslator(_with(mesh, rotated)))


def test_keys_found_through_issuer_discovery_reach_the_listener() -> None:
    mesh = mesh_of(MESH.replace(f'jwksUri: "{URI}"', 'jwksUri: ""'))
    discovered = jwks(SigningKey.ec("k3"))
    source = discovery_url("idp")
    assert source == "idp/.well-known/openid-configuration"
    found = replace(mesh, jwks=MappingProxyType({source: discovered}))
    assert _keys(MeshTranslator(found)) == discovered
