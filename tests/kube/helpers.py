"""Bounded waiting, running a source, and comparing meshes by meaning."""

from __future__ import annotations

import asyncio
import contextlib
import copy
from collections.abc import AsyncIterator, Callable
from typing import Any

from google.protobuf import json_format

from tests.kube.meshes import cluster_docs
from translators.mesh import MeshConfig, Workload
from translators.naming import PROVENANCE_KEY
from translators.translate import MeshTranslator
from xdscp.sources.kubernetes import KubernetesSource

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


def weights(mesh: MeshConfig) -> list[int]:
    (vs,) = mesh.of_kind("VirtualService")
    return [d.weight for d in vs.spec.http[0].route]


def vs_with_weights(v1: int, v2: int) -> dict[str, Any]:
    doc = copy.deepcopy(next(d for d in cluster_docs() if d["kind"] == "VirtualService"))
    route = doc["spec"]["http"][0]["route"]
    route[0]["weight"], route[1]["weight"] = v1, v2
    return doc


@contextlib.asynccontextmanager
async def running(source: KubernetesSource) -> AsyncIterator[Updates]:
    """The source's run loop, yielded once its initial mesh is out; stopped on exit."""
    updates = Updates()
    stop = asyncio.Event()
    task = asyncio.create_task(source.run(updates, stop))
    try:
        await updates.next()  # the initial mesh
        yield updates
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
