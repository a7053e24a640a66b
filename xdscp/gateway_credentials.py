"""Gateway certificates (`credentialName`, Gateway API certificateRefs) in file mode:
a directory of PEM files per credential, delivered over SDS to the gateway proxies that
serve it, and to no other proxy.

Layout (Kubernetes TLS Secret key names; Istio's generic `cert`/`key`/`cacert` too):

    <credentials dir>/<name>/tls.crt   the certificate chain
    <credentials dir>/<name>/tls.key   its private key
    <credentials dir>/<name>/ca.crt    the client CA (MUTUAL only)

`<credentials dir>/<namespace>/<name>/` is preferred when it exists, for credentials of
the same name in several namespaces. The files are read again when they change (by
size and modification time) at the next configuration push.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import structlog
from cryptography import x509

from translators.analysis.gateway_certs import CredentialFacts
from translators.envoy.secrets import root_secret, workload_secret
from translators.gateway.ir import Credential
from translators.gateway.proxy import gateway_credentials
from translators.mesh import Workload
from translators.naming import SECRET_TYPE, credential_ca_secret, credential_secret
from translators.resources import EnvoyResource, ResourceGroup
from translators.translate import MeshTranslator

log = structlog.get_logger()

CERT_FILES = ("tls.crt", "cert")
KEY_FILES = ("tls.key", "key")
CA_FILES = ("ca.crt", "cacert")


@dataclass(frozen=True, slots=True)
class _Loaded:
    stamp: tuple[tuple[str, int, int], ...]
    group: ResourceGroup


class GatewayCredentials(Protocol):
    """Where gateway certificates come from: files (here) or Kubernetes Secrets
    (xdscp/kube/gateway_secrets.py)."""

    def facts(self, namespace: str, name: str) -> CredentialFacts: ...

    def secrets_for(
        self, translator: MeshTranslator, workload: Workload
    ) -> tuple[ResourceGroup, ...]: ...


def credential_group(
    credential: Credential, cert_pem: str, key_pem: str, ca_pem: str | None
) -> ResourceGroup:
    """The SDS Secrets of one credential: key and chain, and the client CA (MUTUAL)."""
    source = (f"Credential/{credential.namespace}/{credential.name}",)
    name = credential_secret(credential.namespace, credential.name)
    resources = [EnvoyResource(SECRET_TYPE, name, workload_secret(cert_pem, key_pem, name), source)]
    if ca_pem is not None:
        ca_name = credential_ca_secret(credential.namespace, credential.name)
        resources.append(EnvoyResource(SECRET_TYPE, ca_name, root_secret(ca_pem, ca_name), source))
    return ResourceGroup(resources)


def certificate_facts(cert_pem: bytes, where: str) -> CredentialFacts:
    try:
        parsed = x509.load_pem_x509_certificate(cert_pem)
    except ValueError as exc:
        return CredentialFacts(f"{where} is not a PEM certificate ({exc})")
    return CredentialFacts(
        not_before=parsed.not_valid_before_utc, not_after=parsed.not_valid_after_utc
    )


def _first(directory: Path, names: tuple[str, ...]) -> Path | None:
    return next((directory / n for n in names if (directory / n).is_file()), None)


class CredentialStore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._loaded: dict[Credential, _Loaded] = {}
        self._reported: set[str] = set()

    def directory_of(self, credential: Credential) -> Path:
        namespaced = self.directory / credential.namespace / credential.name
        return namespaced if namespaced.is_dir() else self.directory / credential.name

    def _missing(self, credential: Credential, what: str) -> None:
        text = f"{credential.namespace}/{credential.name}: {what}"
        if text not in self._reported:
            self._reported.add(text)
            log.warning(
                "gateway.credential_missing",
                credential=f"{credential.namespace}/{credential.name}",
                problem=what,
                directory=str(self.directory_of(credential)),
            )

    def group(self, credential: Credential) -> ResourceGroup | None:
        """The Secret resources of one credential (None, logged once, when it is missing)."""
        directory = self.directory_of(credential)
        cert, key = _first(directory, CERT_FILES), _first(directory, KEY_FILES)
        ca = _first(directory, CA_FILES) if credential.with_ca else None
        if cert is None or key is None:
            self._missing(credential, f"no {CERT_FILES[0]} and {KEY_FILES[0]} in {directory}")
            return None
        if credential.with_ca and ca is None:
            self._missing(credential, f"MUTUAL needs the client CA {CA_FILES[0]} in {directory}")
            return None
        files = [p for p in (cert, key, ca) if p is not None]
        try:
            stamp = tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files)
        except OSError as exc:
            self._missing(credential, str(exc))
            return None
        cached = self._loaded.get(credential)
        if cached is not None and cached.stamp == stamp:
            return cached.group
        group = credential_group(
            credential, cert.read_text(), key.read_text(), ca.read_text() if ca else None
        )
        self._loaded[credential] = _Loaded(stamp, group)
        log.info(
            "gateway.credential_loaded", credential=f"{credential.namespace}/{credential.name}"
        )
        return group

    def facts(self, namespace: str, name: str) -> CredentialFacts:
        """What analysis needs to know about one credential (XDS0902, XDS0903)."""
        directory = self.directory_of(Credential(namespace, name))
        cert, key = _first(directory, CERT_FILES), _first(directory, KEY_FILES)
        if cert is None or key is None:
            return CredentialFacts(f"no {CERT_FILES[0]} and {KEY_FILES[0]} in {directory}")
        try:
            return certificate_facts(cert.read_bytes(), str(cert))
        except OSError as exc:
            return CredentialFacts(f"{cert}: {exc}")

    def secrets_for(
        self, translator: MeshTranslator, workload: Workload
    ) -> tuple[ResourceGroup, ...]:
        """The credential Secrets `workload` serves as a gateway (none for sidecars)."""
        groups = (self.group(c) for c in gateway_credentials(translator, workload))
        return tuple(g for g in groups if g is not None)
