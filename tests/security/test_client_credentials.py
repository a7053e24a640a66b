"""DestinationRule `tls.credentialName` and `caCrl` for sidecars, as Istio translates them:
the credential's certificate/key and CA over SDS (rules with a workloadSelector only),
the CRL beside a CA file, and what stays untranslated reported."""

from __future__ import annotations

from pathlib import Path

from envoy.config.cluster.v3 import cluster_pb2
from envoy.extensions.transport_sockets.tls.v3 import tls_pb2

from tests.gateway.certs import CertAuthority
from tests.translators.helpers import mesh_of, workload
from translators.analysis import analyze
from translators.gateway.ir import Credential
from translators.naming import CLUSTER_TYPE, SECRET_TYPE
from translators.security.client_credentials import client_credentials, merged, rule_credentials
from translators.translate import MeshTranslator, translate
from xdscp.gateway_credentials import CredentialStore

CLUSTER = "outbound|443||bank.example.com"

MESH = """
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: bank, namespace: shop}
spec:
  hosts: [bank.example.com]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports: [{number: 443, name: http, protocol: HTTP}]
  endpoints: [{address: 10.5.0.1}]
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: client, namespace: shop}
spec: {address: 10.9.0.1, labels: {app: client}}
---
"""


def _rule(tls: str, selector: bool = True) -> str:
    chosen = "  workloadSelector: {matchLabels: {app: client}}\n" if selector else ""
    return (
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
        "metadata: {name: bank, namespace: shop}\nspec:\n  host: bank.example.com\n"
        f"{chosen}  trafficPolicy:\n    tls: {tls}\n"
    )


def _context(text: str) -> tls_pb2.UpstreamTlsContext | None:
    mesh = mesh_of(text)
    resources = translate(mesh, workload(mesh, "shop/client"))
    (found,) = [r for r in resources.of_type(CLUSTER_TYPE) if r.name == CLUSTER]
    cluster = found.message
    assert isinstance(cluster, cluster_pb2.Cluster)
    if not cluster.HasField("transport_socket"):
        return None
    context = tls_pb2.UpstreamTlsContext()
    cluster.transport_socket.typed_config.Unpack(context)
    return context


def test_mutual_credential_comes_over_sds() -> None:
    context = _context(MESH + _rule("{mode: MUTUAL, credentialName: bank-client}"))
    assert context is not None
    common = context.common_tls_context
    assert [s.name for s in common.tls_certificate_sds_secret_configs] == [
        "kubernetes://shop/bank-client"
    ]
    combined = common.combined_validation_context
    assert combined.validation_context_sds_secret_config.name == (
        "kubernetes://shop/bank-client-cacert"
    )
    assert context.sni == "bank.example.com" and context.auto_sni_san_validation
    assert not common.tls_certificates  # no files


def test_simple_credential_is_only_the_ca() -> None:
    context = _context(
        MESH + _rule("{mode: SIMPLE, credentialName: bank-ca, subjectAltNames: [bank.example.com]}")
    )
    assert context is not None
    common = context.common_tls_context
    assert not common.tls_certificate_sds_secret_configs
    combined = common.combined_validation_context
    assert combined.validation_context_sds_secret_config.name == "kubernetes://shop/bank-ca-cacert"
    sans = combined.default_validation_context.match_typed_subject_alt_names
    assert [m.matcher.exact for m in sans] == ["bank.example.com"]


def test_without_workload_selector_a_sidecar_originates_no_tls_and_it_is_reported() -> None:
    text = MESH + _rule("{mode: MUTUAL, credentialName: bank-client}", selector=False)
    assert _context(text) is None  # Istio's sidecar: no TLS context at all
    found = {(m.code, m.field) for m in analyze(mesh_of(text)).messages}
    assert ("XDS0803", "spec.trafficPolicy.tls.credentialName") in found


def test_ca_crl_beside_a_ca_file_and_reported_without_one() -> None:
    context = _context(
        MESH + _rule("{mode: SIMPLE, caCertificates: /etc/bank/ca.pem, caCrl: /etc/bank/ca.crl}")
    )
    assert context is not None
    validation = context.common_tls_context.validation_context
    assert validation.trusted_ca.filename == "/etc/bank/ca.pem"
    assert validation.crl.filename == "/etc/bank/ca.crl"

    text = MESH + _rule("{mode: SIMPLE, caCrl: /etc/bank/ca.crl}")
    context = _context(text)
    assert context is not None and not context.common_tls_context.validation_context.crl.filename
    found = {(m.code, m.field) for m in analyze(mesh_of(text)).messages}
    assert ("XDS0803", "spec.trafficPolicy.tls.caCrl") in found


def test_only_the_proxies_using_a_credential_get_it(tmp_path: Path) -> None:
    other = (
        "---\napiVersion: networking.istio.io/v1\nkind: WorkloadEntry\n"
        "metadata: {name: elsewhere, namespace: web}\nspec: {address: 10.9.0.2}\n"
        "---\napiVersion: networking.istio.io/v1\nkind: Sidecar\n"
        "metadata: {name: default, namespace: web}\nspec: {egress: [{hosts: ['./*']}]}\n"
    )
    mesh = mesh_of(MESH + _rule("{mode: MUTUAL, credentialName: bank-client}") + other)
    translator = MeshTranslator(mesh)
    client = workload(mesh, "shop/client")
    assert client_credentials(translator, client) == (
        Credential("shop", "bank-client", with_ca=True, with_key=True),
    )
    assert client_credentials(translator, workload(mesh, "web/elsewhere")) == ()
    assert rule_credentials(mesh) == {("shop", "bank-client")}

    ca = CertAuthority("bank CA")
    directory = tmp_path / "shop" / "bank-client"
    ca.write_credential(directory, "client.shop", client_ca=ca)
    store = CredentialStore(tmp_path)
    (group,) = store.secrets_for(translator, client)
    assert sorted(r.name for r in group) == [
        "kubernetes://shop/bank-client",
        "kubernetes://shop/bank-client-cacert",
    ]
    assert all(r.type_url == SECRET_TYPE for r in group)
    assert store.secrets_for(translator, workload(mesh, "web/elsewhere")) == ()


def test_one_credential_serves_both_uses() -> None:
    both = merged(
        (
            Credential("ns", "c", with_ca=True, with_key=False),
            Credential("ns", "c", with_ca=False, with_key=True),
        )
    )
    assert both == (Credential("ns", "c", with_ca=True, with_key=True),)


EGRESS_GATEWAY = """
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: egressgateway, namespace: egress}
spec: {address: 10.9.0.9, labels: {istio: egressgateway}}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: egress, namespace: egress}
spec:
  selector: {istio: egressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: [bank.example.com]
"""


def _cluster_context(translator: MeshTranslator, key: str) -> tls_pb2.UpstreamTlsContext | None:
    resources = translator.translate(workload(translator.mesh, key)).resources
    (found,) = [r for r in resources if r.type_url == CLUSTER_TYPE and r.name == CLUSTER]
    cluster = found.message
    assert isinstance(cluster, cluster_pb2.Cluster)
    if not cluster.HasField("transport_socket"):
        return None
    context = tls_pb2.UpstreamTlsContext()
    cluster.transport_socket.typed_config.Unpack(context)
    return context


def test_without_workload_selector_an_egress_gateway_originates_tls_with_it() -> None:
    """Istio: a rule's credentialName applies at gateways (read in the gateway's
    namespace), while sidecars ignore it."""
    text = MESH + _rule("{mode: MUTUAL, credentialName: bank-client}", selector=False)
    mesh = mesh_of(text + EGRESS_GATEWAY)
    translator = MeshTranslator(mesh)
    assert _cluster_context(translator, "shop/client") is None
    context = _cluster_context(translator, "egress/egressgateway")
    assert context is not None
    common = context.common_tls_context
    assert [s.name for s in common.tls_certificate_sds_secret_configs] == [
        "kubernetes://egress/bank-client"
    ]
    assert client_credentials(translator, workload(mesh, "egress/egressgateway")) == (
        Credential("egress", "bank-client", with_ca=True, with_key=True),
    )
    assert client_credentials(translator, workload(mesh, "shop/client")) == ()
    assert rule_credentials(mesh) == {("egress", "bank-client")}


def test_a_selector_rule_reaches_a_gateway_only_when_it_selects_it() -> None:
    selecting = _rule("{mode: SIMPLE, credentialName: bank-ca}").replace(
        "namespace: shop}", "namespace: egress}"
    )
    mesh = mesh_of(MESH + selecting + EGRESS_GATEWAY)
    translator = MeshTranslator(mesh)
    assert _cluster_context(translator, "egress/egressgateway") is None  # app: client only
    selected = selecting.replace("{app: client}", "{istio: egressgateway}")
    mesh = mesh_of(MESH + selected + EGRESS_GATEWAY)
    context = _cluster_context(MeshTranslator(mesh), "egress/egressgateway")
    assert context is not None
    combined = context.common_tls_context.combined_validation_context
    assert combined.validation_context_sds_secret_config.name == (
        "kubernetes://egress/bank-ca-cacert"
    )
