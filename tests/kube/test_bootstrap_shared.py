"""One bootstrap builder: an injected Pod's bootstrap and `xdscp bootstrap`'s agree on
everything but what a Pod adds (readiness), and real Envoy accepts both."""

from __future__ import annotations

import json
from pathlib import Path
from types import MappingProxyType
from typing import Any

from tests.envoy_validate import _placeholder_pem, run_envoy_validate
from translators.mesh import Workload
from translators.naming import ADMIN_PORT, object_ref
from xdscp.bootstrap import bootstrap_config
from xdscp.identity import XDS_SERVER_NAME
from xdscp.kube.inject import READY_PATH, READY_PORT
from xdscp.kube.podinit import pod_bootstrap

REPO = Path(__file__).resolve().parents[2]


def _credentials(tmp_path: Path) -> dict[str, Path]:
    cert, key = _placeholder_pem()
    files: dict[str, Path] = {}
    for name, text in (("cert", cert), ("key", key), ("root", cert)):
        files[name] = tmp_path / f"{name}.pem"
        files[name].write_text(text)
    return files


def _both(tmp_path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    files = _credentials(tmp_path)
    pod = pod_bootstrap(
        "shop", "orders-7d9f", "10.244.1.7", "orders", "xdscp.xdscp-system.svc", 15012, files
    )
    workload = Workload(
        namespace="shop",
        name="orders-7d9f",
        address="10.244.1.7",
        labels=MappingProxyType({}),
        service_account="orders",
        ports=MappingProxyType({}),
        annotations=MappingProxyType({}),
        source=object_ref("Pod", "shop", "orders-7d9f"),
    )
    plain = bootstrap_config(
        workload,
        "xdscp.xdscp-system.svc",
        15012,
        ADMIN_PORT,
        admin_address="127.0.0.1",
        credentials=files,
        server_name=XDS_SERVER_NAME,
    )
    return pod, plain


def test_pod_and_cli_bootstraps_share_node_ads_admin_and_xds_cluster(tmp_path: Path) -> None:
    pod, plain = _both(tmp_path)
    for section in ("node", "admin", "stats_config"):
        assert pod[section] == plain[section], section
    assert pod["node"]["id"] == "sidecar~10.244.1.7~orders-7d9f.shop~shop.svc.cluster.local"
    pod_ads, plain_ads = pod["dynamic_resources"], plain["dynamic_resources"]
    assert pod_ads["ads_config"] == plain_ads["ads_config"]
    assert pod_ads["ads_config"]["set_node_on_first_message_only"] is True
    # the xDS cluster (mTLS to the control plane) is the same, and first
    assert pod["static_resources"]["clusters"][0] == plain["static_resources"]["clusters"][0]
    assert pod["static_resources"]["clusters"][0]["type"] == "STRICT_DNS"


def test_a_pod_adds_only_its_readiness(tmp_path: Path) -> None:
    pod, plain = _both(tmp_path)
    for source in ("cds_config", "lds_config"):
        assert pod["dynamic_resources"][source] == {
            **plain["dynamic_resources"][source],
            "initial_fetch_timeout": "0s",
        }
    names = [c["name"] for c in pod["static_resources"]["clusters"]]
    assert names == [c["name"] for c in plain["static_resources"]["clusters"]] + ["xdscp-admin"]
    (ready,) = [
        listener
        for listener in pod["static_resources"]["listeners"]
        if listener not in plain["static_resources"]["listeners"]
    ]
    assert ready["address"]["socket_address"]["port_value"] == READY_PORT
    manager = ready["filter_chains"][0]["filters"][0]["typed_config"]
    (route,) = manager["route_config"]["virtual_hosts"][0]["routes"]
    assert route["match"] == {"path": READY_PATH}
    assert route["route"] == {"cluster": "xdscp-admin", "prefix_rewrite": "/ready"}
    assert set(pod) == set(plain)


def test_real_envoy_accepts_both(tmp_path: Path) -> None:
    for config in _both(tmp_path):
        result = run_envoy_validate(json.dumps(config))
        assert result.ok, result.output


def test_no_other_module_builds_a_bootstrap() -> None:
    builders = [
        str(path.relative_to(REPO))
        for path in sorted((REPO / "xdscp").rglob("*.py"))
        if "set_node_on_first_message_only" in path.read_text(encoding="utf-8")
    ]
    assert builders == ["xdscp/bootstrap.py"]
