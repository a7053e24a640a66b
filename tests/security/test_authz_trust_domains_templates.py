"""AuthorizationPolicy trust domains (`trustDomains`, `notTrustDomains`,
`source.trustDomain`), Istio path templates (`{*}` one segment, `{**}` the rest) and
CUSTOM policies (no extension provider: their rules deny, as in Istio), decided by the
RBAC evaluator and — the same table — by real Envoy."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

import ca
from tests.envoy_validate import find_envoy, validate_resources
from tests.security.test_authz_behaviour import orders_with
from tests.security.test_rbac_envoy import _call, envoy_serving
from translators.behaviour.rbac import (
    ALLOWED,
    DENIED,
    Call,
    inbound_listener,
    inbound_verdict,
    listener_verdict,
    rbac_configs,
    select_chain,
    uri_template_regex,
)
from translators.envoy.rbac import envoy_path_template
from translators.naming import parse_rbac_policy_name

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
    - operation: {paths: ["/api/{*}/x", "/files/{**}", "/q=1/{*}", "/{*}/100%"]}
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
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ext-authz, namespace: prod}
spec:
  action: CUSTOM
  provider: {name: opa}
  rules:
  - to:
    - operation: {paths: ["/partner/secret"]}
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
    # `=` and `*` inside a segment are matched by {*} / {**} (Envoy 1.40's globs) ...
    (Call(8080, FRONTEND, path="/api/a=b/x"), ALLOWED),
    (Call(8080, FRONTEND, path="/api/a*b/x"), ALLOWED),
    (Call(8080, FRONTEND, path="/files/k=v/a*"), ALLOWED),
    # ... and a literal segment with `=` or `%` is matched as written (Istio accepts both)
    (Call(8080, FRONTEND, path="/q=1/a"), ALLOWED),
    (Call(8080, FRONTEND, path="/q=2/a"), DENIED),
    (Call(8080, FRONTEND, path="/q/a"), DENIED),
    (Call(8080, FRONTEND, path="/a/100%"), ALLOWED),
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
    (Call(8080, PARTNER, path="/partner/secret"), DENIED),  # CUSTOM, no provider: denied
]


@pytest.mark.parametrize(("call", "verdict"), TABLE)
def test_evaluator_decides_trust_domains_and_path_templates(call: Call, verdict: str) -> None:
    assert inbound_verdict(orders_with(POLICIES), call) == verdict


def test_deny_by_not_trust_domain_spares_the_own_trust_domain() -> None:
    deny_only = orders_with(POLICIES.split("---\n")[1])
    assert inbound_verdict(deny_only, Call(8080, FRONTEND, path="/api/a/admin")) == ALLOWED
    assert inbound_verdict(deny_only, Call(8080, STRANGER, path="/api/a/admin")) == DENIED
    assert inbound_verdict(deny_only, Call(8080, STRANGER, path="/api/a/b/admin")) == ALLOWED


def test_custom_policy_denies_its_rules_and_dry_run_adds_nothing() -> None:
    custom = POLICIES.split("---\n")[2]
    only = orders_with(custom)
    assert inbound_verdict(only, Call(8080, STRANGER, path="/partner/secret")) == DENIED
    assert inbound_verdict(only, Call(8080, STRANGER, path="/partner/public")) == ALLOWED
    dry = custom.replace(
        "namespace: prod}", "namespace: prod,\n  annotations: {istio.io/dry-run: 'true'}}"
    )
    assert "dry-run" in dry
    assert inbound_verdict(orders_with(dry), Call(8080, path="/partner/secret")) == ALLOWED
    names = [
        name
        for config in rbac_configs(select_chain(inbound_listener(only, 8080), Call(8080)))[1]
        for name in config.rules.policies
    ]
    assert names == [
        "istio-ext-authz-opa-ns[prod]-policy[ext-authz]-rule[0]-deny-due-to-bad-CUSTOM-action"
    ]
    assert parse_rbac_policy_name(names[0]) == ("prod", "ext-authz", 0)


def test_istio_templates_become_envoy_operators() -> None:
    assert envoy_path_template("/api/{*}/x/{**}") == "/api/*/x/**"
    regex = uri_template_regex("/api/*/x.json")
    assert regex == r"/api/[A-Za-z0-9\-._~%!$&'()*+,;=:@]+/x\.json"


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
    wrong = [
        f"{c}: want {w}, envoy {e}, evaluator {v}" for c, w, e, v in answers if not w == e == v
    ]
    assert not wrong, "\n".join(wrong)


EVERY_NEW_FORM = """\
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: every-form, namespace: prod}
spec:
  selector:
    matchLabels: {app: orders}
  rules:
  - from:
    - source: {trustDomains: ["*", "td-*", "*.example", exact.td], notTrustDomains: [x.td]}
    to:
    - operation: {paths: ["/a/{*}/b/{**}"], notPaths: ["/{*}/admin"]}
    when:
    - key: source.trustDomain
      values: [cluster.local]
    - key: experimental.envoy.filters.http.lua[status]
      values: [ok, "[member]"]
      notValues: ["bad*"]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ext, namespace: prod}
spec:
  action: CUSTOM
  provider: {name: ext-authz-grpc}
  rules:
  - to:
    - operation: {paths: ["/ext/{**}"], ports: ["5432"]}
"""


def test_experimental_envoy_filter_key_matches_filter_metadata() -> None:
    resources = orders_with(EVERY_NEW_FORM)
    http, configs = rbac_configs(select_chain(inbound_listener(resources, 8080), Call(8080)))
    assert http
    allow = next(c for c in configs if "ns[prod]-policy[every-form]-rule[0]" in c.rules.policies)
    text = str(allow.rules.policies["ns[prod]-policy[every-form]-rule[0]"])
    assert 'filter: "envoy.filters.http.lua"' in text
    assert 'key: "status"' in text
    assert "list_match" in text and 'exact: "member"' in text
    assert "uri_template" in text and "/a/*/b/**" in text  # packed UriTemplateMatchConfig
    assert 'prefix: "spiffe://exact.td/"' in text


@pytest.mark.skipif(find_envoy() is None, reason="no envoy binary")
def test_every_new_form_gives_config_envoy_accepts() -> None:
    verdict = validate_resources(orders_with(EVERY_NEW_FORM).resources)
    assert verdict.ok, str(verdict)
