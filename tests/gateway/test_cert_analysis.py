"""Gateway certificates in analysis: a credential the control plane cannot find is
XDS0902 on the field that names it, an expired one XDS0903 — read from real files by the
credential store, judged by the pure check."""

from __future__ import annotations

import datetime
from pathlib import Path

from tests.gateway.certs import CertAuthority
from tests.translators.helpers import docs, mesh_of, workload_entry
from translators.analysis.gateway_certs import certificate_messages, credential_references
from xdscp.gateway_credentials import CredentialStore

MESH = docs(
    workload_entry("ingress", "10.9.0.1", "edge", "{istio: ingressgateway}"),
    """\
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: public, namespace: edge}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: ok, protocol: HTTPS}
    hosts: [ok.example.com]
    tls: {mode: SIMPLE, credentialName: ok-cert}
  - port: {number: 8443, name: old, protocol: HTTPS}
    hosts: [old.example.com]
    tls: {mode: SIMPLE, credentialName: old-cert}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: api, namespace: edge}
spec:
  gatewayClassName: xdscp
  listeners:
  - name: https
    port: 9443
    protocol: HTTPS
    tls: {certificateRefs: [{name: missing-cert}]}
""",
)


def test_missing_and_expired_certificates_are_reported(tmp_path: Path) -> None:
    ca = CertAuthority()
    ca.write_credential(tmp_path / "ok-cert", "ok.example.com")
    ca.write_credential(tmp_path / "old-cert", "old.example.com", expired=True)
    store = CredentialStore(tmp_path)
    mesh = mesh_of(MESH)
    facts = {(ns, name): store.facts(ns, name) for _, _, ns, name in credential_references(mesh)}
    messages = certificate_messages(mesh, facts, datetime.datetime.now(datetime.UTC))
    found = sorted((m.code, f"{m.kind}/{m.namespace}/{m.name}", m.field) for m in messages)
    assert found == [
        ("XDS0902", "KubernetesGateway/edge/api", "spec.listeners[0].tls.certificateRefs[0]"),
        ("XDS0903", "Gateway/edge/public", "spec.servers[1].tls.credentialName"),
    ]
    missing = next(m for m in messages if m.code == "XDS0902")
    assert "edge/missing-cert" in missing.text and "tls.crt" in missing.text
