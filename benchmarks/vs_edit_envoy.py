"""The bytes a real Envoy receives for one VirtualService edit, SotW and delta + VHDS.

Run through `python -m benchmarks.vs_edit_bytes --envoy`. One real Envoy per protocol
connects (plaintext) to the real ADS server serving the push benchmark mesh's client
snapshot; after it holds the config, one VirtualService changes, and the figure is the
growth of Envoy's own `cluster.xds-grpc.upstream_cx_rx_bytes_total` (what arrived on
its xDS connection: gRPC and HTTP/2 framing included) until it ACKed the change.
"""

from __future__ import annotations

import asyncio
import socket
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from prometheus_client import CollectorRegistry

from benchmarks.push_mesh import NAMESPACE, client_name, push_mesh
from translators.mesh import Workload
from translators.naming import proxy_node_id
from xdscp.bootstrap import bootstrap_config
from xdscp.cache import ROUTE_TYPE, Snapshot, SnapshotCache
from xdscp.local.envoy_process import admin_get, start_envoy, wait_ready
from xdscp.metrics import XdsMetrics
from xdscp.runtime import MeshRuntime
from xdscp.server import AdsSettings, AggregatedDiscoveryService, StaticResolver, StatusBook
from xdscp.server import serve as serve_ads
from xdscp.server.status import ProxyStatus
from xdscp.server.vhds import VIRTUAL_HOST_TYPE

RX_STAT = "cluster.xds-grpc.upstream_cx_rx_bytes_total"


def _rx_bytes(admin: str) -> int:
    status, body = admin_get(admin, f"/stats?filter=^{RX_STAT}$", timeout=30.0)
    if status != 200 or ":" not in body:
        raise RuntimeError(f"no {RX_STAT} from {admin}: {status} {body[:200]}")
    return int(body.split(":", 1)[1].strip())


async def _until(check: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        await asyncio.sleep(0.05)


async def envoy_edit_bytes(services: int) -> dict[str, int]:
    """protocol -> bytes Envoy received for the edit."""
    runtime = MeshRuntime(SnapshotCache())
    snapshots: list[Snapshot] = []
    workload: Workload | None = None
    for changed in (False, True):
        mesh = push_mesh(services, 1, changed)
        runtime.apply_now(mesh)
        workload = mesh.workload(NAMESPACE, client_name(0))
        assert workload is not None
        snapshots.append(runtime.snapshot_for(workload))
    assert workload is not None
    before, after = snapshots
    node_id = proxy_node_id(workload.address or "127.0.0.1", workload.name, workload.namespace)
    return {
        protocol: await _one(protocol, delta, workload, node_id, before, after)
        for protocol, delta in (("sotw", False), ("delta", True))
    }


async def _one(
    protocol: str, delta: bool, workload: Workload, node_id: str, before: Snapshot, after: Snapshot
) -> int:
    cache = SnapshotCache()
    cache.set(node_id, before)
    status = StatusBook(XdsMetrics(CollectorRegistry()))
    service = AggregatedDiscoveryService(cache, StaticResolver(cache), status, AdsSettings())
    server, port = await serve_ads(service, "127.0.0.1:0")
    admin_port = _free_port()
    bootstrap = bootstrap_config(
        workload, "127.0.0.1", port, admin_port, admin_address="127.0.0.1",
        stats_port=None, delta=delta,
    )  # fmt: skip
    admin = f"http://127.0.0.1:{admin_port}"
    changed_type = VIRTUAL_HOST_TYPE if delta else ROUTE_TYPE

    def proxy() -> ProxyStatus | None:
        return status.get(node_id)

    def synced() -> bool:
        found = proxy()
        return found is not None and changed_type in found.types and found.in_sync

    with tempfile.TemporaryDirectory(prefix="xdscp-vs-edit-") as work:
        envoy = start_envoy(protocol, bootstrap, Path(work), admin)
        try:
            await wait_ready(envoy, timeout=120.0)
            await _until(synced, f"{protocol}: the initial config ACKed")
            found = proxy()
            assert found is not None
            old = found.types[changed_type].version_acked
            await asyncio.sleep(0.5)
            rx = await asyncio.to_thread(_rx_bytes, admin)
            cache.set(node_id, after)
            await _until(
                lambda: synced() and found.types[changed_type].version_acked != old,
                f"{protocol}: the edit ACKed",
            )
            await asyncio.sleep(0.5)  # nothing else is on its way
            return await asyncio.to_thread(_rx_bytes, admin) - rx
        finally:
            envoy.stop()
            await server.stop(None)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
