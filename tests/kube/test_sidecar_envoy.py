"""The injected sidecar's path with real Envoy, minus the kubelet: the root comes from the
`istio-ca-root-cert` ConfigMap the leader published, the init step's own code exchanges
the Pod's token for its certificate and writes the Pod bootstrap, and stock Envoy then
connects over mutual TLS, receives its own service account's SVID, and turns ready on
the readiness listener only once its configuration and certificates are in."""

from __future__ import annotations

import asyncio
import json
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.harness import free_port
from tests.envoy_validate import find_envoy
from tests.kube.fakeapi import FakeKube
from tests.kube.helpers import eventually
from tests.kube.meshes import PODS, cluster_docs, namespace, pod
from tests.kube.test_plane import control_plane, settings
from xdscp.kube.inject import READY_PATH
from xdscp.kube.podinit import fetch_certificate, pod_bootstrap, write_private

pytestmark = pytest.mark.e2e

POD_IP = "127.0.5.10"


def http_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def _local(config: dict[str, Any], admin_port: int, ready_port: int) -> None:
    """Move the Pod's fixed ports (15000 admin, 15021 readiness) to free ones on the
    workload's own loopback address, so the test can run beside anything."""
    config["admin"]["address"]["socket_address"].update(address=POD_IP, port_value=admin_port)
    listener = next(
        li for li in config["static_resources"]["listeners"] if li["name"] == "xdscp_ready"
    )
    listener["address"]["socket_address"].update(address=POD_IP, port_value=ready_port)
    admin = next(c for c in config["static_resources"]["clusters"] if c["name"] == "xdscp-admin")
    endpoint = admin["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]
    endpoint["address"]["socket_address"].update(address=POD_IP, port_value=admin_port)


async def test_a_pod_sidecar_bootstraps_from_its_token_and_is_ready_with_its_own_svid(
    kube: FakeKube, tmp_path: Path
) -> None:
    envoy = find_envoy()
    if envoy is None:
        pytest.skip("no envoy binary")
    docs = [d for d in cluster_docs() if d["kind"] != "Pod"]
    docs += [pod(name, ip=POD_IP if name == "client" else None) for name in PODS]
    kube.apply_all([namespace("xdscp-system"), *docs])
    client = kube.get("Pod", "default", "client")
    assert client is not None
    kube.add_service_account_token(
        "projected", "default", "client", "client", client["metadata"]["uid"]
    )
    async with control_plane(settings(kube, tmp_path, "replica-a")) as cp:
        assert cp.plane is not None

        def root_published() -> bool:
            return kube.get("ConfigMap", "default", "istio-ca-root-cert") is not None

        await eventually(root_published)
        configmap = kube.get("ConfigMap", "default", "istio-ca-root-cert")
        assert configmap is not None
        root = tmp_path / "root-cert.pem"
        root.write_text(configmap["data"]["root-cert.pem"])
        # what xdscp-init does
        issued = await fetch_certificate(cp.cert_url, "projected", root, timeout=10)
        out = tmp_path / "envoy"
        out.mkdir()
        files = {"cert": out / "cert.pem", "key": out / "key.pem", "root": out / "root.pem"}
        write_private(files["cert"], issued["certificate_chain"], 0)
        write_private(files["key"], issued["private_key"], 0)
        write_private(files["root"], issued["root_cert"], 0)
        host, port = cp.plane.xds_address
        config = pod_bootstrap("default", "client", POD_IP, "client", host, port, files)
        admin_port, ready_port = free_port(POD_IP), free_port(POD_IP)
        _local(config, admin_port, ready_port)
        (out / "envoy.yaml").write_text(yaml.safe_dump(config))
        log = (tmp_path / "envoy.log").open("w")
        process = subprocess.Popen(
            [
                envoy,
                "-c",
                str(out / "envoy.yaml"),
                "--disable-hot-restart",
                "--log-level",
                "warning",
                "--concurrency",
                "1",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            ready_url = f"http://{POD_IP}:{ready_port}{READY_PATH}"

            async def ready() -> bool:
                return await asyncio.to_thread(http_status, ready_url) == 200

            loop = asyncio.get_running_loop()
            deadline = loop.time() + 30
            while not await ready():
                assert process.poll() is None, (tmp_path / "envoy.log").read_text()[-2000:]
                assert loop.time() < deadline, (tmp_path / "envoy.log").read_text()[-2000:]
                await asyncio.sleep(0.1)
            certs = await asyncio.to_thread(
                lambda: json.loads(
                    urllib.request.urlopen(f"http://{POD_IP}:{admin_port}/certs", timeout=2).read()
                )
            )
            uris = {
                san.get("uri")
                for entry in certs["certificates"]
                for cert in entry.get("cert_chain") or []
                for san in cert.get("subject_alt_names") or []
            }
            assert "spiffe://cluster.local/ns/default/sa/client" in uris
            assert not {u for u in uris if u and u.endswith("/sa/order-service")}
            proxy = cp.plane.status.get("default/client")
            assert proxy is not None
            assert proxy.peer_identity == "spiffe://cluster.local/ns/default/sa/client"
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
            log.close()
