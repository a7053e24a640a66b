"""AuthorizationPolicy meaning: requests described in mesh terms, decided from the
generated Envoy config by the RBAC evaluator (Istio's evaluation order and edge cases)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.translators.helpers import mesh_of, workload
from translators.behaviour.rbac import ALLOWED, DENIED, REFUSED, Call, inbound_verdict
from translators.translate import ProxyResources, translate
from xdscp.sources.files import DirectorySource

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
FRONTEND = "spiffe://cluster.local/ns/prod/sa/frontend"
INTRUDER = "spiffe://cluster.local/ns/prod/sa/intruder"

ORDERS = """\
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: orders, namespace: prod}
spec: {address: 10.0.0.2, serviceAccount: orders, labels: {app: orders}}
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: orders, namespace: prod}
spec:
  workloadSelector:
    labels: {app: orders}
  ingress:
  - port: {number: 8080, protocol: HTTP, name: http}
    defaultEndpoint: 127.0.0.1:18080
  - port: {number: 5432, protocol: TCP, name: tcp}
    defaultEndpoint: 127.0.0.1:15432
"""


def orders_with(policies: str) -> ProxyResources:
    mesh = mesh_of(ORDERS + "---\n" + textwrap.dedent(policies))
    return translate(mesh, workload(mesh, "prod/orders"))


def test_strict_mtls_example() -> None:
    """examples/strict-mtls: frontend may GET /orders*, nobody reaches /admin*, other
    identities get 403, plaintext never reaches the app."""
    mesh = DirectorySource(EXAMPLES / "strict-mtls").load()
    assert not mesh.errors, [str(e) for e in mesh.errors]
    orders = translate(mesh, workload(mesh, "prod/orders-v1"))
    port = 8080
    assert inbound_verdict(orders, Call(port, FRONTEND, path="/orders/42")) == ALLOWED
    assert inbound_verdict(orders, Call(port, FRONTEND, path="/")) == ALLOWED
    assert inbound_verdict(orders, Call(port, FRONTEND, path="/other")) == DENIED
    assert inbound_verdict(orders, Call(port, FRONTEND, method="POST", path="/orders")) == DENIED
    assert inbound_verdict(orders, Call(port, FRONTEND, path="/admin/x")) == DENIED
    assert inbound_verdict(orders, Call(port, INTRUDER, path="/orders")) == DENIED
    assert inbound_verdict(orders, Call(port, None, path="/orders")) == REFUSED
    assert inbound_verdict(orders, Call(port, None, tls=True, path="/orders")) == REFUSED


def test_no_policy_allows_everything_and_spec_empty_allow_denies_everything() -> None:
    """Istio: no ALLOW policy -> allow; `spec: {}` (ALLOW, no rules) -> deny all."""
    open_ = orders_with("")
    assert inbound_verdict(open_, Call(8080, FRONTEND)) == ALLOWED
    locked = orders_with(
        """\
        apiVersion: security.istio.io/v1
        kind: AuthorizationPolicy
        metadata: {name: allow-nothing, namespace: prod}
        spec: {}
        """
    )
    for call in (Call(8080, FRONTEND), Call(8080), Call(5432, FRONTEND), Call(5432)):
        assert inbound_verdict(locked, call) == DENIED, call


def test_rule_matching_everything_allows_everything() -> None:
    allow_all = orders_with(
        """\
        apiVersion: security.istio.io/v1
        kind: AuthorizationPolicy
        metadata: {name: allow-all, namespace: prod}
        spec:
          rules: [{}]
        """
    )
    for call in (Call(8080, FRONTEND), Call(8080), Call(5432, INTRUDER), Call(5432)):
        assert inbound_verdict(allow_all, call) == ALLOWED, call


POLICIES = """\
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow-frontend, namespace: prod}
spec:
  selector:
    matchLabels: {app: orders}
  rules:
  - from:
    - source: {principals: [cluster.local/ns/prod/sa/frontend]}
    - source: {namespaces: [web*]}
    to:
    - operation: {methods: [GET], paths: ["/orders*"]}
  - from:
    - source: {principals: ["*/sa/batch"]}
    when:
    - key: request.headers[x-job]
      values: [nightly, "weekly-*"]
  - to:
    - operation: {paths: [/healthz]}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-writes-to-secrets, namespace: prod}
spec:
  action: DENY
  rules:
  - to:
    - operation: {paths: ["/orders/secret*"]}
  - from:
    - source: {notNamespaces: [prod, web-a]}
    to:
    - operation: {notMethods: [GET]}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: audit-everything, namespace: istio-system}
spec:
  action: AUDIT
  rules: [{}]
"""


# (call, verdict) on orders' HTTP port under POLICIES (also checked against real Envoy).
HTTP_TABLE: list[tuple[Call, str]] = [
    (Call(8080, FRONTEND, path="/orders/1"), ALLOWED),
    (Call(8080, FRONTEND, path="/orders/secret/1"), DENIED),  # DENY beats ALLOW
    (Call(8080, FRONTEND, method="POST", path="/orders/1"), DENIED),  # method
    (Call(8080, "spiffe://cluster.local/ns/web-a/sa/ui", path="/orders"), ALLOWED),
    (Call(8080, "spiffe://cluster.local/ns/web-b/sa/ui", path="/orders"), ALLOWED),
    (Call(8080, "spiffe://cluster.local/ns/shop/sa/ui", path="/orders"), DENIED),
    (
        Call(8080, "spiffe://td/ns/jobs/sa/batch", path="/x", headers={"x-job": "nightly"}),
        ALLOWED,
    ),
    (
        Call(8080, "spiffe://td/ns/jobs/sa/batch", path="/x", headers={"x-job": "weekly-2"}),
        ALLOWED,
    ),
    (Call(8080, "spiffe://td/ns/jobs/sa/batch", path="/x", headers={"x-job": "daily"}), DENIED),
    (Call(8080, "spiffe://td/ns/jobs/sa/batch", path="/x"), DENIED),
    (
        Call(8080, "spiffe://td/ns/jobs/sa/batcher", path="/x", headers={"x-job": "nightly"}),
        DENIED,
    ),
    (Call(8080, None, path="/healthz"), ALLOWED),  # PERMISSIVE by default: plaintext
    (Call(8080, None, path="/orders/1"), DENIED),  # no principal on plaintext
    (Call(8080, None, method="POST", path="/healthz"), DENIED),  # notNamespaces: no ns
    (Call(8080, FRONTEND, path="/orders/1?secret"), ALLOWED),  # url_path ignores query
]


@pytest.mark.parametrize(("call", "verdict"), HTTP_TABLE)
def test_policies_on_http(call: Call, verdict: str) -> None:
    assert inbound_verdict(orders_with(POLICIES), call) == verdict


def test_tcp_port_drops_allow_rules_that_need_http_and_widens_deny() -> None:
    """Istio on TCP: an ALLOW rule using HTTP-only fields (methods, paths, headers) is
    dropped, allowing less; a DENY rule keeps only its TCP part, denying more (the
    `paths` DENY rule of POLICIES then denies every connection)."""
    resources = orders_with(POLICIES)
    assert inbound_verdict(resources, Call(5432, FRONTEND)) == DENIED
    allow_tcp = orders_with(
        """\
        apiVersion: security.istio.io/v1
        kind: AuthorizationPolicy
        metadata: {name: db-clients, namespace: prod}
        spec:
          rules:
          - from:
            - source: {principals: [cluster.local/ns/prod/sa/frontend]}
            to:
            - operation: {ports: ["5432"]}
          - from:
            - source: {principals: [cluster.local/ns/prod/sa/intruder]}
            to:
            - operation: {methods: [GET]}
        """
    )
    assert inbound_verdict(allow_tcp, Call(5432, FRONTEND)) == ALLOWED
    assert inbound_verdict(allow_tcp, Call(5432, INTRUDER)) == DENIED
    assert inbound_verdict(allow_tcp, Call(8080, INTRUDER, method="GET")) == ALLOWED
    assert inbound_verdict(allow_tcp, Call(8080, FRONTEND)) == DENIED  # port 5432 only


def test_selector_and_scope() -> None:
    """A policy selecting other workloads, or in another namespace, does not apply; one
    in the root namespace applies mesh-wide, its selector matched in every namespace."""
    resources = orders_with(
        """\
        apiVersion: security.istio.io/v1
        kind: AuthorizationPolicy
        metadata: {name: other-app, namespace: prod}
        spec:
          selector:
            matchLabels: {app: other}
          action: DENY
          rules: [{}]
        ---
        apiVersion: security.istio.io/v1
        kind: AuthorizationPolicy
        metadata: {name: other-namespace, namespace: shop}
        spec:
          action: DENY
          rules: [{}]
        ---
        apiVersion: security.istio.io/v1
        kind: AuthorizationPolicy
        metadata: {name: orders-everywhere, namespace: istio-system}
        spec:
          selector:
            matchLabels: {app: orders}
          action: DENY
          rules:
          - to:
            - operation: {paths: [/mesh-denied]}
        """
    )
    assert inbound_verdict(resources, Call(8080, FRONTEND, path="/x")) == ALLOWED
    assert inbound_verdict(resources, Call(8080, FRONTEND, path="/mesh-denied")) == DENIED


def test_dry_run_policy_is_not_enforced() -> None:
    resources = orders_with(
        """\
        apiVersion: security.istio.io/v1
        kind: AuthorizationPolicy
        metadata:
          name: would-deny
          namespace: prod
          annotations: {istio.io/dry-run: "true"}
        spec:
          action: DENY
          rules: [{}]
        """
    )
    assert inbound_verdict(resources, Call(8080, FRONTEND)) == ALLOWED


@pytest.mark.parametrize(
    ("condition", "call", "verdict"),
    [
        ("{key: source.ip, values: [10.1.0.0/16]}", Call(8080, source_ip="10.1.2.3"), ALLOWED),
        ("{key: source.ip, values: [10.1.0.0/16]}", Call(8080, source_ip="10.2.2.3"), DENIED),
        ("{key: source.ip, notValues: [10.1.2.3]}", Call(8080, source_ip="10.1.2.3"), DENIED),
        ("{key: destination.port, values: ['8080']}", Call(8080), ALLOWED),
        ("{key: destination.port, values: ['9999']}", Call(8080), DENIED),
        ("{key: source.principal, values: ['*']}", Call(8080, FRONTEND), ALLOWED),
        ("{key: source.principal, values: ['*']}", Call(8080), DENIED),
        ("{key: source.namespace, values: [prod]}", Call(8080, FRONTEND), ALLOWED),
        ("{key: source.namespace, notValues: [prod]}", Call(8080, FRONTEND), DENIED),
        (
            "{key: 'request.headers[X-User]', values: [alice]}",
            Call(8080, headers={"x-user": "alice"}),
            ALLOWED,
        ),
        ("{key: 'request.headers[X-User]', values: ['*']}", Call(8080), DENIED),
    ],
)
def test_when_conditions(condition: str, call: Call, verdict: str) -> None:
    resources = orders_with(
        f"""\
        apiVersion: security.istio.io/v1
        kind: AuthorizationPolicy
        metadata: {{name: when, namespace: prod}}
        spec:
          rules:
          - when: [{condition}]
        """
    )
    assert inbound_verdict(resources, call) == verdict
