"""Outbound TLS: auto-mTLS decisions, DestinationRule `tls`, the memo following
PeerAuthentication changes, byte-assembled clusters, and real Envoy judging TLS
origination with real certificate files."""

from __future__ import annotations

import textwrap
from pathlib import Path
from types import MappingProxyType

import pytest
from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.endpoint.v3 import endpoint_pb2
from envoy.extensions.transport_sockets.tls.v3 import tls_pb2

import ca
from tests.envoy_validate import find_envoy, validate_resources
from tests.translators.helpers import mesh_of, workload
from translators.envoy.clusters import (
    build_cluster,
    cluster_bytes,
    load_assignment,
    load_assignment_bytes,
)
from translators.ir import DestinationIR, ProxyView, UpstreamTLSIR, UpstreamTLSMode
from translators.mesh import MeshConfig, Workload, build_mesh
from translators.translate import MeshTranslator, translate
from xdscp.sources.documents import parse_text

CLIENT = """\
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: client, namespace: prod}
spec: {address: 10.0.0.1, serviceAccount: client, labels: {app: client}}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api, namespace: prod}
spec:
  hosts: [api]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 8080, name: http, protocol: HTTP}]
  workloadSelector:
    labels: {app: api}
"""


def api_workload(name: str, address: str, extra: str = "") -> str:
    return textwrap.dedent(
        f"""\
        apiVersion: networking.istio.io/v1
        kind: WorkloadEntry
        metadata: {{name: {name}, namespace: prod{extra}}}
        spec: {{address: {address}, serviceAccount: {name}, labels: {{app: api}}}}
        """
    )


def mesh_with(*documents: str) -> MeshConfig:
    return mesh_of("---\n".join([CLIENT, *(textwrap.dedent(d) for d in documents)]))


def api_cluster(view: ProxyView, subset: str = "") -> DestinationIR:
    name = f"outbound|8080|{subset}|api.prod.svc.cluster.local"
    return next(c for c in view.destinations if c.name == name)


def client_view(mesh: MeshConfig) -> ProxyView:
    return translate(mesh, workload(mesh, "prod/client")).view


def test_auto_mtls_to_sidecars_checks_their_identities() -> None:
    view = client_view(
        mesh_with(api_workload("api-a", "10.0.1.1"), api_workload("api-b", "10.0.1.2"))
    )
    tls = api_cluster(view).tls
    assert tls == UpstreamTLSIR(
        UpstreamTLSMode.ISTIO_MUTUAL,
        sni="outbound_.8080_._.api.prod.svc.cluster.local",
        subject_alt_names=(
            "spiffe://cluster.local/ns/prod/sa/api-a",
            "spiffe://cluster.local/ns/prod/sa/api-b",
        ),
    )


def test_no_tls_to_workloads_without_sidecar_or_with_mtls_disabled() -> None:
    bare = api_workload("api-a", "10.0.1.1", ', annotations: {sidecar.istio.io/inject: "false"}')
    assert api_cluster(client_view(mesh_with(bare))).tls is None
    disabled = """\
        apiVersion: security.istio.io/v1
        kind: PeerAuthentication
        metadata: {name: api, namespace: prod}
        spec:
          selector: {matchLabels: {app: api}}
          mtls: {mode: DISABLE}
        """
    view = client_view(mesh_with(api_workload("api-a", "10.0.1.1"), disabled))
    cluster = api_cluster(view)
    assert cluster.tls is None
    assert "PeerAuthentication/prod/api" in cluster.provenance


def test_mixed_endpoints_use_transport_socket_matches() -> None:
    bare = api_workload("api-b", "10.0.1.2", ', annotations: {sidecar.istio.io/inject: "false"}')
    mesh = mesh_with(api_workload("api-a", "10.0.1.1"), bare)
    resources = translate(mesh, workload(mesh, "prod/client"))
    cluster = api_cluster(resources.view)
    assert cluster.tls is not None and cluster.tls.mesh_endpoints_only
    assert cluster.tls.subject_alt_names == ("spiffe://cluster.local/ns/prod/sa/api-a",)
    assignment = next(a for a in resources.view.endpoint_sets if a.destination == cluster.name)
    assert {e.address: e.tls_mode for e in assignment.endpoints} == {
        "10.0.1.1": "istio",
        "10.0.1.2": "",
    }
    built = build_cluster(cluster)
    assert [m.name for m in built.transport_socket_matches] == [
        "tlsMode-istio",
        "tlsMode-disabled",
    ]
    assert not built.HasField("transport_socket")


def test_mesh_external_service_gets_no_auto_mtls() -> None:
    external = """\
        apiVersion: networking.istio.io/v1
        kind: ServiceEntry
        metadata: {name: ext, namespace: prod}
        spec:
          hosts: [ext.example.com]
          location: MESH_EXTERNAL
          resolution: STATIC
          ports: [{number: 8080, name: http, protocol: HTTP}]
          endpoints: [{address: 10.9.0.1, labels: {security.istio.io/tlsMode: istio}}]
        """
    view = client_view(mesh_with(external))
    cluster = next(c for c in view.destinations if c.name.endswith("ext.example.com"))
    assert cluster.tls is None


def test_inline_endpoint_labelled_istio_gets_mtls() -> None:
    internal = """\
        apiVersion: networking.istio.io/v1
        kind: ServiceEntry
        metadata: {name: vm, namespace: prod}
        spec:
          hosts: [vm]
          location: MESH_INTERNAL
          resolution: STATIC
          ports: [{number: 8080, name: http, protocol: HTTP}]
          endpoints:
          - {address: 10.9.0.1, serviceAccount: vm, labels: {security.istio.io/tlsMode: istio}}
        """
    view = client_view(mesh_with(internal))
    cluster = next(c for c in view.destinations if c.name.endswith("vm.prod.svc.cluster.local"))
    assert cluster.tls is not None
    assert cluster.tls.subject_alt_names == ("spiffe://cluster.local/ns/prod/sa/vm",)


def test_destination_rule_precedence() -> None:
    """Istio's MergeTrafficPolicy: subset over top level, port level over its level."""
    rule = """\
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata: {name: api, namespace: prod}
        spec:
          host: api
          trafficPolicy:
            tls: {mode: DISABLE}
            portLevelSettings:
            - port: {number: 8080}
              tls: {mode: ISTIO_MUTUAL, sni: top-port}
          subsets:
          - name: plain
            labels: {app: api}
            trafficPolicy: {tls: {mode: DISABLE}}
          - name: inherits
            labels: {app: api}
          - name: simple
            labels: {app: api}
            trafficPolicy:
              tls: {mode: DISABLE}
              portLevelSettings:
              - port: {number: 8080}
                tls: {mode: SIMPLE, insecureSkipVerify: true}
        """
    view = client_view(mesh_with(api_workload("api-a", "10.0.1.1"), rule))
    top = api_cluster(view).tls
    assert top is not None and top.sni == "top-port"
    assert top.subject_alt_names == ("spiffe://cluster.local/ns/prod/sa/api-a",)
    assert api_cluster(view, "plain").tls is None
    inherits = api_cluster(view, "inherits").tls
    assert inherits is not None and inherits.sni == "top-port"
    simple = api_cluster(view, "simple").tls
    assert simple is not None and simple.mode is UpstreamTLSMode.SIMPLE
    assert simple.sni == "api.prod.svc.cluster.local" and simple.insecure_skip_verify


def test_peer_authentication_change_rebuilds_clusters_through_the_memo() -> None:
    """The clusters memo is keyed by the endpoints' mTLS state: a new DISABLE policy must
    not be hidden by a memo entry carried over from the previous generation."""
    before = mesh_with(api_workload("api-a", "10.0.1.1"))
    first = MeshTranslator(before)
    assert api_cluster(first.view(workload(before, "prod/client"))).tls is not None
    after = mesh_with(
        api_workload("api-a", "10.0.1.1"),
        """\
        apiVersion: security.istio.io/v1
        kind: PeerAuthentication
        metadata: {name: default, namespace: istio-system}
        spec: {mtls: {mode: DISABLE}}
        """,
    )
    second = MeshTranslator(after, first)
    resources = second.translate(workload(after, "prod/client"))
    assert api_cluster(resources.view).tls is None
    cluster = next(
        r.message for r in resources.resources if r.name.startswith("outbound|8080||api")
    )
    assert not cluster.HasField("transport_socket")


@pytest.mark.parametrize("mesh_endpoints_only", [False, True])
def test_byte_assembled_clusters_and_assignments_equal_the_messages(
    mesh_endpoints_only: bool,
) -> None:
    bare = api_workload("api-b", "10.0.1.2", ', annotations: {sidecar.istio.io/inject: "false"}')
    docs = [api_workload("api-a", "10.0.1.1")] + ([bare] if mesh_endpoints_only else [])
    view = client_view(mesh_with(*docs))
    cluster = api_cluster(view)
    assert cluster.tls is not None and cluster.tls.mesh_endpoints_only is mesh_endpoints_only
    parsed = cluster_pb2.Cluster()
    parsed.ParseFromString(cluster_bytes(cluster))
    assert parsed == build_cluster(cluster)
    for assignment in view.endpoint_sets:
        cla = endpoint_pb2.ClusterLoadAssignment()
        cla.ParseFromString(load_assignment_bytes(assignment.destination, assignment.endpoints))
        assert cla == load_assignment(assignment.destination, assignment.endpoints)


# --- TLS origination with files, judged by real Envoy -----------------------------------


@pytest.mark.skipif(find_envoy() is None, reason="no envoy binary")
def test_simple_and_mutual_tls_with_files_are_accepted_by_envoy(tmp_path: Path) -> None:
    authority = ca.new_root_ca(common_name="upstream CA")
    client = ca.issue_server_certificate(authority, ["client.example"])
    (tmp_path / "ca.pem").write_text(authority.trust_bundle().pem)
    (tmp_path / "client.pem").write_text(client.cert_chain_pem)
    (tmp_path / "client.key").write_text(client.key_pem)
    rule = f"""\
        apiVersion: networking.istio.io/v1
        kind: ServiceEntry
        metadata: {{name: bank, namespace: prod}}
        spec:
          hosts: [bank.example.com]
          location: MESH_EXTERNAL
          resolution: DNS
          ports:
          - {{number: 443, name: https, protocol: HTTP}}
          - {{number: 8443, name: https-mtls, protocol: HTTP}}
        ---
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata: {{name: bank, namespace: prod}}
        spec:
          host: bank.example.com
          trafficPolicy:
            tls:
              mode: SIMPLE
              caCertificates: {tmp_path}/ca.pem
            portLevelSettings:
            - port: {{number: 8443}}
              tls:
                mode: MUTUAL
                caCertificates: {tmp_path}/ca.pem
                clientCertificate: {tmp_path}/client.pem
                privateKey: {tmp_path}/client.key
                subjectAltNames: [bank.example.com, spiffe://bank/ns/a/sa/b]
        """
    mesh = mesh_with(rule)
    resources = translate(mesh, workload(mesh, "prod/client"))
    simple = next(
        c for c in resources.view.destinations if c.name == "outbound|443||bank.example.com"
    )
    context = tls_pb2.UpstreamTlsContext()
    build_cluster(simple).transport_socket.typed_config.Unpack(context)
    assert context.sni == "bank.example.com"
    assert context.auto_sni_san_validation  # no SANs given: the name must match the SNI
    mutual = next(c for c in resources.view.destinations if c.name.startswith("outbound|8443|"))
    build_cluster(mutual).transport_socket.typed_config.Unpack(context)
    assert len(context.common_tls_context.tls_certificates) == 1
    sans = context.common_tls_context.validation_context.match_typed_subject_alt_names
    assert [(s.san_type, s.matcher.exact) for s in sans] == [
        (2, "bank.example.com"),  # DNS
        (3, "spiffe://bank/ns/a/sa/b"),  # URI
    ]
    verdict = validate_resources(resources.resources, validate_clusters=True)
    assert verdict.ok, verdict


@pytest.mark.skipif(find_envoy() is None, reason="no envoy binary")
def test_strict_server_and_mtls_client_with_real_svids_are_accepted_by_envoy() -> None:
    """The SDS references, resolved with a real SVID and trust bundle from the CA."""
    from translators.envoy.secrets import root_secret, workload_secret
    from translators.naming import SECRET_TYPE
    from translators.translate import EnvoyResource

    authority = ca.new_root_ca()
    svid = ca.issue_svid(authority, "spiffe://cluster.local/ns/prod/sa/api-a")
    secrets = [
        EnvoyResource(SECRET_TYPE, "default", workload_secret(svid.cert_chain_pem, svid.key_pem)),
        EnvoyResource(SECRET_TYPE, "ROOTCA", root_secret(authority.trust_bundle().pem)),
    ]
    mesh = mesh_with(
        api_workload("api-a", "10.0.1.1"),
        """\
        apiVersion: networking.istio.io/v1
        kind: Sidecar
        metadata: {name: api, namespace: prod}
        spec:
          workloadSelector: {labels: {app: api}}
          ingress:
          - port: {number: 8080, protocol: HTTP, name: http}
            defaultEndpoint: 127.0.0.1:18080
        ---
        apiVersion: security.istio.io/v1
        kind: PeerAuthentication
        metadata: {name: default, namespace: prod}
        spec: {mtls: {mode: STRICT}}
        """,
    )
    for name in ("prod/api-a", "prod/client"):
        resources = translate(mesh, workload(mesh, name)).resources
        verdict = validate_resources([*resources, *secrets], validate_clusters=True)
        assert verdict.ok, f"{name}: {verdict}"


def _pod(name: str, address: str, annotations: dict[str, str], labels: dict[str, str]) -> Workload:
    return Workload(
        namespace="prod",
        name=name,
        address=address,
        labels=MappingProxyType({"app": "api", **labels}),
        service_account=name,
        ports=MappingProxyType({}),
        annotations=MappingProxyType(annotations),
        source=f"Pod/prod/{name}",
    )


@pytest.mark.parametrize(
    ("annotations", "labels", "meshed"),
    [
        ({}, {}, False),  # a Pod nobody injected has no sidecar
        ({"xdscp.io/injected": "true"}, {}, True),
        ({"sidecar.istio.io/status": "{}"}, {}, True),
        ({"xdscp.io/injected": "true"}, {"security.istio.io/tlsMode": "disabled"}, False),
        ({}, {"security.istio.io/tlsMode": "istio"}, True),
    ],
)
def test_kubernetes_pods_have_a_sidecar_only_when_injected(
    annotations: dict[str, str], labels: dict[str, str], meshed: bool
) -> None:
    parsed = parse_text(CLIENT, "test.yaml")
    mesh = build_mesh(parsed.objects, workloads=[_pod("api-a", "10.0.1.1", annotations, labels)])
    assert not mesh.errors, [str(e) for e in mesh.errors]
    assert (api_cluster(client_view(mesh)).tls is not None) is meshed
