"""`xdscp serve --kubernetes`: the control plane wired to a cluster.

Composition around the ordinary `ControlPlane` (runtime, ADS server, debug endpoint,
identity): its config source is the cluster, its CA comes from a Secret, and three
leader-only loops write back (object status, root-cert ConfigMaps). Every replica
syncs the cluster, serves xDS and issues bootstrap certificates; start order makes
sure a replica never serves before it has a full mesh and the shared CA.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import structlog
from aiohttp import web

from translators.extensions import ExtensionSet
from translators.gateway.attach import owns_class
from translators.mesh import MeshConfig, MeshOptions
from translators.model.gateway_api import KUBERNETES_GATEWAY
from translators.model.objects import MeshObject
from translators.naming import gateway_deployment
from xdscp.errors import AddressUnavailable
from xdscp.identity import IdentitySettings
from xdscp.jwks import JwksSettings
from xdscp.kube.api import KubeApi
from xdscp.kube.ca_secret import load_cluster_ca
from xdscp.kube.certs import CertificateEndpoint, server_ssl_context
from xdscp.kube.gateway_deployer import GatewayDeployer
from xdscp.kube.gateway_manifests import load_balancer_addresses
from xdscp.kube.gateway_secrets import KubeCredentialStore, referenced_credentials
from xdscp.kube.health import log_health_changes
from xdscp.kube.inject import InjectSettings
from xdscp.kube.leader import LeaderElector, LeaseSettings
from xdscp.kube.reflector import WatchSettings
from xdscp.kube.rootcert import RootCertPublisher
from xdscp.kube.status import StatusWriter
from xdscp.kube.tokenreview import TokenReviewer
from xdscp.service import ControlPlane, split_address
from xdscp.sources.health import SourceHealth
from xdscp.sources.kubernetes import KubernetesSource
from xdscp.sources.protocol import ConfigSource, OnUpdate

log = structlog.get_logger()


def _default_namespace() -> str:
    return os.environ.get("POD_NAMESPACE") or "xdscp-system"


def _default_identity() -> str:
    return os.environ.get("POD_NAME") or socket.gethostname()


@dataclass
class KubeSettings:
    kubeconfig: Path | None = None
    namespace: str = field(default_factory=_default_namespace)
    identity: str = field(default_factory=_default_identity)
    listen: str = "0.0.0.0:15010"
    # Loopback unless asked otherwise: the Deployment sets both (the debug port with a
    # token, since it shows the whole mesh).
    debug_listen: str | None = "127.0.0.1:15014"
    debug_token: str | None = None
    cert_listen: str | None = "127.0.0.1:15012"
    ca_dir: Path = Path("/var/run/xdscp")
    svid_ttl: timedelta = timedelta(hours=24)
    insecure: bool = False
    options: MeshOptions = field(default_factory=MeshOptions)
    watch: WatchSettings = field(default_factory=WatchSettings)
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    token_audience: str = "xdscp"
    jwks: JwksSettings = field(default_factory=JwksSettings)
    # the pods of Gateway API Gateways' automated Deployments; None: the images'
    # defaults and this control plane's Service `xdscp.<namespace>.svc`
    gateway_pods: InjectSettings | None = None


class _NotifyingSource:
    """A config source telling the write-back loops about every mesh it hands to the
    runtime; everything else is the inner source's."""

    def __init__(self, inner: ConfigSource, listeners: list[Callable[[MeshConfig], None]]) -> None:
        self.inner = inner
        self.listeners = listeners

    @property
    def health(self) -> SourceHealth:
        return self.inner.health

    def _tell(self, mesh: MeshConfig) -> MeshConfig:
        for listener in self.listeners:
            listener(mesh)
        return mesh

    def load(self) -> MeshConfig:
        return self._tell(self.inner.load())

    async def run(
        self, on_update: OnUpdate, stop: asyncio.Event | None = None, initial: bool = True
    ) -> None:
        async def update(mesh: MeshConfig) -> None:
            await on_update(self._tell(mesh))

        await self.inner.run(update, stop, initial)

    def unavailable(self) -> str:
        return self.inner.unavailable()

    def blame(
        self, mesh: MeshConfig, workload_key: str, extensions: ExtensionSet | None = None
    ) -> list[MeshObject[Any]]:
        return self.inner.blame(mesh, workload_key, extensions)


class KubeControlPlane:
    def __init__(self, settings: KubeSettings) -> None:
        self.settings = settings
        self.api: KubeApi | None = None
        self.source: KubernetesSource | None = None
        self.elector: LeaderElector | None = None
        self.plane: ControlPlane | None = None
        self.status_writer: StatusWriter | None = None
        self.publisher: RootCertPublisher | None = None
        self.gateway_deployer: GatewayDeployer | None = None
        self.cert_url = ""
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._cert_runner: web.AppRunner | None = None

    def is_leader(self) -> bool:
        return self.elector is not None and self.elector.is_leader

    async def start(self, sync_timeout: float = 120.0) -> None:
        s = self.settings
        self.api = api = await KubeApi.connect(s.kubeconfig)
        self.source = source = KubernetesSource(api, s.options, watch=s.watch)
        await source.start(sync_timeout=sync_timeout)
        self.elector = elector = LeaderElector(
            api,
            LeaseSettings(
                namespace=s.namespace,
                identity=s.identity,
                lease_duration=s.lease_duration,
                renew_deadline=s.renew_deadline,
                retry_period=s.retry_period,
            ),
            on_change=self._leadership_changed,
        )
        self._tasks.append(asyncio.create_task(elector.run(self._stop), name="leader"))
        cluster_ca = await load_cluster_ca(
            api,
            s.namespace,
            s.ca_dir,
            self.is_leader,
            self._stop,
            poll=min(1.0, s.retry_period),
            trust_domain=s.options.trust_domain,
        )
        identity = IdentitySettings(
            ca_dir=cluster_ca.root_dir or s.ca_dir / "root",
            cacerts_dir=cluster_ca.cacerts_dir,
            trust_domain=s.options.trust_domain,
            svid_ttl=s.svid_ttl,
        )
        self.plane = plane = ControlPlane(
            Path("."),
            s.listen,
            s.debug_listen,
            options=s.options,
            identity_settings=identity,
            insecure=s.insecure,
            debug_token=s.debug_token,
            jwks_settings=s.jwks,
        )
        # gateway certificates are Secrets, read by name and polled (not files)
        credentials = KubeCredentialStore(api, plane.runtime.refresh)
        plane.credentials = credentials
        plane.runtime.gateway_secrets = credentials.secrets_for
        self.status_writer = writer = StatusWriter(
            api,
            source,
            self.is_leader,
            plane.status.nacks,
            namespace_labels=source.namespace_labels,
            gateway_addresses=lambda namespace, name, gateway_class: load_balancer_addresses(
                source.service(namespace, gateway_deployment(name, gateway_class)) or {}
            ),
        )
        plane.status.add_nack_listener(writer.on_nack)
        plane.analyzer.listeners.append(lambda r: writer.analysis_updated(r.mesh, r.analysis))
        writer.analysis_grace = 3.0
        self.publisher = publisher = RootCertPublisher(
            api, plane.identity.trust_bundle_pem, source.namespaces, self.is_leader
        )
        latest: list[MeshConfig] = []

        def remember(mesh: MeshConfig) -> None:
            latest[:] = [mesh]
            deployer.poke()

        self.gateway_deployer = deployer = GatewayDeployer(
            api,
            lambda: [o for r, o in source.raw_istio_objects() if r.kind == KUBERNETES_GATEWAY],
            lambda name: bool(latest) and owns_class(latest[0], name),
            self.is_leader,
            s.gateway_pods or InjectSettings(control_plane=f"xdscp.{s.namespace}.svc"),
        )
        # a watch event holds the background analysis until its change is pushed and
        # acknowledged (bounded), as a file event does in file mode
        source.on_batch = plane._edit_seen
        plane.source = _NotifyingSource(
            source, [writer.mesh_updated, lambda _mesh: publisher.poke(), remember]
        )
        await plane.start()
        self._tasks += [
            asyncio.create_task(
                log_health_changes(plane.source.health, self._stop, every_s=1.0), name="health"
            ),
            asyncio.create_task(writer.run(self._stop), name="status"),
            asyncio.create_task(publisher.run(self._stop), name="rootcert"),
            asyncio.create_task(deployer.run(self._stop), name="gateway-deploy"),
            asyncio.create_task(
                credentials.run(self._stop, lambda: referenced_credentials(plane.runtime.mesh)),
                name="gateway-secrets",
            ),
        ]
        if s.cert_listen:
            await self._start_cert_endpoint(s.cert_listen)
        log.info(
            "kube.control_plane_started",
            identity=s.identity,
            namespace=s.namespace,
            xds=plane.xds_address,
            certificates=self.cert_url,
        )

    def _leadership_changed(self, leader: bool) -> None:
        if self.status_writer is not None:
            self.status_writer.poke()
        if self.publisher is not None:
            self.publisher.leadership_changed(leader)
        if self.gateway_deployer is not None:
            self.gateway_deployer.leadership_changed(leader)

    async def _start_cert_endpoint(self, address: str) -> None:
        assert self.plane is not None and self.api is not None and self.source is not None
        ns = self.settings.namespace
        hosts = ["xdscp", f"xdscp.{ns}.svc", f"xdscp.{ns}.svc.cluster.local", "localhost"]
        context = server_ssl_context(self.plane.identity, hosts)
        endpoint = CertificateEndpoint(
            self.plane.identity,
            TokenReviewer(self.api, self.settings.token_audience),
            self.source.pod,
        )
        self._cert_runner = web.AppRunner(endpoint.app(), access_log=None)
        await self._cert_runner.setup()
        host, port = split_address(address, 15012)
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            sock.close()
            raise AddressUnavailable(
                "the certificate endpoint", address, exc.strerror or str(exc), "--cert-listen"
            ) from exc
        bound = sock.getsockname()[1]
        await web.SockSite(self._cert_runner, sock, ssl_context=context).start()
        self.cert_url = f"https://{host}:{bound}"

    async def stop(self) -> None:
        self._stop.set()
        if self._cert_runner is not None:
            await self._cert_runner.cleanup()
        if self.plane is not None:
            await self.plane.stop()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, timeout=5)
        if self.source is not None:
            await self.source.close()
        if self.api is not None:
            await self.api.close()
