"""AuthorizationPolicy on a gateway, as Istio enforces it on ingress gateways: a policy
selecting the gateway's pods puts the HTTP RBAC filter on its HTTP chains (after
jwt_authn, before the router) and the network RBAC filter before TCP proxying on its TCP
and passthrough chains; a gateway it does not select gets none. Read back from the Envoy
resources, accepted by real Envoy, and kept right by incremental translation."""

from __future__ import annotations

import pytest
from envoy.config.listener.v3 import listener_pb2
from envoy.config.rbac.v3 import rbac_pb2
from envoy.extensions.filters.http.rbac.v3 import rbac_pb2 as http_rbac_pb2

from tests.envoy_validate import find_envoy, validate_resources
from tests.gateway.test_translate import (
    GATEWAY_API,
    ISTIO,
    L4_AND_GRPC,
    SERVICES,
    listeners,
    manager,
    translated,
)
from tests.jwt_tokens import SigningKey, jwks
from tests.translators.helpers import docs, mesh_of
from translators.envoy.rbac import HTTP_RBAC_FILTER, NETWORK_RBAC_FILTER
from translators.naming import JWT_AUTHN_FILTER, LISTENER_TYPE
from translators.translate import MeshTranslator

HCM = "envoy.filters.network.http_connection_manager"
ROUTER = "envoy.filters.http.router"

DENY_ADMIN = """\
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: no-admin, namespace: edge}
spec:
  selector: {matchLabels: {istio: ingressgateway}}
  action: DENY
  rules: [{to: [{operation: {paths: [/admin]}}]}]
"""

ALLOW_TOKENS = f"""\
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {{name: tokens-only, namespace: edge}}
spec:
  selector: {{matchLabels: {{istio: ingressgateway}}}}
  rules: [{{from: [{{source: {{requestPrincipals: ["*"], remoteIpBlocks: [10.0.0.0/8]}}}}]}}]
---
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {{name: ingress-jwt, namespace: edge}}
spec:
  selector: {{matchLabels: {{istio: ingressgateway}}}}
  jwtRules:
  - issuer: https://idp.example.com/
    jwks: '{jwks(SigningKey.ec("gw"))}'
"""


def _chains(listener: listener_pb2.Listener) -> dict[str, list[str]]:
    """Filter chain name -> its filter names (the HTTP filters for an HCM chain)."""
    out = {}
    for chain in listener.filter_chains:
        if chain.filters[0].name == HCM:
            out[chain.name] = [f.name for f in manager(chain).http_filters]
        else:
            out[chain.name] = [f.name for f in chain.filters]
    return out


def test_a_selecting_policy_puts_rbac_on_every_gateway_chain() -> None:
    mesh = mesh_of(docs(SERVICES, ISTIO, DENY_ADMIN))
    resources = translated(mesh, "edge/ingress")
    found = listeners(resources)
    http = _chains(found["10.9.0.1_80"])
    assert http and all(f == [HTTP_RBAC_FILTER, ROUTER] for f in http.values())
    https = _chains(found["10.9.0.1_443"])
    assert https and all(f == [HTTP_RBAC_FILTER, ROUTER] for f in https.values())
    for port in (8443, 5432, 15443):  # TLS passthrough, TCP, AUTO_PASSTHROUGH
        chains = _chains(found[f"10.9.0.1_{port}"])
        assert chains and all(f[0] == NETWORK_RBAC_FILTER for f in chains.values()), chains
    # the rules are the policy's: a DENY on path /admin
    chain = found["10.9.0.1_80"].filter_chains[0]
    config = http_rbac_pb2.RBAC()
    manager(chain).http_filters[0].typed_config.Unpack(config)
    assert config.rules.action == rbac_pb2.RBAC.DENY
    (policy,) = config.rules.policies.values()
    assert "/admin" in str(policy.permissions)
    provenance = resources.of_type(LISTENER_TYPE)[0].provenance
    assert "AuthorizationPolicy/edge/no-admin" in provenance
    # no warning any more: the policy is enforced
    assert not [w for w in resources.view.warnings if "no-admin" in w]


def test_another_gateway_is_not_selected() -> None:
    mesh = mesh_of(docs(SERVICES, ISTIO, GATEWAY_API, L4_AND_GRPC, DENY_ADMIN))
    for key in ("edge/api-gw", "edge/l4-gw"):
        for listener in listeners(translated(mesh, key)).values():
            for names in _chains(listener).values():
                assert HTTP_RBAC_FILTER not in names and NETWORK_RBAC_FILTER not in names


def test_rbac_comes_after_jwt_authn_and_checks_the_request_principal() -> None:
    mesh = mesh_of(docs(SERVICES, ISTIO, ALLOW_TOKENS))
    found = listeners(translated(mesh, "edge/ingress"))
    chain = found["10.9.0.1_80"].filter_chains[0]
    filters = manager(chain).http_filters
    assert [f.name for f in filters] == [JWT_AUTHN_FILTER, HTTP_RBAC_FILTER, ROUTER]
    config = http_rbac_pb2.RBAC()
    filters[1].typed_config.Unpack(config)
    assert config.rules.action == rbac_pb2.RBAC.ALLOW
    (policy,) = config.rules.policies.values()
    # remoteIpBlocks: the XFF-derived address (Envoy's remote_ip), not the peer's
    assert "remote_ip" in str(policy.principals) and "direct_remote_ip" not in str(
        policy.principals
    )


def test_incremental_translation_follows_the_policy() -> None:
    """Adding, then removing, the policy changes the gateway's listeners exactly as a
    fresh translation does."""
    before = mesh_of(docs(SERVICES, ISTIO))
    with_policy = mesh_of(docs(SERVICES, ISTIO, DENY_ADMIN))
    first = MeshTranslator(before)
    second = MeshTranslator(with_policy, previous=first)
    third = MeshTranslator(before, previous=second)
    for translator, mesh in ((first, before), (second, with_policy), (third, before)):
        workload = mesh.workload("edge", "ingress")
        assert workload is not None
        incremental = translator.translate(workload).of_type(LISTENER_TYPE)
        fresh = MeshTranslator(mesh).translate(workload).of_type(LISTENER_TYPE)
        assert [r.body() for r in incremental] == [r.body() for r in fresh]
    workload = with_policy.workload("edge", "ingress")
    assert workload is not None
    assert HTTP_RBAC_FILTER in str(second.translate(workload).of_type(LISTENER_TYPE)[0].message)


@pytest.mark.skipif(find_envoy() is None, reason="no envoy binary")
def test_envoy_accepts_the_gateway_rbac_config() -> None:
    mesh = mesh_of(docs(SERVICES, ISTIO, DENY_ADMIN, ALLOW_TOKENS))
    result = validate_resources(translated(mesh, "edge/ingress").resources)
    assert result.ok, result.output
