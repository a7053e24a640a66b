"""VHDS over delta ADS with the in-process client: shells over RDS, one virtual host per
resource, sent only once the proxy holds their route configuration."""

from __future__ import annotations

from typing import Any

from envoy.config.route.v3 import route_components_pb2, route_pb2

from xdscp.cache import ROUTE_TYPE, Snapshot, SnapshotCache
from xdscp.server import AdsSettings

from .conftest import Harness, serving
from .resources import host_routes, virtual_host

VIRTUAL_HOST_TYPE = "type.googleapis.com/envoy.config.route.v3.VirtualHost"


def _snapshot(hosts: dict[str, str], name: str = "80") -> Snapshot:
    return Snapshot.of([host_routes(name, hosts)])


def _names(response: Any) -> list[str]:
    return sorted(r.name for r in response.resources)


def _route_config(response: Any) -> route_pb2.RouteConfiguration:
    (resource,) = response.resources
    return route_pb2.RouteConfiguration.FromString(resource.resource.value)


def _vhosts(response: Any) -> dict[str, route_components_pb2.VirtualHost]:
    return {
        r.name: route_components_pb2.VirtualHost.FromString(r.resource.value)
        for r in response.resources
    }


async def test_shell_then_virtual_hosts_then_one_edit_sends_one_host(ads: Harness) -> None:
    ads.cache.set("proxy-1", _snapshot({"a": "a-1", "b": "b-1"}))
    client = ads.delta()
    await client.send(ROUTE_TYPE, subscribe=["80"])
    routes = await client.recv()
    shell = _route_config(routes)
    # the shell: the name, VHDS over ADS, no virtual hosts (nor the provenance list)
    assert shell.name == "80" and not shell.virtual_hosts and not shell.HasField("metadata")
    assert shell.vhds.config_source.HasField("ads")
    await client.ack(routes)

    await client.send(VIRTUAL_HOST_TYPE)  # Envoy's first VHDS request names nothing
    hosts = await client.recv()
    got = _vhosts(hosts)
    assert sorted(got) == ["80/a:80", "80/b:80"]
    # each is the translated virtual host, named by its resource name (Envoy removes
    # virtual hosts by resource name, matching it against the virtual host's name)
    want = virtual_host("a", "a-1")
    want.name = "80/a:80"
    assert got["80/a:80"] == want
    await client.ack(hosts)
    await client.expect_silence(0.2)

    # one edit: one virtual host travels, the shell does not
    ads.cache.set("proxy-1", _snapshot({"a": "a-2", "b": "b-1"}))
    edit = await client.recv()
    assert edit.type_url == VIRTUAL_HOST_TYPE and _names(edit) == ["80/a:80"]
    assert len(edit.SerializeToString()) < 300
    await client.ack(edit)
    await client.expect_silence(0.2)

    # removal and addition
    ads.cache.set("proxy-1", _snapshot({"a": "a-2", "c": "c-1"}))
    change = await client.recv()
    assert _names(change) == ["80/c:80"] and list(change.removed_resources) == ["80/b:80"]
    await client.ack(change)
    await client.expect_silence(0.2)
    proxy = ads.status.snapshot_json()["proxy-1"]["types"]
    assert proxy["VHDS"]["version_acked"] == proxy["VHDS"]["version_sent"]


async def test_virtual_hosts_wait_for_their_route_configuration(ads: Harness) -> None:
    ads.cache.set("proxy-1", _snapshot({"a": "a-1"}))
    client = ads.delta()
    # subscribed to VHDS before holding any shell: nothing to listen with yet
    await client.send(VIRTUAL_HOST_TYPE)
    first = await client.recv()
    assert _names(first) == []
    await client.ack(first)
    await client.send(ROUTE_TYPE, subscribe=["80"])
    routes = await client.recv()
    assert routes.type_url == ROUTE_TYPE and _names(routes) == ["80"]
    hosts = await client.recv()  # right after the shell
    assert hosts.type_url == VIRTUAL_HOST_TYPE and _names(hosts) == ["80/a:80"]
    await client.ack(routes)
    await client.ack(hosts)

    # the listener goes, Envoy drops the route configuration (and its VHDS watch) ...
    await client.send(ROUTE_TYPE, unsubscribe=["80"])
    await client.expect_silence(0.2)
    # ... and when it comes back, its virtual hosts are sent again, unchanged as they are
    await client.send(ROUTE_TYPE, subscribe=["80"])
    again = await client.recv()
    assert again.type_url == ROUTE_TYPE and _names(again) == ["80"]
    resent = await client.recv()
    assert resent.type_url == VIRTUAL_HOST_TYPE and _names(resent) == ["80/a:80"]


async def test_sotw_and_vhds_off_get_whole_route_configurations(ads: Harness) -> None:
    snapshot = _snapshot({"a": "a-1", "b": "b-1"})
    ads.cache.set("proxy-1", snapshot)
    sotw = ads.sotw()
    await sotw.send(ROUTE_TYPE, ["80"])
    whole = await sotw.recv()
    assert whole.resources[0].value == snapshot.get(ROUTE_TYPE).resources["80"].body

    async with serving(SnapshotCache(), AdsSettings(vhds=False)) as plain:
        plain.cache.set("proxy-1", snapshot)
        client = plain.delta()
        await client.send(ROUTE_TYPE, subscribe=["80"])
        routes = await client.recv()
        assert len(_route_config(routes).virtual_hosts) == 2


def test_cuts_reuse_unchanged_virtual_hosts_and_stay_within_their_bytes() -> None:
    from xdscp.server.vhds import VhdsCuts

    cuts = VhdsCuts(max_bytes=10_000)
    before = cuts.forms(_snapshot({"a": "a-1", "b": "b-1"}).get(ROUTE_TYPE))
    after = cuts.forms(_snapshot({"a": "a-2", "b": "b-1"}).get(ROUTE_TYPE))
    # the unchanged virtual host is the very same resource (its bytes, version, Any)
    assert after.virtual_hosts.resources["80/b:80"] is before.virtual_hosts.resources["80/b:80"]
    assert after.virtual_hosts.resources["80/a:80"].version != (
        before.virtual_hosts.resources["80/a:80"].version
    )
    assert after.routes.resources["80"] is before.routes.resources["80"]  # same shell
    assert dict(after.scoped) == {"80": ("80/a:80", "80/b:80")}
    # a NACK of a virtual host is blamed on its route configuration's objects when it
    # carries no provenance of its own
    assert after.virtual_hosts.resources["80/a:80"].provenance == ("VirtualService/default/80",)
    # a route configuration without virtual hosts is served whole, with no vhds
    empty = Snapshot.of([host_routes("81", {})]).get(ROUTE_TYPE)
    assert cuts.forms(empty).routes.resources["81"] is empty.resources["81"]
    # history is bounded in bytes: many versions later, memory holds only recent ones
    for n in range(200):
        cuts.forms(_snapshot({"a": f"a-{n}", "b": "b-1"}).get(ROUTE_TYPE))
    assert cuts._forms_bytes <= 10_000 and cuts._cuts_bytes <= 10_000


async def test_sotw_does_not_serve_the_delta_only_type(ads: Harness) -> None:
    ads.cache.set("proxy-1", _snapshot({"a": "a-1"}))
    client = ads.sotw()
    await client.send(VIRTUAL_HOST_TYPE, ["80/a:80"])
    await client.expect_silence(0.3)
    await client.send(ROUTE_TYPE, ["80"])  # the stream is still served
    assert (await client.recv()).type_url == ROUTE_TYPE


def test_a_configuration_in_parts_is_cut_from_the_last_cut_as_from_scratch() -> None:
    """A route configuration assembled from parts (one per virtual host field, as the
    translator hands it over): after an edit, one host changed and one added, the cut
    made from the last one equals a fresh cut, host for host and in order, and the
    unchanged hosts are the last cut's very resources."""
    from xdscp.cache import make_resource
    from xdscp.cache.snapshot import length_delimited
    from xdscp.server.vhds import _cut

    def field(name: str, cluster: str) -> bytes:
        host = virtual_host(name, cluster)
        return length_delimited(2, host.SerializeToString(deterministic=True))

    head = length_delimited(1, b"80")
    fields = {n: field(n, f"{n}-1") for n in ("a", "b", "c", "d")}
    first = make_resource(ROUTE_TYPE, "80", (head, *fields.values()), version="v1")
    last = _cut(first, None)
    assert last is not None
    fields["b"] = field("b", "b-2")
    edited = (head, fields["a"], fields["b"], field("bb", "bb-1"), fields["c"], fields["d"])
    second = make_resource(ROUTE_TYPE, "80", edited, version="v2")
    cut, fresh = _cut(second, last), _cut(second, None)
    assert cut is not None and fresh is not None
    assert [(h.name, h.version) for h in cut.virtual_hosts] == [
        (h.name, h.version) for h in fresh.virtual_hosts
    ]
    assert [h.name for h in cut.virtual_hosts] == [
        "80/a:80",
        "80/b:80",
        "80/bb:80",
        "80/c:80",
        "80/d:80",
    ]
    assert cut.shell.body == fresh.shell.body
    kept = {h.name: h for h in last.virtual_hosts}
    assert cut.virtual_hosts[0] is kept["80/a:80"] and cut.virtual_hosts[4] is kept["80/d:80"]
    assert cut.virtual_hosts[1] is not kept["80/b:80"]
