"""Build the floor server's bytes: exactly what xdscp sends each client, computed ahead.

Runs the real runtime once per client for the initial mesh and once for the changed
mesh, and assembles each response body with the server's own wire primitives
(`sotw_body`, `subset_version`, `empty_cla`) for the names a client will ask for
(derived from the bodies the same way the clients derive them). This runs in the
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
    Resource,
    SnapshotCache,
    TypeSnapshot,
)
from xdscp.runtime import MeshRuntime
from xdscp.server.wire import empty_cla, sotw_body, subset_version

_Key = tuple[str, str, frozenset[str] | None]


class _Bodies:
    """Response bodies (no nonce) by content, as the server's shared response cache keys them."""

    def __init__(self) -> None:
        self._built: dict[_Key, tuple[str, bytes]] = {}

    def body(self, ts: TypeSnapshot, names: frozenset[str] | None) -> tuple[str, bytes]:
        key = (ts.type_url, ts.version, names)
        found = self._built.get(key)
        if found is None:
            found = self._built[key] = _build(ts, names)
        return found


def _build(ts: TypeSnapshot, names: frozenset[str] | None) -> tuple[str, bytes]:
    if names is None:
        resources = tuple(ts.resources[n] for n in sorted(ts.resources))
        version = ts.version
    else:
        ordered = sorted(names)
        found: list[Resource | None] = [ts.resources.get(n) for n in ordered]
        if ts.type_url == ENDPOINT_TYPE:
            found = [
                r if r is not None else empty_cla(n) for n, r in zip(ordered, found, strict=True)
            ]
        version = subset_version(ordered, found)
        resources = tuple(r for r in found if r is not None)
    return version, sotw_body(ts.type_url, version, resources)


def xdscp_runtime(ca_dir: Path | None) -> MeshRuntime:
    """The runtime as `xdscp.service.ControlPlane` builds it (with its CA when given)."""
    cache = SnapshotCache()
    if ca_dir is None:
        return MeshRuntime(cache)
    from xdscp.identity import IdentityService, IdentitySettings

    return MeshRuntime(cache, IdentityService(IdentitySettings(ca_dir=ca_dir)))


def floor_bodies(services: int, clients: int, ca_dir: Path | None = None) -> FloorBodies:
    runtime = xdscp_runtime(ca_dir)
    bodies = _Bodies()
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
