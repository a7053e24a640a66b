"""The push benchmark's floor: an ADS server that only replays pre-serialized bytes.

No translation, no snapshot cache, no protocol rules, no status book: per stream it
keeps the stream context, a write lock and the client's name. It answers the first
request of each type with that type's pre-built response (the exact bytes xdscp would
send, assembled by `xdscp.server.wire`), counts ACKs, and on command writes the
"changed" response to every open stream. A nonce is per distinct content, so streams
sent the same content get the same bytes object: a push allocates nothing per stream.
Transport (grpc.aio, server options, identity response serializer, `DiscoveryRequest`
parsing) is the same as xdscp's, so the difference between the two servers is what
xdscp does on top of moving bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import pickle
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from envoy.service.discovery.v3.discovery_pb2 import DiscoveryRequest

from xdscp.server.settings import AdsSettings
from xdscp.server.wire import nonce_field

SERVICE_NAME = "envoy.service.discovery.v3.AggregatedDiscoveryService"
_Context = grpc.aio.ServicerContext[Any, bytes]


@dataclass(frozen=True, slots=True)
class FloorBodies:
    """Response bodies (DiscoveryResponse without nonce) per client workload name.

    Identical bodies are the same `bytes` object (pickle keeps that sharing), so the
    floor holds what xdscp's shared body cache holds: one copy per distinct content.
    """

    initial: Mapping[str, Mapping[str, bytes]]  # workload name -> type URL -> body
    change_type: str
    # The changing type alternates between two contents: index 0 is the initial one.
    versions: tuple[str, str]
    alternates: Mapping[str, tuple[bytes, bytes]]  # workload name -> (body v0, body v1)

    def save(self, path: Path) -> None:
        path.write_bytes(pickle.dumps(self, protocol=pickle.HIGHEST_PROTOCOL))

    @staticmethod
    def load(path: Path) -> FloorBodies:
        loaded = pickle.loads(path.read_bytes())  # our own file, written by the driver
        assert isinstance(loaded, FloorBodies)
        return loaded


class _FloorStream:
    __slots__ = ("context", "lock", "name")

    def __init__(self, context: _Context, name: str) -> None:
        self.context = context
        self.name = name
        self.lock = asyncio.Lock()


class FloorServer:
    """Replays `FloorBodies`; see the module docstring for what it deliberately lacks."""

    def __init__(self, bodies: FloorBodies, settings: AdsSettings | None = None) -> None:
        self.bodies = bodies
        self.settings = settings if settings is not None else AdsSettings()
        self.streams: set[_FloorStream] = set()
        self._nonces = itertools.count(1)
        sealed: dict[int, bytes] = {}
        self._initial = {
            name: {t: self._seal(body, sealed) for t, body in types.items()}
            for name, types in bodies.initial.items()
        }
        self._changing: dict[int, bytes] = {}  # id(body) -> response, live alternate
        self.current = 0  # which alternate of the changing type is live
        self.acks = 0  # ACKs of the live alternate since the last change
        self.ack_target = 0
        self.acked_at = 0.0
        self.cpu_acked = 0.0  # process CPU seconds (all threads) at the last counted ACK
        self._acked = asyncio.Event()
        self._pushes: set[asyncio.Task[None]] = set()

    def rpc_handler(self) -> grpc.GenericRpcHandler[Any, Any]:
        return grpc.method_handlers_generic_handler(
            SERVICE_NAME,
            {
                "StreamAggregatedResources": grpc.stream_stream_rpc_method_handler(
                    self.stream,
                    request_deserializer=DiscoveryRequest.FromString,
                    response_serializer=None,
                )
            },
        )

    async def stream(self, requests: AsyncIterator[Any], context: _Context) -> None:
        async with asyncio.timeout(self.settings.first_request_timeout):
            first = await anext(requests, None)
        if first is None:
            return
        fields = first.node.metadata.fields
        name = fields["WORKLOAD_NAME"].string_value if "WORKLOAD_NAME" in fields else ""
        if name not in self.bodies.initial:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"no bodies for {name!r}")
        stream = _FloorStream(context, name)
        self.streams.add(stream)
        try:
            await self._handle(stream, first)
            async for request in requests:
                await self._handle(stream, request)
        finally:
            self.streams.discard(stream)

    async def _handle(self, stream: _FloorStream, request: Any) -> None:
        type_url: str = request.type_url
        if request.response_nonce:
            if type_url == self.bodies.change_type and (
                request.version_info == self.bodies.versions[self.current]
            ):
                self.acks += 1
                if self.acks == self.ack_target:
                    self.acked_at = time.monotonic()
                    self.cpu_acked = time.process_time()
                    self._acked.set()
            return
        response = self._response(stream.name, type_url)
        if response is not None:
            await self._write(stream, response)

    def _seal(self, body: bytes, sealed: dict[int, bytes]) -> bytes:
        """The response for `body`: one nonce per distinct body object, shared by streams."""
        found = sealed.get(id(body))
        if found is None:
            found = sealed[id(body)] = body + nonce_field(format(next(self._nonces), "x"))
        return found

    def _response(self, name: str, type_url: str) -> bytes | None:
        if type_url == self.bodies.change_type:
            return self._seal(self.bodies.alternates[name][self.current], self._changing)
        return self._initial[name].get(type_url)

    async def _write(self, stream: _FloorStream, response: bytes) -> None:
        async with stream.lock, asyncio.timeout(self.settings.write_timeout):
            await stream.context.write(response)

    def push_change(self, expected_acks: int) -> None:
        """Switch the changing type to its other content and write it to every stream."""
        self.current ^= 1
        self._changing = {}
        self.acks = 0
        self.ack_target = expected_acks
        self.acked_at = 0.0
        self.cpu_acked = 0.0
        self._acked.clear()
        for stream in list(self.streams):
            response = self._response(stream.name, self.bodies.change_type)
            assert response is not None
            task = asyncio.create_task(self._push_one(stream, response))
            self._pushes.add(task)
            task.add_done_callback(self._pushes.discard)

    async def _push_one(self, stream: _FloorStream, response: bytes) -> None:
        # A stream that went away is not counted; the driver sees the shortfall.
        with contextlib.suppress(grpc.aio.AioRpcError, TimeoutError, RuntimeError):
            await self._write(stream, response)

    async def wait_acks(self, timeout: float) -> bool:
        try:
            async with asyncio.timeout(timeout):
                await self._acked.wait()
        except TimeoutError:
            return False
        return True


async def serve_floor(
    floor: FloorServer,
    listen: str = "127.0.0.1:0",
    credentials: grpc.ServerCredentials | None = None,
) -> tuple[grpc.aio.Server, int]:
    """Same server construction as `xdscp.server.ads.serve`."""
    server = grpc.aio.server(options=floor.settings.grpc_options())
    server.add_generic_rpc_handlers([floor.rpc_handler()])
    if credentials is None:
        port = server.add_insecure_port(listen)
    else:
        port = server.add_secure_port(listen, credentials)
    if port == 0:
        raise OSError(f"could not bind the floor server to {listen}")
    await server.start()
    return server, port
