"""Config change -> all affected proxies ACKed: one histogram sample per generation, when
the last proxy ACKs, or when the timeout passes for a proxy that never does."""

from __future__ import annotations

import asyncio
import time

from prometheus_client import generate_latest

from xdscp.cache import CLUSTER_TYPE

from .conftest import Harness
from .resources import mesh


def _sample(ads: Harness, name: str) -> float:
    value = ads.metrics.registry.get_sample_value(name)
    return 0.0 if value is None else value


async def _until(predicate: object, timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        await asyncio.sleep(0.01)
    return False


async def test_generation_is_observed_once_the_changed_proxy_acks(ads: Harness) -> None:
    ads.cache.set("proxy-1", mesh())
    client = ads.sotw()
    await client.subscribe(CLUSTER_TYPE)
    ads.cache.set("proxy-1", mesh(clusters=["a", "b", "c"]))
    ads.status.propagation.started(
        7, time.monotonic(), {"proxy-1": ads.cache.generation("proxy-1")}
    )
    pushed = await client.recv()
    await asyncio.sleep(0.1)
    # pushed but not acknowledged: still open
    assert _sample(ads, "xdscp_config_propagation_seconds_count") == 0
    assert ads.status.propagation.waiting() == {7: ["proxy-1"]}
    await client.ack(pushed)
    assert await _until(lambda: _sample(ads, "xdscp_config_propagation_seconds_count") == 1)
    assert ads.status.propagation.waiting() == {}
    assert _sample(ads, "xdscp_config_generation") == 7
    assert _sample(ads, "xdscp_config_propagation_timeouts_total") == 0
    assert b"_created" not in generate_latest(ads.metrics.registry)


async def test_a_nacking_proxy_closes_its_generation_at_the_timeout(ads: Harness) -> None:
    ads.status.propagation.timeout = 0.3
    ads.cache.set("proxy-1", mesh())
    client = ads.sotw()
    good = await client.subscribe(CLUSTER_TYPE)
    ads.cache.set("proxy-1", mesh(clusters=["a", "broken"]))
    ads.status.propagation.started(
        2, time.monotonic(), {"proxy-1": ads.cache.generation("proxy-1")}
    )
    pushed = await client.recv()
    await client.send(
        CLUSTER_TYPE, version=good.version_info, nonce=pushed.nonce, error="cluster broken: bad"
    )
    await asyncio.sleep(0.1)
    assert _sample(ads, "xdscp_config_propagation_seconds_count") == 0
    assert await _until(lambda: _sample(ads, "xdscp_config_propagation_timeouts_total") == 1)
    assert _sample(ads, "xdscp_config_propagation_seconds_count") == 1
    assert ads.status.propagation.waiting() == {}


async def test_an_unchanged_or_disconnected_proxy_does_not_hold_a_generation(ads: Harness) -> None:
    ads.status.propagation.started(3, time.monotonic(), {"gone-proxy": 5})
    # nobody to wait for: nothing was propagated either, so no sample and no open entry
    assert ads.status.propagation.waiting() == {}
    assert _sample(ads, "xdscp_config_propagation_seconds_count") == 0
