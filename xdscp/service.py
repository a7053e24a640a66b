"""The control-plane service: config source -> runtime -> cache -> ADS server, plus the
debug endpoint. `xdscp serve` runs one; `xdscp up` and the e2e tests embed one."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import structlog
from aiohttp import web

from translators.extensions import ExtensionSet
from translators.mesh import MeshOptions
from xdscp.cache import SnapshotCache
from xdscp.debug.config_dump import config_dump_routes
from xdscp.debug.describe import describe_routes
from xdscp.debug.http import start_debug_server
from xdscp.identity import XDS_SERVER_NAME, IdentityService, IdentitySettings
from xdscp.metrics import XdsMetrics
from xdscp.runtime import MeshRuntime
from xdscp.server.ads import start_server
from xdscp.server.status import StatusBook
from xdscp.sources.files import DirectorySource
from xdscp.tuning import tune_gc

log = structlog.get_logger()


def split_address(address: str, default_port: int) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep:
        return address, default_port
    return host.strip("[]"), int(port)


@dataclass
class ControlPlane:
    config_dir: Path
    listen: str = "127.0.0.1:15010"
    debug_listen: str | None = "127.0.0.1:15014"
    options: MeshOptions = field(default_factory=lambda: MeshOptions(local_mode=True))
    cache: SnapshotCache = field(default_factory=SnapshotCache)
    identity_settings: IdentitySettings = field(default_factory=IdentitySettings)
    # Plaintext xDS: anyone who can reach the port can claim any workload and get its
    # keys. Only for debugging, and only when asked for explicitly.
    insecure: bool = False
    # Translator extensions (`--extension module:object`): their kinds are read from the
    # config directory, their translators and patches run for every proxy.
    extensions: ExtensionSet = field(default_factory=ExtensionSet)

    def __post_init__(self) -> None:
        self.metrics = XdsMetrics()
        self.status = StatusBook(self.metrics)
        self.identity = IdentityService(self.identity_settings)
        self.runtime = MeshRuntime(
            self.cache,
            self.identity,
            require_identity=not self.insecure,
            extensions=self.extensions,
        )
        self.runtime.on_generation = self.status.propagation.started
        self.metrics.watch_certificate_expiry("svid", self.identity.seconds_to_svid_expiry)
        self.metrics.watch_certificate_expiry("root", self.identity.seconds_to_root_expiry)
        self.source = DirectorySource(self.config_dir, self.options, kinds=self.extensions.kinds())
        self._server: grpc.aio.Server | None = None
        self._debug: web.AppRunner | None = None
        self._watch: asyncio.Task[None] | None = None
        self._rotate: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self.xds_address: tuple[str, int] = split_address(self.listen, 15010)
        self.debug_url = ""

    async def start(self) -> None:
        """Load config (so the first proxy gets a full snapshot), then serve and watch."""
        self.runtime.apply_now(self.source.load())
        tune_gc()
        host, port = split_address(self.listen, 15010)
        credentials = None
        if self.insecure:
            log.warning(
                "xds.insecure",
                message="plaintext xDS: any client can claim any workload and receive its "
                "private keys; never use --insecure outside a throwaway test",
            )
        else:
            credentials = self.identity.server_credentials(
                sorted({host, "127.0.0.1", "localhost", XDS_SERVER_NAME})
            )
        self._server, bound = await start_server(
            self.cache, self.runtime, f"{host}:{port}", credentials, status=self.status
        )
        self.xds_address = (host, bound)
        if self.debug_listen:
            debug_host, debug_port = split_address(self.debug_listen, 15014)
            self._debug, bound_debug = await start_debug_server(
                self.status,
                self.metrics.registry,
                f"{debug_host}:{debug_port}",
                extra_routes=[
                    web.get("/debug/config", self._config_status),
                    *config_dump_routes(self.cache, self.identity.rotation_of),
                    *describe_routes(lambda: self.runtime.mesh),
                ],
            )
            self.debug_url = f"http://{debug_host}:{bound_debug}"
        self._watch = asyncio.create_task(self._watch_config())
        self._rotate = asyncio.create_task(
            self.identity.rotate_forever(self.runtime.refresh, self._stop)
        )
        log.info("control_plane.started", xds=f"{host}:{bound}", debug=self.debug_url)

    async def _config_status(self, request: web.Request) -> web.Response:
        return web.json_response(self.runtime.config_status())

    async def _watch_config(self) -> None:
        try:
            await self.source.run(self.runtime.apply, self._stop, initial=False)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("config.watch_failed")

    async def stop(self) -> None:
        self._stop.set()
        for task in (self._watch, self._rotate):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if self._debug is not None:
            await self._debug.cleanup()
        if self._server is not None:
            await self._server.stop(grace=1.0)
