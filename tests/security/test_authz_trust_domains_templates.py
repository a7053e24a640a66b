"""AuthorizationPolicy trust domains (`trustDomains`, `notTrustDomains`,
`source.trustDomain`) and Istio path templates (`{*}` one segment, `{**}` the rest),
decided by the RBAC evaluator and — the same table — by real Envoy."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

import ca
from tests.envoy_validate import find_envoy
from tests.security.test_authz_behaviour import orders_with
from tests.security.test_rbac_envoy import _call, envoy_serving
from translators.behaviour.rbac import (
    ALLOWED,
    DENIED,
    Call,
    inbound_listener,
    inbound_verdict,
    listener_verdict,
    uri_template_regex,
)
from translators.envoy.rbac import envoy_path_template

FRONTEND = "spiffe://cluster.local/ns/prod/sa/frontend"
PARTNER = "spiffe://partner.example/ns/prod/sa/frontend"
PARTNER_EU = "spiffe://eu.partner.example/ns/shop/sa/buyer"
STRANGER = "spiffe://other.example/ns/prod/sa/frontend"

POLICIES = """\
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow-by-trust-domain, namespace: prod}
spec:
  selector:
    matchLabels: {app: orders}
  rules:
  - from:
    - source: {trustDomains: [cluster.local]}
    to:
    - operation: {paths: ["/api/{*}/x", "/files/{**}"]}
  - from:
    - source: {trustDomains: ["*.partner.example", partner.example]}
    to:
    - operation: {paths: ["/partner/{*}"]}
  - when:
    - key: source.trustDomain
      values: ["*"]
      notValues: [other.example]
    to:
    - operation: {paths: [/status]}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-outsiders-admin, namespace: prod}
spec:
  action: DENY
  rules:
  - from:
    - source: {notTrustDomains: [cluster.local]}
    to:
    - operation: {paths: ["/api/{*}/admin"]}
"""

# (call, verdict): the evaluator's and real Envoy's answer
TABLE: list[tuple[Call, str]] = [
    (Call(8080, FRONTEND, path="/api/a/x"), ALLOWED),  # {*}: one segment
    (Call(8080, FRONTEND, path="/api/a/x?q=1"), ALLOWED),  # query ignored
    (Call(8080, FRONTEND, path="/api/a/b/x"), DENIED),  # {*} is not two segments
    (Call(8080, FRONTEND, path="/api//x"), DENIED),  # nor an empty one
    (Call(8080, FRONTEND, path="/files/a/b/c.txt"), ALLOWED),  # {**}: the rest
    (Call(8080, FRONTEND, path="/files/"), ALLOWED),  # {**}: zero segments
    (Call(8080, FRONTEND, path="/filesx/a"), DENIED),
    (Call(8080, STRANGER, path="/api/a/x"), DENIED),  # other trust domain
    (Call(8080, PARTNER, path="/api/a/x"), DENIED),  # trust domain is not cluster.local
    (Call(8080, PARTNER, path="/partner/orders"), ALLOWED),  # exact trust domain
    (Call(8080, PARTNER_EU, path="/partner/orders"), ALLOWED),  # *.partner.example
    (Call(8080, STRANGER, path="/partner/orders"), DENIED),
    (Call(8080, FRONTEND, path="/partner/orders"), DENIED),
    (Call(8080, PARTNER, path="/status"), ALLOWED),  # when source.trustDomain: any...
    (Call(8080, STRANGER, path="/status"), DENIED),  # ...but other.example
    (Call(8080, None, path="/status"), DENIED),  # plaintext has no trust domain
    (Call(8080, PARTNER, path="/api/a/admin"), DENIED),  # DENY notTrustDomains
]


@pytest.mark.parametrize(("call", "verdict"), TABLE)
def test_evaluator_decides_trust_domains_and_path_templates(call: Call, verdict: str) -> None:
    assert inbound_verdict(orders_with(POLICIES), call) == verdict


def test_deny_by_not_trust_domain_spares_the_own_trust_domain() -> None:
    deny_only = orders_with(POLICIES.split("---\n")[1])
    assert inbound_verdict(deny_only, Call(8080, FRONTEND, path="/api/a/admin")) == ALLOWED
    assert inbound_verdict(deny_only, Call(8080, STRANGER, path="/api/a/admin")) == DENIED
    assert inbound_verdict(deny_only, Call(8080, STRANGER, path="/api/a/b/admin")) == ALLOWED


def test_istio_templates_become_envoy_operators() -> None:
    assert envoy_path_template("/api/{*}/x/{**}") == "/api/*/x/**"
    regex = uri_template_regex("/api/*/x.json")
    assert regex == r"/api/[A-Za-z0-9\-._~%!$&'()+,;:@]+/x\.json"


def test_trust_domains_on_a_tcp_port() -> None:
    """A trust domain is a peer-certificate attribute: enforced on TCP ports too."""
    tcp = orders_with(
        """\
        apiVersion: security.istio.io/v1
        kind: AuthorizationPolicy
        metadata: {name: tcp-partner, namespace: prod}
        spec:
          rules:
          - from:
            - source: {trustDomains: [partner.example]}
        """
    )
    assert inbound_verdict(tcp, Call(5432, PARTNER)) == ALLOWED
    assert inbound_verdict(tcp, Call(5432, STRANGER)) == DENIED


@pytest.mark.e2e
@pytest.mark.skipif(find_envoy() is None, reason="no envoy binary")
def test_real_envoy_agrees_on_trust_domains_and_path_templates(tmp_path: Path) -> None:
    listener = inbound_listener(orders_with(POLICIES), 8080)
    authority = ca.new_root_ca()
    with envoy_serving(listener, authority) as address:
        answers = []
        for call, expected in TABLE:
            local = replace(call, source_ip="127.0.0.1")
            envoy = _call(address, local, authority, tmp_path)
            answers.append((call, expected, envoy, listener_verdict(listener, local)))
    wrong = [f"{c}: want {w}, envoy {e}, evaluator {v}" for c, w, e, v in answers if not w == e == v]
    assert not wrong, "\n".join(wrong)
