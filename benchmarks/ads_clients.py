"""Cheap simulated Envoys for the push benchmark: a fleet of SotW ADS clients.

Each client has its own grpc.aio channel (its own TCP/TLS connection, as real sidecars
do) and follows Envoy's ADS start-up sequence, one step per response:

    CDS (wildcard) -> ACK, EDS(names of the EDS clusters received)
    EDS            -> ACK, LDS (wildcard)
    LDS            -> ACK, RDS(route_config_name of every listener's HCM)
    RDS            -> ACK                      ... initial config complete

and afterwards ACKs every response with its version and nonce (the node only on the
first message, like `set_node_on_first_message_only`). Responses are parsed with the
real `DiscoveryResponse` class; resources are opened only to find the EDS and RDS names,
and those names are memoized by (type, version) across the fleet, because identical
versions have identical content — a thousand clients do not each decode 300 clusters.

With `delta=True` the clients speak delta xDS as `xdscp up --delta` sidecars do
(`DeltaAdsClient`): the same sequence with subscriptions instead of full name lists,
and after the route configurations (shells naming VHDS) a wildcard VHDS subscription,
over which each virtual host then arrives on its own.

Timestamps are `time.monotonic()` (CLOCK_MONOTONIC, shared with the server process).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import base_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2,
)
from envoy.service.discovery.v3 import discovery_pb2

from xdscp.cache import CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE

METHOD = "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources"
DELTA_METHOD = "/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources"
VIRTUAL_HOST_TYPE = "type.googleapis.com/envoy.config.route.v3.VirtualHost"
_HCM_TYPE = (
    "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3."
    "HttpConnectionManager"
)
_EOF: Any = grpc.aio.EOF  # type: ignore[attr-defined]  # missing from grpc-stubs


@dataclass(frozen=True, slots=True)
class ClientTLS:
    """mTLS material of one client; `server_name` must be a SAN of the server's cert."""

    root_pem: bytes
    key_pem: bytes
    chain_pem: bytes
    server_name: str


@dataclass(frozen=True, slots=True)
class ClientSpec:
    """Who a simulated proxy is: the Node fields xdscp's resolver reads."""

    namespace: str
    name: str
    address: str
    service_account: str = "default"

    def node(self) -> base_pb2.Node:
        node = base_pb2.Node(
            id=f"sidecar~{self.address}~{self.name}.{self.namespace}~"
            f"{self.namespace}.svc.cluster.local",
            cluster=f"{self.name}.{self.namespace}",
            user_agent_name="envoy",
        )
        fields = node.metadata.fields
        fields["NAMESPACE"].string_value = self.namespace
        fields["WORKLOAD_NAME"].string_value = self.name
        fields["SERVICE_ACCOUNT"].string_value = self.service_account
        fields["INSTANCE_IPS"].string_value = self.address
        return node


def eds_names(response: Any) -> tuple[str, ...]:
    """EDS service names of the EDS clusters in a CDS response (what Envoy subscribes to)."""
    names = []
    for packed in response.resources:
        cluster = cluster_pb2.Cluster.FromString(packed.value)
        if cluster.type == cluster_pb2.Cluster.EDS:
            names.append(cluster.eds_cluster_config.service_name or cluster.name)
    return tuple(sorted(set(names)))


def rds_names(response: Any) -> tuple[str, ...]:
    """`rds.route_config_name` of every HTTP connection manager in an LDS response."""
    names: set[str] = set()
    for packed in response.resources:
        listener = listener_pb2.Listener.FromString(packed.value)
        chains = list(listener.filter_chains)
        if listener.HasField("default_filter_chain"):
            chains.append(listener.default_filter_chain)
        for chain in chains:
            for network_filter in chain.filters:
                typed = network_filter.typed_config
                if typed.type_url != _HCM_TYPE:
                    continue
                hcm = http_connection_manager_pb2.HttpConnectionManager.FromString(typed.value)
                if hcm.HasField("rds"):
                    names.add(hcm.rds.route_config_name)
    return tuple(sorted(names))


def request_bytes(
    type_url: str,
    names: Iterable[str] = (),
    version: str = "",
    nonce: str = "",
    node: base_pb2.Node | None = None,
) -> bytes:
    request = discovery_pb2.DiscoveryRequest(
        type_url=type_url, resource_names=list(names), version_info=version, response_nonce=nonce
    )
    if node is not None:
        request.node.CopyFrom(node)
    return bytes(request.SerializeToString())


class Fleet:
    """N clients plus the fleet-wide counters the driver waits on."""

    def __init__(
        self,
        target: str,
        specs: Sequence[ClientSpec],
        tls: Callable[[int], ClientTLS] | None = None,
        delta: bool = False,
    ) -> None:
        self.target = target
        self.specs = list(specs)
        self.tls = tls
        self.delta = delta
        self.clients: list[AdsClient | DeltaAdsClient] = []
        self.tasks: list[asyncio.Task[None]] = []
        self.errors: list[str] = []
        self.initialized = 0
        self.changed = 0
        self.change_type = ROUTE_TYPE
        self._names: dict[tuple[str, str], tuple[str, ...]] = {}
        self._initial_done = asyncio.Event()
        self._change_done = asyncio.Event()
        self._failed = asyncio.Event()

    def __len__(self) -> int:
        return len(self.specs)

    # --- names, shared across clients ------------------------------------------
    def names_for(self, response: Any, derive: Callable[[Any], tuple[str, ...]]) -> tuple[str, ...]:
        key = (str(response.type_url), str(response.version_info))
        found = self._names.get(key)
        if found is None:
            found = self._names[key] = derive(response)
        return found

    # --- lifecycle --------------------------------------------------------------
    def start(self) -> None:
        """Open every client's channel and stream now (all at once, like a fleet reconnecting)."""
        kind = DeltaAdsClient if self.delta else AdsClient
        for i, spec in enumerate(self.specs):
            client = kind(self, spec, self.tls(i) if self.tls is not None else None)
            self.clients.append(client)
            self.tasks.append(asyncio.create_task(client.run(), name=f"ads-client:{spec.name}"))

    async def wait_initialized(self, timeout: float) -> None:
        await self._wait(self._initial_done, timeout, "initial config")

    def expect_change(self, type_url: str = ROUTE_TYPE) -> None:
        """From now on count clients that ACK a new version of `type_url`."""
        self.change_type = type_url
        self.changed = 0
        self._change_done.clear()
        for client in self.clients:
            client.changed_at = 0.0

    async def wait_changed(self, timeout: float) -> None:
        await self._wait(self._change_done, timeout, "change")

    async def _wait(self, event: asyncio.Event, timeout: float, what: str) -> None:
        failed = asyncio.ensure_future(self._failed.wait())
        done = asyncio.ensure_future(event.wait())
        try:
            await asyncio.wait({failed, done}, timeout=timeout, return_when="FIRST_COMPLETED")
        finally:
            failed.cancel()
            done.cancel()
        if not event.is_set():
            why = "a client failed" if self._failed.is_set() else f"timed out after {timeout:.0f} s"
            raise RuntimeError(
                f"{what}: {why}; {self.initialized} initialized, {self.changed} changed of"
                f" {len(self)} clients; errors: {self.errors[:3]}"
            )

    def last_initialized(self) -> float:
        return max(c.initialized_at for c in self.clients)

    def last_changed(self) -> float:
        return max(c.changed_at for c in self.clients)

    async def close(self, timeout: float = 10.0) -> None:
        for task in self.tasks:
            task.cancel()
        if self.tasks:
            await asyncio.wait(self.tasks, timeout=timeout)
        closing = [asyncio.ensure_future(c.close()) for c in self.clients]
        if closing:
            await asyncio.wait(closing, timeout=timeout)

    # --- called by clients ------------------------------------------------------
    def _client_initialized(self) -> None:
        self.initialized += 1
        if self.initialized == len(self):
            self._initial_done.set()

    def _client_changed(self) -> None:
        self.changed += 1
        if self.changed == len(self):
            self._change_done.set()

    def _client_failed(self, name: str, error: str) -> None:
        self.errors.append(f"{name}: {error}")
        self._failed.set()


def _channel(fleet: Fleet, tls: ClientTLS | None) -> grpc.aio.Channel:
    options: list[tuple[str, Any]] = [
        # Own subchannel pool: without it, gRPC would multiplex every client of this
        # process over one shared connection, which is not what a fleet of proxies is.
        ("grpc.use_local_subchannel_pool", 1),
        ("grpc.max_receive_message_length", -1),
    ]
    if tls is None:
        return grpc.aio.insecure_channel(fleet.target, options=options)
    credentials = grpc.ssl_channel_credentials(tls.root_pem, tls.key_pem, tls.chain_pem)
    options.append(("grpc.ssl_target_name_override", tls.server_name))
    return grpc.aio.secure_channel(fleet.target, credentials, options=options)


class _StreamClient:
    """What both simulated Envoys share: a channel, one ADS stream read until it ends,
    the names they subscribed, when they initialized and saw the change. A subclass
    names its method, parses a response and answers it."""

    __slots__ = (
        "_channel",
        "_node",
        "changed_at",
        "counts",
        "eds",
        "first_response_at",
        "fleet",
        "initialized_at",
        "rds",
        "spec",
        "tls",
    )
    method = ""  # the ADS method's path

    def __init__(self, fleet: Fleet, spec: ClientSpec, tls: ClientTLS | None) -> None:
        self.fleet = fleet
        self.spec = spec
        self.tls = tls
        self.eds: tuple[str, ...] | None = None
        self.rds: tuple[str, ...] | None = None
        self.initialized_at = 0.0
        self.changed_at = 0.0
        self.first_response_at = 0.0
        self.counts: dict[str, int] = {}  # type URL -> resources in hand
        self._channel: grpc.aio.Channel | None = None
        self._node: base_pb2.Node | None = spec.node()

    def _parse(self, data: bytes) -> Any:
        raise NotImplementedError

    async def _send(self, call: Any, type_url: str) -> None:
        raise NotImplementedError

    async def _on_response(self, call: Any, response: Any) -> None:
        raise NotImplementedError

    async def run(self) -> None:
        try:
            self._channel = _channel(self.fleet, self.tls)
            multi: Any = self._channel.stream_stream(self.method, None, None)  # bytes both ways
            call: Any = multi()
            await self._send(call, CLUSTER_TYPE)
            while True:
                data = await call.read()
                if data is _EOF:
                    self.fleet._client_failed(self.spec.name, f"stream ended: {await call.code()}")
                    return
                await self._on_response(call, self._parse(data))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # report, never hang the driver
            self.fleet._client_failed(self.spec.name, repr(exc))

    @property
    def resources_received(self) -> int:
        return sum(self.counts.values())

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close(None)


class AdsClient(_StreamClient):
    """One simulated Envoy over state-of-the-world ADS: four versions, two name lists."""

    __slots__ = ("versions",)
    method = METHOD

    def __init__(self, fleet: Fleet, spec: ClientSpec, tls: ClientTLS | None) -> None:
        super().__init__(fleet, spec, tls)
        self.versions: dict[str, str] = {}  # type URL -> version ACKed

    def _parse(self, data: bytes) -> Any:
        return discovery_pb2.DiscoveryResponse.FromString(data)

    async def _send(
        self, call: Any, type_url: str, names: Iterable[str] = (), version: str = "",
        nonce: str = "",
    ) -> None:  # fmt: skip
        node, self._node = self._node, None
        await call.write(request_bytes(type_url, names, version, nonce, node))

    async def _on_response(self, call: Any, response: Any) -> None:
        type_url: str = response.type_url
        version: str = response.version_info
        nonce: str = response.nonce
        previous = self.versions.get(type_url)
        self.versions[type_url] = version
        self.counts[type_url] = len(response.resources)
        if not self.first_response_at:
            self.first_response_at = time.monotonic()
        fleet = self.fleet
        if type_url == CLUSTER_TYPE:
            eds = fleet.names_for(response, eds_names)
            await self._send(call, type_url, (), version, nonce)
            if self.eds is None or eds != self.eds:
                self.eds = eds
                await self._send(call, ENDPOINT_TYPE, eds)
        elif type_url == ENDPOINT_TYPE:
            await self._send(call, type_url, self.eds or (), version, nonce)
            if previous is None:
                await self._send(call, LISTENER_TYPE)
        elif type_url == LISTENER_TYPE:
            rds = fleet.names_for(response, rds_names)
            await self._send(call, type_url, (), version, nonce)
            if self.rds is None or rds != self.rds:
                self.rds = rds
                await self._send(call, ROUTE_TYPE, rds)
        else:
            names = self.rds if type_url == ROUTE_TYPE else ()
            await self._send(call, type_url, names or (), version, nonce)
            if type_url == ROUTE_TYPE and previous is None:
                self.initialized_at = time.monotonic()
                fleet._client_initialized()
        if (
            type_url == fleet.change_type
            and previous is not None
            and previous != version
            and not self.changed_at
        ):
            self.changed_at = time.monotonic()
            fleet._client_changed()


class DeltaAdsClient(_StreamClient):
    """One simulated Envoy over delta xDS with VHDS (`xdscp up --delta`): CDS and LDS
    wildcard, EDS and RDS by subscription, then VHDS wildcard; every response ACKed by
    its nonce. Initialized once the virtual hosts arrived; a change is a response of
    the fleet's change type after that (VHDS for a VirtualService edit: one virtual
    host, not the route configuration)."""

    __slots__ = ()
    method = DELTA_METHOD

    def _parse(self, data: bytes) -> Any:
        return discovery_pb2.DeltaDiscoveryResponse.FromString(data)

    async def _send(
        self, call: Any, type_url: str, subscribe: Iterable[str] = (), nonce: str = ""
    ) -> None:
        request = discovery_pb2.DeltaDiscoveryRequest(
            type_url=type_url, resource_names_subscribe=list(subscribe), response_nonce=nonce
        )
        node, self._node = self._node, None
        if node is not None:
            request.node.CopyFrom(node)
        await call.write(bytes(request.SerializeToString()))

    async def _on_response(self, call: Any, response: Any) -> None:
        type_url: str = response.type_url
        held = self.counts.get(type_url)
        self.counts[type_url] = (
            (held or 0) + len(response.resources) - len(response.removed_resources)
        )
        if not self.first_response_at:
            self.first_response_at = time.monotonic()
        await self._send(call, type_url, (), response.nonce)  # the ACK
        fleet = self.fleet
        if type_url == CLUSTER_TYPE and self.eds is None:
            self.eds = _delta_names(response, eds_names)
            await self._send(call, ENDPOINT_TYPE, self.eds)
        elif type_url == ENDPOINT_TYPE and held is None:
            await self._send(call, LISTENER_TYPE)
        elif type_url == LISTENER_TYPE and self.rds is None:
            self.rds = _delta_names(response, rds_names)
            await self._send(call, ROUTE_TYPE, self.rds)
        elif type_url == ROUTE_TYPE and held is None:
            await self._send(call, VIRTUAL_HOST_TYPE)  # wildcard, as Envoy
        elif type_url == VIRTUAL_HOST_TYPE and held is None:
            self.initialized_at = time.monotonic()
            fleet._client_initialized()
            return
        if (
            type_url == fleet.change_type
            and held is not None
            and self.initialized_at
            and not self.changed_at
        ):
            self.changed_at = time.monotonic()
            fleet._client_changed()


class _AsSotw:
    """A delta response's resources where `eds_names` / `rds_names` read them."""

    __slots__ = ("resources",)

    def __init__(self, response: Any) -> None:
        self.resources = [r.resource for r in response.resources]


def _delta_names(response: Any, derive: Callable[[Any], tuple[str, ...]]) -> tuple[str, ...]:
    return derive(_AsSotw(response))
