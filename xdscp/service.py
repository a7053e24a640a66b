"""The control-plane service: config source -> runtime -> cache -> ADS server, plus the
debug endpoint. `xdscp serve` runs one; `xdscp up` and the e2e tests embed one."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import structlog
from aiohttp import web
from prometheus_client import Gauge

from translators.analysis import Analysis
from translators.analysis.gateway_certs import certificate_messages, credential_references
from translators.analysis.jwks import jwks_messages
from translators.analysis.message import Message
from translators.extensions import ExtensionSet
from translators.mesh import MeshConfig, MeshOptions
from xdscp.analysis import MeshAnalyzer
from xdscp.cache import SnapshotCache
from xdscp.dashboard.web import Dashboard
from xdscp.debug.config_dump import config_dump_routes
from xdscp.debug.describe import describe_routes
from xdscp.debug.explain import explain_routes
from xdscp.debug.http import start_debug_server
from xdscp.gateway_credentials import CredentialStore, GatewayCredentials
from xdscp.identity import XDS_SERVER_NAME, IdentityService, IdentitySettings
from xdscp.jwks import JwksFetcher, JwksSettings
from xdscp.metrics import XdsMetrics
from xdscp.runtime import MeshRuntime
from xdscp.server.ads import start_server
from xdscp.server.status import StatusBook
from xdscp.sources.files import DirectorySource
from xdscp.sources.protocol import ConfigSource
from xdscp.tuning import raise_fd_limit, tune_gc

log = structlog.get_logger()

# The analysis waits for the proxies being served (`ControlPlane._proxies_served`): for
# proxies to arrive this long after the plane listens, then at most this long in all.
ANALYSIS_GRACE_AFTER_LISTEN_S = 1.0
ANALYSIS_WAIT_MAX_S = 10.0
# A file change pauses a running analysis until the edit's pushes are acknowledged
# (`_apply`), at most this long (a batch that applies nothing, a proxy that never ACKs).
ANALYSIS_HOLD_S = 2.0
# A warm start's kept translations (xdscp/warm_start.py) serve the proxies connecting
# this long after it (Envoys reconnecting after a restart), then are dropped.
KEPT_TRANSLATIONS_S = 30.0
# ... and are served before the rest of the state is loaded: the load waits this long
# for the first proxies, then until those that came are served, at most this long
# (`_load_after_listening`).
KEPT_FIRST_GRACE_S = 0.2
KEPT_FIRST_WAIT_MAX_S = 2.0


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
    # Bearer token for the debug port; required when it is not on loopback.
    debug_token: str | None = None
    # RequestAuthentication `jwksUri` fetching (refresh / retry periods, size bound).
    jwks_settings: JwksSettings = field(default_factory=JwksSettings)
    # Parsed config files kept across restarts (`serve --parse-cache`; see its module).
    parse_cache: Path | None = None
    # Gateway certificates by credentialName (default: `credentials/` in the config dir).
    credentials_dir: Path | None = None

    def __post_init__(self) -> None:
        self.metrics = XdsMetrics()
        self.status = StatusBook(self.metrics)
        self.analyzer = MeshAnalyzer(self.metrics.registry)
        self.dashboard = Dashboard(lambda: self.runtime.translator, self.status)
        self.analyzer.runtime_sources.append(self.dashboard.runtime_messages)
        self.analyzer.runtime_sources.append(self._jwks_messages)
        self.analyzer.runtime_sources.append(self._certificate_messages)
        self.analyzer.before_run = self._proxies_served
        self._listening_at: float | None = None  # monotonic, once the xDS port is bound
        self.identity = IdentityService(self.identity_settings)
        self.runtime = MeshRuntime(
            self.cache,
            self.identity,
            require_identity=not self.insecure,
            extensions=self.extensions,
        )
        self.runtime.on_generation = self.status.propagation.started
        credentials_dir = self.credentials_dir or self.config_dir / "credentials"
        self.credentials: GatewayCredentials = CredentialStore(credentials_dir)
        self.runtime.gateway_secrets = self.credentials.secrets_for
        self.metrics.watch_certificate_expiry("svid", self.identity.seconds_to_svid_expiry)
        self.metrics.watch_certificate_expiry("root", self.identity.seconds_to_root_expiry)
        files = DirectorySource(
            self.config_dir,
            self.options,
            kinds=self.extensions.kinds(),
            parse_cache=self.parse_cache,
            credentials_dir=credentials_dir,
        )
        files.on_credentials = self._credentials_changed
        files.before_cache_write = self._proxies_served  # as the analysis waits
        files.on_batch = self._edit_seen
        # a warm start serves the first proxies what the last start translated for them
        # (xdscp/warm_start.py): kept with its mesh snapshot, given back by the restore
        files.translations_to_keep = self.runtime.kept_translations
        self._directory = files  # its initial load can be abandoned (`_load_initial`)
        self.source: ConfigSource = files
        source_up = Gauge(
            "xdscp_config_source_up",
            "1 while the config source is loaded and watching; 0 when dead, stuck or empty.",
            registry=self.metrics.registry,
        )
        source_up.set_function(lambda: 1.0 if self.source.health.view().up else 0.0)
        self._server: grpc.aio.Server | None = None
        self._debug: web.AppRunner | None = None
        self._watch: asyncio.Task[None] | None = None
        self._rotate: asyncio.Task[None] | None = None
        self.jwks = JwksFetcher(self.jwks_settings)
        self._jwks_refresh: asyncio.Task[None] | None = None
        self._analyze: asyncio.Task[None] | None = None
        self._warm: asyncio.Task[None] | None = None  # see `_warm_kept`
        # a warm start's initial load, after listening (see `start`)
        self._initial: asyncio.Task[None] | None = None
        self._releasing: set[asyncio.Task[None]] = set()  # see `_release_analysis`
        self._stop = asyncio.Event()
        # Source updates and fetched-key updates both apply a mesh: one at a time, so a
        # key refresh never re-applies a mesh older than the one a source update applied.
        self._mesh_updates = asyncio.Lock()
        self.xds_address: tuple[str, int] = split_address(self.listen, 15010)
        self.debug_url = ""

    async def start(self) -> None:
        """Load config (so the first proxy gets a full snapshot), then serve and watch.
        Cancelled (Ctrl-C while starting), it stops what it started so far promptly.
        A warm start with translations kept for its proxies (xdscp/warm_start.py)
        serves those first and loads the rest of its state after listening."""
        if not await self._kept_served_first():
            await self._load_initial()
            await self._jwks_changed()  # the first proxies get the IdPs' keys, not none
        tune_gc()
        # the first analysis builds every table the next ones update: long-lived too
        self.analyzer.freeze_next_run = True
        self._analyze = asyncio.create_task(self.analyzer.run(self._stop))
        self._analysis_due()
        # the first proxy's translation makes the pieces the rest share: long-lived too
        self.runtime.freeze_next_translation = True
        before, after = raise_fd_limit()
        log.info("process.fd_limit", soft_before=before, soft=after)
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
        self._listening_at = time.monotonic()
        if self.debug_listen:
            debug_host, debug_port = split_address(self.debug_listen, 15014)
            self._debug, bound_debug = await start_debug_server(
                self.status,
                self.metrics.registry,
                f"{debug_host}:{debug_port}",
                extra_routes=[
                    web.get("/debug/config", self._config_status),
                    web.get("/ready", self._ready),
                    self.analyzer.route(lambda: self.runtime.mesh),
                    *explain_routes(lambda: self.runtime.translator, self.dashboard.worker),
                    *config_dump_routes(self.cache, self.identity.rotation_of),
                    *describe_routes(lambda: self.runtime.mesh, self._analysis_of),
                    *self.dashboard.routes(),
                ],
                token=self.debug_token,
            )
            self.debug_url = f"http://{debug_host}:{bound_debug}"
        if self.runtime.warm is not None and self.runtime.mesh is None:
            self._initial = asyncio.create_task(self._load_after_listening())
        self._watch = asyncio.create_task(self._watch_config())
        self._jwks_refresh = asyncio.create_task(self.jwks.run(self._stop, self._jwks_changed))
        self._rotate = asyncio.create_task(
            self.identity.rotate_forever(self.runtime.refresh, self._stop)
        )
        log.info("control_plane.started", xds=f"{host}:{bound}", debug=self.debug_url)

    async def _kept_served_first(self) -> bool:
        """Whether this start serves translations kept with a mesh snapshot before the
        mesh is loaded (`DirectorySource.restore_kept`; then `_load_after_listening`)."""
        kept = await asyncio.to_thread(self._directory.restore_kept)
        if kept:
            self.runtime.keep(None, kept)  # their mesh is not loaded yet
            log.info("warm_start.kept_served_first", proxies=len(kept))
        return bool(kept)

    async def _load_after_listening(self) -> None:
        """The initial load of a start that serves kept translations first: once the
        proxies that came in a short grace are served (`KEPT_FIRST_GRACE_S`, bounded),
        so the load does not take turns with them for the interpreter; then as any
        start's (the proxies served early stay as they are when the mesh is the
        restored one)."""
        await self._proxies_served(KEPT_FIRST_GRACE_S, KEPT_FIRST_WAIT_MAX_S)
        async with self._mesh_updates:
            await self._load_initial()
        await self._jwks_changed()
        self._analysis_due()
        # files changed since they were checked, before the watcher starts (after this)
        try:
            changed = await asyncio.to_thread(self._directory.changed_since_restore)
            if changed:
                log.info("config.changed", files=sorted(p.name for p in changed))
                await self._apply(await asyncio.to_thread(self._directory.load_changed, changed))
        except Exception:  # the mesh in force stays; the next change is read as usual
            log.exception("config.reload_failed", action="keeps the config in force")

    async def _load_initial(self) -> None:
        """Whatever the directory holds, `serve` starts: an unexpected failure leaves the
        plane unready (see `/ready`) and the watcher loads the next change. The load runs
        off the event loop, so a signal is seen while it runs (seconds at 10,000 files);
        cancelled, it is abandoned at the next file."""
        health = self.source.health
        health.begin()
        try:
            mesh = await asyncio.to_thread(self.source.load)
            kept = self._directory.kept_translations
            if kept and self._directory.restored:
                self.runtime.keep(mesh, kept)
                self._warm = asyncio.create_task(self._warm_kept())
            else:  # kept translations served before a load that did not restore them
                self.runtime.keep(None, {})
            self.runtime.apply_now(mesh)
        except asyncio.CancelledError:
            self._directory.abandon_load()
            raise
        except Exception as exc:
            log.exception("config.initial_load_failed")
            health.failed(f"{type(exc).__name__}: {str(exc)[:200]}")
        else:
            health.loaded_initially()

    async def _warm_kept(self) -> None:
        """Once the first proxies are served from kept translations, translate them for
        real off their critical path: the memo the first edit needs (see
        `MeshRuntime.warm_kept`); proxies connecting later likewise, for a while
        (`KEPT_TRANSLATIONS_S`), then the kept translations no proxy took are dropped."""
        deadline = time.monotonic() + KEPT_TRANSLATIONS_S
        await self._proxies_served()
        checked, started = 0, time.monotonic()
        while True:
            checked += await self.runtime.warm_kept()
            if not self.runtime.kept_unused() or time.monotonic() >= deadline:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), 1.0)
            if self._stop.is_set():
                return
        self.runtime.keep(None, {})
        seconds = round(time.monotonic() - started, 3)
        log.info("warm_start.translated", proxies=checked, seconds=seconds)

    async def _proxies_served(
        self, grace: float = ANALYSIS_GRACE_AFTER_LISTEN_S, bound: float = ANALYSIS_WAIT_MAX_S
    ) -> None:
        """The analysis runs in a thread that takes turns with the event loop for the
        interpreter: started while proxies get their configs (at start, all of them, right
        as the plane listens) it slows their translation by about its own length (~2 s for
        10,000 services). So it waits until the proxies that came are served: a grace after
        listening for the first ones to arrive, then until every connected proxy has
        acknowledged what it was sent. Bounded: analysis is late at worst, never skipped.
        (`grace` and `bound`: the same wait for other work.)"""
        deadline = time.monotonic() + bound
        while time.monotonic() < deadline and not self._stop.is_set():
            listening = self._listening_at
            settled = (
                listening is not None
                and time.monotonic() >= listening + grace
                and all(proxy.in_sync for proxy in self.status)
            )
            if settled:
                return
            await asyncio.sleep(0.05)

    def _analysis_of(self, mesh: MeshConfig) -> Analysis | None:
        latest = self.analyzer.latest
        return latest.analysis if latest is not None and latest.mesh is mesh else None

    async def _config_status(self, request: web.Request) -> web.Response:
        """`GET /debug/config`: the config generation, every object and its errors."""
        return web.json_response(
            {
                **self.runtime.config_status(),
                "source": self.source.health.view().as_dict(),
                "jwks": self.jwks.status(),  # per jwksUri: keys held, last error, age
            }
        )

    async def _ready(self, request: web.Request) -> web.Response:
        """200 when config is loaded and its watcher alive; 503 with the reason otherwise
        (a frozen config loop must fail a readiness probe, not only write a log line).
        A degraded source that still serves its last good mesh (the Kubernetes API server
        unreachable) stays ready, with the reason: see `xdscp.kube.health` for why."""
        view = self.source.health.view()
        body = {"ready": view.ready, "reason": view.reason, "generation": self.runtime.generation}
        return web.json_response(body, status=200 if view.ready else 503)

    def _edit_seen(self) -> None:
        """A file batch arrived: the analysis waits from now (`_apply` takes it on)."""
        self.analyzer.hold(ANALYSIS_HOLD_S)

    def _analysis_due(self) -> None:
        if self.runtime.mesh is not None:
            self.analyzer.submit(self.runtime.mesh, self.runtime.generation)

    async def _apply(self, mesh: MeshConfig) -> None:
        """Push first; the analysis of the new mesh runs after, off the hot path (and
        a running one waits until the edit's pushes are acknowledged)."""
        token = self.analyzer.hold(ANALYSIS_HOLD_S)
        try:
            async with self._mesh_updates:
                mesh = await self.jwks.resolve(mesh)
                await self.runtime.apply(mesh)
                await self._reject_untranslatable(mesh)
        finally:
            task = asyncio.create_task(self._release_analysis(token))
            self._releasing.add(task)
            task.add_done_callback(self._releasing.discard)
        self._analysis_due()

    async def _release_analysis(self, token: int) -> None:
        """The analysis goes on once every proxy the edit changed acknowledged it (no
        generation waits in `propagation`: polled on the loop, cheap with 1,000 proxies),
        or after the hold's bound."""
        deadline = time.monotonic() + ANALYSIS_HOLD_S
        while time.monotonic() < deadline and self.status.propagation.waiting():
            await asyncio.sleep(0.01)
        self.analyzer.release(token)

    async def _certificate_messages(self) -> list[Message]:
        """Gateway certificates missing or expired (XDS0902, XDS0903)."""
        mesh = self.runtime.mesh
        if mesh is None:
            return []
        facts = {
            (ns, name): self.credentials.facts(ns, name)
            for _, _, ns, name in credential_references(mesh)
        }
        return certificate_messages(mesh, facts, datetime.datetime.now(datetime.UTC))

    async def _jwks_messages(self) -> list[Message]:
        return jwks_messages(self.runtime.mesh)

    async def _jwks_changed(self) -> None:
        """Keys of a `jwksUri` were fetched, changed or failed: the current mesh again,
        with them (only listeners whose keys changed are rebuilt and pushed)."""
        async with self._mesh_updates:  # the newest mesh, read once no update is running
            if self.runtime.mesh is None:
                return
            await self.runtime.apply(await self.jwks.resolve(self.runtime.mesh))
        self._analysis_due()

    async def _credentials_changed(self) -> None:
        """A gateway certificate file changed: the mesh in force again (the same mesh, so
        nothing is translated again); the certificates are read anew and only gateways
        whose Secrets changed get a push. Then the certificate analysis (XDS0902/3)."""
        async with self._mesh_updates:
            if self.runtime.mesh is None:
                return
            await self.runtime.apply(self.runtime.mesh)
        self._analysis_due()

    async def _reject_untranslatable(self, mesh: MeshConfig) -> None:
        """A proxy whose config cannot be built keeps its last good config; here the
        object to blame is found, rejected (its last good version restored) and the mesh
        applied again, so every other proxy gets the rest of the change. Bounded: each
        round rejects at least one object, and there are at most three."""
        for _ in range(3):
            failing = sorted(self.runtime.translate_errors)
            if not failing:
                return
            culprits = await asyncio.to_thread(self.source.blame, mesh, failing[0], self.extensions)
            if not culprits:
                return
            mesh = await self.jwks.resolve(await asyncio.to_thread(self.source.load))
            await self.runtime.apply(mesh)

    async def _watch_config(self) -> None:
        """Run the source's watcher; if it ever ends or fails, or its directory is gone,
        say so (`/ready` false) and start it again after a bounded backoff, until the
        plane stops. A restarted watcher first reads everything: it may have missed
        changes while it was down."""
        backoff, restarted = 0.5, False
        if self._initial is not None:
            # a warm start's load after listening (it reports its own failure): watched
            # from then on
            await asyncio.wait([self._initial])
        while not self._stop.is_set():
            problem = self.source.unavailable()
            if problem:
                self.source.health.dead(problem)
            else:
                self.source.health.alive()
                try:
                    await self.source.run(self._apply, self._stop, initial=restarted)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    problem = f"{type(exc).__name__}: {str(exc)[:200]}"
                else:
                    if self._stop.is_set():
                        return
                    problem = "the file watcher ended"
                self.source.health.dead(problem)
            log.error("config.watch_failed", reason=problem, retry_in_s=backoff)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), backoff)
            backoff, restarted = min(backoff * 2, 5.0), True

    async def stop(self) -> None:
        self._stop.set()
        tasks = (
            self._watch,
            self._rotate,
            self._analyze,
            self._jwks_refresh,
            self._warm,
            self._initial,
            *self._releasing,
        )
        for task in tasks:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if self._debug is not None:
            await self._debug.cleanup()
        await self.dashboard.close()
        await self.jwks.close()
        if self._server is not None:
            await self._server.stop(grace=1.0)
