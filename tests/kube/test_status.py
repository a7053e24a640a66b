"""Status write-back through the status subresource: validation results and NACKs land
on the objects they belong to, only the leader writes, a steady mesh writes nothing,
and conflicts / deleted objects are survived."""

from __future__ import annotations

import asyncio
import contextlib
import copy
from collections.abc import AsyncIterator
from typing import Any

from tests.kube.conftest import FAST
from tests.kube.fakeapi import FakeKube
from tests.kube.helpers import eventually
from tests.kube.meshes import cluster_docs
from translators.mesh import MeshConfig, MeshOptions
from translators.naming import ROUTE_TYPE
from xdscp.kube.api import KubeApi
from xdscp.kube.status import StatusWriter
from xdscp.server.status import NackRecord
from xdscp.sources.kubernetes import KubernetesSource

VS = ("VirtualService", "default", "order-service-routing")
DR = ("DestinationRule", "default", "order-service-subsets")


def conditions(kube: FakeKube, kind: str, namespace: str, name: str) -> dict[str, dict[str, Any]]:
    obj = kube.get(kind, namespace, name) or {}
    return {c["type"]: c for c in (obj.get("status") or {}).get("conditions") or []}


class Harness:
    def __init__(self, kube: FakeKube, api: KubeApi) -> None:
        self.kube = kube
        self.source = KubernetesSource(api, MeshOptions(), watch=FAST)
        self.leader = True
        self.nacks: list[NackRecord] = []
        self.writer = StatusWriter(
            api, self.source, lambda: self.leader, lambda: list(self.nacks), settle=0.02
        )

    async def on_update(self, mesh: MeshConfig) -> None:
        self.writer.mesh_updated(mesh)


@contextlib.asynccontextmanager
async def running(kube: FakeKube, api: KubeApi) -> AsyncIterator[Harness]:
    kube.apply_all(cluster_docs())
    harness = Harness(kube, api)
    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(harness.source.run(harness.on_update, stop)),
        asyncio.create_task(harness.writer.run(stop)),
    ]
    try:
        yield harness
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 10)


def nack(provenance: tuple[str, ...]) -> NackRecord:
    return NackRecord(
        proxy="default/client",
        node_id="sidecar~10.244.0.10~client.default~default.svc.cluster.local",
        type_url=ROUTE_TYPE,
        version="v7",
        nonce="n7",
        error="Proto constraint validation failed: weighted_clusters sum is 0",
        time=0.0,
        provenance=provenance,
        resources=("8080",),
    )


async def test_valid_objects_are_accepted_and_a_steady_mesh_writes_nothing(
    kube: FakeKube, api: KubeApi
) -> None:
    async with running(kube, api) as h:
        for ref in (VS, DR):

            def written(ref: tuple[str, str, str] = ref) -> bool:
                return "Accepted" in conditions(kube, *ref)

            await eventually(written)
            found = conditions(kube, *ref)
            assert found["Accepted"]["status"] == "True"
            assert found["Applied"]["status"] == "True"
            assert found["Accepted"]["observedGeneration"] == 1
        await eventually(lambda: h.writer.writes == 4)  # VS, DR, 2 Sidecars
        version = kube.rv
        h.writer.poke()
        await asyncio.sleep(0.3)
        assert h.writer.writes == 4 and kube.rv == version  # nothing rewritten
        vs = kube.get(*VS)
        assert vs is not None and vs["metadata"]["generation"] == 1  # status is not spec
        patches = [r for r in kube.requests if r[0] == "PATCH"]
        assert patches and all(p[1].endswith("/status") for p in patches)


async def test_an_invalid_object_says_why_and_recovers(kube: FakeKube, api: KubeApi) -> None:
    async with running(kube, api):
        await eventually(lambda: "Accepted" in conditions(kube, *VS))
        broken = copy.deepcopy(next(d for d in cluster_docs() if d["kind"] == "VirtualService"))
        broken["spec"]["http"][0]["route"][0]["weight"] = -1
        kube.apply(broken)
        await eventually(lambda: conditions(kube, *VS)["Accepted"]["status"] == "False")
        accepted = conditions(kube, *VS)["Accepted"]
        assert accepted["reason"] == "Invalid"
        assert "spec.http[0].route[0].weight" in accepted["message"]
        assert accepted["observedGeneration"] == 2
        assert conditions(kube, *DR)["Accepted"]["status"] == "True"  # rejected alone
        fixed = copy.deepcopy(broken)
        fixed["spec"]["http"][0]["route"][0]["weight"] = 80
        fixed["spec"]["http"][0]["route"][1]["weight"] = 20
        kube.apply(fixed)
        await eventually(lambda: conditions(kube, *VS)["Accepted"]["status"] == "True")


async def test_a_nack_is_written_to_the_objects_in_its_provenance(
    kube: FakeKube, api: KubeApi
) -> None:
    async with running(kube, api) as h:
        await eventually(lambda: "Applied" in conditions(kube, *DR))
        h.nacks.append(nack(("VirtualService/default/order-service-routing",)))
        h.writer.on_nack(h.nacks[-1])
        await eventually(lambda: conditions(kube, *VS)["Applied"]["status"] == "False")
        applied = conditions(kube, *VS)["Applied"]
        assert applied["reason"] == "ProxyRejected"
        assert "default/client" in applied["message"] and "weighted_clusters" in applied["message"]
        assert conditions(kube, *DR)["Applied"]["status"] == "True"
        h.nacks.clear()  # the proxy ACKed a later version
        h.writer.poke()
        await eventually(lambda: conditions(kube, *VS)["Applied"]["status"] == "True")


async def test_only_the_leader_writes(kube: FakeKube, api: KubeApi) -> None:
    kube.apply_all(cluster_docs())
    harness = Harness(kube, api)
    harness.leader = False
    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(harness.source.run(harness.on_update, stop)),
        asyncio.create_task(harness.writer.run(stop)),
    ]
    try:
        await asyncio.sleep(0.4)
        assert not [r for r in kube.requests if r[0] == "PATCH"]
        harness.leader = True  # won the election
        harness.writer.poke()
        await eventually(lambda: "Accepted" in conditions(kube, *VS))
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 10)


async def test_conflicts_and_deleted_objects_are_survived(kube: FakeKube, api: KubeApi) -> None:
    kube.fail("PATCH", "/virtualservices/", 409, times=2, reason="Conflict")
    async with running(kube, api) as h:
        await eventually(lambda: "Accepted" in conditions(kube, *DR))
        await eventually(lambda: "Accepted" in conditions(kube, *VS))  # retried after 409s
        # an object deleted between the mesh and the write is skipped, not an error
        mesh = h.source.load()
        kube.delete(*DR)
        h.writer.mesh_updated(mesh)
        assert await h.writer.reconcile() >= 0
