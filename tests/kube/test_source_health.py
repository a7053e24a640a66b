"""Failing Kubernetes watches are a health signal: after `degraded_after` the source is
degraded (`xdscp_config_source_up` 0, `/debug/config` and `xdscp proxy-status` name the
failing type and error) while `/ready` stays 200 and xDS keeps serving the last good
mesh; when the watches recover, so does the health."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import re
import time
from collections.abc import AsyncIterator, MutableMapping
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import structlog.testing
from click.testing import CliRunner

from tests.kube.conftest import FAST
from tests.kube.fakeapi import FakeKube
from tests.kube.meshes import cluster_docs, namespace
from tests.kube.test_plane import node
from tests.protocol.ads_client import SotwClient, names_of
from xdscp.cli import main
from xdscp.kube.health import log_health_changes
from xdscp.kube.plane import KubeControlPlane, KubeSettings
from xdscp.sources.health import SourceHealth

NS = "xdscp-system"
CDS = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
DEGRADED_AFTER_S = 1.0
# The bound: degraded after `DEGRADED_AFTER_S`, plus retries of at most FAST's 0.2 s.
WAIT_S = 8.0


@contextlib.asynccontextmanager
async def cluster_plane(kube: FakeKube, tmp_path: Path) -> AsyncIterator[KubeControlPlane]:
    kube.apply_all([namespace(NS), *cluster_docs()])
    settings = KubeSettings(
        kubeconfig=kube.kubeconfig(tmp_path / "kubeconfig"),
        namespace=NS,
        identity="replica-a",
        listen="127.0.0.1:0",
        debug_listen="127.0.0.1:0",
        cert_listen=None,
        ca_dir=tmp_path / "ca",
        insecure=True,
        watch=dataclasses.replace(FAST, degraded_after=DEGRADED_AFTER_S),
        lease_duration=2.0,
        renew_deadline=1.5,
        retry_period=0.1,
    )
    plane = KubeControlPlane(settings)
    try:
        await asyncio.wait_for(plane.start(sync_timeout=10), 20)
        yield plane
    finally:
        await asyncio.wait_for(plane.stop(), 20)


async def get(plane: KubeControlPlane, path: str) -> tuple[int, Any]:
    assert plane.plane is not None
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{plane.plane.debug_url}{path}") as response,
    ):
        text = await response.text()
        return response.status, text if path == "/metrics" else json.loads(text)


async def source_up(plane: KubeControlPlane) -> float:
    _, metrics = await get(plane, "/metrics")
    (line,) = [m for m in metrics.splitlines() if m.startswith("xdscp_config_source_up ")]
    return float(line.split()[1])


async def until_source_up(plane: KubeControlPlane, value: float) -> float:
    """Seconds until the gauge reads `value` (fails after WAIT_S)."""
    started = time.monotonic()
    while await source_up(plane) != value:
        assert time.monotonic() - started < WAIT_S, f"xdscp_config_source_up never {value}"
        await asyncio.sleep(0.05)
    return time.monotonic() - started


_LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\S+ \[\s*(debug|info|warning|error|critical)\s*\]")


async def proxy_status(plane: KubeControlPlane) -> str:
    """The real CLI, in a thread: it talks HTTP to the plane running on this loop."""
    assert plane.plane is not None
    args = ["proxy-status", "--server", plane.plane.debug_url]
    result = await asyncio.to_thread(CliRunner().invoke, main, args)
    assert result.exit_code == 0, result.output
    # CliRunner swaps this process's stdout while it runs: a log line the plane (on this
    # loop) writes meanwhile lands in the capture. Keep only the command's own output.
    return "".join(
        line for line in result.output.splitlines(keepends=True) if not _LOG_LINE.match(line)
    )


async def served_clusters(plane: KubeControlPlane) -> list[str]:
    """What a sidecar of default/order-v1 gets over ADS right now."""
    assert plane.plane is not None
    host, port = plane.plane.xds_address
    async with grpc.aio.insecure_channel(f"{host}:{port}") as channel:
        client = SotwClient(channel)
        client.node = node("default", "order-v1")
        try:
            return sorted(names_of(await client.subscribe(CDS)))
        finally:
            await client.close()


async def assert_healthy(plane: KubeControlPlane) -> None:
    status, ready = await get(plane, "/ready")
    assert (status, ready["ready"], ready["reason"]) == (200, True, ""), ready
    _, config = await get(plane, "/debug/config")
    assert config["source"]["up"] is True and config["source"]["reason"] == ""
    assert "CONFIG SOURCE" not in await proxy_status(plane)


async def test_an_unreachable_api_server_degrades_health_keeps_serving_and_recovers(
    kube: FakeKube, tmp_path: Path
) -> None:
    async with cluster_plane(kube, tmp_path) as plane:
        assert await source_up(plane) == 1.0
        await assert_healthy(plane)
        clusters = await served_clusters(plane)
        assert clusters, "the sidecar got no clusters at all"

        await kube.stop()
        took = await until_source_up(plane, 0.0)
        print(f"degraded {took:.2f} s after the API server stopped")
        assert took >= DEGRADED_AFTER_S * 0.9  # not before the bound: a blip is quiet
        # still ready: proxies must reach it for the last good config
        status, ready = await get(plane, "/ready")
        assert (status, ready["ready"]) == (200, True), ready
        assert ready["reason"].startswith("degraded: "), ready
        assert " watch failing since " in ready["reason"], ready
        _, config = await get(plane, "/debug/config")
        source = config["source"]
        assert (source["up"], source["ready"]) == (False, True)
        assert source["reason"] == ready["reason"] or source["reason"].startswith("degraded: ")
        failing_kind = source["reason"].split()[1]
        assert failing_kind in {
            "VirtualService",
            "Service",
            "Pod",
            "Namespace",
            "EndpointSlice",
            "DestinationRule",
            "ServiceEntry",
            "WorkloadEntry",
            "Sidecar",
            "PeerAuthentication",
            "AuthorizationPolicy",
            "RequestAuthentication",
            "Telemetry",
        }
        output = await proxy_status(plane)
        first = output.splitlines()[0]
        assert first.startswith("CONFIG SOURCE DEGRADED: degraded: "), output
        assert "watch failing since" in first, output
        # xDS serves the last good mesh, to a proxy that connects only now
        assert await served_clusters(plane) == clusters

        await kube.start(kube.port)
        took = await until_source_up(plane, 1.0)
        print(f"healthy {took:.2f} s after the API server was back")
        assert took < 2.0  # reconnect within reconnect_max (1 s) + a retry
        await assert_healthy(plane)


async def test_one_forbidden_type_degrades_the_source_and_names_it(
    kube: FakeKube, tmp_path: Path
) -> None:
    """RBAC lacking one kind: the API server answers, every other type is fine."""
    async with cluster_plane(kube, tmp_path) as plane:
        kube.fail("GET", "/virtualservices", 403, times=10**6, reason="Forbidden")
        kube.drop_watches()  # the VirtualService watch resumes, and is refused from now on
        await until_source_up(plane, 0.0)
        status, ready = await get(plane, "/ready")
        assert (status, ready["ready"]) == (200, True), ready
        reason = ready["reason"]
        assert reason.startswith("degraded: VirtualService watch failing since "), reason
        assert "Forbidden" in reason and "more:" not in reason, reason  # that type alone
        assert "VirtualService watch failing" in (await proxy_status(plane)).splitlines()[0]

        kube.faults.clear()
        await until_source_up(plane, 1.0)
        await assert_healthy(plane)


class _Settable(SourceHealth):
    def __init__(self) -> None:
        super().__init__()
        self.reason = ""
        self.loaded_initially()

    def degraded(self) -> str:
        return self.reason


async def _until_logged(
    logs: list[MutableMapping[str, Any]], event: str, timeout_s: float = 10.0
) -> None:
    async with asyncio.timeout(timeout_s):
        while not any(entry["event"] == event for entry in logs):
            await asyncio.sleep(0.005)


async def test_health_changes_are_logged_once_each() -> None:
    """Not once per failed retry: one line when degraded, one when recovered."""
    health, stop = _Settable(), asyncio.Event()
    with structlog.testing.capture_logs() as logs:
        task = asyncio.create_task(log_health_changes(health, stop, every_s=0.01))
        health.reason = "degraded: Pod watch failing since 2026-01-01T00:00:00Z: boom"
        await _until_logged(logs, "kube.source_degraded")
        health.reason = "degraded: Pod watch failing since 2026-01-01T00:00:00Z: boom again"
        await asyncio.sleep(0.1)  # about ten checks of the changed reason
        health.reason = ""
        # waited for, not slept: on a loaded machine a fixed sleep can end before the
        # logger's next check, and the stop then wins the race
        await _until_logged(logs, "kube.source_recovered")
        stop.set()
        await asyncio.wait_for(task, 2)
    events = [(e["event"], e.get("reason", e.get("was"))) for e in logs]
    assert events == [
        ("kube.source_degraded", "degraded: Pod watch failing since 2026-01-01T00:00:00Z: boom"),
        (
            "kube.source_recovered",
            "degraded: Pod watch failing since 2026-01-01T00:00:00Z: boom",
        ),
    ], events
