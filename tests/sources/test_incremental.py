"""A changed file re-reads that file alone and updates the mesh from the previous one;
the result equals a full load, after any sequence of edits (hypothesis)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.sources.test_files import workload, write
from tests.sources.test_watch import running
from translators.mesh import MeshConfig, MeshDelta, build_mesh
from xdscp.sources.files import DirectorySource


def route(name: str, host: str, weight: int = 100, extra: str = "") -> str:
    other = f", {{destination: {{host: {host}, subset: v2}}, weight: {100 - weight}}}"
    return (
        "apiVersion: networking.istio.io/v1\n"
        "kind: VirtualService\n"
        f"metadata: {{name: {name}}}\n"
        f"spec: {{hosts: [{host}], http: [{{route: [{{destination: {{host: {host}, "
        f"subset: v1}}, weight: {weight}}}{other if weight < 100 else ''}]}}]{extra}}}\n"
    )


def rule(name: str, host: str) -> str:
    return (
        "apiVersion: networking.istio.io/v1\n"
        "kind: DestinationRule\n"
        f"metadata: {{name: {name}}}\n"
        f"spec: {{host: {host}, subsets: [{{name: v1, labels: {{version: v1}}}}, "
        "{name: v2, labels: {version: v2}}]}\n"
    )


def entry(name: str, host: str, app: str) -> str:
    return (
        "apiVersion: networking.istio.io/v1\n"
        "kind: ServiceEntry\n"
        f"metadata: {{name: {name}}}\n"
        f"spec: {{hosts: [{host}], location: MESH_INTERNAL, resolution: STATIC, "
        f"ports: [{{number: 80, name: http, protocol: HTTP}}], "
        f"workloadSelector: {{labels: {{app: {app}}}}}}}\n"
    )


def canonical(mesh: MeshConfig) -> tuple[Any, ...]:
    """Everything a mesh says, comparable across two loads (objects are compared by
    identity in MeshConfig's own equality)."""
    return (
        tuple((o.key, o.digest, str(o.origin), o.first_seen) for o in mesh.objects),
        tuple(str(e) for e in mesh.errors),
        dict(mesh.services),
        dict(mesh.workloads),
    )


def rebuilt(mesh: MeshConfig) -> MeshConfig:
    """The same mesh built from scratch from what it was built from."""
    assert mesh.inputs is not None
    inputs = mesh.inputs
    return build_mesh(
        inputs.objects.values(), inputs.errors, mesh.options, inputs.services, inputs.workloads
    )


def test_one_edited_file_is_the_only_one_parsed_and_the_delta_names_its_object(
    tmp_path: Path,
) -> None:
    for i in range(20):
        write(tmp_path / "routes" / f"r{i}.yaml", route(f"r{i}", f"h{i}"))
        write(tmp_path / "services" / f"s{i}.yaml", entry(f"s{i}", f"h{i}", f"a{i}"))
    source = DirectorySource(tmp_path, log_errors=False)
    first = source.load()
    assert source.parses == 40
    write(tmp_path / "routes" / "r7.yaml", route("r7", "h7", weight=60))
    second = source.load_changed([tmp_path / "routes" / "r7.yaml"])
    assert source.parses == 41  # that file alone
    assert second.delta is not None
    assert second.delta.objects == {("VirtualService", "default", "r7")}
    assert not second.delta.services and not second.delta.workloads
    assert second.services is first.services  # the registry was not rebuilt
    unchanged = [o for o in second.objects if o.name != "r7"]
    before = [o for o in first.objects if o.name != "r7"]
    assert all(o is p for o, p in zip(unchanged, before, strict=True))
    assert canonical(second) == canonical(rebuilt(second))
    assert canonical(second) == canonical(DirectorySource(tmp_path, log_errors=False).load())


def test_a_registry_edit_reports_the_services_it_changed(tmp_path: Path) -> None:
    write(tmp_path / "se.yaml", entry("s", "h1", "a"))
    write(tmp_path / "we.yaml", workload("w", "10.0.0.1", extra=", labels: {app: a}"))
    write(tmp_path / "other.yaml", entry("t", "h2", "b"))
    source = DirectorySource(tmp_path, log_errors=False)
    source.load()
    write(tmp_path / "we.yaml", workload("w", "10.0.0.2", extra=", labels: {app: a}"))
    mesh = source.load_changed([tmp_path / "we.yaml"])
    assert mesh.delta is not None
    assert mesh.delta.objects == {("WorkloadEntry", "default", "w")}
    assert mesh.delta.workloads == {"default/w"}
    assert mesh.delta.services == {"h1.default.svc.cluster.local"}  # not h2
    assert mesh.services["h1.default.svc.cluster.local"].endpoints[0].address == "10.0.0.2"


def test_a_broken_edit_keeps_the_last_good_version(tmp_path: Path) -> None:
    write(tmp_path / "r.yaml", route("r", "h", weight=70))
    write(tmp_path / "w.yaml", workload("w", "10.0.0.1"))
    source = DirectorySource(tmp_path, log_errors=False)
    good = source.load()
    (before,) = [o for o in good.objects if o.name == "r"]
    write(tmp_path / "r.yaml", route("r", "h", weight=70, extra=", bogus: 1"))
    mesh = source.load_changed([tmp_path / "r.yaml"])
    (kept,) = [o for o in mesh.objects if o.name == "r"]
    assert kept is before
    assert any("r.yaml[doc 0]: VirtualService default/r: field spec.bogus" in str(e)
               for e in mesh.errors)  # fmt: skip
    write(tmp_path / "r.yaml", "kind: [unclosed\n")  # a syntax error: the file's objects stay
    mesh = source.load_changed([tmp_path / "r.yaml"])
    assert [o for o in mesh.objects if o.name == "r"] == [before]
    assert any("YAML syntax error" in str(e) for e in mesh.errors)
    write(tmp_path / "r.yaml", route("r", "h", weight=40))
    mesh = source.load_changed([tmp_path / "r.yaml"])
    (fixed,) = [o for o in mesh.objects if o.name == "r"]
    assert fixed is not before and mesh.errors == ()


def test_paths_only_a_full_scan_can_tell_read_everything(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", workload("a", "10.0.0.1"))
    source = DirectorySource(tmp_path, log_errors=False)
    source.load()
    write(tmp_path / "new" / "b.yaml", workload("b", "10.0.0.2"))
    # a directory moved in is reported as the directory alone: its files are found
    mesh = source.load_changed([tmp_path / "new"])
    assert set(mesh.workloads) == {"default/a", "default/b"}
    # a hidden temporary file (rename-over writers) changes nothing and reads nothing
    parses = source.parses
    (tmp_path / ".a.yaml.tmp").write_text("junk")
    assert source.load_changed([tmp_path / ".a.yaml.tmp"]).delta == MeshDelta()
    assert source.parses == parses
    # a file deleted
    (tmp_path / "a.yaml").unlink()
    mesh = source.load_changed([tmp_path / "a.yaml"])
    assert set(mesh.workloads) == {"default/b"}
    assert mesh.delta is not None and mesh.delta.workloads == {"default/a"}


async def test_the_watcher_reads_only_the_changed_file(tmp_path: Path) -> None:
    for i in range(30):
        write(tmp_path / f"r{i}.yaml", route(f"r{i}", f"h{i}"))
    source = DirectorySource(tmp_path, quiet_ms=50, max_wait_ms=300, log_errors=False)
    async with running(source, tmp_path) as updates:
        parses = source.parses
        temporary = tmp_path / ".r3.yaml.tmp"
        temporary.write_text(route("r3", "h3", weight=20))
        os.replace(temporary, tmp_path / "r3.yaml")
        mesh = await updates.next()
        while mesh.delta is None or not mesh.delta.objects:
            mesh = await updates.next()
        assert mesh.delta.objects == {("VirtualService", "default", "r3")}
        assert source.parses == parses + 1
        await asyncio.sleep(0)


# --- incremental == full, for any sequence of edits -------------------------------------

_HOSTS = ("h1", "h2")
_DOCS = st.sampled_from(
    [
        workload("w1", "10.0.0.1", extra=", labels: {app: a}"),
        workload("w1", "10.0.0.2", extra=", labels: {app: b}"),
        workload("w2", "10.0.0.3", extra=", labels: {app: a}"),
        workload("w2", "not an address"),
        entry("s1", "h1", "a"),
        entry("s1", "h2", "b"),
        entry("s2", "h1", "b"),  # claims s1's host: the older one wins
        route("r1", "h1", 80),
        route("r1", "h2", 50),
        route("r1", "h1", 80, extra=", bogus: 1"),  # invalid: the last good stays
        route("r2", "h2"),
        rule("d1", "h1"),
        rule("d1", "h2"),
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: 'Bad!'}\n",
    ]
)
_FILE_TEXT = st.one_of(
    st.lists(_DOCS, min_size=1, max_size=3).map("---\n".join),
    st.just("kind: [unclosed\n"),  # a syntax error: the file's objects stay
)
_EDIT = st.tuples(st.integers(0, 3), st.one_of(st.none(), _FILE_TEXT))  # None: delete


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(initial=st.lists(_FILE_TEXT, min_size=4, max_size=4), edits=st.lists(_EDIT, max_size=8))
def test_incremental_equals_a_full_load_after_any_edits(
    tmp_path_factory: Any, initial: list[str], edits: list[tuple[int, str | None]]
) -> None:
    root: Path = tmp_path_factory.mktemp("mesh")
    for i, content in enumerate(initial):
        (root / f"f{i}.yaml").write_text(content)
    incremental = DirectorySource(root, log_errors=False)
    full = DirectorySource(root, log_errors=False)
    previous = incremental.load()
    full.load()
    for index, text in edits:
        path = root / f"f{index}.yaml"
        if text is None:
            path.unlink(missing_ok=True)
        else:
            path.write_text(text)
        previous.by_kind()  # grouped once: the next mesh carries the grouping over
        mesh = incremental.load_changed([path])
        assert canonical(mesh) == canonical(full.load())
        assert canonical(mesh) == canonical(rebuilt(mesh))
        assert grouped(mesh) == grouped(rebuilt(mesh))
        # the delta names at least everything that differs
        assert mesh.delta is not None
        before = {o.key: (o.digest, str(o.origin)) for o in previous.objects}
        after = {o.key: (o.digest, str(o.origin)) for o in mesh.objects}
        differ = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
        assert differ <= mesh.delta.objects
        services = {
            h
            for h in previous.services.keys() | mesh.services.keys()
            if previous.services.get(h) != mesh.services.get(h)
        }
        assert services <= mesh.delta.services
        previous = mesh


def grouped(mesh: MeshConfig) -> list[tuple[str, list[tuple[str, str, str]]]]:
    """`mesh.by_kind()` as comparable keys, in its order; each entry one of mesh.objects."""
    ids = {id(o) for o in mesh.objects}
    assert all(id(o) in ids for objects in mesh.by_kind().values() for o in objects)
    return [(kind, [o.key for o in objects]) for kind, objects in mesh.by_kind().items()]


def test_a_file_renamed_over_the_old_one_needs_no_settle_wait(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    write(path, route("r", "h"))
    source = DirectorySource(tmp_path, log_errors=False)
    source.load()
    write(path, route("r", "h", weight=30))  # in place: same inode, may be half-written
    assert not source._replaced(path)
    temporary = tmp_path / ".r.yaml.tmp"
    temporary.write_text(route("r", "h", weight=20))
    os.replace(temporary, path)  # renamed over it: complete
    assert source._replaced(path)
    source.load_changed([path])
    assert not source._replaced(path)  # read: its inode is the known one now
