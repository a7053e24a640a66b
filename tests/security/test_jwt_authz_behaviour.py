"""JWT fields of AuthorizationPolicy, decided from the generated RBAC by the evaluator with
the payload jwt_authn verified: `requestPrincipals` is `<iss>/<sub>` whatever `/` the
issuer holds, claims match strings and lists, and on opaque TCP nothing JWT-based
allows."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.security.test_authz_behaviour import orders_with
from tests.translators.helpers import mesh_of, workload
from translators.behaviour.rbac import ALLOWED, DENIED, Call, inbound_verdict
from translators.translate import translate

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "testdata" / "in"
IDP = "https://idp.example.com/"


def _principals(*values: str) -> str:
    listed = ", ".join(f'"{v}"' for v in values)
    return f"""
        apiVersion: security.istio.io/v1
        kind: AuthorizationPolicy
        metadata: {{name: jwt, namespace: prod}}
        spec:
          selector: {{matchLabels: {{app: orders}}}}
          rules:
          - from: [{{source: {{requestPrincipals: [{listed}]}}}}]
        """


@pytest.mark.parametrize(
    ("value", "iss", "sub", "verdict"),
    [
        ("a/b/c", "a/b", "c", ALLOWED),
        ("a/b/c", "a", "b/c", ALLOWED),
        ("a/b/c", "a", "b", DENIED),
        ("a/b/c", "a/b/c", "", DENIED),
        ("https://idp//*", "https://idp/", "anyone", ALLOWED),
        ("https://idp//*", "https://idp//x", "y", ALLOWED),  # the principal starts so too
        ("https://idp//*", "https://idp/x", "y", DENIED),
        ("https://idp//*", "https://other/", "x", DENIED),
        ("*/admin", "https://idp/", "admin", ALLOWED),
        ("*/admin", "https://idp/", "team/admin", ALLOWED),  # a suffix of the principal
        ("*/admin", "https://idp/", "sysadmin", DENIED),
        ("*/admin", "https://idp/", "admins", DENIED),
        ("*", "i", "s", ALLOWED),
        ("nosuffix", "no", "suffix", DENIED),  # no `/`: no principal can be it
    ],
)
def test_request_principal_is_issuer_slash_subject(
    value: str, iss: str, sub: str, verdict: str
) -> None:
    orders = orders_with(_principals(value))
    assert inbound_verdict(orders, Call(8080, jwt={"iss": iss, "sub": sub})) == verdict
    assert inbound_verdict(orders, Call(8080)) == DENIED  # no valid token, no principal


def test_golden_policies() -> None:
    """tests/golden/testdata/in/jwt-request-authn.yaml, evaluated."""
    mesh = mesh_of((GOLDEN / "jwt-request-authn.yaml").read_text())
    orders = translate(mesh, workload(mesh, "prod/orders"))

    def verdict(jwt: dict[str, object] | None, path: str = "/") -> str:
        return inbound_verdict(orders, Call(8080, path=path, jwt=jwt))

    admin: dict[str, object] = {"iss": IDP, "sub": "ann", "aud": "mesh", "groups": ["dev", "admin"]}
    assert verdict(admin) == ALLOWED
    assert verdict({**admin, "groups": "admin"}) == ALLOWED  # a string claim
    assert verdict({**admin, "aud": ["web", "mesh"]}) == ALLOWED  # a list claim
    assert verdict({**admin, "aud": "web"}) == DENIED
    assert verdict({**admin, "groups": ["dev"]}) == DENIED
    assert verdict({**admin, "iss": "partner@example.com"}) == DENIED
    # any principal may GET /public*; subject `blocked` of any issuer never
    partner: dict[str, object] = {"iss": "partner@example.com", "sub": "p"}
    assert verdict(partner, "/public/x") == ALLOWED
    assert verdict(None, "/public/x") == DENIED
    assert verdict({**partner, "sub": "blocked"}, "/public/x") == DENIED
    assert verdict({**admin, "sub": "blocked"}) == DENIED
    # opaque TCP: the ALLOW rules need a token, which TCP cannot carry
    assert inbound_verdict(orders, Call(5432, jwt=admin)) == DENIED


def test_istio_require_jwt_pattern() -> None:
    """Istio's documented way to require a token: DENY notRequestPrincipals ["*"]."""
    orders = orders_with(
        """
        apiVersion: security.istio.io/v1
        kind: AuthorizationPolicy
        metadata: {name: require-jwt, namespace: prod}
        spec:
          selector: {matchLabels: {app: orders}}
          action: DENY
          rules:
          - from: [{source: {notRequestPrincipals: ["*"]}}]
        """
    )
    assert inbound_verdict(orders, Call(8080)) == DENIED
    assert inbound_verdict(orders, Call(8080, jwt={"iss": "i", "sub": "s"})) == ALLOWED
