"""Delta (incremental) ADS: per-resource versions, subscribe/unsubscribe, removals."""

from __future__ import annotations

from typing import Any

from envoy.config.endpoint.v3 import endpoint_pb2

from xdscp.cache import CLUSTER_TYPE, ENDPOINT_TYPE, ROUTE_TYPE, Snapshot

from .conftest import Harness
from .resources import cla, eds_cluster, mesh


def _names(response: Any) -> list[str]:
    return sorted(r.name for r in response.resources)


async def test_wildcard_cds_then_incremental_changes_and_removal(ads: Harness) -> None:
    snap = mesh(clusters=["a", "b"])
    ads.cache.set("proxy-1", snap)
    client = ads.delta()
    await client.send(CLUSTER_TYPE)  # names nothing: wildcard
    first = await client.recv()
    assert _names(first) == ["a", "b"]
    assert first.system_version_info == snap.get(CLUSTER_TYPE).version
    assert {r.name: r.version for r in first.resources} == {
        n: r.version for n, r in snap.get(CLUSTER_TYPE).resources.items()
    }
    assert first.control_plane.identifier == "test-cp"
    await client.ack(first)
    await client.expect_silence(0.2)
    cds = ads.status.snapshot_json()["proxy-1"]["types"]["CDS"]
    assert cds["version_acked"] == cds["version_sent"] == first.system_version_info
    assert ads.status.snapshot_json()["proxy-1"]["api"] == "delta"

    # One cluster changes, one is added, one removed: only those travel.
    ads.cache.set("proxy-1", Snapshot.of([eds_cluster("a", 9), eds_cluster("c")]))
    change = await client.recv()
    assert _names(change) == ["a", "c"]
    assert list(change.removed_resources) == ["b"]
    await client.ack(change)
    await client.expect_silence(0.2)


async def test_subscribe_unsubscribe_and_resubscribe(ads: Harness) -> None:
    ads.cache.set("proxy-1", mesh(clusters=["a", "b"]))
    client = ads.delta()
    await client.send(ENDPOINT_TYPE, subscribe=["a"])
    got = await client.recv()
    assert _names(got) == ["a"]
    await client.ack(got)
    await client.send(ENDPOINT_TYPE, subscribe=["b"])
    got = await client.recv()
    assert _names(got) == ["b"]  # only the new name
    await client.ack(got)
    await client.send(ENDPOINT_TYPE, unsubscribe=["a"])
    await client.expect_silence(0.2)  # dropping a name needs no answer
    # A change to an unsubscribed name is not sent; to a subscribed one, it is.
    base = mesh(clusters=["a", "b"])
    ads.cache.set(
        "proxy-1", base.replace(Snapshot.of([cla("a", [1]), cla("b")]).get(ENDPOINT_TYPE))
    )
    await client.expect_silence(0.2)
    ads.cache.set(
        "proxy-1", base.replace(Snapshot.of([cla("a", [1]), cla("b", [2])]).get(ENDPOINT_TYPE))
    )
    got = await client.recv()
    assert _names(got) == ["b"]
    await client.ack(got)
    # Re-subscribing sends the resource again.
    await client.send(ENDPOINT_TYPE, subscribe=["a"])
    got = await client.recv()
    assert _names(got) == ["a"]
    await client.send(ENDPOINT_TYPE, subscribe=["b"], nonce=got.nonce)
    again = await client.recv()
    assert _names(again) == ["b"]


async def test_unknown_names_empty_cla_or_removed(ads: Harness) -> None:
    ads.cache.set("proxy-1", mesh(clusters=["a"]))
    client = ads.delta()
    await client.send(ENDPOINT_TYPE, subscribe=["ghost"])
    got = await client.recv()
    assert _names(got) == ["ghost"]
    msg = endpoint_pb2.ClusterLoadAssignment.FromString(got.resources[0].resource.value)
    assert msg.cluster_name == "ghost" and len(msg.endpoints) == 0
    await client.send(ROUTE_TYPE, subscribe=["nope", "80"])
    routes = await client.recv()
    assert _names(routes) == ["80"] and list(routes.removed_resources) == ["nope"]
    # "ghost" appears later: it is sent.
    ads.cache.set("proxy-1", mesh(clusters=["a", "ghost"]))
    got = await client.recv()
    assert _names(got) == ["ghost"]


async def test_nack_recorded_and_not_resent(ads: Harness) -> None:
    ads.cache.set("proxy-1", mesh(clusters=["a"]))
    client = ads.delta()
    await client.send(CLUSTER_TYPE)
    await client.ack(await client.recv())
    ads.cache.set("proxy-1", mesh(clusters=["a", "broken"]))
    pushed = await client.recv()
    assert _names(pushed) == ["broken"]
    await client.send(CLUSTER_TYPE, nonce=pushed.nonce, error="cluster broken: no")
    await client.expect_silence(0.3)
    cds = ads.status.get("proxy-1")
    assert cds is not None
    nack = cds.types[CLUSTER_TYPE].last_nack
    assert nack is not None and nack.provenance == ("ServiceEntry/default/broken",)
    assert nack.version == pushed.system_version_info
    # An unrelated change of LDS content does not resend the CDS content.
    ads.cache.set("proxy-1", mesh(clusters=["a", "broken"], listener="x"))
    await client.expect_silence(0.2)
    ads.cache.set("proxy-1", mesh(clusters=["a", "fixed"]))
    fix = await client.recv()
    assert _names(fix) == ["fixed"] and list(fix.removed_resources) == ["broken"]


async def test_reconnect_with_initial_versions(ads: Harness) -> None:
    snap = mesh(clusters=["a", "b"])
    ads.cache.set("proxy-1", snap)
    held = {n: r.version for n, r in snap.get(CLUSTER_TYPE).resources.items()}
    client = ads.delta()
    await client.send(CLUSTER_TYPE, initial_versions=held)
    await client.expect_silence(0.3)  # holds everything already
    await client.close()

    # Holds an old "a", a deleted "old": gets "a" and the removal only.
    other = ads.delta()
    await other.send(CLUSTER_TYPE, initial_versions={"a": "stale", "b": held["b"], "old": "x"})
    got = await other.recv()
    assert _names(got) == ["a"] and list(got.removed_resources) == ["old"]


async def test_stale_nonce_still_applies_subscriptions(ads: Harness) -> None:
    ads.cache.set("proxy-1", mesh(clusters=["a", "b"]))
    client = ads.delta()
    await client.send(ENDPOINT_TYPE, subscribe=["a"])
    first = await client.recv()
    await client.send(ENDPOINT_TYPE, subscribe=["b"], nonce="not-a-nonce", error="stale")
    got = await client.recv()
    assert _names(got) == ["b"]
    eds = ads.status.snapshot_json()["proxy-1"]["types"]["EDS"]
    assert eds["nacks"] == 0
    await client.ack(first)  # an older, still-outstanding nonce is a valid ACK in Delta
    await client.ack(got)
    await client.expect_silence(0.2)
    assert ads.status.snapshot_json()["proxy-1"]["types"]["EDS"]["acks"] == 2


async def test_subscription_before_snapshot_is_answered_when_it_arrives(ads: Harness) -> None:
    client = ads.delta("late")
    await client.send(CLUSTER_TYPE)
    await client.expect_silence(0.2)
    ads.cache.set("late", Snapshot.of([]))
    got = await client.recv()  # empty, but answered
    assert list(got.resources) == [] and got.type_url == CLUSTER_TYPE
