"""Gateway certificates from Kubernetes Secrets (the fake API server, the real client):
only the Secrets a Gateway names are read, by name; a new resourceVersion is a change
(the mesh is republished, the gateway gets the new certificate), a missing Secret is
XDS0902's fact."""

from __future__ import annotations

import base64

from tests.gateway.certs import CertAuthority
from tests.kube.fakeapi import FakeKube
from tests.translators.helpers import docs, mesh_of, workload_entry
from translators.naming import SECRET_TYPE
from translators.translate import MeshTranslator
from xdscp.kube.api import KubeApi
from xdscp.kube.gateway_secrets import KubeCredentialStore, referenced_credentials

MESH = docs(
    workload_entry("ingress", "10.9.0.1", "edge", "{istio: ingressgateway}"),
    workload_entry("client", "10.9.0.2", "edge", "{app: client}"),
    """\
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: public, namespace: edge}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [shop.example.com]
    tls: {mode: SIMPLE, credentialName: shop-cert}
  - port: {number: 8443, name: other, protocol: HTTPS}
    hosts: [other.example.com]
    tls: {mode: SIMPLE, credentialName: absent-cert}
""",
)


def tls_secret(name: str, cert: str, key: str) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/tls",
        "metadata": {"name": name, "namespace": "edge"},
        "data": {
            "tls.crt": base64.b64encode(cert.encode()).decode(),
            "tls.key": base64.b64encode(key.encode()).decode(),
        },
    }


async def test_secrets_by_name_changes_and_absence(kube: FakeKube, api: KubeApi) -> None:
    ca = CertAuthority()
    first = ca.issue("shop.example.com")
    kube.apply(tls_secret("shop-cert", first.cert_pem, first.key_pem))
    kube.apply(tls_secret("unrelated", first.cert_pem, first.key_pem))
    mesh = mesh_of(MESH)
    changes: list[int] = []
    store = KubeCredentialStore(api, lambda: changes.append(1))
    referenced = referenced_credentials(mesh)
    assert referenced == {("edge", "shop-cert"), ("edge", "absent-cert")}

    assert await store.poll(referenced)
    assert set(store.secrets) == referenced  # `unrelated` is never read
    translator = MeshTranslator(mesh)
    (group,) = store.secrets_for(translator, mesh.workloads["edge/ingress"])
    (secret,) = list(group)
    assert (secret.type_url, secret.name) == (SECRET_TYPE, "kubernetes://edge/shop-cert")
    assert first.cert_pem.encode() in secret.body()
    assert store.secrets_for(translator, mesh.workloads["edge/client"]) == ()
    assert store.facts("edge", "absent-cert").problem == "no Secret absent-cert in namespace edge"
    assert store.facts("edge", "shop-cert").not_after is not None

    assert not await store.poll(referenced)  # nothing changed: no republish
    second = ca.issue("shop.example.com")
    kube.apply(tls_secret("shop-cert", second.cert_pem, second.key_pem))
    assert await store.poll(referenced)  # rotated
    (group,) = store.secrets_for(translator, mesh.workloads["edge/ingress"])
    assert second.cert_pem.encode() in next(iter(group)).body()


SIDECAR_RULE = """\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: bank, namespace: edge}
spec:
  hosts: [bank.example.com]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports: [{number: 443, name: http, protocol: HTTP}]
  endpoints: [{address: 10.5.0.1}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: bank, namespace: edge}
spec:
  host: bank.example.com
  workloadSelector: {matchLabels: {app: client}}
  trafficPolicy: {tls: {mode: SIMPLE, credentialName: bank-ca}}
"""


async def test_sidecar_credential_secret_is_read_and_served(kube: FakeKube, api: KubeApi) -> None:
    """A DestinationRule's credentialName (SIMPLE: only the CA, and its CRL) is a Secret
    in the rule's namespace, read by name and served to the client sidecar."""
    ca = CertAuthority()
    kube.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "Opaque",
            "metadata": {"name": "bank-ca", "namespace": "edge"},
            "data": {
                "ca.crt": base64.b64encode(ca.pem.encode()).decode(),
                "ca.crl": base64.b64encode(b"-----BEGIN X509 CRL-----").decode(),
            },
        }
    )
    mesh = mesh_of(MESH + "---\n" + SIDECAR_RULE)
    store = KubeCredentialStore(api, lambda: None)
    referenced = referenced_credentials(mesh)
    assert ("edge", "bank-ca") in referenced
    assert await store.poll(referenced)
    translator = MeshTranslator(mesh)
    (group,) = store.secrets_for(translator, mesh.workloads["edge/client"])
    (secret,) = list(group)
    assert secret.name == "kubernetes://edge/bank-ca-cacert"
    assert ca.pem.encode() in secret.body() and b"X509 CRL" in secret.body()
