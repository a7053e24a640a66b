"""Bounded waiting and comparing meshes by meaning."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from google.protobuf import json_format

from translators.mesh import MeshConfig, Workload
from translators.naming import PROVENANCE_KEY
from translators.translate import MeshTranslator

WAIT_S = 10.0


async def eventually(predicate: Callable[[], bool], timeout: float = WAIT_S) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


class Updates:
    """Collects the meshes `run` emits."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[MeshConfig] = asyncio.Queue()
        self.count = 0
        self.last: MeshConfig | None = None

    async def __call__(self, mesh: MeshConfig) -> None:
        self.count += 1
        self.last = mesh
        await self.queue.put(mesh)

    async def next(self, timeout: float = WAIT_S) -> MeshConfig:
        return await asyncio.wait_for(self.queue.get(), timeout)

    async def until(self, predicate: Callable[[MeshConfig], bool]) -> MeshConfig:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WAIT_S
        while True:
            mesh = await self.next(max(0.01, deadline - loop.time()))
            if predicate(mesh):
                return mesh


def _strip_provenance(value: Any) -> Any:
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key == "filterMetadata":
                item = {k: v for k, v in item.items() if k != PROVENANCE_KEY}
                if not item:
                    continue
            out[key] = _strip_provenance(item)
        return {k: v for k, v in out.items() if v != {} or k != "metadata"}
    if isinstance(value, list):
        return [_strip_provenance(v) for v in value]
    return value


def envoy_meaning(mesh: MeshConfig, workload: Workload) -> dict[str, dict[str, Any]]:
    """Every Envoy resource a workload's sidecar gets, as JSON without provenance (which
    names the source objects and so differs between a Service and a ServiceEntry)."""
    translated = MeshTranslator(mesh).translate(workload)
    return {
        f"{r.type_url.rsplit('.', 1)[-1]}/{r.name}": _strip_provenance(
            json_format.MessageToDict(r.message)
        )
        for r in translated.resources
    }
