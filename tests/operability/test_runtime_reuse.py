"""The runtime redoes no per-proxy work that cannot have changed: after one VirtualService
edit every proxy's untouched types keep their very TypeSnapshot objects, proxies of one
scope share the new one, a proxy whose config did not change is not republished at all,
and an SVID rotation re-translates nothing."""

from __future__ import annotations

import gc
from collections.abc import Mapping
from pathlib import Path

from google.protobuf import any_pb2

from benchmarks.ads_clients import ClientSpec
from benchmarks.push_mesh import NAMESPACE, client_name, push_mesh, push_objects
from translators.mesh import MeshOptions, build_mesh
from translators.naming import CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE, SECRET_TYPE
from translators.resources import EnvoyResource, ResourceGroup
from xdscp.cache import Snapshot, SnapshotCache
from xdscp.cache.parts import SnapshotParts
from xdscp.cache.snapshot import any_bytes, make_resource
from xdscp.identity import IdentityService, IdentitySettings
from xdscp.runtime import MeshRuntime

SERVICES = 4
CLIENTS = 3
KEYS = [f"{NAMESPACE}/{client_name(i)}" for i in range(CLIENTS)]


def _connected(tmp_path: Path) -> MeshRuntime:
    runtime = MeshRuntime(SnapshotCache(), IdentityService(IdentitySettings(ca_dir=tmp_path)))
    runtime.apply_now(push_mesh(SERVICES, CLIENTS))
    for i in range(CLIENTS):
        spec = ClientSpec(NAMESPACE, client_name(i), "127.0.0.1")
        runtime.connect(spec.node(), None)
    return runtime


def _snapshots(runtime: MeshRuntime) -> dict[str, Snapshot]:
    found = {key: runtime.cache.get(key) for key in KEYS}
    assert all(s is not None for s in found.values())
    return {k: s for k, s in found.items() if s is not None}


def test_a_route_change_rebuilds_only_routes_and_proxies_of_one_scope_share_them(
    tmp_path: Path,
) -> None:
    runtime = _connected(tmp_path)
    before = _snapshots(runtime)
    told: list[Mapping[str, int]] = []
    runtime.on_generation = lambda generation, started, changed: told.append(changed)

    runtime.apply_now(push_mesh(SERVICES, CLIENTS, changed=True))

    after = _snapshots(runtime)
    assert set(told[0]) == set(KEYS)  # every proxy sees the edited route: all republished
    for key in KEYS:
        assert after[key].types[ROUTE_TYPE].version != before[key].types[ROUTE_TYPE].version
        for kept in (CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, SECRET_TYPE):
            assert after[key].types[kept] is before[key].types[kept], kept
    routes = {id(s.types[ROUTE_TYPE]) for s in after.values()}
    clusters = {id(s.types[CLUSTER_TYPE]) for s in after.values()}
    listeners = {id(s.types[LISTENER_TYPE]) for s in after.values()}
    assert len(routes) == 1 and len(clusters) == 1  # one scope: one object for all
    assert len(listeners) == CLIENTS  # each binds its own address: its own listeners


def test_a_mesh_with_nothing_new_republishes_no_proxy(tmp_path: Path) -> None:
    runtime = _connected(tmp_path)
    before = _snapshots(runtime)
    generations = {key: runtime.cache.generation(key) for key in KEYS}
    told: list[Mapping[str, int]] = []
    runtime.on_generation = lambda generation, started, changed: told.append(changed)

    # a new MeshConfig of the same objects, as a source gives after a no-op file write
    runtime.apply_now(
        build_mesh(push_objects(SERVICES, CLIENTS), options=MeshOptions(local_mode=True))
    )

    assert told == [{}]
    assert _snapshots(runtime) == before
    assert all(_snapshots(runtime)[key] is before[key] for key in KEYS)
    assert {key: runtime.cache.generation(key) for key in KEYS} == generations


def test_svid_rotation_changes_secrets_only_and_translates_nothing(tmp_path: Path) -> None:
    runtime = _connected(tmp_path)
    translator = runtime.translator
    before = _snapshots(runtime)
    secrets, mesh = runtime.secrets, runtime.mesh
    assert isinstance(secrets, IdentityService) and mesh is not None
    workload = mesh.workload(NAMESPACE, client_name(0))
    assert workload is not None
    secrets.issuer.forget(secrets.identity_of(workload))  # the next SVID is a new one

    runtime.refresh()

    assert runtime.translator is translator  # the same mesh is not translated again
    after = _snapshots(runtime)
    for key in KEYS:
        assert after[key].types[SECRET_TYPE].version != before[key].types[SECRET_TYPE].version
        for kept in (CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE):
            assert after[key].types[kept] is before[key].types[kept], kept


def test_parts_share_by_content_and_hold_nothing_unused() -> None:
    parts = SnapshotParts()
    a = EnvoyResource(CLUSTER_TYPE, "a", body=b"\x0a\x01a")
    twin = EnvoyResource(CLUSTER_TYPE, "a", body=b"\x0a\x01a")  # same content, other object
    group, other = ResourceGroup((a,)), ResourceGroup((twin,))
    first = parts.type_snapshot(CLUSTER_TYPE, (group,))
    assert parts.type_snapshot(CLUSTER_TYPE, (group, ResourceGroup())) is first
    second = parts.type_snapshot(CLUSTER_TYPE, (other,))
    assert second is not first  # other groups: another TypeSnapshot ...
    assert second.resources["a"] is first.resources["a"]  # ... of the same serialized bytes
    assert parts.serialized == 1
    del first, second
    gc.collect()
    assert len(parts) == 0  # nothing publishes them any more: gone


def test_any_framing_is_protobufs_byte_for_byte() -> None:
    """The cache frames `Any` by hand (no message around megabytes of body): the bytes
    must be protobuf's own, at every varint length boundary."""
    for type_url in ("", ROUTE_TYPE):
        for size in (0, 1, 127, 128, 16_383, 16_384, 2_097_151, 2_097_152):
            body = bytes(i % 251 for i in range(size))
            expected = any_pb2.Any(type_url=type_url, value=body).SerializeToString()
            assert any_bytes(type_url, body) == expected, (type_url, size)
    resource = make_resource(ROUTE_TYPE, "80", b"\x0a\x0280")
    assert any_pb2.Any.FromString(resource.any_bytes).value == resource.body
