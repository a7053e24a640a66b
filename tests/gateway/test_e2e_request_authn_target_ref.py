"""RequestAuthentication `targetRef` end to end with real Envoy, through the real
`xdscp up` CLI on the gateway example: a policy targeting the Gateway API gateway `api`
makes that gateway answer 401 to a forged token and 200 to a valid one, while the
classic ingress gateway (not targeted) and the sidecars behind it let the same forged
token through; then a policy targeting the Istio Gateway `bookinfo-gateway` (group
networking.istio.io), added while the mesh runs, makes the ingress gateway refuse it."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.harness import relocate_example, wait_until, xdscp_up
from tests.gateway.test_e2e_gateway_api import GATEWAY_API
from tests.jwt_tokens import SigningKey, claims, jwks

pytestmark = pytest.mark.e2e

ISSUER = "https://idp.test/"
TARGETED = """\
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {{name: {name}}}
spec:
  targetRefs: [{{group: {group}, kind: Gateway, name: {gateway}}}]
  jwtRules: [{{issuer: "{issuer}", jwks: '{jwks}'}}]
"""


def _status(url: str, token: str | None = None) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=5) as r:
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:  # the listener is not bound yet
        return 0


def test_target_refs_bind_the_policy_to_the_named_gateway(tmp_path: Path) -> None:
    config, octet = relocate_example("gateway", tmp_path)
    (config / "gateway-api.yaml").write_text(GATEWAY_API.replace("127.0.4.", f"127.{octet}.4."))
    # the example's HTTPS listener needs its certificate; this test does not use it
    api_only = (config / "gateway-api.yaml").read_text()
    cut = api_only.index("  - name: https")
    end = api_only.index("---", cut)
    (config / "gateway-api.yaml").write_text(api_only[:cut] + api_only[end:])
    key = SigningKey.rsa("target")

    def policy(name: str, group: str, gateway: str) -> str:
        return TARGETED.format(
            name=name, group=group, gateway=gateway, issuer=ISSUER, jwks=jwks(key)
        )

    (config / "jwt-api.yaml").write_text(policy("api-jwt", "gateway.networking.k8s.io", "api"))
    api = f"http://127.{octet}.4.2:8081/api/x"
    ingress = f"http://127.{octet}.4.1:8080/productpage"
    valid = key.sign(claims(ISSUER, "alice"))
    forged = SigningKey.rsa("target").sign(claims(ISSUER, "alice"))
    with xdscp_up(config, tmp_path) as mesh:
        assert wait_until(lambda: _status(api, valid) == 200, 30), mesh.log()[-3000:]
        assert wait_until(lambda: _status(ingress) == 200, 30), mesh.log()[-3000:]
        assert _status(api, forged) == 401
        assert _status(api) == 200  # no token: passes (AuthorizationPolicy would decide)
        # not targeted: the ingress gateway and productpage's sidecar verify nothing
        assert _status(ingress, forged) == 200

        (config / "jwt-ingress.yaml").write_text(
            policy("ingress-jwt", "networking.istio.io", "bookinfo-gateway")
        )
        assert wait_until(lambda: _status(ingress, forged) == 401, 30), mesh.log()[-3000:]
        assert _status(ingress, valid) == 200
