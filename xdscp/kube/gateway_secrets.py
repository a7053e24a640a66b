"""Gateway certificates in Kubernetes mode: a `credentialName` (or certificateRef) is a
Secret in the gateway's namespace (`kubernetes.io/tls`: `tls.crt`, `tls.key`, `ca.crt`;
Istio's generic `cert`, `key`, `cacert` too).

Only the Secrets some gateway refers to are read — by name, never a cluster-wide list of
every Secret — and polled: a changed Secret (new resourceVersion) republishes the mesh,
so the gateways that serve it get the new certificate over SDS with no restart. A Secret
reaches only the gateway proxies whose own Gateways name it.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable, Iterable
from typing import Any

import structlog

from translators.analysis.gateway_certs import CredentialFacts, credential_references
from translators.gateway.ir import Credential
from translators.gateway.proxy import gateway_credentials
from translators.mesh import MeshConfig, Workload
from translators.resources import ResourceGroup
from translators.security.client_credentials import client_credentials, merged, rule_credentials
from translators.translate import MeshTranslator
from xdscp.gateway_credentials import certificate_facts, credential_group
from xdscp.kube.api import KubeApi
from xdscp.kube.backoff import sleep_or_stop
from xdscp.kube.errors import KubeError, NotFound
from xdscp.kube.resources import SECRET

log = structlog.get_logger()

CERT_KEYS = ("tls.crt", "cert")
KEY_KEYS = ("tls.key", "key")
CA_KEYS = ("ca.crt", "cacert")
CRL_KEYS = ("ca.crl", "crl")


def _data(secret: dict[str, Any], keys: tuple[str, ...]) -> str | None:
    data = secret.get("data") or {}
    for key in keys:
        value = data.get(key)
        if isinstance(value, str):
            try:
                return base64.b64decode(value).decode()
            except ValueError:
                return None
    return None


class KubeCredentialStore:
    def __init__(self, api: KubeApi, on_change: Callable[[], None], interval: float = 2.0) -> None:
        self.api = api
        self.on_change = on_change
        self.interval = interval
        # (namespace, name) -> the Secret as last read (None: it does not exist)
        self.secrets: dict[tuple[str, str], dict[str, Any] | None] = {}
        self._groups: dict[tuple[Credential, str], ResourceGroup] = {}

    async def poll(self, referenced: Iterable[tuple[str, str]]) -> bool:
        """Read the referenced Secrets once; True when any changed (appeared, went or got
        a new resourceVersion)."""
        changed = False
        for key in sorted(set(referenced)):
            try:
                found: dict[str, Any] | None = await self.api.get(SECRET, *key)
            except NotFound:
                found = None
            if key not in self.secrets or _version(found) != _version(self.secrets[key]):
                changed = True
                self.secrets[key] = found
                log.info(
                    "gateway.credential_read", credential="/".join(key), found=found is not None
                )
        return changed

    async def run(
        self, stop: asyncio.Event, referenced: Callable[[], Iterable[tuple[str, str]]]
    ) -> None:
        while not stop.is_set():
            try:
                if await self.poll(referenced()):
                    self.on_change()
            except KubeError as exc:
                log.warning("gateway.credential_read_failed", error=str(exc))
            if await sleep_or_stop(stop, self.interval):
                return

    def group(self, credential: Credential) -> ResourceGroup | None:
        secret = self.secrets.get((credential.namespace, credential.name))
        if secret is None:
            return None
        cert, key = _data(secret, CERT_KEYS), _data(secret, KEY_KEYS)
        ca = _data(secret, CA_KEYS) if credential.with_ca else None
        crl = _data(secret, CRL_KEYS) if credential.with_ca else None
        if not credential.with_key:
            cert = key = None  # only the CA is used
        elif cert is None or key is None:
            return None
        if credential.with_ca and ca is None:
            return None
        cache_key = (credential, _version(secret))
        found = self._groups.get(cache_key)
        if found is None:
            found = self._groups[cache_key] = credential_group(credential, cert, key, ca, crl)
        return found

    def facts(self, namespace: str, name: str) -> CredentialFacts:
        if (namespace, name) not in self.secrets:
            return CredentialFacts()  # not read yet: nothing to say
        secret = self.secrets[(namespace, name)]
        if secret is None:
            return CredentialFacts(f"no Secret {name} in namespace {namespace}")
        cert = _data(secret, CERT_KEYS)
        if cert is None or _data(secret, KEY_KEYS) is None:
            return CredentialFacts(f"Secret {namespace}/{name} has no tls.crt and tls.key")
        return certificate_facts(cert.encode(), f"Secret {namespace}/{name} tls.crt")

    def secrets_for(
        self, translator: MeshTranslator, workload: Workload
    ) -> tuple[ResourceGroup, ...]:
        used = merged(
            gateway_credentials(translator, workload) + client_credentials(translator, workload)
        )
        groups = (self.group(c) for c in used)
        return tuple(g for g in groups if g is not None)


def _version(secret: dict[str, Any] | None) -> str:
    if secret is None:
        return ""
    return str((secret.get("metadata") or {}).get("resourceVersion") or "")


def referenced_credentials(mesh: MeshConfig | None) -> set[tuple[str, str]]:
    """(namespace, name) of every Secret a gateway or a sidecar's DestinationRule uses."""
    if mesh is None:
        return set()
    gateways = {(ns, name) for _, _, ns, name in credential_references(mesh)}
    return gateways | rule_credentials(mesh)
