"""A test extension through which a config object hands Envoy a raw Cluster, the way an
EnvoyFilter can: xdscp accepts what the extension's model allows, and real Envoy is
the one to reject it. Lets a test provoke a real NACK with an ordinary config edit.

    apiVersion: tests.xdscp.io/v1alpha1
    kind: RawCluster
    metadata: {name: broken}
    spec:
      selector: {matchLabels: {app: client}}
      connectTimeoutSeconds: -1     # Envoy requires a positive duration: NACK
"""

from __future__ import annotations

from collections.abc import Iterator

from envoy.config.cluster.v3 import cluster_pb2
from google.protobuf import duration_pb2
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from translators import Extension, MeshConfig, Proxy

KIND = "RawCluster"


class _Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True
    )


class Selector(_Model):
    match_labels: dict[str, str] = Field(default_factory=dict)


class RawClusterSpec(_Model):
    selector: Selector | None = None
    connect_timeout_seconds: int


def raw_clusters(mesh: MeshConfig, proxy: Proxy) -> Iterator[cluster_pb2.Cluster]:
    for obj in proxy.selecting(KIND):
        spec: RawClusterSpec = obj.spec
        yield cluster_pb2.Cluster(
            name=f"raw-{obj.name}",
            type=cluster_pb2.Cluster.STATIC,
            connect_timeout=duration_pb2.Duration(seconds=spec.connect_timeout_seconds),
        )


def make_extension() -> Extension:
    ext = Extension("raw-cluster")
    ext.add_kind(KIND, "tests.xdscp.io", ["v1alpha1"], RawClusterSpec)
    ext.add_translator(raw_clusters)
    return ext


extension = make_extension
