"""Build the floor server's bytes: exactly what xdscp sends each client, computed ahead.

Runs the real runtime once per client for the initial mesh and once for the changed
mesh, and assembles each response body for the names a client will ask for (derived
from the bodies the same way the clients derive them) with the server's own serializer:
`xdscp.server.wire.sotw_answer` decides what a response holds and `sotw_body` encodes
it, for the server and the floor alike; nothing of it is copied here. This runs in the
driver before the floor process starts, so the floor never imports the translators
and its memory is that of a byte-replaying server alone.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from envoy.service.discovery.v3 import discovery_pb2

from benchmarks.ads_clients import eds_names, rds_names
from benchmarks.floor_server import FloorBodies
from benchmarks.push_mesh import NAMESPACE, client_name, push_mesh
from xdscp.cache import (
    CLUSTER_TYPE,
    ENDPOINT_TYPE,
    LISTENER_TYPE,
    ROUTE_TYPE,
    SnapshotCache,
    TypeSnapshot,
)
from xdscp.runtime import MeshRuntime
from xdscp.server.settings import AdsSettings
from xdscp.server.wire import control_plane_message, sotw_answer, sotw_body


class _Bodies:
    """Response bodies (no nonce) by content, as the server's shared response cache keys
    them, built by the server's own `sotw_answer` and `sotw_body`."""

    def __init__(self, control_plane: bytes) -> None:
        self._built: dict[tuple[str, str, frozenset[str] | None], tuple[str, bytes]] = {}
        self._control_plane = control_plane

    def body(self, ts: TypeSnapshot, names: frozenset[str] | None) -> tuple[str, bytes]:
        key = (ts.type_url, ts.version, names)
        found = self._built.get(key)
        if found is None:
            answer = sotw_answer(ts, names)
            body = sotw_body(ts.type_url, answer.version, answer.resources, self._control_plane)
            found = self._built[key] = (answer.version, body)
        return found


def xdscp_runtime(ca_dir: Path | None) -> MeshRuntime:
    """The runtime as `xdscp.service.ControlPlane` builds it (with its CA when given)."""
    cache = SnapshotCache()
    if ca_dir is None:
        return MeshRuntime(cache)
    from xdscp.identity import IdentityService, IdentitySettings

    return MeshRuntime(cache, IdentityService(IdentitySettings(ca_dir=ca_dir)))


def floor_bodies(services: int, clients: int, ca_dir: Path | None = None) -> FloorBodies:
    runtime = xdscp_runtime(ca_dir)
    identifier = AdsSettings().control_plane_id  # what the xdscp server under test reports
    bodies = _Bodies(control_plane_message(identifier) if identifier else b"")
    names: dict[tuple[str, str], tuple[str, ...]] = {}

    def derived(body: bytes, derive: Callable[[Any], tuple[str, ...]]) -> frozenset[str]:
        response = discovery_pb2.DiscoveryResponse.FromString(body)
        key = (str(response.type_url), str(response.version_info))
        if key not in names:
            names[key] = derive(response)
        return frozenset(names[key])

    initial: dict[str, dict[str, bytes]] = {}
    routes: dict[str, list[bytes]] = {}
    versions: list[str] = []
    for changed in (False, True):
        mesh = push_mesh(services, clients, changed)
        runtime.apply_now(mesh)
        generation_versions: set[str] = set()
        for i in range(clients):
            name = client_name(i)
            workload = mesh.workload(NAMESPACE, name)
            assert workload is not None, name
            snapshot = runtime.snapshot_for(workload)
            _, cds = bodies.body(snapshot.get(CLUSTER_TYPE), None)
            _, eds = bodies.body(snapshot.get(ENDPOINT_TYPE), derived(cds, eds_names))
            _, lds = bodies.body(snapshot.get(LISTENER_TYPE), None)
            version, rds = bodies.body(snapshot.get(ROUTE_TYPE), derived(lds, rds_names))
            if not changed:
                initial[name] = {CLUSTER_TYPE: cds, ENDPOINT_TYPE: eds, LISTENER_TYPE: lds}
            routes.setdefault(name, []).append(rds)
            generation_versions.add(version)
        if len(generation_versions) != 1:
            raise ValueError(f"clients disagree on the RDS version: {generation_versions}")
        versions.append(generation_versions.pop())
    if versions[0] == versions[1]:
        raise ValueError("the change did not change RDS")
    return FloorBodies(
        initial=initial,
        change_type=ROUTE_TYPE,
        versions=(versions[0], versions[1]),
        alternates={name: (pair[0], pair[1]) for name, pair in routes.items()},
    )
