"""The RBAC evaluator agrees with real Envoy on JWT attributes.

orders' generated inbound listener (jwt_authn with inline keys generated here, then the
RBAC filters) is served by a real Envoy whose route answers 200 itself; each token of
the table is signed here, verified by Envoy, and Envoy's 200 / 403 is compared with the
evaluator's verdict on the same claims — so the request principal `<iss>/<sub>` split
over issuers holding `/`, prefix / suffix wildcards and string-or-list claims mean the
same in both."""

from __future__ import annotations

import http.client
from typing import Any

import pytest

import ca
from tests.envoy_validate import find_envoy
from tests.jwt_tokens import SigningKey, claims, jwks
from tests.security.test_authz_behaviour import orders_with
from tests.security.test_rbac_envoy import envoy_serving
from translators.behaviour.rbac import ALLOWED, DENIED, Call, inbound_listener, listener_verdict

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(find_envoy() is None, reason="no envoy binary"),
]

KEY = SigningKey.ec("test")
ISSUERS = ("a/b", "a", "https://idp/", "https://idp//x", "https://other/")


def _policies() -> str:
    rules = "".join(f"  - {{issuer: \"{i}\", jwks: '{jwks(KEY)}'}}\n" for i in ISSUERS)
    return f"""
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {{name: idp, namespace: prod}}
spec:
  jwtRules:
{rules}---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {{name: jwt, namespace: prod}}
spec:
  selector: {{matchLabels: {{app: orders}}}}
  rules:
  - from: [{{source: {{requestPrincipals: ["a/b/c", "https://idp//*", "*/admin"]}}}}]
  - from: [{{source: {{requestPrincipals: ["*"], notRequestPrincipals: ["*/blocked"]}}}}]
    when:
    - {{key: "request.auth.claims[groups]", values: [ops]}}
    - {{key: request.auth.audiences, values: [orders]}}
"""


TABLE: list[dict[str, Any]] = [
    {"iss": "a/b", "sub": "c"},
    {"iss": "a", "sub": "b/c"},
    {"iss": "a", "sub": "b"},
    {"iss": "https://idp/", "sub": "anyone"},
    {"iss": "https://idp//x", "sub": "y"},
    {"iss": "https://other/", "sub": "team/admin"},
    {"iss": "https://other/", "sub": "sysadmin"},
    {"iss": "https://other/", "sub": "u", "groups": ["dev", "ops"], "aud": "orders"},
    {"iss": "https://other/", "sub": "u", "groups": "ops", "aud": ["web", "orders"]},
    {"iss": "https://other/", "sub": "u", "groups": ["dev"], "aud": "orders"},
    {"iss": "https://other/", "sub": "blocked", "groups": ["ops"], "aud": "orders"},
    {"iss": "https://other/", "sub": "u", "groups": ["ops"], "aud": "web"},
]


def _envoy_verdict(address: str, payload: dict[str, Any] | None) -> str:
    conn = http.client.HTTPConnection(address, 8080, timeout=5)
    headers = {"Host": "orders"}
    if payload is not None:
        token = KEY.sign({**claims(payload["iss"], payload["sub"]), **payload})
        headers["Authorization"] = f"Bearer {token}"
    try:
        conn.request("GET", "/", headers=headers)
        status = conn.getresponse().status
    finally:
        conn.close()
    assert status in (200, 403), status  # every token here is valid: never jwt_authn's 401
    return ALLOWED if status == 200 else DENIED


def test_evaluator_agrees_with_envoy_on_jwt_attributes() -> None:
    listener = inbound_listener(orders_with(_policies()), 8080)
    answers = []
    with envoy_serving(listener, ca.new_root_ca()) as address:
        for payload in [None, *TABLE]:
            call = Call(8080, source_ip="127.0.0.1", jwt=payload)
            answers.append(
                (payload, _envoy_verdict(address, payload), listener_verdict(listener, call))
            )
    disagreements = [f"{p}: envoy {e}, evaluator {v}" for p, e, v in answers if e != v]
    assert not disagreements, "\n".join(disagreements)
    assert {e for _, e, _ in answers} == {ALLOWED, DENIED}
