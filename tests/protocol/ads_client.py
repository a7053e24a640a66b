"""An in-process ADS client that behaves like Envoy on the wire, step by step."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from typing import Any

import grpc
from envoy.config.core.v3 import base_pb2
from envoy.service.discovery.v3 import discovery_pb2
from google.rpc import status_pb2

SOTW_METHOD = "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources"
DELTA_METHOD = "/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources"


_EOF: Any = grpc.aio.EOF  # type: ignore[attr-defined]  # missing from grpc-stubs


def _identity(data: bytes) -> bytes:
    return data


class _Stream:
    """A stream whose responses are read by a background task into a queue.

    (Cancelling a pending `call.read()` would cancel the whole RPC, so timeouts
    apply to the queue, never to the read.)
    """

    def __init__(self, channel: grpc.aio.Channel, method: str, serializer: Any) -> None:
        multi: Any = channel.stream_stream(method, serializer, _identity)
        self.call: Any = multi()
        self.first = True
        self.raw: list[bytes] = []
        self._inbox: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._reader = asyncio.create_task(self._read_all())

    async def _read_all(self) -> None:
        try:
            while True:
                data = await self.call.read()
                if data is _EOF:
                    return
                self._inbox.put_nowait(data)
        except (grpc.aio.AioRpcError, asyncio.CancelledError):
            return
        finally:
            self._inbox.put_nowait(None)

    async def read_raw(self, timeout: float) -> bytes:
        async with asyncio.timeout(timeout):
            data = await self._inbox.get()
        if data is None:
            self._inbox.put_nowait(None)
            raise EOFError("stream ended")
        self.raw.append(data)
        return data

    async def expect_silence(self, seconds: float = 0.4) -> None:
        """Assert that the server sends nothing for `seconds`."""
        try:
            async with asyncio.timeout(seconds):
                data = await self._inbox.get()
        except TimeoutError:
            return
        raise AssertionError(f"unexpected message from server: {data!r:.300}")

    async def status(self, timeout: float = 2.0) -> grpc.StatusCode:
        async with asyncio.timeout(timeout):
            code: grpc.StatusCode = await self.call.code()
        return code

    async def close(self) -> None:
        self.call.cancel()
        self._reader.cancel()
        await asyncio.wait({self._reader}, timeout=1.0)


class SotwClient(_Stream):
    def __init__(self, channel: grpc.aio.Channel, node_id: str = "proxy-1") -> None:
        super().__init__(channel, SOTW_METHOD, discovery_pb2.DiscoveryRequest.SerializeToString)
        self.node = base_pb2.Node(id=node_id, cluster="test")

    async def send(
        self,
        type_url: str,
        names: Iterable[str] = (),
        version: str = "",
        nonce: str = "",
        error: str | None = None,
        node: bool | None = None,
    ) -> None:
        req = discovery_pb2.DiscoveryRequest(
            type_url=type_url,
            resource_names=list(names),
            version_info=version,
            response_nonce=nonce,
        )
        if node if node is not None else self.first:
            req.node.CopyFrom(self.node)
        if error is not None:
            req.error_detail.CopyFrom(status_pb2.Status(code=3, message=error))
        self.first = False
        await self.call.write(req)

    async def recv(self, timeout: float = 2.0) -> Any:
        return discovery_pb2.DiscoveryResponse.FromString(await self.read_raw(timeout))

    async def ack(self, response: Any, names: Iterable[str] = ()) -> None:
        await self.send(response.type_url, names, response.version_info, response.nonce)

    async def subscribe(self, type_url: str, names: Iterable[str] = ()) -> Any:
        """Initial request + response + ACK, like Envoy at startup."""
        await self.send(type_url, names)
        response = await self.recv()
        assert response.type_url == type_url
        await self.ack(response, names)
        # Let the server process the ACK before the test changes anything (else
        # a push could cross it and make it stale, which is correct but not
        # what these tests want to set up).
        await self.expect_silence(0.05)
        return response


class DeltaClient(_Stream):
    def __init__(self, channel: grpc.aio.Channel, node_id: str = "proxy-1") -> None:
        super().__init__(
            channel, DELTA_METHOD, discovery_pb2.DeltaDiscoveryRequest.SerializeToString
        )
        self.node = base_pb2.Node(id=node_id, cluster="test")

    async def send(
        self,
        type_url: str,
        subscribe: Iterable[str] = (),
        unsubscribe: Iterable[str] = (),
        nonce: str = "",
        error: str | None = None,
        initial_versions: Mapping[str, str] | None = None,
    ) -> None:
        req = discovery_pb2.DeltaDiscoveryRequest(
            type_url=type_url,
            resource_names_subscribe=list(subscribe),
            resource_names_unsubscribe=list(unsubscribe),
            response_nonce=nonce,
            initial_resource_versions=dict(initial_versions or {}),
        )
        if self.first:
            req.node.CopyFrom(self.node)
        if error is not None:
            req.error_detail.CopyFrom(status_pb2.Status(code=3, message=error))
        self.first = False
        await self.call.write(req)

    async def recv(self, timeout: float = 2.0) -> Any:
        return discovery_pb2.DeltaDiscoveryResponse.FromString(await self.read_raw(timeout))

    async def ack(self, response: Any) -> None:
        await self.send(response.type_url, nonce=response.nonce)


def names_of(response: Any) -> list[str]:
    """Resource names in a SotW response (decoded from the Any bodies)."""
    from envoy.config.cluster.v3 import cluster_pb2
    from envoy.config.endpoint.v3 import endpoint_pb2
    from envoy.config.listener.v3 import listener_pb2
    from envoy.config.route.v3 import route_pb2
    from envoy.extensions.transport_sockets.tls.v3 import secret_pb2

    kinds: dict[str, Any] = {
        "envoy.config.cluster.v3.Cluster": (cluster_pb2.Cluster, "name"),
        "envoy.config.endpoint.v3.ClusterLoadAssignment": (
            endpoint_pb2.ClusterLoadAssignment,
            "cluster_name",
        ),
        "envoy.config.listener.v3.Listener": (listener_pb2.Listener, "name"),
        "envoy.config.route.v3.RouteConfiguration": (route_pb2.RouteConfiguration, "name"),
        "envoy.extensions.transport_sockets.tls.v3.Secret": (secret_pb2.Secret, "name"),
    }
    out = []
    for packed in response.resources:
        cls, field = kinds[packed.type_url.rsplit("/", 1)[1]]
        out.append(getattr(cls.FromString(packed.value), field))
    return out
