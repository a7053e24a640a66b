"""A dead config watcher is a health signal, not a log line: `/ready` is 503 with the
reason, `xdscp_config_source_up` is 0, `/debug/config` says why — and the mesh in force
stays (a vanished directory is not an empty mesh) until the watcher is back."""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from xdscp.service import ControlPlane

REPO = Path(__file__).resolve().parents[2]
WAIT_S = 20.0


@pytest.fixture
async def plane(tmp_path: Path) -> AsyncIterator[ControlPlane]:
    config = tmp_path / "mesh"
    shutil.copytree(REPO / "examples" / "canary", config)
    control = ControlPlane(config, listen="127.0.0.1:0", debug_listen="127.0.0.1:0", insecure=True)
    await control.start()
    try:
        yield control
    finally:
        await control.stop()


async def get(plane: ControlPlane, path: str) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{plane.debug_url}{path}") as response,
    ):
        text = await response.text()
        return response.status, json.loads(text) if path != "/metrics" else text


async def eventually(plane: ControlPlane, path: str, predicate: Any) -> Any:
    deadline = time.monotonic() + WAIT_S
    while True:
        status, body = await get(plane, path)
        if predicate(status, body):
            return body
        assert time.monotonic() < deadline, (status, body)
        await asyncio.sleep(0.1)


async def test_a_vanished_directory_is_unready_keeps_the_mesh_and_recovers(
    plane: ControlPlane, tmp_path: Path
) -> None:
    config = plane.config_dir
    status, ready = await get(plane, "/ready")
    assert (status, ready["ready"]) == (200, True)
    kept = sorted((await get(plane, "/debug/config"))[1]["objects"])
    assert len(kept) == 8
    # the volume goes away
    shutil.move(config, tmp_path / "elsewhere")
    ready = await eventually(plane, "/ready", lambda code, _: code == 503)
    assert "does not exist" in ready["reason"]
    _, metrics = await get(plane, "/metrics")
    assert "xdscp_config_source_up 0.0" in metrics
    _, status_body = await get(plane, "/debug/config")
    assert status_body["source"]["up"] is False
    assert sorted(status_body["objects"]) == kept  # not an empty mesh
    # it comes back, with a change made meanwhile: read as soon as the watcher restarts
    routing = tmp_path / "elsewhere" / "routing.yaml"
    routing.write_text(routing.read_text().replace("weight: 90", "weight: 60", 1))
    shutil.move(tmp_path / "elsewhere", config)
    await eventually(plane, "/ready", lambda code, _: code == 200)

    def weights() -> list[int]:
        assert plane.runtime.mesh is not None
        (vs,) = plane.runtime.mesh.of_kind("VirtualService")
        return [d.weight for d in vs.spec.http[0].route]

    deadline = time.monotonic() + WAIT_S
    while weights() != [60, 10]:
        assert time.monotonic() < deadline, weights()
        await asyncio.sleep(0.1)
    # and it watches again
    routing = config / "routing.yaml"
    routing.write_text(routing.read_text().replace("weight: 60", "weight: 70", 1))
    deadline = time.monotonic() + WAIT_S
    while weights() != [70, 10]:
        assert time.monotonic() < deadline, weights()
        await asyncio.sleep(0.1)
