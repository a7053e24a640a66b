"""VHDS against real Envoy over delta ADS: route configurations travel as shells, virtual
hosts one by one, and routing stays right across adding, editing and removing them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path

import pytest
from envoy.config.route.v3 import route_pb2
from prometheus_client import CollectorRegistry

from tests.e2e.harness import free_port, http_get
from xdscp.cache import LISTENER_TYPE, ROUTE_TYPE, Resource, Snapshot, SnapshotCache, make_resource
from xdscp.metrics import XdsMetrics
from xdscp.server import AdsSettings, AggregatedDiscoveryService, StaticResolver, StatusBook, serve

from .conftest import Harness
from .resources import host_routes, http_listener, virtual_host
from .test_envoy import _bootstrap, _envoy_binary

pytestmark = pytest.mark.e2e

VIRTUAL_HOST_TYPE = "type.googleapis.com/envoy.config.route.v3.VirtualHost"
_WAIT_S = 20.0


def _snapshot(ports: Mapping[int, Mapping[str, str]]) -> Snapshot:
    """One HTTP listener per port, its RDS route configuration named after the port."""
    resources: list[Resource] = []
    for port, hosts in ports.items():
        resources += [http_listener(f"l{port}", str(port), port), host_routes(str(port), hosts)]
    return Snapshot.of(resources)


async def _eventually(check: Callable[[], object], want: object, what: str, log: Path) -> None:
    deadline = asyncio.get_running_loop().time() + _WAIT_S
    got = None
    while asyncio.get_running_loop().time() < deadline:
        got = await asyncio.to_thread(check)
        if got == want:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{what}: got {got!r}, want {want!r}; envoy log:\n{log.read_text()}")


@pytest.fixture
async def delta_envoy(ads: Harness, tmp_path: Path) -> AsyncIterator[tuple[str, Path]]:
    node_id = "envoy-vhds"
    config = tmp_path / "bootstrap.json"
    config.write_text(json.dumps(_bootstrap(node_id, ads.port, "DELTA_GRPC")))
    log = tmp_path / "envoy.log"
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            _envoy_binary(), "-c", str(config), "--disable-hot-restart",
            "--log-level", "info", "--concurrency", "1",
            stdout=out, stderr=asyncio.subprocess.STDOUT, stdin=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
    try:
        yield node_id, log
    finally:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:
            process.kill()
            await asyncio.wait_for(process.wait(), 5)


async def test_routing_follows_virtual_hosts_added_edited_removed(
    ads: Harness, delta_envoy: tuple[str, Path]
) -> None:
    node_id, log = delta_envoy
    port, other = free_port(), free_port()

    def get(host: str, on: int = port) -> tuple[int, str]:
        try:
            return http_get(f"http://127.0.0.1:{on}/", host=host, timeout=2.0)
        except OSError as error:  # the listener is not there (yet)
            return 0, str(error)

    ads.cache.set(node_id, _snapshot({port: {"a": "a-1", "b": "b-1"}}))
    await _eventually(lambda: get("a"), (200, "a-1"), "a before any change", log)
    await _eventually(lambda: get("b"), (200, "b-1"), "b before any change", log)

    ads.cache.set(node_id, _snapshot({port: {"a": "a-2", "b": "b-1"}}))
    await _eventually(lambda: get("a"), (200, "a-2"), "a after its edit", log)
    assert get("b") == (200, "b-1")

    ads.cache.set(node_id, _snapshot({port: {"a": "a-2", "c": "c-1"}}))
    await _eventually(lambda: get("c"), (200, "c-1"), "c after it was added", log)
    await _eventually(lambda: get("b")[0], 404, "b after it was removed", log)

    # A second port: a new listener and route configuration, its virtual hosts sent
    # only once Envoy holds the shell (and listens for them).
    ads.cache.set(node_id, _snapshot({port: {"a": "a-2", "c": "c-1"}, other: {"d": "d-1"}}))
    await _eventually(lambda: get("d", other), (200, "d-1"), "d on the new port", log)

    ads.cache.set(node_id, _snapshot({port: {"a": "a-2", "c": "c-1"}}))
    await _eventually(lambda: get("a"), (200, "a-2"), "a with the second port gone", log)
    ads.cache.set(node_id, _snapshot({port: {"a": "a-2", "c": "c-1"}, other: {"d": "d-2"}}))
    await _eventually(lambda: get("d", other), (200, "d-2"), "d when its port came back", log)

    # Envoy routes with a virtual host before its ACK reaches the server: wait for the ACK.
    def acked() -> bool:
        proxy = ads.status.get(node_id)
        hosts = proxy.types.get(VIRTUAL_HOST_TYPE) if proxy is not None else None
        return hosts is not None and hosts.version_acked == hosts.version_sent

    await _eventually(acked, True, "the last virtual hosts ACKed", log)
    proxy = ads.status.get(node_id)
    assert proxy is not None
    assert proxy.types[VIRTUAL_HOST_TYPE].nacks == 0 and proxy.types[ROUTE_TYPE].nacks == 0


async def test_a_restarted_control_plane_resumes_vhds_from_envoys_versions(
    ads: Harness, delta_envoy: tuple[str, Path]
) -> None:
    """Envoy reconnects to a new server with the versions it holds (VHDS included): what
    is current stays, what changed while the server was away arrives and routes."""
    node_id, log = delta_envoy
    port = free_port()

    def get(host: str) -> tuple[int, str]:
        try:
            return http_get(f"http://127.0.0.1:{port}/", host=host, timeout=2.0)
        except OSError as error:
            return 0, str(error)

    ads.cache.set(node_id, _snapshot({port: {"a": "a-1", "b": "b-1"}}))
    await _eventually(lambda: get("b"), (200, "b-1"), "b before the restart", log)
    await ads.server.stop(None)

    # the same address, a new server whose mesh changed meanwhile
    cache = SnapshotCache()
    cache.set(node_id, _snapshot({port: {"a": "a-2", "c": "c-1"}}))
    status = StatusBook(XdsMetrics(CollectorRegistry()))
    service = AggregatedDiscoveryService(
        cache, StaticResolver(cache), status, AdsSettings(first_request_timeout=5)
    )
    server, _ = await serve(service, f"127.0.0.1:{ads.port}")
    try:
        await _eventually(lambda: get("a"), (200, "a-2"), "a edited while away", log)
        await _eventually(lambda: get("c"), (200, "c-1"), "c added while away", log)
        await _eventually(lambda: get("b")[0], 404, "b removed while away", log)
        proxy = status.get(node_id)
        assert proxy is not None and proxy.types[VIRTUAL_HOST_TYPE].nacks == 0
    finally:
        await server.stop(None)


async def test_a_rejected_virtual_host_is_recorded_and_the_rest_keeps_routing(
    ads: Harness, delta_envoy: tuple[str, Path]
) -> None:
    node_id, log = delta_envoy
    port = free_port()

    def get(host: str) -> tuple[int, str]:
        try:
            return http_get(f"http://127.0.0.1:{port}/", host=host, timeout=2.0)
        except OSError as error:
            return 0, str(error)

    good = _snapshot({port: {"a": "a-1"}})
    ads.cache.set(node_id, good)
    await _eventually(lambda: get("a"), (200, "a-1"), "a", log)

    # a second virtual host claiming a's domain: Envoy refuses the update
    clash = virtual_host("a", "clash")
    clash.name = "clash:80"
    config = route_pb2.RouteConfiguration(
        name=str(port), virtual_hosts=[virtual_host("a", "a-1"), clash]
    )
    bad = make_resource(ROUTE_TYPE, str(port), config, provenance=["VirtualService/default/clash"])
    ads.cache.set(node_id, Snapshot.of([*good.get(LISTENER_TYPE).resources.values(), bad]))

    def nacks() -> int:
        proxy = ads.status.get(node_id)
        return proxy.types[VIRTUAL_HOST_TYPE].nacks if proxy is not None else 0

    await _eventually(nacks, 1, "the NACK of the clashing virtual host", log)
    proxy = ads.status.get(node_id)
    assert proxy is not None
    nack = proxy.types[VIRTUAL_HOST_TYPE].last_nack
    assert nack is not None and nack.provenance == ("VirtualService/default/clash",), nack
    assert get("a") == (200, "a-1")  # Envoy keeps what it had
    ads.cache.set(node_id, _snapshot({port: {"a": "a-2"}}))
    await _eventually(lambda: get("a"), (200, "a-2"), "a after the fix", log)
