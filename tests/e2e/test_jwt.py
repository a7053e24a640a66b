"""RequestAuthentication end to end: `xdscp up` with real Envoy sidecars, tokens signed
here (RS256 and ES256), keys served by a JWKS server on loopback that the control plane
fetches, and an AuthorizationPolicy requiring request principals.

Through the frontend's sidecar to orders: a valid token 200, an invalid one 401 (403
for another audience), none 403; a token whose `group` claim is admin is routed to
orders v2 by a VirtualService claim match on the frontend's sidecar; when the JWKS
server goes away, the last good keys keep verifying. And at an ingress gateway (Istio's
own claim-routing case): invalid tokens 401, admins routed to reviews v2."""

from __future__ import annotations

import json
import random
import textwrap
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import (
    REPO,
    MeshScenario,
    RunningMesh,
    http_get,
    relocate_example,
    wait_until,
    xdscp_up,
)
from tests.jwt_tokens import JwksServer, SigningKey, claims, jwks

pytestmark = pytest.mark.e2e

ISSUER = "https://idp.test/"  # holds `/`: the principal https://idp.test//alice
PARTNER = "partner"


def _mesh_yaml(octet: int, jwks_uri: str, partner_jwks: str, presence: str = "OPTIONAL") -> str:
    mesh = MeshScenario(subnet=3, octet=octet)
    mesh.service("orders", [(8080, "HTTP")], namespace="prod")
    for name, host in (("orders-v1", 2), ("orders-v2", 4)):
        labels = {"app": "orders", "version": name[-2:]}
        mesh.workload(name, host, labels, service_account="orders", namespace="prod")
    mesh.workload("frontend", 1, service_account="frontend", namespace="prod")
    mesh.client_sidecar("callers", [(8080, "HTTP")], {}, capture_none=True, namespace="prod")
    mesh.server_sidecar("orders", capture_none=True, namespace="prod")
    mesh.add(
        textwrap.dedent(
            f"""\
            apiVersion: networking.istio.io/v1
            kind: DestinationRule
            metadata: {{name: orders, namespace: prod}}
            spec:
              host: orders
              subsets:
              - {{name: v1, labels: {{version: v1}}}}
              - {{name: v2, labels: {{version: v2}}}}
            ---
            apiVersion: networking.istio.io/v1
            kind: VirtualService
            metadata: {{name: orders, namespace: prod}}
            spec:
              hosts: [orders]
              http:
              - match:
                - headers:
                    "@request.auth.claims.group": {{exact: admin}}
                route: [{{destination: {{host: orders, subset: v2}}}}]
              - route: [{{destination: {{host: orders, subset: v1}}}}]
            ---
            apiVersion: security.istio.io/v1
            kind: RequestAuthentication
            metadata: {{name: idp, namespace: prod}}
            spec:
              jwtRules:
              - issuer: "{ISSUER}"
                jwksUri: {jwks_uri}
                timeout: 2s
                outputClaimToHeaders: [{{header: x-jwt-group, claim: group}}]
              - issuer: {PARTNER}
                audiences: [orders]
                jwks: '{partner_jwks}'
                fromHeaders: [{{name: x-partner-token}}]
                presence: {presence}
            ---
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {{name: orders-jwt, namespace: prod}}
            spec:
              selector: {{matchLabels: {{app: orders}}}}
              rules:
              - from: [{{source: {{requestPrincipals: ["{ISSUER}/alice"]}}}}]
              - from: [{{source: {{requestPrincipals: ["*"]}}}}]
                when: [{{key: "request.auth.claims[group]", values: [admin]}}]
              - from: [{{source: {{requestPrincipals: ["{PARTNER}/*"]}}}}]
            """
        )
    )
    return mesh.yaml()


def _call(mesh: RunningMesh, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    egress = mesh.workload("prod/frontend")["call_through"][0]
    request = urllib.request.Request(
        f"http://{egress}/orders", headers={"Host": "orders", **headers}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, {"body": exc.read().decode(errors="replace")}


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def idp() -> Iterator[tuple[JwksServer, SigningKey]]:
    key = SigningKey.rsa("idp-1")
    server = JwksServer(f"127.{random.randint(40, 250)}.9.1", jwks(key)).start()
    try:
        yield server, key
    finally:
        server.close()


def test_request_authentication_through_real_envoy(
    tmp_path: Path, idp: tuple[JwksServer, SigningKey]
) -> None:
    server, key = idp
    partner = SigningKey.ec("partner-1")
    octet = random.randint(40, 250)
    config = tmp_path / "mesh"
    config.mkdir()
    jwks_uri = server.uri
    (config / "mesh.yaml").write_text(_mesh_yaml(octet, jwks_uri, jwks(partner)))

    with xdscp_up(config, tmp_path, "--jwks-refresh", "0.5") as mesh:
        assert server.requests >= 1  # the control plane fetched the keys, not Envoy

        status, body = _call(mesh, {})
        assert status == 403, body  # no token: passes jwt_authn, RBAC wants a principal

        alice = key.sign(claims(ISSUER, "alice"))
        status, body = _call(mesh, _bearer(alice))
        assert status == 200, body
        assert body["version"] == "v1"
        assert "authorization" not in body["headers"]  # not forwarded (Istio's default)

        admin = key.sign(claims(ISSUER, "bob", group="admin"))
        status, body = _call(mesh, _bearer(admin))
        assert status == 200, body
        assert body["version"] == "v2"  # routed on the claim by the frontend's sidecar
        assert body["headers"]["x-jwt-group"] == "admin"

        # a list claim holding admin matches as well (route and policy)
        listed = key.sign(claims(ISSUER, "carol", group=["dev", "admin"]))
        status, body = _call(mesh, _bearer(listed))
        assert (status, body.get("version")) == (200, "v2"), body

        status, body = _call(mesh, _bearer(key.sign(claims(ISSUER, "bob"))))
        assert status == 403, body  # valid, but neither alice nor an admin

        forged = SigningKey.rsa("idp-1").sign(claims(ISSUER, "alice", group="admin"))
        assert _call(mesh, _bearer(forged))[0] == 401
        expired = key.sign(claims(ISSUER, "alice", lifetime_s=-600))  # beyond the 60 s clock skew
        assert _call(mesh, _bearer(expired))[0] == 401
        assert _call(mesh, _bearer("not-a-jwt"))[0] == 401

        good = partner.sign(claims(PARTNER, "shop", aud="orders"))
        status, body = _call(mesh, {"x-partner-token": good})
        assert status == 200, body
        wrong_audience = partner.sign(claims(PARTNER, "shop", aud="billing"))
        status, body = _call(mesh, {"x-partner-token": wrong_audience})
        # Envoy (so Istio) answers a valid token for another audience 403, from jwt_authn
        assert (status, body["body"]) == (403, "Audiences in Jwt are not allowed"), body

        # The IdP goes away: refreshes fail, are reported, and the last good keys stay.
        fetched = server.requests
        server.close()
        assert wait_until(lambda: "jwks.fetch_failed" in mesh.log(), timeout=15), mesh.log()
        assert server.requests == fetched
        debug = mesh.state["debug"]
        assert wait_until(lambda: "XDS0704" in http_get(f"{debug}/debug/analysis")[1], timeout=10)
        state = json.loads(http_get(f"{debug}/debug/config")[1])["jwks"][jwks_uri]
        assert state["keys"] is True and state["error"], state  # kept, and why it is stale
        status, body = _call(mesh, _bearer(alice))
        assert status == 200, body
        status, body = _call(mesh, _bearer(admin))
        assert (status, body.get("version")) == (200, "v2"), body

        # An edit makes the partner token required (`presence: REQUIRED`): Envoy follows.
        (config / "mesh.yaml").write_text(
            _mesh_yaml(octet, jwks_uri, jwks(partner), presence="REQUIRED")
        )
        assert wait_until(lambda: _call(mesh, _bearer(alice))[0] == 401, timeout=15)
        both = {**_bearer(alice), "x-partner-token": good}
        status, body = _call(mesh, both)
        assert status == 200, body


def test_the_jwt_example_does_what_the_readme_says(tmp_path: Path) -> None:
    """examples/jwt with its pre-signed tokens, as the README tells users to try it."""
    config, _ = relocate_example("jwt", tmp_path)
    tokens = REPO / "examples" / "jwt" / "tokens"

    def token(name: str) -> dict[str, str]:
        return _bearer((tokens / f"{name}.jwt").read_text().strip())

    with xdscp_up(config, tmp_path) as mesh:
        assert _call(mesh, {})[0] == 403
        status, body = _call(mesh, token("alice"))
        assert (status, body.get("version")) == (200, "v1"), body
        status, body = _call(mesh, token("admin"))
        assert (status, body.get("version")) == (200, "v2"), body
        assert _call(mesh, token("bob"))[0] == 403
        assert _call(mesh, token("forged"))[0] == 401


GATEWAY_JWT = """\
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {{name: ingress-jwt}}
spec:
  selector: {{matchLabels: {{istio: ingressgateway}}}}
  jwtRules:
  - issuer: "{issuer}"
    jwks: '{jwks}'
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: by-claim}}
spec:
  hosts: [jwt.example.com]
  gateways: [bookinfo-gateway]
  http:
  - match: [{{headers: {{"@request.auth.claims.group": {{exact: admin}}}}}}]
    route: [{{destination: {{host: reviews, subset: v2, port: {{number: 9080}}}}}}]
  - route: [{{destination: {{host: reviews, subset: v1, port: {{number: 9080}}}}}}]
"""


def test_ingress_gateway_verifies_tokens_and_routes_on_claims(tmp_path: Path) -> None:
    """Istio's own claim-routing case: the RequestAuthentication selects the ingress
    gateway, whose VirtualService routes admins to reviews v2."""
    key = SigningKey.rsa("gw")
    config, octet = relocate_example("gateway", tmp_path)
    (config / "jwt.yaml").write_text(GATEWAY_JWT.format(issuer=ISSUER, jwks=jwks(key)))
    entry = f"127.{octet}.4.1:8080"

    def call(headers: dict[str, str]) -> tuple[int, str]:
        request = urllib.request.Request(
            f"http://{entry}/reviews/1", headers={"Host": "jwt.example.com", **headers}
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, str(json.loads(response.read())["workload"])
        except urllib.error.HTTPError as exc:
            return exc.code, ""
        except OSError:
            return 0, ""

    with xdscp_up(config, tmp_path) as mesh:
        assert wait_until(lambda: call({})[0] == 200, 30), mesh.log()
        assert call({}) == (200, "reviews-v1")  # no token: nothing to route on, no policy
        admin = key.sign(claims(ISSUER, "bob", group="admin"))
        assert call(_bearer(admin)) == (200, "reviews-v2")
        assert call(_bearer(key.sign(claims(ISSUER, "ann")))) == (200, "reviews-v1")
        forged = SigningKey.rsa("gw").sign(claims(ISSUER, "bob", group="admin"))
        assert call(_bearer(forged))[0] == 401
