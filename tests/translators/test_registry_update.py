"""`update_mesh` updates the registry in place: after any sequence of ServiceEntry and
WorkloadEntry additions, edits and removals, and replaced platform registries
(Kubernetes Services and Pods), it equals `build_mesh` from scratch —
services and workloads (in order), objects, errors (in order), the delta — and it
reuses the Service and Workload objects the change did not touch."""

from __future__ import annotations

from dataclasses import fields, replace
from types import MappingProxyType
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from translators.mesh import (
    Endpoint,
    MeshConfig,
    MeshDelta,
    MeshOptions,
    ObjectKey,
    Service,
    Workload,
    build_mesh,
    update_mesh,
)
from translators.model.networking import Location, Resolution, ServicePort
from translators.model.objects import ConfigError, MeshObject, Origin, parse_object

OPTIONS = MeshOptions()
NAMESPACES = ("default", "other")
HOSTS = ("a", "b", "c", "db.example.com", "*.wild.example.com")
APPS = ("a1", "a2")
ADDRESSES = ("10.0.0.1", "10.0.0.2", "10.0.1.1", "db.internal", "")
STAMPS = ("", "2024-01-01T00:00:00Z", "2025-01-01T00:00:00Z")


def parsed(doc: dict[str, Any], first_seen: int = 0) -> MeshObject[Any]:
    obj = parse_object(doc, Origin("test.yaml"))
    assert not isinstance(obj, list), obj
    return replace(obj, first_seen=first_seen)


def metadata(name: str, namespace: str, stamp: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": namespace}
    if stamp:
        meta["creationTimestamp"] = stamp
    return meta


@st.composite
def service_entries(draw: st.DrawFn) -> MeshObject[Any]:
    namespace = draw(st.sampled_from(NAMESPACES))
    hosts = draw(st.lists(st.sampled_from(HOSTS), min_size=1, max_size=3, unique=True))
    resolution = draw(st.sampled_from(("STATIC", "DNS")))
    if resolution == "DNS":  # DNS cannot resolve a wildcard (a validation error)
        hosts = [h for h in hosts if not h.startswith("*")] or ["db.example.com"]
    port = draw(st.sampled_from((80, 8080)))
    spec: dict[str, Any] = {
        "hosts": hosts,
        "location": draw(st.sampled_from(("MESH_INTERNAL", "MESH_EXTERNAL"))),
        "resolution": resolution,
        "ports": [{"number": port, "name": "http", "protocol": "HTTP"}],
    }
    endpoints = draw(st.sampled_from(("selector", "all", "static", "none")))
    if endpoints == "selector":
        spec["workloadSelector"] = {"labels": {"app": draw(st.sampled_from(APPS))}}
    elif endpoints == "all":
        spec["workloadSelector"] = {"labels": {}}
    elif endpoints == "static" and resolution == "STATIC":
        spec["endpoints"] = [{"address": "10.9.9.9"}]
    if draw(st.booleans()):
        spec["exportTo"] = [draw(st.sampled_from((".", "*")))]
    doc = {
        "apiVersion": "networking.istio.io/v1",
        "kind": "ServiceEntry",
        "metadata": metadata(
            f"se{draw(st.integers(0, 4))}", namespace, draw(st.sampled_from(STAMPS))
        ),
        "spec": spec,
    }
    return parsed(doc, draw(st.integers(0, 2)))


@st.composite
def workload_entries(draw: st.DrawFn) -> MeshObject[Any]:
    address = draw(st.sampled_from(ADDRESSES))
    spec: dict[str, Any] = {"labels": {"app": draw(st.sampled_from(APPS))}}
    if address:
        spec["address"] = address
    else:
        spec["network"] = "far"  # no address: reached through its network only
    if draw(st.booleans()):
        spec["labels"]["version"] = draw(st.sampled_from(("v1", "v2")))
    if draw(st.booleans()):
        spec["serviceAccount"] = "sa"
    doc = {
        "apiVersion": "networking.istio.io/v1",
        "kind": "WorkloadEntry",
        "metadata": metadata(f"w{draw(st.integers(0, 4))}", draw(st.sampled_from(NAMESPACES)), ""),
        "spec": spec,
    }
    return parsed(doc)


ROUTE = parsed(
    {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {"name": "r", "namespace": "default"},
        "spec": {"hosts": ["a"], "http": [{"route": [{"destination": {"host": "a"}}]}]},
    }
)


def platform_service(host: str, address: str = "10.7.0.1") -> Service:
    return Service(
        hostname=f"{host}.default.svc.cluster.local",
        namespace="default",
        ports=(ServicePort(number=80, name="http"),),
        location=Location.MESH_INTERNAL,
        resolution=Resolution.STATIC,
        endpoints=(Endpoint(address, MappingProxyType({}), MappingProxyType({}), "default"),),
        source=f"Service default/{host}",
        digest=f"{host}@{address}",
    )


def platform_workload(name: str, app: str, address: str = "10.8.0.1") -> Workload:
    return Workload(
        namespace="default",
        name=name,
        address=address,
        labels=MappingProxyType({"app": app}),
        service_account="default",
        ports=MappingProxyType({}),
        annotations=MappingProxyType({}),
        source=f"Pod default/{name}",
    )


# the platform registry (Kubernetes Services and Pods)
Platform = tuple[list[Service], list[Workload]]
# one step: objects to add or replace, keys to remove, the platform's new registry
Step = tuple[list[MeshObject[Any]], list[ObjectKey], Platform | None]


@st.composite
def platforms(draw: st.DrawFn) -> Platform:
    """A few services and pods, in any order; their names clash with the entries'."""
    # often the same names in another order: the registry keeps the platform's order
    hosts = draw(st.permutations(("a", "b", "c")))[: draw(st.integers(0, 3))]
    pods = draw(st.permutations(("w0", "w1", "p1")))[: draw(st.integers(0, 3))]
    addresses = st.sampled_from(("10.7.0.1", "10.7.0.2"))
    return (
        [platform_service(host, draw(addresses)) for host in hosts],
        [platform_workload(pod, draw(st.sampled_from(APPS)), draw(addresses)) for pod in pods],
    )


@st.composite
def steps(draw: st.DrawFn) -> Step:
    changed: list[MeshObject[Any]] = []
    removed: list[ObjectKey] = []
    for _ in range(draw(st.integers(1, 3))):
        action = draw(st.sampled_from(("se", "we", "remove-se", "remove-we", "route")))
        if action == "se":
            changed.append(draw(service_entries()))
        elif action == "we":
            changed.append(draw(workload_entries()))
        elif action == "route":
            changed.append(ROUTE)
        else:
            kind = "ServiceEntry" if action == "remove-se" else "WorkloadEntry"
            prefix = "se" if action == "remove-se" else "w"
            namespace = draw(st.sampled_from(NAMESPACES))
            removed.append((kind, namespace, f"{prefix}{draw(st.integers(0, 4))}"))
    # one object per key in a step (the sources hand over one version of each)
    unique = {o.key: o for o in changed}
    platform = draw(platforms()) if draw(st.booleans()) else None
    return list(unique.values()), [k for k in removed if k not in unique], platform


def registry_of(mesh: MeshConfig) -> dict[str, Any]:
    assert mesh.inputs is not None
    registry = mesh.inputs.registry
    return {f.name: getattr(registry, f.name) for f in fields(registry)}


def assert_same(updated: MeshConfig, fresh: MeshConfig) -> None:
    assert [o.key for o in updated.objects] == [o.key for o in fresh.objects]
    assert all(a is b for a, b in zip(updated.objects, fresh.objects, strict=True))
    assert updated.errors == fresh.errors
    assert list(updated.services.items()) == list(fresh.services.items())
    assert list(updated.workloads.items()) == list(fresh.workloads.items())
    assert updated.by_kind() == fresh.by_kind()
    assert registry_of(updated) == registry_of(fresh)
    assert updated.inputs is not None and fresh.inputs is not None
    assert updated.inputs.keys == fresh.inputs.keys


def expected_delta(before: MeshConfig, after: MeshConfig, keys: frozenset[ObjectKey]) -> MeshDelta:
    assert before.inputs is not None and after.inputs is not None
    flipped = frozenset(before.inputs.keys).symmetric_difference(after.inputs.keys)
    return MeshDelta(
        objects=keys | flipped,
        services=frozenset(
            h
            for h in before.services.keys() | after.services.keys()
            if before.services.get(h) != after.services.get(h)
        ),
        workloads=frozenset(
            w
            for w in before.workloads.keys() | after.workloads.keys()
            if before.workloads.get(w) != after.workloads.get(w)
        ),
        errors=before.errors != after.errors,
    )


SOURCE_ERRORS = (ConfigError(Origin("bad.yaml"), "VirtualService", "default", "x", "spec", "bad"),)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    initial=st.lists(st.one_of(service_entries(), workload_entries()), max_size=8),
    sequence=st.lists(steps(), min_size=1, max_size=8),
    platform=platforms(),
)
def test_updates_equal_a_fresh_build(
    initial: list[MeshObject[Any]], sequence: list[Step], platform: Platform
) -> None:
    services, workloads = platform
    objects = {o.key: o for o in initial}
    mesh = build_mesh(objects.values(), SOURCE_ERRORS, OPTIONS, services, workloads)
    for n, (changed, removed, replaced) in enumerate(sequence):
        if n % 2:
            mesh.by_kind()  # the grouped objects carried over, or grouped anew
        removed = [k for k in dict.fromkeys(removed) if k in objects]
        for key in removed:
            del objects[key]
        objects.update((o.key, o) for o in changed)
        if replaced is None:
            updated = update_mesh(mesh, changed, removed)
        else:
            services, workloads = replaced
            updated = update_mesh(mesh, changed, removed, None, services, workloads)
        fresh = build_mesh(objects.values(), SOURCE_ERRORS, OPTIONS, services, workloads)
        assert_same(updated, fresh)
        keys = frozenset(o.key for o in changed) | frozenset(removed)
        assert updated.delta == expected_delta(mesh, fresh, keys)
        # what the change did not touch is the previous generation's very object
        assert updated.delta is not None
        for host, service in updated.services.items():
            if host not in updated.delta.services and host in mesh.services:
                assert service is mesh.services[host]
        for name, workload in updated.workloads.items():
            if name not in updated.delta.workloads and name in mesh.workloads:
                assert workload is mesh.workloads[name]
        mesh = updated


def test_a_host_conflict_resolves_again_when_the_older_entry_goes() -> None:
    """se0 (oldest) holds h; se1 (h and k) is rejected, so se2 holds k. Removing se0
    hands h and k to se1 and rejects se2 — one removal, three entries flipped."""

    def entry(name: str, hosts: list[str], first_seen: int) -> MeshObject[Any]:
        return parsed(
            {
                "apiVersion": "networking.istio.io/v1",
                "kind": "ServiceEntry",
                "metadata": {"name": name, "namespace": "default"},
                "spec": {
                    "hosts": hosts,
                    "resolution": "STATIC",
                    "ports": [{"number": 80, "name": "http", "protocol": "HTTP"}],
                    "endpoints": [{"address": "10.0.0.1"}],
                },
            },
            first_seen,
        )

    entries = [entry("se0", ["h"], 0), entry("se1", ["h", "k"], 1), entry("se2", ["k"], 2)]
    mesh = build_mesh(entries)
    k_host = "k.default.svc.cluster.local"
    assert mesh.services[k_host].source == "ServiceEntry/default/se2"
    updated = update_mesh(mesh, removed=[("ServiceEntry", "default", "se0")])
    assert updated.services[k_host].source == "ServiceEntry/default/se1"
    assert [e.name for e in updated.errors] == ["se2"]
    assert "host k.default.svc.cluster.local is already defined" in updated.errors[0].message
    assert updated.delta is not None
    assert updated.delta.objects == {("ServiceEntry", "default", s) for s in ("se0", "se1", "se2")}
    assert updated.delta.services == {"h.default.svc.cluster.local", k_host}
    assert_same(updated, build_mesh(entries[1:]))
