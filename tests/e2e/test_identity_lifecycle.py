"""Certificates over time: SVID rotation under load and a control-plane restart, both
with zero failed requests; PERMISSIVE serving plaintext and mTLS on one port."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.harness import (
    RunningMesh,
    free_port,
    http_get,
    relocate_example,
    wait_until,
    xdscp_up,
)
from xdscp.identity import IdentitySettings
from xdscp.local.mesh import LocalMesh
from xdscp.service import ControlPlane

pytestmark = pytest.mark.e2e

ORDERS_ID = "spiffe://cluster.local/ns/prod/sa/orders"


class RequestLoop:
    """Requests in a background thread until stopped; counts failures."""

    def __init__(self, call: Callable[[], tuple[int, str]]) -> None:
        self.call = call
        self.ok = 0
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        deadline = time.monotonic() + 60
        while not self._stop.is_set() and time.monotonic() < deadline:
            try:
                status, body = self.call()
            except OSError as exc:
                self.failures.append(repr(exc))
                continue
            if status == 200:
                self.ok += 1
            else:
                self.failures.append(f"{status} {body[:200]}")
            time.sleep(0.01)

    def __enter__(self) -> RequestLoop:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)


def _serials(admin: str, spiffe_id: str) -> set[str]:
    status, body = http_get(f"{admin}/certs")
    if status != 200:
        return set()
    found = set()
    for entry in json.loads(body).get("certificates", []):
        for cert in entry.get("cert_chain", []):
            uris = {san.get("uri") for san in cert.get("subject_alt_names", [])}
            if spiffe_id in uris:
                found.add(cert["serial_number"])
    return found


def _frontend_call(mesh: RunningMesh) -> Callable[[], tuple[int, str]]:
    egress = mesh.workload("prod/frontend")["call_through"][0]
    return lambda: http_get(f"http://{egress}/orders", host="orders", timeout=5)


def test_svid_rotation_under_load_drops_no_request(tmp_path: Path) -> None:
    config, _ = relocate_example("strict-mtls", tmp_path)
    with xdscp_up(config, tmp_path, "--svid-ttl", "4") as mesh:
        admin = mesh.workload("prod/orders-v1")["admin"]
        seen: set[str] = set()
        with RequestLoop(_frontend_call(mesh)) as loop:

            def rotated_twice() -> bool:
                seen.update(_serials(admin, ORDERS_ID))
                return len(seen) >= 3

            assert wait_until(rotated_twice, timeout=15, interval=0.2), seen
        assert loop.ok > 50
        assert not loop.failures, loop.failures[:5]


def test_permissive_serves_plaintext_and_mtls_on_one_port(tmp_path: Path) -> None:
    config, _ = relocate_example("canary", tmp_path)
    with xdscp_up(config, tmp_path) as mesh:
        inbound = mesh.workload("default/order-v1")["inbound"][0]
        status, body = http_get(f"http://{inbound}/")  # plaintext, straight to the sidecar
        assert status == 200 and json.loads(body)["caller"] == ""
        egress = mesh.workload("default/client")["call_through"][0]
        status, body = http_get(f"http://{egress}/", host="order-service")  # via mTLS
        assert status == 200
        assert "URI=spiffe://cluster.local/ns/default/sa/client" in json.loads(body)["caller"]


async def test_control_plane_restart_keeps_root_and_traffic(tmp_path: Path) -> None:
    config, _ = relocate_example("strict-mtls", tmp_path)
    listen = f"127.0.0.1:{free_port()}"
    settings = IdentitySettings(ca_dir=tmp_path / "ca")
    first = ControlPlane(config, listen, None, identity_settings=settings)
    await first.start()
    root = first.identity.trust_bundle_pem
    local = LocalMesh(first, tmp_path / "run")
    second: ControlPlane | None = None
    try:
        await local.start()
        frontend = next(w for w in local.workloads if w.workload.name == "frontend")
        egress = frontend.outbound[0]
        with RequestLoop(lambda: http_get(f"http://{egress}/orders", "orders", 10)) as loop:
            await asyncio.sleep(1.0)
            await first.stop()
            await asyncio.sleep(1.0)  # sidecars run on their last config meanwhile
            second = ControlPlane(config, listen, None, identity_settings=settings)
            await second.start()
            assert second.identity.trust_bundle_pem == root  # the trust root survived
            reconnected = await asyncio.to_thread(
                wait_until, lambda: len(second.status) == len(local.workloads), 20.0
            )
            assert reconnected, [p.key for p in second.status]
            await asyncio.sleep(1.0)
        assert loop.ok > 50
        assert not loop.failures, loop.failures[:5]
    finally:
        await local.stop()
        if second is not None:
            await second.stop()
        await first.stop()
