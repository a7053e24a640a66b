"""EnvoyFilter through real Envoy and the real `xdscp up`: a Lua filter inserted before
the router changes real responses, a CLUSTER MERGE shows in Envoy's config_dump, and a
patch Envoy rejects is NACKed and blamed on its EnvoyFilter while traffic keeps flowing."""

from __future__ import annotations

import json
import random
import shutil
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cli.hygiene import run_xdscp
from tests.e2e.harness import REPO, http_get, relocate_example, wait_until, xdscp_up

pytestmark = pytest.mark.e2e

HCM = "envoy.filters.network.http_connection_manager"
ORDERS_CLUSTER = "outbound|8080||orders.default.svc.cluster.local"

GOOD = """
apiVersion: networking.istio.io/v1alpha3
kind: EnvoyFilter
metadata: {name: response-header, namespace: default}
spec:
  workloadSelector: {labels: {app: orders}}
  configPatches:
  - applyTo: HTTP_FILTER
    match:
      context: SIDECAR_INBOUND
      listener:
        portNumber: 8080
        filterChain:
          filter:
            name: envoy.filters.network.http_connection_manager
            subFilter: {name: envoy.filters.http.router}
    patch:
      operation: INSERT_BEFORE
      value:
        name: envoy.lua
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua
          inlineCode: |
            function envoy_on_response(response_handle)
              response_handle:headers():add("x-envoyfilter", "lua-before-router")
            end
---
apiVersion: networking.istio.io/v1alpha3
kind: EnvoyFilter
metadata: {name: orders-timeouts, namespace: istio-system}
spec:
  workloadSelector: {labels: {app: client}}
  configPatches:
  - applyTo: CLUSTER
    match:
      context: SIDECAR_OUTBOUND
      cluster: {service: orders.default.svc.cluster.local, portNumber: 8080}
    patch:
      operation: MERGE
      value:
        connect_timeout: 1.234s
        circuit_breakers:
          thresholds: [{max_connections: 77}]
"""

# Envoy refuses an HTTP filter after the router (the router must be last): ADD appends.
BROKEN = """
apiVersion: networking.istio.io/v1alpha3
kind: EnvoyFilter
metadata: {name: after-router, namespace: default}
spec:
  workloadSelector: {labels: {app: client}}
  configPatches:
  - applyTo: HTTP_FILTER
    match:
      context: SIDECAR_OUTBOUND
      listener:
        filterChain:
          filter: {name: envoy.filters.network.http_connection_manager}
    patch:
      operation: ADD
      value:
        name: late.lua
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua
          inlineCode: "function envoy_on_request(h) end"
"""


def _mesh_dir(tmp_path: Path) -> Path:
    """The extension example's mesh (client -> orders) without its custom kind, moved to a
    random 127.N.3.x so parallel runs do not collide."""
    octet = random.randint(40, 250)
    target = tmp_path / "mesh"
    target.mkdir()
    docs = [
        d
        for d in yaml.safe_load_all((REPO / "examples" / "extension" / "mesh.yaml").read_text())
        if d and d.get("kind") != "LocalRateLimit"
    ]
    text = yaml.safe_dump_all(docs).replace("127.0.3.", f"127.{octet}.3.")
    (target / "mesh.yaml").write_text(text)
    (target / "envoyfilters.yaml").write_text(GOOD)
    return target


def _call(url: str) -> tuple[int, str | None]:
    request = urllib.request.Request(url, headers={"Host": "orders"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.headers.get("x-envoyfilter")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("x-envoyfilter")


def _dynamic_cluster(admin: str, name: str) -> dict[str, Any] | None:
    status, body = http_get(f"{admin}/config_dump?resource=dynamic_active_clusters")
    assert status == 200, body
    for config in json.loads(body)["configs"]:
        cluster: dict[str, Any] = config["cluster"]
        if cluster["name"] == name:
            return cluster
    return None


def _lds_nack(debug: str) -> dict[str, Any] | None:
    proxies = json.loads(http_get(f"{debug}/debug/proxies")[1])
    lds: dict[str, Any] = proxies["default/client"]["types"]["LDS"]
    nack: dict[str, Any] | None = lds.get("last_nack") if lds.get("state") == "NACK" else None
    return nack


def test_envoyfilter_through_real_envoy(tmp_path: Path) -> None:
    config = _mesh_dir(tmp_path)
    with xdscp_up(config, tmp_path) as mesh:
        url = f"http://{mesh.workload('default/client')['call_through'][0]}/"

        # the Lua filter before the router adds a header to every real response
        assert wait_until(lambda: _call(url) == (200, "lua-before-router"), 20), _call(url)
        assert [_call(url) for _ in range(5)] == [(200, "lua-before-router")] * 5

        # the CLUSTER MERGE (from the root namespace) is in the client Envoy's config_dump
        admin = mesh.workload("default/client")["admin"]
        cluster = _dynamic_cluster(admin, ORDERS_CLUSTER)
        assert cluster is not None
        assert cluster["connect_timeout"] == "1.234s"
        thresholds = cluster["circuit_breakers"]["thresholds"]
        assert {"max_connections": 77} in thresholds, thresholds

        # describe names the EnvoyFilters applying to a workload
        debug = mesh.state["debug"]
        described = run_xdscp("describe", "default/orders", "--server", debug)
        assert described.returncode == 0, described.stderr
        assert "EnvoyFilter/default/response-header" in described.stdout, described.stdout
        # and proxy-config names them as sources of the resources they changed
        listeners = run_xdscp("proxy-config", "listeners", "default/orders", "--server", debug)
        assert "EnvoyFilter/default/response-header" in listeners.stdout, listeners.stdout
        clusters = run_xdscp("proxy-config", "clusters", "default/client", "--server", debug)
        assert "EnvoyFilter/istio-system/orders-timeouts" in clusters.stdout, clusters.stdout

        # a patch Envoy rejects: NACKed, blamed on that EnvoyFilter, the rest keeps working
        shutil.copy(config / "envoyfilters.yaml", tmp_path / "good.yaml")
        (config / "broken.yaml").write_text(BROKEN)
        assert wait_until(lambda: _lds_nack(debug) is not None, 30), mesh.log()[-3000:]
        nack = _lds_nack(debug)
        assert nack is not None
        assert "EnvoyFilter/default/after-router" in nack["provenance"], nack
        assert "router" in nack["error"], nack
        status = run_xdscp("proxy-status", "default/client", "--server", debug)
        assert "NACK default/client LDS" in status.stdout, status.stdout
        assert "EnvoyFilter/default/after-router" in status.stdout, status.stdout
        assert [_call(url) for _ in range(5)] == [(200, "lua-before-router")] * 5

        # fixed: the next config is accepted again
        (config / "broken.yaml").unlink()
        assert wait_until(lambda: _lds_nack(debug) is None, 30), _lds_nack(debug)
        assert _call(url) == (200, "lua-before-router")


GATEWAY_FILTER = """
apiVersion: networking.istio.io/v1alpha3
kind: EnvoyFilter
metadata: {name: gateway-header, namespace: istio-system}
spec:
  workloadSelector: {labels: {istio: ingressgateway}}
  configPatches:
  - applyTo: HTTP_FILTER
    match:
      context: GATEWAY
      listener:
        filterChain:
          filter:
            name: envoy.filters.network.http_connection_manager
            subFilter: {name: envoy.filters.http.router}
    patch:
      operation: INSERT_BEFORE
      value:
        name: envoy.lua
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua
          inlineCode: |
            function envoy_on_response(response_handle)
              response_handle:headers():add("x-envoyfilter", "gateway")
            end
"""


def _gateway_call(url: str) -> tuple[int, str | None]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.headers.get("x-envoyfilter")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("x-envoyfilter")
    except OSError:  # the gateway's listener is not bound yet
        return 0, None


def test_gateway_context_through_a_real_ingress_gateway(tmp_path: Path) -> None:
    config, octet = relocate_example("gateway", tmp_path)
    (config / "envoyfilter.yaml").write_text(GATEWAY_FILTER)
    with xdscp_up(config, tmp_path):
        url = f"http://127.{octet}.4.1:8080/productpage"
        assert wait_until(lambda: _gateway_call(url) == (200, "gateway"), 30), _gateway_call(url)
