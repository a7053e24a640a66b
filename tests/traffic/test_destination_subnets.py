"""VirtualService `destinationSubnets` on tcp/tls matches, as Istio's sidecar listeners
apply them: a rule no longer matches every destination address. Judged by the behaviour
evaluator (Envoy's filter-chain order: most specific destination prefix, then SNI) on the
golden case `vs-destination-subnets`, which real Envoy validates in tests/golden."""

from __future__ import annotations

import pytest

from tests.golden.cases import case_named, translate_case
from tests.translators.helpers import mesh_of, workload
from translators.analysis import analyze
from translators.behaviour.routing import tcp_route
from translators.translate import ProxyResources, translate

REDIS = "outbound|6379||redis.default.svc.cluster.local"
REPLICA = "outbound|6380||redis-replica.default.svc.cluster.local"
BACKUP = "outbound|6381||redis-backup.default.svc.cluster.local"


@pytest.fixture(scope="module")
def client() -> ProxyResources:
    _, (only,) = translate_case(case_named("vs-destination-subnets"))
    return only


@pytest.mark.parametrize(
    ("destination", "cluster"),
    [
        ("10.9.7.1", REPLICA),  # in 10.9.0.0/16 only
        ("10.9.1.20", BACKUP),  # 10.9.1.0/24 is more specific than the first rule's /16
        ("10.9.2.5", BACKUP),  # a bare IP is a /32
        ("10.9.2.6", REPLICA),
        ("10.2.0.1", REDIS),  # no subnet rule: the service's own chain
        ("192.0.2.1", REDIS),
    ],
)
def test_tcp_rules_apply_to_their_destination_subnets(
    client: ProxyResources, destination: str, cluster: str
) -> None:
    found = tcp_route(client.resources, 6379, destination=destination)
    assert found is not None
    assert found[1] == ((cluster, 100),)


@pytest.mark.parametrize(
    ("destination", "cluster"),
    [
        ("192.0.2.44", "outbound|443||api-eu.example.com"),
        ("198.51.100.7", "outbound|443||api.example.com"),
    ],
)
def test_tls_rules_apply_to_sni_and_destination_subnets(
    client: ProxyResources, destination: str, cluster: str
) -> None:
    found = tcp_route(client.resources, 443, "api.example.com", destination=destination)
    assert found is not None
    assert found[1] == ((cluster, 100),)


TWICE = """
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: db}
spec:
  hosts: [db]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 5432, name: pg, protocol: TCP}]
  endpoints: [{address: 10.2.0.1}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: db}
spec:
  hosts: [db]
  tcp:
  - match: [{destinationSubnets: [10.9.0.0/16], sourceSubnet: 10.1.0.0/16}]
    route: [{destination: {host: db}}]
  - match: [{destinationSubnets: [10.9.0.0/16]}]
    route: [{destination: {host: db}}]
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: client}
spec: {address: 10.0.0.1}
"""


def test_same_subnets_twice_keep_the_first_rule_and_are_reported() -> None:
    """Envoy refuses two chains with the same match: the second rule is left out, said
    so; `sourceSubnet` stays reported as not applied (Istio's pilot ignores it too),
    `destinationSubnets` no longer is."""
    mesh = mesh_of(TWICE)
    view = analyze(mesh)
    fields = {(m.code, m.field) for m in view.messages}
    assert ("XDS0803", "spec.tcp[0].match[0].sourceSubnet") in fields
    assert not any("destinationSubnets" in f for _, f in fields)
    result = translate(mesh, workload(mesh, "default/client"))
    assert any("10.9.0.0/16 are already routed to db" in w for w in result.view.warnings)
