"""SotW ADS protocol rules (DESIGN §5), driven by an in-process client."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
from envoy.config.endpoint.v3 import endpoint_pb2
from envoy.service.discovery.v3 import discovery_pb2
from prometheus_client import CollectorRegistry

from xdscp.cache import (
    CLUSTER_TYPE,
    ENDPOINT_TYPE,
    LISTENER_TYPE,
    ROUTE_TYPE,
    SECRET_TYPE,
    Snapshot,
    SnapshotCache,
    make_resource,
)
from xdscp.metrics import XdsMetrics
from xdscp.server import (
    AdsSettings,
    AggregatedDiscoveryService,
    ProxyRejected,
    StaticResolver,
    StatusBook,
    UnknownProxy,
    serve,
)

from .ads_client import SOTW_METHOD, names_of
from .conftest import Harness
from .resources import cla, eds_cluster, mesh, route_config


async def test_initial_request_answered_and_ack_recorded(ads: Harness) -> None:
    snap = mesh()
    ads.cache.set("proxy-1", snap)
    client = ads.sotw()
    await client.send(CLUSTER_TYPE)
    response = await client.recv()
    assert response.type_url == CLUSTER_TYPE
    assert response.version_info == snap.get(CLUSTER_TYPE).version
    assert sorted(names_of(response)) == ["a", "b"]
    assert response.nonce
    assert response.control_plane.identifier == "test-cp"
    await client.ack(response)
    await client.expect_silence(0.3)
    cds = ads.status.snapshot_json()["proxy-1"]["types"]["CDS"]
    assert cds["version_sent"] == cds["version_acked"] == response.version_info
    assert cds["pushes"] == 1 and cds["acks"] == 1 and cds["last_nack"] is None


async def test_empty_type_still_answered_on_initial_request(ads: Harness) -> None:
    ads.cache.set("proxy-1", Snapshot.of([eds_cluster("a")]))
    client = ads.sotw()
    await client.send(LISTENER_TYPE)
    response = await client.recv()
    assert response.type_url == LISTENER_TYPE and list(response.resources) == []


async def test_no_answer_until_snapshot_exists(ads: Harness) -> None:
    client = ads.sotw("late")
    await client.send(CLUSTER_TYPE)
    await client.expect_silence(0.3)
    ads.cache.set("late", mesh())
    response = await client.recv()
    assert sorted(names_of(response)) == ["a", "b"]


async def test_nack_recorded_not_resent_and_sent_after_change(ads: Harness) -> None:
    ads.cache.set("proxy-1", mesh())
    client = ads.sotw()
    good = await client.subscribe(CLUSTER_TYPE)
    await client.subscribe(LISTENER_TYPE)

    bad = mesh(clusters=["a", "b", "broken"])
    ads.cache.set("proxy-1", bad)
    pushed = await client.recv()
    assert pushed.type_url == CLUSTER_TYPE
    error = "Error adding/updating cluster(s) broken: Proto constraint validation failed"
    await client.send(CLUSTER_TYPE, version=good.version_info, nonce=pushed.nonce, error=error)
    await client.expect_silence(0.5)

    # Changes to other types do not re-send the rejected CDS content.
    ads.cache.set("proxy-1", mesh(clusters=["a", "b", "broken"], listener="http2"))
    lds = await client.recv()
    assert lds.type_url == LISTENER_TYPE
    await client.ack(lds)
    await client.expect_silence(0.4)

    cds = ads.status.snapshot_json()["proxy-1"]["types"]["CDS"]
    assert cds["version_sent"] == pushed.version_info
    assert cds["version_acked"] == good.version_info
    assert cds["rejected"] is True
    nack = cds["last_nack"]
    assert nack["error"] == error and nack["version"] == pushed.version_info
    assert nack["resources"] == ["broken"]
    assert nack["provenance"] == ["ServiceEntry/default/broken"]
    assert [n.type_url for n in ads.status.nacks()] == [CLUSTER_TYPE]

    # New content (the fix) is pushed.
    ads.cache.set("proxy-1", mesh(clusters=["a", "b", "fixed"], listener="http2"))
    fixed = await client.recv()
    assert fixed.type_url == CLUSTER_TYPE and "fixed" in names_of(fixed)
    await client.ack(fixed)
    await asyncio.sleep(0.05)
    assert ads.status.nacks() == []


async def test_stale_nonce_ignored(ads: Harness) -> None:
    ads.cache.set("proxy-1", mesh())
    client = ads.sotw()
    first = await client.subscribe(ENDPOINT_TYPE, ["a"])
    ads.cache.set("proxy-1", Snapshot.of([eds_cluster("a"), cla("a", [9090])]))
    second = await client.recv()
    assert second.nonce != first.nonce
    # A NACK and a names change that refer to the older response are stale: no answer, no NACK.
    await client.send(ENDPOINT_TYPE, ["a"], first.version_info, first.nonce, error="late")
    await client.send(ENDPOINT_TYPE, ["a"], first.version_info, first.nonce)
    await client.expect_silence(0.3)
    eds = ads.status.snapshot_json()["proxy-1"]["types"]["EDS"]
    assert eds["nacks"] == 0 and eds["version_sent"] == second.version_info
    await client.ack(second, ["a"])
    await client.expect_silence(0.2)
    eds = ads.status.snapshot_json()["proxy-1"]["types"]["EDS"]
    assert eds["version_acked"] == second.version_info


async def test_reconnect_with_current_version_not_resent(ads: Harness) -> None:
    ads.cache.set("proxy-1", mesh())
    first = ads.sotw()
    cds = await first.subscribe(CLUSTER_TYPE)
    eds = await first.subscribe(ENDPOINT_TYPE, ["a", "b"])
    await first.close()

    again = ads.sotw()
    await again.send(CLUSTER_TYPE, version=cds.version_info)
    await again.send(ENDPOINT_TYPE, ["a", "b"], version=eds.version_info)
    await again.expect_silence(0.4)
    status = ads.status.snapshot_json()["proxy-1"]["types"]
    assert status["CDS"]["version_acked"] == cds.version_info
    assert status["EDS"]["version_acked"] == eds.version_info
    # ...but it is still subscribed: a change is pushed.
    ads.cache.set("proxy-1", mesh(clusters=["a", "b", "c"]))
    pushed = await again.recv()
    assert pushed.type_url == CLUSTER_TYPE

    # A reconnect with an old version or different names is answered.
    third = ads.sotw()
    await third.send(ENDPOINT_TYPE, ["a"], version=eds.version_info)
    answer = await third.recv()
    assert names_of(answer) == ["a"]


async def test_new_and_rerequested_names_are_answered(ads: Harness) -> None:
    ads.cache.set("proxy-1", mesh(clusters=["a", "b", "c"]))
    client = ads.sotw()
    first = await client.subscribe(ENDPOINT_TYPE, ["a"])
    assert names_of(first) == ["a"]
    # The ACK grows the subscription: the new name is answered (with the full subset).
    await client.send(ENDPOINT_TYPE, ["a", "b"], first.version_info, first.nonce)
    second = await client.recv()
    assert sorted(names_of(second)) == ["a", "b"]
    await client.ack(second, ["a", "b"])
    await client.expect_silence(0.2)
    # Envoy drops "b" in a request that crosses nothing (stale), then asks for it again:
    # "b" must be sent again although the version equals what was sent.
    await client.send(ENDPOINT_TYPE, ["a"], first.version_info, first.nonce)
    await client.send(ENDPOINT_TYPE, ["a", "b"], second.version_info, second.nonce)
    third = await client.recv()
    assert sorted(names_of(third)) == ["a", "b"]
    # Same content for the same names: the very same response (nonce included) again.
    assert third == second


async def test_unknown_eds_name_gets_empty_assignment(ads: Harness) -> None:
    ads.cache.set("proxy-1", mesh(clusters=["a"]))
    client = ads.sotw()
    await client.send(ENDPOINT_TYPE, ["a", "ghost"])
    response = await client.recv()
    by_name = {
        m.cluster_name: m
        for m in (
            endpoint_pb2.ClusterLoadAssignment.FromString(r.value) for r in response.resources
        )
    }
    assert set(by_name) == {"a", "ghost"}
    assert len(by_name["ghost"].endpoints) == 0
    assert len(by_name["a"].endpoints) == 1
    # Unknown RDS/SDS names are omitted, but the request is still answered.
    await client.send(ROUTE_TYPE, ["80", "nope"])
    routes = await client.recv()
    assert names_of(routes) == ["80"]


async def test_cds_push_forces_answer_to_next_eds_request(ads: Harness) -> None:
    ads.cache.set("proxy-1", mesh())
    client = ads.sotw()
    await client.subscribe(CLUSTER_TYPE)
    eds = await client.subscribe(ENDPOINT_TYPE, ["a", "b"])
    await client.expect_silence(0.2)
    # A cluster changes (e.g. its timeout) but not its endpoints: only CDS is pushed.
    changed = Snapshot.of(
        [eds_cluster("a", timeout_s=5), eds_cluster("b"), cla("a", [8080]), cla("b", [8080])]
    ).replace(mesh().get(LISTENER_TYPE), mesh().get(ROUTE_TYPE), mesh().get(SECRET_TYPE))
    ads.cache.set("proxy-1", changed)
    cds = await client.recv()
    assert cds.type_url == CLUSTER_TYPE
    await client.ack(cds)
    await client.expect_silence(0.2)
    # Envoy re-creates the warming cluster and asks EDS again with the same version/nonce:
    await client.send(ENDPOINT_TYPE, ["a", "b"], eds.version_info, eds.nonce)
    again = await client.recv()
    assert again.type_url == ENDPOINT_TYPE and again.version_info == eds.version_info
    await client.ack(again, ["a", "b"])
    await client.expect_silence(0.3)


async def test_push_order_is_cds_eds_lds_rds_sds(ads: Harness) -> None:
    ads.cache.set("proxy-1", mesh())
    client = ads.sotw()
    # Subscribe in reverse order to show order comes from the server, not the client.
    await client.subscribe(SECRET_TYPE, ["default"])
    await client.subscribe(ROUTE_TYPE, ["80"])
    await client.subscribe(LISTENER_TYPE)
    await client.subscribe(ENDPOINT_TYPE, ["a", "b"])
    await client.subscribe(CLUSTER_TYPE)
    await client.expect_silence(0.2)
    changed = Snapshot.of(
        [
            eds_cluster("a", 3),
            eds_cluster("b"),
            cla("a", [1]),
            cla("b", [2]),
            route_config("80", "b"),
        ]
    )
    from .resources import http_listener, secret

    changed = changed.replace(
        Snapshot.of([http_listener("http", "80", port=1)]).get(LISTENER_TYPE),
        Snapshot.of([secret("default", b"new")]).get(SECRET_TYPE),
    )
    ads.cache.set("proxy-1", changed)
    order = [(await client.recv()).type_url for _ in range(5)]
    assert order == [CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE, SECRET_TYPE]


async def test_only_changed_and_subscribed_types_are_sent(ads: Harness) -> None:
    ads.cache.set("proxy-1", mesh())
    client = ads.sotw()
    await client.subscribe(CLUSTER_TYPE)
    eds = await client.subscribe(ENDPOINT_TYPE, ["a"])
    # Identical content: nothing.
    assert ads.cache.set("proxy-1", mesh()) is False
    # A change to an EDS name this proxy did not request, and to an unsubscribed type: nothing.
    base = mesh()
    ads.cache.set(
        "proxy-1", base.replace(Snapshot.of([cla("a", [8080]), cla("b", [1])]).get(ENDPOINT_TYPE))
    )
    ads.cache.set("proxy-1", mesh(route_cluster="b"))
    await client.expect_silence(0.4)
    # A change to a requested name is sent, alone.
    ads.cache.set(
        "proxy-1", base.replace(Snapshot.of([cla("a", [1]), cla("b", [8080])]).get(ENDPOINT_TYPE))
    )
    pushed = await client.recv()
    assert pushed.type_url == ENDPOINT_TYPE and pushed.version_info != eds.version_info
    await client.expect_silence(0.2)


async def test_streams_with_same_content_share_response_bytes(ads: Harness) -> None:
    for key in ("p1", "p2", "p3"):
        ads.cache.set(key, mesh())
    clients = [ads.sotw(key) for key in ("p1", "p2", "p3")]
    responses = ads.service.shared.responses
    for client in clients:
        await client.send(CLUSTER_TYPE)
        await client.send(ENDPOINT_TYPE, ["a", "b"])
        await client.recv()
        await client.recv()
    # Built once per distinct content, then reused: the very same bytes (nonce included).
    assert responses.misses == 2 and responses.hits == 4
    assert clients[0].raw == clients[1].raw == clients[2].raw
    prepared = responses.prepare(mesh().get(CLUSTER_TYPE), None)
    assert prepared is responses.prepare(ads.cache.get("p2").get(CLUSTER_TYPE), None)  # type: ignore[union-attr]
    # A stream still tells its responses apart: new content, new nonce.
    ads.cache.set("p1", mesh(clusters=["a"]))
    pushed = await clients[0].recv()
    assert pushed.nonce != prepared.nonce


async def test_resolver_rejections_map_to_grpc_codes(ads: Harness) -> None:
    class Refusing:
        def connect(self, node: object, peer_identity: str | None) -> str:
            node_id = getattr(node, "id", "")
            if node_id == "stranger":
                raise UnknownProxy("no workload for node stranger")
            raise ProxyRejected("node claims spiffe://x/ns/a/sa/b without proof")

        def disconnect(self, proxy_key: str) -> None:
            raise AssertionError("never admitted")

    ads.service.resolver = Refusing()
    denied = ads.sotw("impostor")
    await denied.send(CLUSTER_TYPE)
    assert await denied.status() == grpc.StatusCode.PERMISSION_DENIED
    unknown = ads.sotw("stranger")
    await unknown.send(CLUSTER_TYPE)
    assert await unknown.status() == grpc.StatusCode.NOT_FOUND
    nameless = ads.sotw("x")
    await nameless.send(CLUSTER_TYPE, node=False)
    assert await nameless.status() == grpc.StatusCode.INVALID_ARGUMENT
    assert len(ads.status) == 0


async def test_disconnect_releases_proxy(ads: Harness) -> None:
    ads.cache.set("proxy-1", mesh())
    client = ads.sotw()
    await client.subscribe(CLUSTER_TYPE)
    assert ads.resolver.connected == {"proxy-1": 1} and len(ads.status) == 1
    await client.close()
    async with asyncio.timeout(2):
        while ads.resolver.connected or len(ads.status):
            await asyncio.sleep(0.01)


async def test_stuck_write_ends_the_stream() -> None:
    """A proxy that stops reading must not pin its stream forever."""

    cache = SnapshotCache()
    # 8 MB of cluster bytes: far beyond what HTTP/2 flow control lets through unread.
    huge = [make_resource(CLUSTER_TYPE, f"c{i}", bytes(1024 * 1024)) for i in range(8)]
    cache.set("slow", Snapshot.of(huge))
    resolver = StaticResolver(cache)
    status = StatusBook(XdsMetrics(CollectorRegistry()))
    settings = AdsSettings(write_timeout=0.4)
    server, port = await serve(AggregatedDiscoveryService(cache, resolver, status, settings),
                               "127.0.0.1:0")  # fmt: skip
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        multi: Any = channel.stream_stream(
            SOTW_METHOD, discovery_pb2.DiscoveryRequest.SerializeToString, None
        )
        call = multi()
        request = discovery_pb2.DiscoveryRequest(type_url=CLUSTER_TYPE)
        request.node.id = "slow"
        await call.write(request)  # ...and never read the answer
        async with asyncio.timeout(5):
            while not resolver.connected:
                await asyncio.sleep(0.01)
            while resolver.connected:
                await asyncio.sleep(0.02)
        assert len(status) == 0
        call.cancel()
    finally:
        await channel.close(None)
        await server.stop(None)
