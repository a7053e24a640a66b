"""A running canary mesh (in-process control plane, real Envoy sidecars) and a Cluster
injected into one proxy's snapshot that its Envoy must NACK: what the NACK tests share."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from envoy.config.cluster.v3 import cluster_pb2
from google.protobuf import duration_pb2

from tests.e2e.harness import free_port, relocate_example
from xdscp.cache import CLUSTER_TYPE, TypeSnapshot, make_resource
from xdscp.identity import IdentitySettings
from xdscp.local.mesh import LocalMesh
from xdscp.service import ControlPlane

INJECTED_CLUSTER = "broken-cluster"
INJECTED_SOURCE = "Test/default/injected"


@asynccontextmanager
async def canary_mesh(tmp_path: Path) -> AsyncIterator[tuple[ControlPlane, LocalMesh]]:
    """examples/canary (relocated) served by a started control plane, its sidecars up."""
    config, _ = relocate_example("canary", tmp_path)
    plane = ControlPlane(
        config,
        f"127.0.0.1:{free_port()}",
        f"127.0.0.1:{free_port()}",
        identity_settings=IdentitySettings(ca_dir=tmp_path / "ca"),
    )
    await plane.start()
    local = LocalMesh(plane, tmp_path / "run")
    try:
        await local.start()
        yield plane, local
    finally:
        await local.stop()
        await plane.stop()


def inject_rejected_cluster(plane: ControlPlane, proxy: str) -> tuple[TypeSnapshot, TypeSnapshot]:
    """Push `proxy` its CDS plus one Cluster Envoy must reject (connect_timeout must be
    > 0), named INJECTED_CLUSTER with provenance INJECTED_SOURCE.
    Returns (the CDS it ran before, the CDS it will NACK)."""
    bad = cluster_pb2.Cluster(
        name=INJECTED_CLUSTER,
        type=cluster_pb2.Cluster.STATIC,
        connect_timeout=duration_pb2.Duration(seconds=-1),
    )
    snapshot = plane.cache.get(proxy)
    assert snapshot is not None, proxy
    cds = snapshot.get(CLUSTER_TYPE)
    broken = TypeSnapshot.of(
        CLUSTER_TYPE,
        [
            *cds.resources.values(),
            make_resource(CLUSTER_TYPE, INJECTED_CLUSTER, bad, (INJECTED_SOURCE,)),
        ],
    )
    plane.cache.set(proxy, snapshot.replace(broken))
    return cds, broken
