"""Watch recovery after API server restarts: with the production backoff settings, a
change made after each restart reaches the mesh within 2 s of the server being ready,
however many restarts came before and however long the server was down."""

from __future__ import annotations

import asyncio

from tests.kube.fakeapi import FakeKube
from tests.kube.helpers import running, vs_with_weights, weights
from tests.kube.meshes import cluster_docs
from translators.mesh import MeshOptions
from xdscp.kube.api import KubeApi
from xdscp.kube.reflector import WatchSettings
from xdscp.kube.source import KubernetesSource

# What `serve --kubernetes` uses (backoff 0.8 s doubling to 30 s), not the tests' FAST.
PRODUCTION = WatchSettings()
# Down for long enough that an unreset exponential backoff would be seconds late.
DOWNTIMES = (0.5, 3.5, 1.0, 3.5)


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
            v1 = 20 + round_
            kube.apply(vs_with_weights(v1, 100 - v1))
            while True:
                mesh = await updates.next(timeout=max(0.01, ready + 10 - loop.time()))
                if weights(mesh) == [v1, 100 - v1]:
                    break
            latencies.append(round(loop.time() - ready, 2))
    print("latencies after each restart (s):", latencies)
    assert max(latencies) < 2.0, latencies
    reflector = source.reflectors["VirtualService"]
    assert reflector.stats.failures >= len(DOWNTIMES)  # it really lost the server each time
    assert reflector.stats.consecutive_failures == 0  # and counts itself healthy again
