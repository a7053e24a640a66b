"""Gateway certificates (`credentialName`, Gateway API certificateRefs) in file mode:
a directory of PEM files per credential, delivered over SDS to the gateway proxies that
serve it, and to no other proxy.

Layout (Kubernetes TLS Secret key names; Istio's generic `cert`/`key`/`cacert` too):

    <credentials dir>/<name>/tls.crt   the certificate chain
    <credentials dir>/<name>/tls.key   its private key
    <credentials dir>/<name>/ca.crt    the client CA (MUTUAL only)

`<credentials dir>/<namespace>/<name>/` is preferred when it exists, for credentials of
the same name in several namespaces. The file source's watcher reports a change under
the credentials directory (a write, an atomic rename, a ConfigMap-style `..data` swap, a
deletion) and the plane re-publishes the current mesh: files whose size, modification
time or inode changed are read again, and only the gateways serving them get a new
Secret version. A certificate and key that are not a valid matching PEM pair (half
written, corrupt) are not served: the last good pair stays, logged and reported (XDS0902).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import structlog
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from translators.analysis.gateway_certs import CredentialFacts
from translators.envoy.secrets import root_secret, workload_secret
from translators.gateway.ir import Credential
from translators.gateway.proxy import gateway_credentials
from translators.mesh import Workload
from translators.naming import SECRET_TYPE, credential_ca_secret, credential_secret
from translators.resources import EnvoyResource, ResourceGroup
from translators.security.client_credentials import client_credentials, merged
from translators.translate import MeshTranslator

log = structlog.get_logger()

CERT_FILES = ("tls.crt", "cert")
KEY_FILES = ("tls.key", "key")
CA_FILES = ("ca.crt", "cacert")
CRL_FILES = ("ca.crl", "crl")  # optional: revoked server certificates (client credentials)


@dataclass(frozen=True, slots=True)
class _Loaded:
    stamp: tuple[tuple[str, int, int, int], ...]
    group: ResourceGroup


def pair_problem(cert_pem: bytes | None, key_pem: bytes | None, ca_pem: bytes | None) -> str:
    """Why these files are not a servable credential ("" when they are): Envoy would
    reject a Secret whose chain or key does not parse, or whose key is not the leaf's, and
    a half-written file is exactly that. (No certificate and key: only the CA is served.)"""
    if cert_pem is None or key_pem is None:
        return _ca_problem(ca_pem)
    try:
        chain = x509.load_pem_x509_certificates(cert_pem)
    except ValueError as exc:
        return f"{CERT_FILES[0]} is not a PEM certificate chain ({exc})"
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as exc:
        return f"{KEY_FILES[0]} is not an unencrypted PEM private key ({exc})"
    spki = serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(*spki) != chain[0].public_key().public_bytes(*spki):
        return f"{KEY_FILES[0]} is not the private key of the certificate in {CERT_FILES[0]}"
    return _ca_problem(ca_pem)


def _ca_problem(ca_pem: bytes | None) -> str:
    if ca_pem is not None:
        try:
            x509.load_pem_x509_certificates(ca_pem)
        except ValueError as exc:
            return f"{CA_FILES[0]} is not a PEM certificate ({exc})"
    return ""


class GatewayCredentials(Protocol):
    """Where gateway certificates come from: files (here) or Kubernetes Secrets
    (xdscp/kube/gateway_secrets.py)."""

    def facts(self, namespace: str, name: str) -> CredentialFacts: ...

    def secrets_for(
        self, translator: MeshTranslator, workload: Workload
    ) -> tuple[ResourceGroup, ...]: ...


def credential_group(
    credential: Credential,
    cert_pem: str | None,
    key_pem: str | None,
    ca_pem: str | None,
    crl_pem: str | None = None,
) -> ResourceGroup:
    """The SDS Secrets of one credential: key and chain (unless only its CA is used), and
    the CA (a gateway's client CA, MUTUAL; a sidecar's server CA, with its CRL)."""
    source = (f"Credential/{credential.namespace}/{credential.name}",)
    name = credential_secret(credential.namespace, credential.name)
    resources = []
    if cert_pem is not None and key_pem is not None:
        resources.append(
            EnvoyResource(SECRET_TYPE, name, workload_secret(cert_pem, key_pem, name), source)
        )
    if ca_pem is not None:
        ca_name = credential_ca_secret(credential.namespace, credential.name)
        secret = root_secret(ca_pem, ca_name, crl_pem)
        resources.append(EnvoyResource(SECRET_TYPE, ca_name, secret, source))
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
        # files found unservable (not read again until they change), and why
        self._rejected: dict[Credential, tuple[tuple[tuple[str, int, int, int], ...], str]] = {}
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
        crl = _first(directory, CRL_FILES) if credential.with_ca else None
        if not credential.with_key:
            cert = key = None
        elif cert is None or key is None:
            self._missing(credential, f"no {CERT_FILES[0]} and {KEY_FILES[0]} in {directory}")
            return None
        if credential.with_ca and ca is None:
            self._missing(credential, f"the CA {CA_FILES[0]} is needed in {directory}")
            return None
        files = [p for p in (cert, key, ca, crl) if p is not None]
        try:
            # the inode too: a rename or a `..data` swap can keep size and mtime
            stats = [(p, p.stat()) for p in files]
        except OSError as exc:
            self._missing(credential, str(exc))
            return None
        stamp = tuple((str(p), s.st_size, s.st_mtime_ns, s.st_ino) for p, s in stats)
        cached = self._loaded.get(credential)
        if cached is not None and cached.stamp == stamp:
            return cached.group
        rejected = self._rejected.get(credential)
        if rejected is not None and rejected[0] == stamp:
            return cached.group if cached is not None else None
        try:
            cert_pem = cert.read_bytes() if cert else None
            key_pem = key.read_bytes() if key else None
            ca_pem = ca.read_bytes() if ca else None
            crl_pem = crl.read_bytes() if crl else None
        except OSError as exc:
            problem = str(exc)
        else:
            problem = pair_problem(cert_pem, key_pem, ca_pem)
        name = f"{credential.namespace}/{credential.name}"
        if problem:
            self._rejected[credential] = (stamp, problem)
            log.warning(
                "gateway.credential_invalid",
                credential=name,
                problem=problem,
                directory=str(directory),
                action="keeps the last good certificate" if cached else "not served",
            )
            return cached.group if cached is not None else None
        self._rejected.pop(credential, None)
        group = credential_group(
            credential,
            cert_pem.decode() if cert_pem else None,
            key_pem.decode() if key_pem else None,
            ca_pem.decode() if ca_pem else None,
            crl_pem.decode() if crl_pem else None,
        )
        self._loaded[credential] = _Loaded(stamp, group)
        log.info("gateway.credential_loaded", credential=name)
        return group

    def facts(self, namespace: str, name: str) -> CredentialFacts:
        """What analysis needs to know about one credential (XDS0902, XDS0903)."""
        directory = self.directory_of(Credential(namespace, name))
        cert, key = _first(directory, CERT_FILES), _first(directory, KEY_FILES)
        if cert is None or key is None:
            return CredentialFacts(f"no {CERT_FILES[0]} and {KEY_FILES[0]} in {directory}")
        try:
            cert_pem, key_pem = cert.read_bytes(), key.read_bytes()
        except OSError as exc:
            return CredentialFacts(f"{cert}: {exc}")
        problem = pair_problem(cert_pem, key_pem, None)
        if problem:
            kept = any(c.namespace == namespace and c.name == name for c in self._loaded)
            action = "the last good certificate is still served" if kept else "nothing is served"
            return CredentialFacts(f"{problem} in {directory}; {action}")
        return certificate_facts(cert_pem, str(cert))

    def secrets_for(
        self, translator: MeshTranslator, workload: Workload
    ) -> tuple[ResourceGroup, ...]:
        """The credential Secrets `workload` serves as a gateway, and those its clusters
        originate TLS with (DestinationRule credentialName)."""
        used = merged(
            gateway_credentials(translator, workload) + client_credentials(translator, workload)
        )
        groups = (self.group(c) for c in used)
        return tuple(g for g in groups if g is not None)
