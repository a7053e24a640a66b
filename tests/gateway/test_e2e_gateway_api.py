"""The Kubernetes Gateway API end to end with real Envoy, through the real `xdscp up` CLI:
a Gateway of the built-in `xdscp` class run by the workload labelled with its name, and
an HTTPRoute with a weighted 80/20 split (within a binomial bound), a header match, a
redirect and a prefix rewrite; an HTTPS listener terminating with its certificateRef."""

from __future__ import annotations

import json
import math
import ssl
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

import pytest

from tests.e2e.harness import http_get, relocate_example, wait_until, xdscp_up
from tests.gateway.certs import CertAuthority
from tests.gateway.test_e2e_istio import https_get

pytestmark = pytest.mark.e2e

GATEWAY_API = """\
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: api-gateway}
spec:
  address: 127.0.4.2
  serviceAccount: api-gateway
  labels: {gateway.networking.k8s.io/gateway-name: api}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: api}
spec:
  gatewayClassName: xdscp
  listeners:
  - {name: http, port: 8081, protocol: HTTP}
  - name: https
    port: 8444
    protocol: HTTPS
    hostname: api.example.com
    tls: {certificateRefs: [{name: api-cert}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: api}
spec:
  parentRefs: [{name: api}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /split}}]
    backendRefs:
    - {name: productpage, port: 9080, weight: 80}
    - {name: reviews, port: 9080, weight: 20}
  - matches: [{path: {type: PathPrefix, value: /api}, headers: [{name: x-canary, value: "yes"}]}]
    backendRefs: [{name: reviews, port: 9080}]
  - matches: [{path: {type: PathPrefix, value: /api}}]
    filters:
    - type: URLRewrite
      urlRewrite: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /productpage}}
    backendRefs: [{name: productpage, port: 9080}]
  - matches: [{path: {type: Exact, value: /old}}]
    filters:
    - type: RequestRedirect
      requestRedirect: {path: {type: ReplaceFullPath, replaceFullPath: /new}, statusCode: 301}
"""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
    opener = urllib.request.build_opener(_NoRedirect)
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with opener.open(request, timeout=5) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read().decode()


def workload_of(body: str) -> str:
    served: str = json.loads(body)["workload"]
    return served


def test_httproute_split_header_match_rewrite_redirect(tmp_path: Path) -> None:
    config, octet = relocate_example("gateway", tmp_path)
    (config / "gateway-api.yaml").write_text(GATEWAY_API.replace("127.0.4.", f"127.{octet}.4."))
    ca = CertAuthority()
    ca.write_credential(config / "credentials" / "api-cert", "api.example.com")
    with xdscp_up(config, tmp_path) as mesh:
        gateway = mesh.workload("default/api-gateway")
        entry = f"127.{octet}.4.2:8081"
        assert gateway["call_through"] == [entry, f"127.{octet}.4.2:8444"]

        def answering() -> bool:
            try:
                return http_get(f"http://{entry}/api/x")[0] == 200
            except OSError:  # the listener is not bound yet
                return False

        assert wait_until(answering, 30), mesh.log()

        # URLRewrite: /api/x reaches productpage as /productpage/x
        status, _, body = get(f"http://{entry}/api/x")
        assert status == 200 and workload_of(body) == "productpage-v1"
        assert json.loads(body)["path"] == "/productpage/x"
        # the header match wins over the plain prefix (the spec's precedence)
        status, _, body = get(f"http://{entry}/api/x", {"x-canary": "yes"})
        assert status == 200 and workload_of(body).startswith("reviews-")
        # PathPrefix /api does not match /apix
        assert get(f"http://{entry}/apix")[0] == 404
        # RequestRedirect
        status, headers, _ = get(f"http://{entry}/old")
        assert status == 301 and headers["location"].endswith("/new")

        # HTTPS: the listener terminates with its certificateRef, by SNI
        def https_ok() -> bool:
            try:
                return (
                    https_get(f"127.{octet}.4.2", 8444, "api.example.com", ca, "/api/x")[0] == 200
                )
            except (ssl.SSLError, OSError):
                return False

        assert wait_until(https_ok, 20), mesh.log()
        status, answer = https_get(f"127.{octet}.4.2", 8444, "api.example.com", ca, "/api/x")
        assert (status, answer["workload"], answer["path"]) == (
            200,
            "productpage-v1",
            "/productpage/x",
        )
        with pytest.raises((ssl.SSLError, OSError)):
            https_get(f"127.{octet}.4.2", 8444, "wrong.example.com", ca)

        # 80/20 within 4 sigma of the binomial
        n = 200
        served = Counter(
            workload_of(get(f"http://{entry}/split")[2]).split("-")[0] for _ in range(n)
        )
        assert set(served) <= {"productpage", "reviews"}
        sigma = math.sqrt(n * 0.8 * 0.2)
        assert abs(served["productpage"] - 0.8 * n) <= 4 * sigma, served
