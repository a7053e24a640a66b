"""The ADS server depends on the `SnapshotReader` protocol, not on `SnapshotCache`:
it serves and pushes from a store that is nothing but a dict and a condition."""

from __future__ import annotations

import ast
import asyncio
from pathlib import Path

import grpc
from prometheus_client import CollectorRegistry

from xdscp.cache import CLUSTER_TYPE, Snapshot
from xdscp.metrics import XdsMetrics
from xdscp.server import (
    AdsSettings,
    AggregatedDiscoveryService,
    SnapshotStore,
    StaticResolver,
    StatusBook,
    serve,
)

from .ads_client import DeltaClient, SotwClient, names_of
from .resources import mesh

SERVER = Path(__file__).resolve().parents[2] / "xdscp" / "server"


class DictSnapshots:
    """The smallest store there is: no interning, no shared parts, no `remove`."""

    def __init__(self) -> None:
        self.snapshots: dict[str, Snapshot] = {}
        self.generations: dict[str, int] = {}
        self.calls: set[str] = set()
        self._changed = asyncio.Condition()

    def get(self, proxy: str) -> Snapshot | None:
        self.calls.add("get")
        return self.snapshots.get(proxy)

    def generation(self, proxy: str) -> int:
        self.calls.add("generation")
        return self.generations.get(proxy, 0)

    async def wait_newer(self, proxy: str, seen_generation: int) -> int:
        self.calls.add("wait_newer")
        async with self._changed:
            await self._changed.wait_for(lambda: self.generation(proxy) > seen_generation)
        return self.generation(proxy)

    def set(self, proxy: str, snapshot: Snapshot) -> bool:
        self.snapshots[proxy] = snapshot
        self.generations[proxy] = self.generations.get(proxy, 0) + 1
        asyncio.get_running_loop().create_task(self._wake())
        return True

    async def _wake(self) -> None:
        async with self._changed:
            self._changed.notify_all()


async def test_server_serves_and_pushes_from_any_snapshot_reader() -> None:
    store: SnapshotStore = DictSnapshots()  # mypy checks the protocol is met
    assert isinstance(store, DictSnapshots)
    status = StatusBook(XdsMetrics(CollectorRegistry()))
    service = AggregatedDiscoveryService(
        store, StaticResolver(store), status, AdsSettings(first_request_timeout=5)
    )
    server, port = await serve(service, "127.0.0.1:0")
    channels = [grpc.aio.insecure_channel(f"127.0.0.1:{port}") for _ in range(2)]
    try:
        store.set("proxy-1", mesh())
        sotw = SotwClient(channels[0], "proxy-1")
        first = await sotw.subscribe(CLUSTER_TYPE)
        assert sorted(names_of(first)) == ["a", "b"]
        await sotw.ack(first)
        delta = DeltaClient(channels[1], "proxy-1")
        await delta.send(CLUSTER_TYPE, subscribe=["*"])
        assert sorted(r.name for r in (await delta.recv()).resources) == ["a", "b"]

        store.set("proxy-1", mesh(clusters=["a", "b", "c"]))  # a change is pushed to both
        pushed = await sotw.recv()
        assert sorted(names_of(pushed)) == ["a", "b", "c"]
        assert [r.name for r in (await delta.recv()).resources] == ["c"]
        assert store.calls == {"get", "generation", "wait_newer"}
    finally:
        for channel in channels:
            await channel.close(None)
        await server.stop(None)


def test_no_server_module_names_the_concrete_cache() -> None:
    named = []
    for path in sorted(SERVER.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (isinstance(node, ast.Name) and node.id == "SnapshotCache") or (
                isinstance(node, ast.alias) and node.name.endswith("SnapshotCache")
            ):
                named.append(f"{path.name}:{getattr(node, 'lineno', '?')}")
    assert named == []
