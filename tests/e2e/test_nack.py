"""A resource Envoy rejects: the NACK is recorded and shown, sent once (never looped),
and traffic keeps flowing on the last good config. Runs the control plane in-process
so the test can inject the bad resource straight into the cache."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import http_get, version_of
from tests.e2e.injected import canary_mesh, inject_rejected_cluster

pytestmark = pytest.mark.e2e


def _cds(debug: str) -> dict[str, Any]:
    proxies = json.loads(http_get(f"{debug}/debug/proxies")[1])
    cds: dict[str, Any] = proxies["default/client"]["types"]["CDS"]
    return cds


async def test_nack_is_recorded_not_looped_and_traffic_keeps_flowing(tmp_path: Path) -> None:
    async with canary_mesh(tmp_path) as (plane, local):
        client = next(w for w in local.workloads if w.workload.name == "client")
        url = f"http://{client.outbound[0]}/"

        # A Cluster Envoy must reject (connect_timeout must be > 0).
        cds, broken = inject_rejected_cluster(plane, "default/client")

        async def nacked() -> dict[str, Any]:
            for _ in range(100):
                status = await asyncio.to_thread(_cds, plane.debug_url)
                if status.get("last_nack"):
                    return status
                await asyncio.sleep(0.05)
            raise AssertionError(f"no NACK recorded: {status}")

        status = await nacked()
        last_nack = status["last_nack"]
        assert isinstance(last_nack, dict)
        assert "positive duration" in last_nack["error"]
        assert last_nack["version"] == broken.version
        assert status["version_acked"] == cds.version  # Envoy still runs the good version
        pushes_after_nack = status["pushes"]

        # Not looped: no further CDS push while the content stays the same.
        await asyncio.sleep(2.0)
        assert (await asyncio.to_thread(_cds, plane.debug_url))["pushes"] == pushes_after_nack

        # Traffic keeps flowing on the old config.
        bodies = [(await asyncio.to_thread(http_get, url, "order-service"))[1] for _ in range(40)]
        versions = Counter(version_of(b) for b in bodies)
        assert versions["v1"] + versions["v2"] == 40, versions

        # A real change (the runtime republishes good content) is pushed and ACKed again.
        plane.runtime.apply_now(plane.source.load())
        for _ in range(100):
            status = await asyncio.to_thread(_cds, plane.debug_url)
            if status["version_acked"] == cds.version and status["pushes"] > pushes_after_nack:
                break
            await asyncio.sleep(0.05)
        assert status["pushes"] == pushes_after_nack + 1
        assert status["version_acked"] == cds.version
