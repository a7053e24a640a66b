"""The registry: services from ServiceEntries, endpoints from selected WorkloadEntries."""

from __future__ import annotations

from tests.translators.helpers import docs, mesh_of, workload_entry
from translators.mesh import MeshConfig

SELECTING = """\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: svc, namespace: %s}
spec:
  hosts: [svc]
  location: MESH_INTERNAL
  ports: [{number: 80, name: http, protocol: HTTP}]
  workloadSelector: {labels: %s}
"""


def addresses(mesh: MeshConfig, host: str) -> list[str]:
    return [e.address for e in mesh.services[host].endpoints]


def test_selector_matches_every_label_within_the_namespace() -> None:
    mesh = mesh_of(
        docs(
            SELECTING % ("shop", "{app: web, tier: front}"),
            workload_entry("both", "10.0.0.1", "shop", "{app: web, tier: front, x: y}"),
            workload_entry("one", "10.0.0.2", "shop", "{app: web}"),
            workload_entry("elsewhere", "10.0.0.3", "other", "{app: web, tier: front}"),
        )
    )
    assert addresses(mesh, "svc.shop.svc.cluster.local") == ["10.0.0.1"]
    (endpoint,) = mesh.services["svc.shop.svc.cluster.local"].endpoints
    assert endpoint.workload == "shop/both"


def test_empty_selector_selects_every_workload_of_the_namespace() -> None:
    mesh = mesh_of(
        docs(
            SELECTING % ("shop", "{}"),
            workload_entry("plain", "10.0.0.1", "shop"),
            workload_entry("labelled", "10.0.0.2", "shop", "{a: b, c: d}"),
            workload_entry("elsewhere", "10.0.0.3", "other"),
        )
    )
    assert sorted(addresses(mesh, "svc.shop.svc.cluster.local")) == ["10.0.0.1", "10.0.0.2"]


def test_service_digest_follows_its_selected_workloads_only() -> None:
    def digest(*workloads: str) -> str:
        mesh = mesh_of(docs(SELECTING % ("shop", "{app: web}"), *workloads))
        return mesh.services["svc.shop.svc.cluster.local"].digest

    base = digest(
        workload_entry("w", "10.0.0.1", "shop", "{app: web}"),
        workload_entry("u", "10.0.0.9", "shop", "{app: other}"),
    )
    assert base == digest(
        workload_entry("w", "10.0.0.1", "shop", "{app: web}"),
        workload_entry("u", "10.0.0.8", "shop", "{app: other}"),  # unrelated change
    )
    for changed in (
        workload_entry("w", "10.0.0.2", "shop", "{app: web}"),
        workload_entry("w", "10.0.0.1", "shop", "{app: web, version: v2}"),
    ):
        assert digest(changed, workload_entry("u", "10.0.0.9", "shop", "{app: other}")) != base


def test_one_service_per_host_with_resolved_names() -> None:
    mesh = mesh_of(
        """\
        apiVersion: networking.istio.io/v1
        kind: ServiceEntry
        metadata: {name: multi, namespace: shop}
        spec:
          hosts: [web, api.example.com]
          resolution: STATIC
          ports: [{number: 80, name: http, protocol: HTTP}]
          endpoints: [{address: 10.0.0.1}]
        """
    )
    assert sorted(mesh.services) == ["api.example.com", "web.shop.svc.cluster.local"]
    assert {s.source for s in mesh.services.values()} == {"ServiceEntry/shop/multi"}
