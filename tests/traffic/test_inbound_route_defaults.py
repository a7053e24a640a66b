"""Istio's inbound route policy (BuildDefaultHTTPInboundRoute + ConvertInboundPolicy):
HTTP ports retry a request the app never received (`reset-before-request`, twice);
gRPC ports get no retry policy (that condition breaks streaming)."""

from __future__ import annotations

import pytest

from tests.translators.helpers import docs, mesh_of, workload
from translators.behaviour.routing import Request, route_on_port
from translators.translate import translate

MESH = docs(
    """apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api}
spec:
  hosts: [api]
  location: MESH_INTERNAL
  resolution: STATIC
  ports:
  - {number: 8080, name: http, protocol: HTTP}
  - {number: 9090, name: grpc, protocol: GRPC}
  - {number: 9091, name: grpc-web, protocol: GRPC-Web}
  workloadSelector: {labels: {app: api}}""",
    """apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata:
  name: api
  annotations: {xdscp.io/injected: "true"}
spec: {address: 10.0.0.7, labels: {app: api}}""",
)


@pytest.mark.parametrize(("port", "retried"), [(8080, True), (9090, False), (9091, False)])
def test_inbound_routes_retry_only_http_ports(port: int, retried: bool) -> None:
    mesh = mesh_of(MESH)
    resources = translate(mesh, workload(mesh, "default/api")).resources
    decision = route_on_port(resources, port, Request("api"), address="10.0.0.7")
    assert decision is not None and decision.raw is not None
    policy = decision.raw.route.retry_policy
    assert decision.raw.route.HasField("retry_policy") is retried
    if retried:
        assert (policy.retry_on, policy.num_retries.value) == ("reset-before-request", 2)
