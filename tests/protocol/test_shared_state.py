"""Per-stream state stays small: streams asking for the same names share one set of them,
made once, not per stream."""

from __future__ import annotations

from xdscp.cache import ENDPOINT_TYPE

from .conftest import Harness
from .resources import mesh

NAMES = [f"c{i}" for i in range(50)]


async def test_streams_with_the_same_names_share_one_set(ads: Harness) -> None:
    name_sets = ads.service.shared.name_sets
    clients = []
    for proxy in ("proxy-1", "proxy-2", "proxy-3"):
        ads.cache.set(proxy, mesh(clusters=NAMES))
        client = ads.sotw(proxy)
        await client.send(ENDPOINT_TYPE, names=NAMES)
        response = await client.recv()
        await client.ack(response, NAMES)
        clients.append(client)
    # a fourth asks for other names: its own set
    ads.cache.set("proxy-4", mesh(clusters=NAMES))
    other = ads.sotw("proxy-4")
    await other.send(ENDPOINT_TYPE, names=NAMES[:10])
    await other.recv()
    await other.expect_silence(0.2)

    assert name_sets.made == 2 and len(name_sets) == 2
    streams = ads.service.shared.streams
    states = [s._types[ENDPOINT_TYPE].names for s in streams]  # type: ignore[attr-defined]
    assert len(states) == 4 and len({id(s) for s in states}) == 2
    assert states.count(frozenset(NAMES)) == 3
