"""Fail closed: a sidecar without its certificate, or without a control plane, never
serves inbound traffic unauthenticated."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from tests.e2e.harness import free_port, relocate_example
from translators.mesh import Workload
from translators.translate import ResourceGroup
from xdscp.bootstrap import bootstrap_config
from xdscp.identity import IdentitySettings
from xdscp.local.envoy_process import admin_get, start_envoy
from xdscp.local.mesh import LocalMesh
from xdscp.service import ControlPlane

pytestmark = pytest.mark.e2e


def _plaintext_answered(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: orders\r\nConnection: close\r\n\r\n")
            return sock.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


async def test_no_control_plane_means_no_inbound_listener(tmp_path: Path) -> None:
    config, _ = relocate_example("strict-mtls", tmp_path)
    plane = ControlPlane(
        config,
        f"127.0.0.1:{free_port()}",
        None,
        identity_settings=IdentitySettings(ca_dir=tmp_path / "ca"),
    )
    mesh = plane.source.load()
    workload = mesh.workload("prod", "orders-v1")
    assert workload is not None
    dead_port = free_port()  # nothing listens here
    files = plane.identity.write_bootstrap_credentials(workload, tmp_path / "orders")
    admin = f"http://{workload.address}:15000"
    envoy = start_envoy(
        "orders", bootstrap_config(workload, "127.0.0.1", dead_port, credentials=files),
        tmp_path / "orders", admin,
    )  # fmt: skip
    try:
        for _ in range(50):
            if (await asyncio.to_thread(admin_get, admin, "/ready", 1.0))[0] != 0:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)
        assert not _plaintext_answered(workload.address, 8080)
        status, body = await asyncio.to_thread(admin_get, admin, "/listeners")
        assert status == 200 and f"{workload.address}:8080" not in body
    finally:
        envoy.stop()


class _NoSecrets:
    """A CA that never delivers: proxies get config but no certificates."""

    def __init__(self, identity_of: ControlPlane) -> None:
        self._plane = identity_of

    def identity_of(self, workload: Workload) -> str:
        return self._plane.identity.identity_of(workload)

    def secrets_for(self, workload: Workload) -> ResourceGroup:
        return ResourceGroup(())


async def test_no_certificate_means_no_plaintext_and_no_mtls(tmp_path: Path) -> None:
    config, _ = relocate_example("strict-mtls", tmp_path)
    plane = ControlPlane(
        config,
        f"127.0.0.1:{free_port()}",
        None,
        identity_settings=IdentitySettings(ca_dir=tmp_path / "ca"),
    )
    plane.runtime.secrets = _NoSecrets(plane)
    await plane.start()
    local = LocalMesh(plane, tmp_path / "run")
    try:
        with pytest.raises((TimeoutError, RuntimeError)):
            await local.start(ready_timeout=3.0)  # listeners wait for certificates
        orders = plane.source.load().workload("prod", "orders-v1")
        assert orders is not None
        assert not _plaintext_answered(orders.address, 8080)
    finally:
        await local.stop()
        await plane.stop()
