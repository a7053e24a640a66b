"""RequestAuthentication `targetRef(s)` with Istio's attachment rules
(pilot/pkg/model/policyattachment.go): a Gateway API `Gateway` takes the workloads of
the policy's namespace labelled with its name, an Istio `Gateway` (group
networking.istio.io) the workloads it selects; a targeted policy never reaches a sidecar,
another namespace's gateway, or a target of another kind. Read from what the translator
generates for each proxy (its jwt_authn filter and provenance)."""

from __future__ import annotations

import pytest

from tests.jwt_tokens import SigningKey, jwks
from tests.translators.helpers import docs, mesh_of, workload_entry
from translators.mesh import MeshConfig
from translators.naming import JWT_AUTHN_FILTER, LISTENER_TYPE
from translators.translate import MeshTranslator

KEYS = jwks(SigningKey.ec("target"))
GATEWAYS = docs(
    workload_entry("api-gw", "10.9.0.1", "edge", "{gateway.networking.k8s.io/gateway-name: api}"),
    workload_entry("other-gw", "10.9.0.2", "edge", "{gateway.networking.k8s.io/gateway-name: web}"),
    workload_entry("far-gw", "10.9.0.3", "far", "{gateway.networking.k8s.io/gateway-name: api}"),
    workload_entry("ingress", "10.9.0.4", "istio-system", "{istio: ingressgateway}"),
    workload_entry("app", "10.9.0.5", "edge", "{app: api}"),
    """\
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: api, namespace: edge}
spec:
  gatewayClassName: xdscp
  listeners: [{name: http, port: 8081, protocol: HTTP}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: web, namespace: edge}
spec:
  gatewayClassName: xdscp
  listeners: [{name: http, port: 8082, protocol: HTTP}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: api, namespace: far}
spec:
  gatewayClassName: xdscp
  listeners: [{name: http, port: 8081, protocol: HTTP}]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: public, namespace: edge}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*"]}]
""",
)


def policy(name: str, target: str) -> str:
    return f"""\
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {{name: {name}, namespace: edge}}
spec:
  {target}
  jwtRules: [{{issuer: "https://idp.test/", jwks: '{KEYS}'}}]
"""


def enforcing(mesh: MeshConfig) -> dict[str, set[str]]:
    """Per workload: the RequestAuthentications behind its listeners' jwt_authn filters."""
    translator = MeshTranslator(mesh)
    found: dict[str, set[str]] = {}
    for key, workload in sorted(mesh.workloads.items()):
        resources = translator.translate(workload)
        refs = {
            ref
            for r in resources.of_type(LISTENER_TYPE)
            if JWT_AUTHN_FILTER.encode() in r.message.SerializeToString()
            for ref in r.provenance
            if ref.startswith("RequestAuthentication/")
        }
        if refs:
            found[key] = refs
    return found


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        # the Gateway API gateway `api` of the policy's namespace: its pods only
        (
            "targetRef: {group: gateway.networking.k8s.io, kind: Gateway, name: api}",
            {"edge/api-gw"},
        ),
        (
            "targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: api},"
            " {group: gateway.networking.k8s.io, kind: Gateway, name: web}]",
            {"edge/api-gw", "edge/other-gw"},
        ),
        # the Istio Gateway edge/public: the pods it selects, in any namespace
        (
            "targetRefs: [{group: networking.istio.io, kind: Gateway, name: public}]",
            {"istio-system/ingress"},
        ),
        # a Service target is for waypoints; a Gateway without its group names no gateway
        ("targetRefs: [{kind: Service, name: api}]", set()),
        ("targetRefs: [{kind: Gateway, name: api}]", set()),
        # no Gateway of that name in the policy's namespace
        ("targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: nope}]", set()),
    ],
)
def test_target_refs_attach_as_istio_does(target: str, expected: set[str]) -> None:
    mesh = mesh_of(docs(GATEWAYS, policy("targeted", target)))
    assert not mesh.errors, mesh.errors
    found = enforcing(mesh)
    assert set(found) == expected
    assert all(refs == {"RequestAuthentication/edge/targeted"} for refs in found.values())


def test_selector_policies_still_apply_beside_targeted_ones() -> None:
    mesh = mesh_of(
        docs(
            GATEWAYS,
            policy(
                "targeted",
                "targetRef: {group: gateway.networking.k8s.io, kind: Gateway, name: api}",
            ),
            policy(
                "gateways", "selector: {matchLabels: {gateway.networking.k8s.io/gateway-name: web}}"
            ),
            policy("app", "selector: {matchLabels: {app: api}}"),
        )
    )
    assert enforcing(mesh) == {
        "edge/api-gw": {"RequestAuthentication/edge/targeted"},
        # a gateway's pods are still selected by labels (Istio's default
        # ENABLE_SELECTOR_BASED_K8S_GATEWAY_POLICY)
        "edge/other-gw": {"RequestAuthentication/edge/gateways"},
    }
    # the sidecar (no HTTP port here to put the filter on) gets the selector's rules only
    security = MeshTranslator(mesh).index.security
    app = mesh.workloads["edge/app"]
    assert [r.provenance for r in security.jwt_rules(app)] == [("RequestAuthentication/edge/app",)]
