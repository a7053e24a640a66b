"""Watch recovery after API server restarts: with the production backoff settings, a
change made after each restart reaches the mesh within 2 s of the server being ready,
however many restarts came before and however long the server was down."""

from __future__ import annotations

import asyncio

from tests.kube.fakeapi import FakeKube
from tests.kube.helpers import Updates, running, vs_with_weights, weights
from tests.kube.meshes import cluster_docs
from translators.mesh import MeshOptions
from xdscp.kube.api import KubeApi
from xdscp.kube.reflector import WatchSettings
from xdscp.sources.kubernetes import KubernetesSource

# What `serve --kubernetes` uses (backoff 0.8 s doubling to 30 s), not the tests' FAST.
PRODUCTION = WatchSettings()
# Down for long enough that an unreset exponential backoff would be seconds late.
DOWNTIMES = (0.5, 3.5, 1.0, 3.5)


async def weights_arrive(kube: FakeKube, updates: Updates, v1: int, since: float) -> float:
    """Apply weights v1/100-v1 to the VirtualService and wait (10 s from `since`, loop
    time) for a mesh carrying them: the seconds since `since`, rounded to 10 ms."""
    loop = asyncio.get_running_loop()
    kube.apply(vs_with_weights(v1, 100 - v1))
    while True:
        mesh = await updates.next(timeout=max(0.01, since + 10 - loop.time()))
        if weights(mesh) == [v1, 100 - v1]:
            return round(loop.time() - since, 2)


async def test_changes_arrive_within_2s_after_every_restart(kube: FakeKube, api: KubeApi) -> None:
    kube.apply_all(cluster_docs())
    source = KubernetesSource(api, MeshOptions(), watch=PRODUCTION)
    await source.start(sync_timeout=10)
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    async with running(source) as updates:
        for round_, down in enumerate(DOWNTIMES):
            await kube.stop()
            await asyncio.sleep(down)
            await kube.start(kube.port)
            ready = loop.time()
            latencies.append(await weights_arrive(kube, updates, 20 + round_, ready))
    print("latencies after each restart (s):", latencies)
    assert max(latencies) < 2.0, latencies
    reflector = source.reflectors["VirtualService"]
    assert reflector.stats.failures >= len(DOWNTIMES)  # it really lost the server each time
    assert reflector.stats.consecutive_failures == 0  # and counts itself healthy again


async def test_backoff_after_answered_errors_starts_afresh_each_time(
    kube: FakeKube, api: KubeApi
) -> None:
    """A restarting API server also answers errors (503) before it serves again. The
    backoff they cause must start from its initial delay each time: once it was never
    reset, so after a few episodes a change took 35-50 s to arrive (5.7 s the first)."""
    kube.apply_all(cluster_docs())
    source = KubernetesSource(api, MeshOptions(), watch=PRODUCTION)
    await source.start(sync_timeout=10)
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    async with running(source) as updates:
        for round_ in range(3):
            kube.fail("GET", "/virtualservices", 503, times=1, watch=True)
            started = loop.time()
            kube.drop_watches()
            latencies.append(await weights_arrive(kube, updates, 30 + round_, started))
    # Each round is up to two failures (the dropped watch, the 503): 0.8 + 1.6 s (+-20 %)
    # every time. Unreset, the second round alone waits 3.2 + 6.4 s, the third 25.6 s.
    assert max(latencies) < 5.0, latencies
    assert source.reflectors["VirtualService"].stats.failures >= 3  # the injected 503s
