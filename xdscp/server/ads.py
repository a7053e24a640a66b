"""The AggregatedDiscoveryService on grpc.aio: admission, stream lifecycle, server start.

Registered through a generic handler whose response serializer is the identity:
streams hand gRPC finished `bytes` (assembled once, shared; see `wire`), so no
protobuf encoding happens per stream. Requests are still parsed with the real
protobuf classes (upb, fast) because the server must read them.
"""

from __future__ import annotations

import asyncio
import inspect
import socket
from collections.abc import AsyncIterator
from typing import Any, NoReturn

import grpc
import structlog
from envoy.service.discovery.v3.discovery_pb2 import DeltaDiscoveryRequest, DiscoveryRequest

from xdscp.errors import AddressUnavailable
from xdscp.server.delta import DeltaStream
from xdscp.server.identity import spiffe_id_from_auth_context
from xdscp.server.resolver import ProxyRejected, ProxyResolver, UnknownProxy
from xdscp.server.settings import AdsSettings
from xdscp.server.snapshots import SnapshotReader
from xdscp.server.sotw import SotwStream
from xdscp.server.status import StatusBook
from xdscp.server.stream import Shared, Stream, StreamAborted

_log = structlog.get_logger(__name__)

SERVICE_NAME = "envoy.service.discovery.v3.AggregatedDiscoveryService"
_Context = grpc.aio.ServicerContext[Any, bytes]


class AggregatedDiscoveryService:
    """ADS (SotW and Delta) over a `SnapshotReader`; knows nothing about translators."""

    def __init__(
        self,
        cache: SnapshotReader,
        resolver: ProxyResolver,
        status: StatusBook | None = None,
        settings: AdsSettings | None = None,
    ) -> None:
        self.resolver = resolver
        self.status = status if status is not None else StatusBook()
        self.settings = settings if settings is not None else AdsSettings()
        self._shared = Shared(cache, self.status, self.settings)

    @property
    def shared(self) -> Shared:
        return self._shared

    def rpc_handler(self) -> grpc.GenericRpcHandler[Any, Any]:
        """The handler to add to any grpc.aio server (lets the runtime co-host services)."""
        return grpc.method_handlers_generic_handler(
            SERVICE_NAME,
            {
                "StreamAggregatedResources": grpc.stream_stream_rpc_method_handler(
                    self.stream_aggregated_resources,
                    request_deserializer=DiscoveryRequest.FromString,
                    response_serializer=None,  # identity: responses are pre-encoded bytes
                ),
                "DeltaAggregatedResources": grpc.stream_stream_rpc_method_handler(
                    self.delta_aggregated_resources,
                    request_deserializer=DeltaDiscoveryRequest.FromString,
                    response_serializer=None,
                ),
            },
        )

    async def stream_aggregated_resources(
        self, requests: AsyncIterator[Any], context: _Context
    ) -> None:
        await self._end(context, await self._serve(requests, context, "sotw", SotwStream))

    async def delta_aggregated_resources(
        self, requests: AsyncIterator[Any], context: _Context
    ) -> None:
        await self._end(context, await self._serve(requests, context, "delta", DeltaStream))

    @staticmethod
    async def _end(context: _Context, aborted: StreamAborted | None) -> None:
        """End the RPC with the status the stream was aborted with, from a frame that
        holds nothing else: gRPC keeps the AbortError (and with its traceback every
        frame it passed through) alive after the call, and `_serve`'s frame would keep
        the whole stream state (every name the proxy requested) with it."""
        if aborted is not None:
            await context.abort(aborted.code, aborted.message)

    async def _serve(
        self,
        requests: AsyncIterator[Any],
        context: _Context,
        api: str,
        stream_type: type[Stream],
    ) -> StreamAborted | None:
        first = await self._first_request(requests, context)
        if first is None:
            return None
        peer_identity = _peer_identity(context)
        key = await self._admit(first, context, peer_identity)
        node_id = str(first.node.id)
        proxy = self.status.open(key, node_id, peer_identity, api)
        stream = stream_type(self._shared, key, proxy, context, peer_identity)
        _log.info("xds.stream_open", proxy=key, node=node_id, api=api, peer=context.peer())
        main = stream.task = asyncio.current_task()
        self._shared.register(stream)
        watcher = asyncio.create_task(stream.watch(), name=f"xds-watch:{key}")
        watcher.add_done_callback(lambda task: _watcher_done(task, main, key))
        aborted: StreamAborted | None = None
        try:
            await stream.handle(first)
            async for request in requests:
                await stream.handle(request)
        except StreamAborted as exc:
            aborted = exc
        except asyncio.CancelledError:
            # The watcher found the stream revoked and cancelled this task to end it
            # with that status; any other cancellation (client gone, shutdown) stands.
            if stream.revoked is None or main is None:
                raise
            main.uncancel()
            aborted = stream.revoked
        except Exception:
            _log.exception("xds.stream_failed", proxy=key, api=api)
            raise
        finally:
            # Synchronous bookkeeping first: gRPC may cancel this task again while
            # it waits below, and the proxy must be released regardless.
            watcher.cancel()
            self._shared.unregister(stream)
            self.status.close(proxy, api)
            try:
                self.resolver.disconnect(key)
            except Exception:
                _log.exception("xds.resolver_disconnect_failed", proxy=key)
            _log.info("xds.stream_closed", proxy=key, node=node_id, api=api)
            # Let the watcher go before returning: a write still in flight when
            # the handler returns makes gRPC fail the call's final batch.
            await asyncio.wait({watcher}, timeout=self.settings.write_timeout)
        if aborted is not None:
            aborted = aborted.with_traceback(None)
            stream.revoked = None
            # once per proxy and reason (a client reconnecting to repeat it logs no more)
            repeats = self._shared.log_limiter.admit((key, aborted.event), aborted.message)
            if repeats is not None:
                _log.warning(
                    aborted.event, proxy=key, node=node_id, api=api, peer=peer_identity,
                    code=aborted.code.name, reason=aborted.message, suppressed_repeats=repeats,
                )  # fmt: skip
            if self.status.metrics is not None:
                self.status.metrics.rejected_connections.labels(code=aborted.code.name).inc()
        return aborted

    async def _first_request(self, requests: AsyncIterator[Any], context: _Context) -> Any:
        try:
            async with asyncio.timeout(self.settings.first_request_timeout):
                return await anext(requests, None)
        except TimeoutError:
            await context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, "no discovery request received")

    async def _admit(self, first: Any, context: _Context, peer_identity: str | None) -> str:
        """Resolve the proxy key, or end the stream with the mapped gRPC status."""
        if not first.HasField("node") or not first.node.id:
            await self._reject(context, grpc.StatusCode.INVALID_ARGUMENT,
                               "the first request of a stream must carry node.id")  # fmt: skip
        try:
            result = self.resolver.connect(first.node, peer_identity)
            key = await result if inspect.isawaitable(result) else result
        except UnknownProxy as exc:
            await self._reject(context, grpc.StatusCode.NOT_FOUND, exc.reason, first)
        except ProxyRejected as exc:
            await self._reject(context, grpc.StatusCode.PERMISSION_DENIED, exc.reason, first)
        return key

    async def _reject(
        self, context: _Context, code: grpc.StatusCode, reason: str, first: Any = None
    ) -> NoReturn:
        node = str(first.node.id) if first is not None else ""
        _log.warning("xds.stream_rejected", node=node, code=code.name, reason=reason,
                     peer=context.peer())  # fmt: skip
        if self.status.metrics is not None:
            self.status.metrics.rejected_connections.labels(code=code.name).inc()
        await context.abort(code, reason)


def _peer_identity(context: _Context) -> str | None:
    try:
        return spiffe_id_from_auth_context(context.auth_context())
    except (UnicodeDecodeError, AttributeError):
        return None


def _watcher_done(task: asyncio.Task[None], main: asyncio.Task[Any] | None, key: str) -> None:
    """A failed push (write timeout, broken stream) ends the whole stream; Envoy reconnects."""
    if task.cancelled():
        return
    exc = task.exception()
    if isinstance(exc, StreamAborted):
        if main is not None:
            main.cancel()  # `_serve` ends the stream with the revocation's status
    elif exc is not None:
        _log.warning("xds.push_failed", proxy=key, error=repr(exc))
        if main is not None:
            main.cancel()


async def start_server(
    cache: SnapshotReader,
    resolver: ProxyResolver,
    listen: str = "127.0.0.1:15010",
    credentials: grpc.ServerCredentials | None = None,
    status: StatusBook | None = None,
    settings: AdsSettings | None = None,
) -> tuple[grpc.aio.Server, int]:
    """Start an ADS server; returns it and the bound port (useful with port 0).

    `credentials` None means plaintext (the CLI only allows that behind
    `--insecure`); with mTLS credentials the peer's SPIFFE ID reaches the resolver.
    """
    service = AggregatedDiscoveryService(cache, resolver, status, settings)
    return await serve(service, listen, credentials)


async def serve(
    service: AggregatedDiscoveryService,
    listen: str = "127.0.0.1:15010",
    credentials: grpc.ServerCredentials | None = None,
) -> tuple[grpc.aio.Server, int]:
    """Start a grpc.aio server for an existing service object (tests, benchmarks, embedding)."""
    server = grpc.aio.server(options=service.settings.grpc_options())
    server.add_generic_rpc_handlers([service.rpc_handler()])
    # grpc reports a busy port only as "Failed to bind" (plus a C-core log line): try
    # the address first, to tell the user why.
    failure = _bind_failure(listen)
    try:
        if failure is None:
            if credentials is None:
                port = server.add_insecure_port(listen)
            else:
                port = server.add_secure_port(listen, credentials)
    except RuntimeError:
        failure = "gRPC could not bind it"
    if failure is not None or port == 0:
        raise AddressUnavailable("xDS", listen, failure or "gRPC could not bind it", "--listen")
    await server.start()
    _log.info("xds.server_started", listen=listen, port=port, tls=credentials is not None)
    return server, port


def _bind_failure(listen: str) -> str | None:
    """Why `listen` cannot be bound (tried with a plain socket), or None if it can."""
    host, _, port = listen.rpartition(":")
    host = host.strip("[]")
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, int(port)))
    except OSError as exc:
        return exc.strerror or str(exc)
    except (ValueError, OverflowError) as exc:
        return str(exc)
    return None
