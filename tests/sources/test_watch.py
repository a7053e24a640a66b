"""DirectorySource.run: real filesystem events through watchfiles, debounced. Every wait
is bounded, so a watcher that misses events fails fast instead of hanging."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

from tests.sources.test_files import workload, write
from translators.mesh import MeshConfig
from xdscp.sources.files import DirectorySource

WAIT_S = 10.0


class Updates:
    """Collects the meshes `run` emits."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[MeshConfig] = asyncio.Queue()
        self.count = 0

    async def __call__(self, mesh: MeshConfig) -> None:
        self.count += 1
        await self.queue.put(mesh)

    async def next(self, timeout: float = WAIT_S) -> MeshConfig:
        return await asyncio.wait_for(self.queue.get(), timeout)

    async def quiet(self, for_s: float) -> list[MeshConfig]:
        """Every update until none arrives for `for_s` seconds."""
        out: list[MeshConfig] = []
        while True:
            try:
                out.append(await asyncio.wait_for(self.queue.get(), for_s))
            except TimeoutError:
                return out


@contextlib.asynccontextmanager
async def running(source: DirectorySource, root: Path) -> AsyncIterator[Updates]:
    """Run the source until the block ends; yield once its watcher provably sees changes
    (probe writes until one produces an update), with the queue drained."""
    updates = Updates()
    stop = asyncio.Event()
    task = asyncio.create_task(source.run(updates, stop))
    try:
        await updates.next()  # the initial mesh
        deadline = time.monotonic() + WAIT_S
        while True:
            assert time.monotonic() < deadline, "the watcher never reported a change"
            (root / "probe.txt").write_text(str(time.monotonic()))
            try:
                await updates.next(timeout=0.5)
                break
            except TimeoutError:
                continue
        await updates.quiet(0.5)
        updates.count = 0
        yield updates
    finally:
        stop.set()
        try:
            await asyncio.wait_for(task, WAIT_S)
        except TimeoutError:
            task.cancel()
            raise


async def test_initial_load_then_an_edit_is_picked_up(tmp_path: Path) -> None:
    path = tmp_path / "mesh.yaml"
    write(path, workload("a", "10.0.0.1"))
    source = DirectorySource(tmp_path, quiet_ms=50, max_wait_ms=500)
    async with running(source, tmp_path) as updates:
        write(path, workload("a", "10.0.0.2"))
        mesh = await updates.next()
        assert mesh.workloads["default/a"].address == "10.0.0.2"

        write(tmp_path / "sub" / "new.yaml", workload("b", "10.0.0.3"))
        mesh = await updates.next()
        assert set(mesh.workloads) == {"default/a", "default/b"}


async def test_a_burst_of_writes_becomes_few_updates(tmp_path: Path) -> None:
    path = tmp_path / "mesh.yaml"
    write(path, workload("a", "10.0.0.1"))
    source = DirectorySource(tmp_path, quiet_ms=150, max_wait_ms=2000)
    async with running(source, tmp_path) as updates:
        for i in range(2, 22):  # 20 writes, ~10 ms apart, well inside the quiet window
            write(path, workload("a", f"10.0.0.{i}"))
            await asyncio.sleep(0.01)
        meshes = await updates.quiet(1.0)
    assert 1 <= len(meshes) <= 3, f"{len(meshes)} updates for one burst"
    assert meshes[-1].workloads["default/a"].address == "10.0.0.21"


async def test_a_broken_edit_is_reported_and_the_object_kept(tmp_path: Path) -> None:
    path = tmp_path / "mesh.yaml"
    write(path, workload("a", "10.0.0.1"))
    source = DirectorySource(tmp_path, quiet_ms=50, max_wait_ms=500)
    async with running(source, tmp_path) as updates:
        write(path, "apiVersion: networking.istio.io/v1\nkind: [\n")
        broken = await updates.next()
        assert broken.workloads["default/a"].address == "10.0.0.1"
        assert "YAML syntax error" in broken.errors[0].message
        write(path, workload("a", "10.0.0.9"))
        fixed = await updates.next()
        assert fixed.errors == ()
        assert fixed.workloads["default/a"].address == "10.0.0.9"


async def test_run_without_initial_emits_only_changes(tmp_path: Path) -> None:
    write(tmp_path / "mesh.yaml", workload("a", "10.0.0.1"))
    source = DirectorySource(tmp_path, quiet_ms=50, max_wait_ms=500)
    updates = Updates()
    stop = asyncio.Event()
    task = asyncio.create_task(source.run(updates, stop, initial=False))
    try:
        deadline = time.monotonic() + WAIT_S
        n = 2
        staging = tmp_path.parent / f"{tmp_path.name}-staging"
        while updates.count == 0:  # the watcher starts asynchronously: retry the edit
            assert time.monotonic() < deadline, "no update"
            # replaced whole (a rename): an in-place write could be read half-written
            # when a loaded machine stalls it past the settle time (seen under load)
            write(staging / "mesh.yaml", workload("a", f"10.0.0.{n}"))
            (staging / "mesh.yaml").replace(tmp_path / "mesh.yaml")
            n += 1
            await asyncio.sleep(0.3)
        mesh = await updates.next()
        assert mesh.workloads["default/a"].address.startswith("10.0.0.")
        assert mesh.workloads["default/a"].address != "10.0.0.1"
    finally:
        stop.set()
        await asyncio.wait_for(task, WAIT_S)
