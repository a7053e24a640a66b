"""Gateway proxies and auto-mTLS: as in Istio (where gateway pods lack the
`security.istio.io/tlsMode: istio` label the sidecar injector adds), a workload selected
by an Istio Gateway or running a Gateway API Gateway gets no auto-mTLS from sidecars; a
DestinationRule's ISTIO_MUTUAL or the label still give mesh mTLS; the translator memo
follows a Gateway appearing or going away."""

from __future__ import annotations

import pytest

from tests.security.test_upstream import api_cluster, api_workload, client_view, mesh_with
from tests.translators.helpers import workload
from translators.ir import UpstreamTLSMode
from translators.translate import MeshTranslator

ISTIO_GATEWAY = """\
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: egress, namespace: istio-system}
spec:
  selector: {app: api}
  servers: [{port: {number: 8080, name: http, protocol: HTTP}, hosts: ["*"]}]
"""

API_GATEWAY = """\
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: edge, namespace: prod}
spec:
  gatewayClassName: istio
  listeners: [{name: http, port: 8080, protocol: HTTP}]
"""

GATEWAY_NAME = ", labels: {gateway.networking.k8s.io/gateway-name: edge}"

ISTIO_MUTUAL_RULE = """\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: api, namespace: prod}
spec: {host: api, trafficPolicy: {tls: {mode: ISTIO_MUTUAL}}}
"""

LABELLED = """\
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: api-a, namespace: prod}
spec:
  address: 10.0.1.1
  serviceAccount: api-a
  labels: {app: api, security.istio.io/tlsMode: istio}
"""


@pytest.mark.parametrize(
    "documents",
    [
        [api_workload("api-a", "10.0.1.1"), ISTIO_GATEWAY],
        [api_workload("api-a", "10.0.1.1", GATEWAY_NAME), API_GATEWAY],
    ],
    ids=["istio-gateway", "gateway-api"],
)
def test_a_gateway_proxy_gets_no_auto_mtls(documents: list[str]) -> None:
    assert api_cluster(client_view(mesh_with(*documents))).tls is None


def test_a_gateway_proxy_among_sidecars_is_reached_in_plain_text() -> None:
    """One endpoint is a gateway, one a sidecar: only the sidecar is tagged for mTLS."""
    gateway = """\
    apiVersion: networking.istio.io/v1
    kind: Gateway
    metadata: {name: egress, namespace: prod}
    spec:
      selector: {istio: egressgateway}
      servers: [{port: {number: 8080, name: http, protocol: HTTP}, hosts: ["*"]}]
    """
    gateway_entry = """\
    apiVersion: networking.istio.io/v1
    kind: WorkloadEntry
    metadata: {name: api-gw, namespace: prod}
    spec: {address: 10.0.1.9, serviceAccount: gw, labels: {app: api, istio: egressgateway}}
    """
    view = client_view(mesh_with(api_workload("api-a", "10.0.1.1"), gateway_entry, gateway))
    cluster = api_cluster(view)
    assert cluster.tls is not None and cluster.tls.mesh_endpoints_only
    assignment = next(a for a in view.endpoint_sets if a.destination == cluster.name)
    tagged = {e.address: e.tls_mode for e in assignment.endpoints}
    assert tagged == {"10.0.1.1": "istio", "10.0.1.9": ""}


@pytest.mark.parametrize("explicit", [ISTIO_MUTUAL_RULE, None], ids=["dr", "label"])
def test_explicit_istio_mutual_still_reaches_a_gateway(explicit: str | None) -> None:
    documents = [ISTIO_GATEWAY, explicit or LABELLED]
    if explicit:
        documents.append(api_workload("api-a", "10.0.1.1"))
    tls = api_cluster(client_view(mesh_with(*documents))).tls
    assert tls is not None and tls.mode is UpstreamTLSMode.ISTIO_MUTUAL


def test_a_gateway_appearing_and_going_rebuilds_the_clusters() -> None:
    plain = mesh_with(api_workload("api-a", "10.0.1.1"))
    gatewayed = mesh_with(api_workload("api-a", "10.0.1.1"), ISTIO_GATEWAY)
    first = MeshTranslator(plain)
    assert api_cluster(first.view(workload(plain, "prod/client"))).tls is not None
    second = MeshTranslator(gatewayed, first)
    assert api_cluster(second.view(workload(gatewayed, "prod/client"))).tls is None
    third = MeshTranslator(plain, second)
    assert api_cluster(third.view(workload(plain, "prod/client"))).tls is not None


FOREIGN_CLASS = """\
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: other}
spec: {controllerName: example.com/another-controller}
"""


def test_another_controllers_gateway_leaves_its_workloads_sidecars() -> None:
    """A Gateway of a class another controller implements runs no proxy here: the
    translator gives its labelled workload a sidecar, so callers keep auto-mTLS to it
    (they used to send plain text to a sidecar that required mTLS)."""
    foreign = API_GATEWAY.replace("gatewayClassName: istio", "gatewayClassName: other")
    mesh = mesh_with(api_workload("api-a", "10.0.1.1", GATEWAY_NAME), foreign, FOREIGN_CLASS)
    translator = MeshTranslator(mesh)
    assert not translator.is_gateway(workload(mesh, "prod/api-a"))
    tls = api_cluster(translator.view(workload(mesh, "prod/client"))).tls
    assert tls is not None and tls.mode is UpstreamTLSMode.ISTIO_MUTUAL


def test_a_gateway_class_changing_hands_rebuilds_the_clusters() -> None:
    """GatewayClass decides which Gateways are ours: its edit reaches auto-mTLS."""
    documents = [api_workload("api-a", "10.0.1.1", GATEWAY_NAME), API_GATEWAY]
    theirs = mesh_with(*documents, FOREIGN_CLASS.replace("name: other", "name: istio"))
    ours = mesh_with(
        *documents,
        FOREIGN_CLASS.replace("name: other", "name: istio").replace(
            "example.com/another-controller", "istio.io/gateway-controller"
        ),
    )
    first = MeshTranslator(ours)
    assert api_cluster(first.view(workload(ours, "prod/client"))).tls is None
    second = MeshTranslator(theirs, first)
    assert api_cluster(second.view(workload(theirs, "prod/client"))).tls is not None
    third = MeshTranslator(ours, second)
    assert api_cluster(third.view(workload(ours, "prod/client"))).tls is None
