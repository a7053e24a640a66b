"""A WorkloadEntry whose address is a DNS name: as in Istio, an endpoint of the
ServiceEntries with resolution DNS that select it (a STRICT_DNS cluster resolving the
name), left out of STATIC (EDS needs IPs), never a proxied workload."""

from __future__ import annotations

from tests.translators.helpers import mesh_of, workload
from translators.analysis import analyze
from translators.ir import Resolution
from translators.translate import MeshTranslator

MESH = """
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: legacy}
spec:
  hosts: [legacy.internal]
  location: MESH_INTERNAL
  resolution: DNS
  ports: [{number: 8080, name: http, protocol: HTTP}]
  workloadSelector: {labels: {app: SELECTED}}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: legacy-static}
spec:
  hosts: [legacy-static.internal]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 8080, name: http, protocol: HTTP}]
  workloadSelector: {labels: {app: legacy}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: vm}
spec: {address: vm1.legacy.example, labels: {app: legacy}, ports: {http: 9090}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: client}
spec: {address: 10.9.0.1}
"""


def test_dns_named_entry_is_a_dns_endpoint() -> None:
    mesh = mesh_of(MESH.replace("SELECTED", "legacy"))
    assert "default/vm" not in mesh.workloads  # no sidecar
    view = MeshTranslator(mesh).view(workload(mesh, "default/client"))
    clusters = {c.name: c for c in view.destinations}
    dns = clusters["outbound|8080||legacy.internal"]
    assert dns.resolution is Resolution.DNS
    assert [(e.address, e.port) for e in dns.endpoints] == [("vm1.legacy.example", 9090)]
    static = {a.destination: a for a in view.endpoint_sets}["outbound|8080||legacy-static.internal"]
    assert static.endpoints == ()  # EDS takes IPs only (Istio filters names out)
    codes = {(m.code, m.ref) for m in analyze(mesh).messages}
    assert ("XDS0807", "WorkloadEntry/default/vm") not in codes


def test_unselected_dns_named_entry_is_reported() -> None:
    mesh = mesh_of(MESH.replace("SELECTED", "other"))
    codes = {(m.code, m.ref) for m in analyze(mesh).messages}
    assert ("XDS0807", "WorkloadEntry/default/vm") in codes
