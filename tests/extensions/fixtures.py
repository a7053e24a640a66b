"""A small mesh and extensions for the extension tests."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from envoy.config.cluster.v3 import cluster_pb2
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from translators.extensions import Extension, ExtensionSet, Proxy, Resource
from translators.mesh import MeshConfig, MeshOptions, build_mesh
from xdscp.sources.documents import parse_text

MESH = """
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api}
spec:
  hosts: [api]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 8080, name: http, protocol: HTTP}]
  workloadSelector: {labels: {app: api}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: api-1}
spec: {address: 10.0.0.1, labels: {app: api}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: api-2}
spec: {address: 10.0.0.2, labels: {app: api}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: web}
spec: {address: 10.0.0.3, labels: {app: web}}
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: api}
spec:
  workloadSelector: {labels: {app: api}}
  ingress:
  - port: {number: 8080, protocol: HTTP, name: http}
    defaultEndpoint: 127.0.0.1:18080
"""

BACKEND = """
---
apiVersion: extensions.example.io/v1
kind: ExternalBackend
metadata: {name: billing}
spec:
  selector: {matchLabels: {app: api}}
  address: 10.9.0.1
  port: 443
"""


class Selector(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, alias_generator=to_camel)
    match_labels: dict[str, str] = Field(default_factory=dict)


class ExternalBackendSpec(BaseModel):
    """A custom kind: a static cluster for the selected workloads."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True
    )
    selector: Selector | None = None
    address: str
    port: int = Field(ge=1, le=65535)


def backend_cluster(name: str, spec: ExternalBackendSpec) -> cluster_pb2.Cluster:
    cluster = cluster_pb2.Cluster(name=f"external|{name}", type=cluster_pb2.Cluster.STATIC)
    cluster.connect_timeout.seconds = 1
    cluster.load_assignment.cluster_name = cluster.name
    endpoint = cluster.load_assignment.endpoints.add().lb_endpoints.add().endpoint
    endpoint.address.socket_address.address = spec.address
    endpoint.address.socket_address.port_value = spec.port
    return cluster


def translate_backends(mesh: MeshConfig, proxy: Proxy) -> Iterable[cluster_pb2.Cluster]:
    return [backend_cluster(o.name, o.spec) for o in proxy.selecting("ExternalBackend")]


def backend_extension() -> Extension:
    ext = Extension("external-backends")
    ext.add_kind("ExternalBackend", "extensions.example.io", ["v1"], ExternalBackendSpec)
    ext.add_translator(translate_backends)
    return ext


def rename_stat_prefixes(proxy: Proxy, clusters: Sequence[Resource]) -> list[Resource]:
    """A patch touching every outbound cluster: sets alt_stat_name."""
    for resource in clusters:
        if resource.name.startswith("outbound|"):
            message = resource.message
            assert isinstance(message, cluster_pb2.Cluster)
            message.alt_stat_name = message.name.replace(".", "_")
    return list(clusters)


def mesh(extra: str = "", kinds: bool = True) -> MeshConfig:
    """The test mesh (plus `extra` YAML), parsed with the ExternalBackend kind."""
    extension_kinds = ExtensionSet((backend_extension(),)).kinds() if kinds else None
    parsed = parse_text(MESH + extra, "test.yaml", extension_kinds)
    built = build_mesh(parsed.objects, parsed.errors, MeshOptions(local_mode=True))
    assert not built.errors, [str(e) for e in built.errors]
    return built
