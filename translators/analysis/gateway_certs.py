"""Run-time findings about gateway certificates: a `credentialName` (or Gateway API
certificateRef) whose certificate the control plane cannot find, or that has expired.
Only the running control plane reads the certificates (file mode: the credentials
directory), so it passes what it found; this module only says which objects it concerns.

Pure: the mesh, the facts per credential and the time in, messages out, each naming the
Gateway and the field that refers to the credential.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from translators.analysis.message import Message, MessageType, Severity
from translators.gateway.attach import owns_class
from translators.mesh import MeshConfig
from translators.model.gateway_api import KUBERNETES_GATEWAY
from translators.model.objects import MeshObject

GATEWAY_CERTIFICATE_MISSING = MessageType(
    "XDS0902",
    "GatewayCertificateMissing",
    Severity.ERROR,
    "a gateway's credentialName (or certificateRef) has no certificate and key: the "
    "gateway cannot serve TLS on that server",
)
GATEWAY_CERTIFICATE_EXPIRED = MessageType(
    "XDS0903",
    "GatewayCertificateExpired",
    Severity.ERROR,
    "a gateway's certificate has expired (or is not valid yet): clients refuse the handshake",
)
GATEWAY_CERT_MESSAGE_TYPES = (GATEWAY_CERTIFICATE_MISSING, GATEWAY_CERTIFICATE_EXPIRED)


@dataclass(frozen=True, slots=True)
class CredentialFacts:
    """What the control plane found for one credential: why it is unusable (`problem`),
    or its certificate's validity."""

    problem: str = ""
    not_before: datetime.datetime | None = None
    not_after: datetime.datetime | None = None


def credential_references(mesh: MeshConfig) -> Iterator[tuple[MeshObject[Any], str, str, str]]:
    """(object, field, namespace, name) of every credential a gateway refers to: an Istio
    Gateway's in the namespace of each workload it selects (Istio reads the Secret where
    the gateway proxy runs), a Gateway API listener's where its certificateRef says."""
    for gateway in mesh.of_kind("Gateway"):
        # an Istio credential lives in the namespace of each gateway proxy serving it
        selector = gateway.spec.selector
        namespaces = sorted(
            {
                w.namespace
                for w in mesh.workloads.values()
                if selector and all(w.labels.get(k) == v for k, v in selector.items())
            }
        )
        for i, server in enumerate(gateway.spec.servers):
            tls = server.tls
            if tls is not None and tls.credential_name:
                name = tls.credential_name.removeprefix("kubernetes://")
                for namespace in namespaces:
                    yield gateway, f"spec.servers[{i}].tls.credentialName", namespace, name
    for gateway in mesh.of_kind(KUBERNETES_GATEWAY):
        if not owns_class(mesh, gateway.spec.gateway_class_name):
            continue
        for i, listener in enumerate(gateway.spec.listeners):
            if listener.tls is None:
                continue
            for j, ref in enumerate(listener.tls.certificate_refs):
                field = f"spec.listeners[{i}].tls.certificateRefs[{j}]"
                yield gateway, field, ref.namespace or gateway.namespace, ref.name


def certificate_messages(
    mesh: MeshConfig | None,
    facts: Mapping[tuple[str, str], CredentialFacts],
    now: datetime.datetime,
) -> list[Message]:
    if mesh is None:
        return []
    out = []
    for obj, field, namespace, name in credential_references(mesh):
        found = facts.get((namespace, name))
        if found is None:
            continue
        if found.problem:
            out.append(
                GATEWAY_CERTIFICATE_MISSING.at(
                    obj,
                    field,
                    f"credential {namespace}/{name}: {found.problem}",
                    "put tls.crt and tls.key (and ca.crt for MUTUAL) in the credential's directory",
                )
            )
        elif found.not_after is not None and (
            found.not_after <= now or (found.not_before is not None and found.not_before > now)
        ):
            out.append(
                GATEWAY_CERTIFICATE_EXPIRED.at(
                    obj,
                    field,
                    f"credential {namespace}/{name}: the certificate is valid from "
                    f"{found.not_before:%Y-%m-%d %H:%M} to {found.not_after:%Y-%m-%d %H:%M} UTC",
                    "renew the certificate",
                )
            )
    return out
