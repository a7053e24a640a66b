"""Per-stream state stays small: streams asking for the same names share one set of them,
made once, not per stream; the heap a burst of connecting streams freed goes back to the
operating system once the burst is over."""

from __future__ import annotations

from envoy.service.discovery.v3.discovery_pb2 import DiscoveryRequest

from xdscp.cache import CLUSTER_TYPE, ENDPOINT_TYPE
from xdscp.server.heap import HeapTrimmer
from xdscp.server.sotw import names_fingerprint

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


async def test_heap_is_trimmed_once_after_a_burst_of_streams_has_gone_quiet(ads: Harness) -> None:
    trims: list[float] = []
    shared = ads.service.shared
    shared.heap = HeapTrimmer(quiet_seconds=0.3, min_opens=3, trim=lambda: trims.append(1))
    clients = []
    for proxy in ("proxy-1", "proxy-2", "proxy-3"):
        ads.cache.set(proxy, mesh())
        client = ads.sotw(proxy)
        await client.subscribe(CLUSTER_TYPE)
        clients.append(client)
    await clients[0].expect_silence(0.1)
    assert trims == []  # the burst has not been quiet long enough
    await clients[0].expect_silence(0.5)
    assert len(trims) == 1 == shared.heap.trims
    await clients[0].expect_silence(0.5)
    assert len(trims) == 1  # once per burst, not periodically


def test_the_real_trim_is_glibcs_here() -> None:
    trimmer = HeapTrimmer()
    assert trimmer._trim is not None  # Linux with glibc: malloc_trim is found
    trimmer._trim()


async def test_short_name_lists_share_one_set_and_a_reordered_list_is_no_change(
    ads: Harness,
) -> None:
    # up to a few names (an RDS subscription) the fingerprint hashes the strings
    # themselves instead of the upb copy: the same sharing and change detection
    short = NAMES[:3]
    name_sets = ads.service.shared.name_sets
    clients = []
    for proxy in ("proxy-1", "proxy-2"):
        ads.cache.set(proxy, mesh(clusters=NAMES))
        client = ads.sotw(proxy)
        await client.send(ENDPOINT_TYPE, names=short)
        response = await client.recv()
        await client.ack(response, short)
        clients.append((client, response))
    assert name_sets.made == 1
    client, response = clients[0]
    await client.send(ENDPOINT_TYPE, list(reversed(short)), response.version_info, response.nonce)
    await client.expect_silence(0.2)  # the same names in another order: nothing to answer
    await client.send(ENDPOINT_TYPE, [*short, NAMES[3]], response.version_info, response.nonce)
    grown = await client.recv()  # a name added to a short list is seen and answered
    assert len(grown.resources) == 4


def test_names_fingerprint_tells_lists_apart_on_both_paths() -> None:
    for size in (1, 3, 8, 9, 40):  # short lists hash strings, longer ones the upb copy
        names = NAMES[:size]
        same = names_fingerprint(DiscoveryRequest(resource_names=names, version_info="1"))
        again = names_fingerprint(DiscoveryRequest(resource_names=list(names), response_nonce="x"))
        changed = names_fingerprint(DiscoveryRequest(resource_names=[*names[:-1], "other"]))
        assert same == again != changed, size
