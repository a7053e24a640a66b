"""`xdscp up --delta`: sidecars on delta ADS get virtual hosts one by one (VHDS), and
routing follows VirtualService edits and services added and removed, with real Envoy."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from tests.cli.hygiene import run_xdscp
from tests.e2e.harness import (
    RunningMesh,
    http_get,
    relocate_example,
    version_of,
    wait_until,
    xdscp_up,
)
from tests.e2e.test_canary import ROUTING_5050

pytestmark = pytest.mark.e2e

# A second HTTP service on the same port (so the same route configuration): its one
# endpoint is order-v1's sidecar.
SHOP = """\
apiVersion: networking.istio.io/v1beta1
kind: ServiceEntry
metadata:
  name: shop
spec:
  hosts:
  - shop.example
  location: MESH_INTERNAL
  resolution: STATIC
  ports:
  - number: 8080
    name: http
    protocol: HTTP
  endpoints:
  - address: {address}
"""


def _route_dump(mesh: RunningMesh) -> list[dict[str, object]]:
    admin = mesh.workload("default/client")["admin"]
    status, body = http_get(f"{admin}/config_dump?resource=dynamic_route_configs")
    configs: list[dict[str, object]] = json.loads(body).get("configs", []) if status == 200 else []
    return [c["route_config"] for c in configs if isinstance(c.get("route_config"), dict)]  # type: ignore[misc]


def _weights(mesh: RunningMesh) -> list[int]:
    weights: list[int] = []
    for config in _route_dump(mesh):
        for vhost in config.get("virtual_hosts", []):  # type: ignore[attr-defined]
            for route in vhost.get("routes", []):
                split = route.get("route", {}).get("weighted_clusters", {}).get("clusters", [])
                weights += [int(c["weight"]) for c in split]
    return weights


def _get(url: str, host: str) -> tuple[int, str]:
    try:
        return http_get(url, host=host, timeout=3)
    except OSError as error:
        return 0, str(error)


def test_delta_sidecars_route_through_vhds_across_edits(tmp_path: Path) -> None:
    config, octet = relocate_example("canary", tmp_path)
    with xdscp_up(config, tmp_path, "--delta") as mesh:
        url = f"http://{mesh.workload('default/client')['call_through'][0]}/"
        versions = Counter(version_of(_get(url, "order-service")[1]) for _ in range(200))
        assert versions["v1"] + versions["v2"] == 200 and versions["v2"] < 60, versions
        # The route configuration travelled as a VHDS shell, its virtual hosts one by one.
        (route_config,) = _route_dump(mesh)
        assert "vhds" in route_config, route_config
        # the shell keeps ignore_port_in_host_matching: a Host with a port still routes
        assert route_config.get("ignore_port_in_host_matching") is True, route_config
        assert _get(url, "order-service:8080")[0] == 200
        proxies = json.loads(http_get(f"{mesh.state['debug']}/debug/proxies")[1])
        client = proxies["default/client"]
        assert client["api"] == "delta"
        assert client["types"]["VHDS"]["state"] == "SYNCED", client["types"]
        assert _weights(mesh) == [90, 10]
        # What Envoy assembled is what xdscp translated: no difference, and the
        # operator's route view is the whole route configuration.
        admin, debug = mesh.workload("default/client")["admin"], mesh.state["debug"]
        diff = run_xdscp("proxy-config", "all", "client", "--server", debug, "--envoy-admin", admin)
        assert (diff.returncode, diff.stdout, diff.stderr) == (0, "", ""), diff.stdout
        routes = run_xdscp("proxy-config", "routes", "client", "--server", debug)
        assert "VirtualService/default/order-service-routing" in routes.stdout, routes.stdout

        # An edit: one virtual host, applied.
        (config / "routing.yaml").write_text(ROUTING_5050)
        assert wait_until(lambda: _weights(mesh) == [50, 50], timeout=5.0), mesh.log()[-3000:]
        versions = Counter(version_of(_get(url, "order-service")[1]) for _ in range(200))
        assert versions["v1"] + versions["v2"] == 200 and versions["v2"] > 60, versions

        # A service added: its virtual host arrives and routes; removed: it is gone.
        shop = config / "shop.yaml"
        shop.write_text(SHOP.format(address=f"127.{octet}.2.1"))
        assert wait_until(lambda: _get(url, "shop.example")[0] == 200, timeout=5.0), (
            _get(url, "shop.example"),
            mesh.log()[-3000:],
        )
        assert version_of(_get(url, "shop.example")[1]) == "v1"
        shop.unlink()
        assert wait_until(lambda: _get(url, "shop.example")[0] != 200, timeout=5.0)
        assert _get(url, "order-service")[0] == 200
        proxies = json.loads(http_get(f"{mesh.state['debug']}/debug/proxies")[1])
        hosts = proxies["default/client"]["types"]["VHDS"]
        assert hosts["state"] == "SYNCED" and hosts["nacks"] == 0, hosts
