"""Lease leader election against the fake API server: one leader among racing candidates,
resourceVersion conflicts, a leader that loses the API server steps down before a
successor takes over, a stolen lease, and release on shutdown."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from tests.kube.fakeapi import FakeKube
from tests.kube.helpers import eventually
from xdscp.kube.api import KubeApi
from xdscp.kube.errors import KubeUnavailable
from xdscp.kube.leader import LeaderElector, LeaseSettings, micro_time

NS = "xdscp-system"


def settings(identity: str, **overrides: Any) -> LeaseSettings:
    values: dict[str, Any] = {
        "namespace": NS,
        "identity": identity,
        "lease_duration": 0.6,
        "renew_deadline": 0.4,
        "retry_period": 0.05,
    }
    values.update(overrides)
    return LeaseSettings(**values)


@contextlib.asynccontextmanager
async def electing(electors: list[LeaderElector]) -> AsyncIterator[asyncio.Event]:
    stop = asyncio.Event()
    tasks = [asyncio.create_task(e.run(stop)) for e in electors]
    try:
        yield stop
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 10)


async def watch_overlap(electors: list[LeaderElector], seconds: float) -> int:
    """The most leaders seen at once while sampling for `seconds`."""
    most = 0
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while loop.time() < end:
        most = max(most, sum(e.is_leader for e in electors))
        await asyncio.sleep(0.005)
    return most


async def test_exactly_one_of_racing_candidates_leads(api: KubeApi, kube: FakeKube) -> None:
    electors = [LeaderElector(api, settings(f"replica-{i}")) for i in range(3)]
    async with electing(electors):
        await eventually(lambda: any(e.is_leader for e in electors))
        assert await watch_overlap(electors, 0.8) == 1
        (leader,) = [e for e in electors if e.is_leader]
        lease = kube.get("Lease", NS, "xdscp-leader")
        assert lease is not None and lease["spec"]["holderIdentity"] == leader.settings.identity
    # conflicting writes happened and were survived: losers saw 409s or a held lease
    puts = [r for r in kube.requests if r[0] in ("PUT", "POST") and "/leases" in r[1]]
    assert len(puts) > 3


def _partition(api: KubeApi) -> Callable[[], None]:
    """Make this client's calls fail as if the API server were unreachable."""
    original = api.call

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise KubeUnavailable("partitioned")

    api.call = broken  # type: ignore[method-assign]

    def heal() -> None:
        api.call = original  # type: ignore[method-assign]

    return heal


async def test_a_leader_that_cannot_renew_steps_down_before_a_successor_leads(
    kube: FakeKube, tmp_path: Path
) -> None:
    config = kube.kubeconfig(tmp_path / "kubeconfig")
    api_a, api_b = await KubeApi.connect(config), await KubeApi.connect(config)
    try:
        a = LeaderElector(api_a, settings("a"))
        b = LeaderElector(api_b, settings("b"))
        async with electing([a]):
            await eventually(lambda: a.is_leader)
            async with electing([b]):
                assert await watch_overlap([a, b], 0.3) == 1 and a.is_leader
                heal = _partition(api_a)
                loop = asyncio.get_running_loop()
                started = loop.time()
                # sample until b leads: never two leaders at once
                most = 0
                while not b.is_leader:
                    most = max(most, a.is_leader + b.is_leader)
                    assert loop.time() - started < 5, "b never took over"
                    await asyncio.sleep(0.005)
                assert most <= 1 and not a.is_leader
                heal()
                assert await watch_overlap([a, b], 0.3) == 1 and b.is_leader
        lease = kube.get("Lease", NS, "xdscp-leader")
        assert lease is not None and lease["spec"]["leaseTransitions"] >= 1
    finally:
        await api_a.close()
        await api_b.close()


async def test_a_stolen_lease_makes_the_leader_step_down(api: KubeApi, kube: FakeKube) -> None:
    a = LeaderElector(api, settings("a", lease_duration=5.0, renew_deadline=0.3))
    async with electing([a]):
        await eventually(lambda: a.is_leader)

        # another controller rewrote the Lease (a newer holder renewing it)
        async def steal() -> None:
            while True:
                lease = kube.get("Lease", NS, "xdscp-leader")
                assert lease is not None
                kube.apply(
                    {
                        "apiVersion": "coordination.k8s.io/v1",
                        "kind": "Lease",
                        "metadata": {"name": "xdscp-leader", "namespace": NS},
                        "spec": {
                            **lease["spec"],
                            "holderIdentity": "thief",
                            "renewTime": micro_time(),
                        },
                    }
                )
                await asyncio.sleep(0.05)

        thief = asyncio.create_task(steal())
        try:
            await eventually(lambda: not a.is_leader, timeout=3)
        finally:
            thief.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await thief


async def test_release_on_shutdown_hands_over_at_once(kube: FakeKube, tmp_path: Path) -> None:
    config = kube.kubeconfig(tmp_path / "kubeconfig")
    api_a, api_b = await KubeApi.connect(config), await KubeApi.connect(config)
    try:
        slow = {"lease_duration": 30.0, "renew_deadline": 20.0}
        a = LeaderElector(api_a, settings("a", **slow))
        b = LeaderElector(api_b, settings("b", **slow))
        stop_a = asyncio.Event()
        task_a = asyncio.create_task(a.run(stop_a))
        await eventually(lambda: a.is_leader)
        async with electing([b]):
            assert await watch_overlap([a, b], 0.2) == 1 and a.is_leader
            loop = asyncio.get_running_loop()
            stopped_at = loop.time()
            stop_a.set()
            await asyncio.wait_for(task_a, 5)
            # a released the Lease on stop: b leads long before the 30 s lease runs out
            await eventually(lambda: b.is_leader, timeout=3)
            assert loop.time() - stopped_at < 3
            lease = kube.get("Lease", NS, "xdscp-leader")
            assert lease is not None and lease["spec"]["holderIdentity"] == "b"
    finally:
        await api_a.close()
        await api_b.close()
