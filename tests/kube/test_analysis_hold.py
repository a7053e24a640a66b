"""A cluster change holds the background analysis from its first watch event until it
is applied and pushed, as a file change does in file mode (`DirectorySource.on_batch`):
the change's load and translation do not share the interpreter with a running analysis."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.kube.conftest import FAST
from tests.kube.fakeapi import FakeKube
from tests.kube.helpers import eventually, running, vs_with_weights, weights
from tests.kube.meshes import cluster_docs, namespace
from tests.kube.test_plane import NS, control_plane, settings
from translators.mesh import MeshConfig, MeshOptions
from xdscp.kube.api import KubeApi
from xdscp.sources.kubernetes import KubernetesSource


async def test_a_bursts_first_watch_event_is_told_before_its_mesh(
    kube: FakeKube, api: KubeApi
) -> None:
    kube.apply_all(cluster_docs())
    source = KubernetesSource(api, MeshOptions(), quiet_ms=300, watch=FAST)
    told: list[float] = []
    source.on_batch = lambda: told.append(asyncio.get_running_loop().time())
    async with running(source) as updates:
        await updates.next()  # the rebuild for the initial sync's own burst
        told.clear()
        loop = asyncio.get_running_loop()
        applied = loop.time()
        for weight in range(60, 70):  # one burst: one notice, at its first event
            kube.apply(vs_with_weights(weight, 100 - weight))
        await updates.until(lambda m: weights(m) == [69, 31])
        built = loop.time()
        assert len(told) == 1, told
        # told as the event arrived, not after the burst's quiet period (300 ms)
        assert told[0] - applied < built - applied - 0.25, (told, applied, built)
        kube.apply(vs_with_weights(50, 50))  # the next burst is told again
        await updates.until(lambda m: weights(m) == [50, 50])
        assert len(told) == 2, told


async def test_a_watch_event_holds_the_analysis_until_its_change_is_applied(
    kube: FakeKube, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kube.apply_all([namespace(NS), *cluster_docs()])
    async with control_plane(settings(kube, tmp_path, "replica-a")) as cp:
        assert cp.plane is not None and cp.source is not None
        analyzer = cp.plane.analyzer
        source = cp.source
        load = source.load
        held_at_load: list[tuple[bool, list[int]]] = []

        def observed_load() -> MeshConfig:
            """The source builds the change's mesh: is the analysis held by then?"""
            held = not analyzer._running.is_set()
            mesh = load()
            held_at_load.append((held, weights(mesh)))
            return mesh

        monkeypatch.setattr(source, "load", observed_load)
        await eventually(analyzer._running.is_set)  # the start's holds released
        kube.apply(vs_with_weights(50, 50))
        await eventually(lambda: any(w == [50, 50] for _, w in held_at_load))
        first = next(held for held, w in held_at_load if w == [50, 50])
        assert first, held_at_load  # held from the watch event, before the load
        # and released once the change is applied (no proxy to acknowledge it here)
        await eventually(analyzer._running.is_set)
