"""Inbound cluster connection pools as Istio's buildInboundCluster sets them: the
DestinationRule the proxy sees for the service (at the service port), overridden by the
Sidecar's `inboundConnectionPool` (itself overridden per port, see the golden case
`sidecar-inbound-pool` and tests/e2e/test_sidecar_inbound_pool.py)."""

from __future__ import annotations

from envoy.config.cluster.v3 import cluster_pb2

from tests.translators.helpers import docs, mesh_of, workload
from translators.naming import CLUSTER_TYPE
from translators.translate import translate

SERVICE = """apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api}
spec:
  hosts: [api]
  location: MESH_INTERNAL
  resolution: STATIC
  ports:
  - {number: 80, name: http, protocol: HTTP, targetPort: 8080}
  - {number: 90, name: admin, protocol: HTTP, targetPort: 9090}
  workloadSelector: {labels: {app: api}}"""
WORKLOAD = """apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata:
  name: api
  annotations: {xdscp.io/injected: "true"}
spec: {address: 10.0.0.7, labels: {app: api}}"""
RULE = """apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: api}
spec:
  host: api
  trafficPolicy:
    connectionPool: {tcp: {maxConnections: 7}}
    portLevelSettings:
    - port: {number: 90}
      connectionPool: {http: {http1MaxPendingRequests: 3}}"""
SIDECAR = """apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default}
spec:
  inboundConnectionPool: {tcp: {maxConnections: 50}}"""


def _thresholds(text: str) -> dict[int, tuple[int, int]]:
    """target port -> (max_connections, max_pending_requests) of its inbound cluster."""
    mesh = mesh_of(text)
    out: dict[int, tuple[int, int]] = {}
    for resource in translate(mesh, workload(mesh, "default/api")).resources:
        message = resource.message
        if (
            resource.type_url == CLUSTER_TYPE
            and isinstance(message, cluster_pb2.Cluster)
            and resource.name.startswith("inbound|")
            and resource.name.split("|")[1].isdigit()
        ):
            (limits,) = message.circuit_breakers.thresholds
            port = int(resource.name.split("|")[1])
            out[port] = (limits.max_connections.value, limits.max_pending_requests.value)
    return out


UNLIMITED = 4294967295


def test_the_destination_rule_pool_applies_inbound_at_the_service_port() -> None:
    assert _thresholds(docs(SERVICE, WORKLOAD, RULE)) == {
        8080: (7, UNLIMITED),  # top level
        9090: (UNLIMITED, 3),  # port 90's portLevelSettings replace it entirely
    }


def test_the_sidecar_pool_overrides_the_destination_rule() -> None:
    assert _thresholds(docs(SERVICE, WORKLOAD, RULE, SIDECAR)) == {
        8080: (50, UNLIMITED),
        9090: (50, UNLIMITED),
    }


def test_without_either_the_limits_are_istios_unlimited_defaults() -> None:
    assert _thresholds(docs(SERVICE, WORKLOAD)) == {
        8080: (UNLIMITED, UNLIMITED),
        9090: (UNLIMITED, UNLIMITED),
    }
