"""DirectorySource: a directory of Istio YAML -> MeshConfig, keeping each object's last
good version while its document is broken, and dropping what was deleted."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from translators.mesh import MeshConfig
from xdscp.sources.files import DirectorySource
from xdscp.sources.listing import yaml_file_names, yaml_files


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")


def workload(name: str, address: str, namespace: str = "default", extra: str = "") -> str:
    return (
        "apiVersion: networking.istio.io/v1\n"
        "kind: WorkloadEntry\n"
        f"metadata: {{name: {name}, namespace: {namespace}}}\n"
        f"spec: {{address: {address}{extra}}}\n"
    )


def addresses(mesh: MeshConfig) -> dict[str, str]:
    return {key: w.address for key, w in mesh.workloads.items()}


def refs(mesh: MeshConfig) -> list[str]:
    return sorted(o.ref for o in mesh.objects)


def test_loads_every_yaml_file_recursively(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", workload("a", "10.0.0.1"))
    write(tmp_path / "sub" / "b.yml", workload("b", "10.0.0.2", "shop"))
    write(tmp_path / "notes.txt", "not: mesh config")
    write(tmp_path / ".hidden.yaml", workload("hidden", "10.0.0.9"))
    mesh = DirectorySource(tmp_path).load()
    assert addresses(mesh) == {"default/a": "10.0.0.1", "shop/b": "10.0.0.2"}
    assert mesh.errors == ()
    assert mesh.options.local_mode  # file mode simulates pods on loopback addresses


def test_a_single_file_can_be_the_root(tmp_path: Path) -> None:
    write(tmp_path / "mesh.yaml", workload("a", "10.0.0.1"))
    assert addresses(DirectorySource(tmp_path / "mesh.yaml").load()) == {"default/a": "10.0.0.1"}


def test_invalid_object_keeps_its_last_good_version_until_fixed(tmp_path: Path) -> None:
    path = tmp_path / "mesh.yaml"
    other = workload("b", "10.0.0.2")
    write(path, workload("a", "10.0.0.1") + "---\n" + other)
    source = DirectorySource(tmp_path)
    assert addresses(source.load()) == {"default/a": "10.0.0.1", "default/b": "10.0.0.2"}

    write(path, workload("a", "10.0.0.1", extra=", weight: -3") + "---\n" + other)
    broken = source.load()
    assert addresses(broken) == {"default/a": "10.0.0.1", "default/b": "10.0.0.2"}
    (error,) = broken.errors
    assert (error.origin.source, error.origin.document) == (str(path), 0)
    assert (error.kind, error.namespace, error.name) == ("WorkloadEntry", "default", "a")
    assert error.field == "spec.weight"

    # still broken on the next load (another file changed): still the last good version
    write(tmp_path / "more.yaml", workload("c", "10.0.0.3"))
    still = source.load()
    assert "default/a" in still.workloads and len(still.errors) == 1

    write(path, workload("a", "10.0.0.11") + "---\n" + other)
    fixed = source.load()
    assert fixed.errors == ()
    assert addresses(fixed)["default/a"] == "10.0.0.11"


def test_an_object_invalid_from_the_start_is_absent_and_reported(tmp_path: Path) -> None:
    write(tmp_path / "mesh.yaml", workload("a", "not an address!"))
    mesh = DirectorySource(tmp_path).load()
    assert mesh.workloads == {}
    (error,) = mesh.errors
    assert error.ref == "WorkloadEntry/default/a"
    assert error.field == "spec.address"


def test_yaml_syntax_error_keeps_the_previous_objects_of_that_file(tmp_path: Path) -> None:
    path = tmp_path / "mesh.yaml"
    write(path, workload("a", "10.0.0.1") + "---\n" + workload("b", "10.0.0.2"))
    write(tmp_path / "other.yaml", workload("c", "10.0.0.3"))
    source = DirectorySource(tmp_path)
    source.load()

    write(path, workload("a", "10.0.0.1") + "---\n" + "kind: [unclosed\n")
    broken = source.load()
    assert set(broken.workloads) == {"default/a", "default/b", "default/c"}
    (error,) = broken.errors
    assert error.origin.source == str(path)
    assert error.origin.document is None
    assert "YAML syntax error (line" in error.message

    # a second load while the file is still broken must not forget them
    write(tmp_path / "other.yaml", workload("c", "10.0.0.33"))
    again = source.load()
    assert set(again.workloads) == {"default/a", "default/b", "default/c"}
    assert addresses(again)["default/c"] == "10.0.0.33"

    write(path, workload("a", "10.0.0.1"))
    fixed = source.load()
    assert set(fixed.workloads) == {"default/a", "default/c"}
    assert fixed.errors == ()


def test_a_file_broken_from_the_start_contributes_nothing(tmp_path: Path) -> None:
    write(tmp_path / "bad.yaml", "a: [\n")
    write(tmp_path / "good.yaml", workload("a", "10.0.0.1"))
    mesh = DirectorySource(tmp_path).load()
    assert set(mesh.workloads) == {"default/a"}
    assert len(mesh.errors) == 1


def test_deleted_document_and_deleted_file_remove_objects(tmp_path: Path) -> None:
    path = tmp_path / "mesh.yaml"
    write(path, workload("a", "10.0.0.1") + "---\n" + workload("b", "10.0.0.2"))
    write(tmp_path / "c.yaml", workload("c", "10.0.0.3"))
    source = DirectorySource(tmp_path)
    assert set(source.load().workloads) == {"default/a", "default/b", "default/c"}

    write(path, workload("a", "10.0.0.1"))
    assert set(source.load().workloads) == {"default/a", "default/c"}

    (tmp_path / "c.yaml").unlink()
    mesh = source.load()
    assert set(mesh.workloads) == {"default/a"}
    assert refs(mesh) == ["WorkloadEntry/default/a"]


def test_a_broken_document_that_was_deleted_is_not_resurrected(tmp_path: Path) -> None:
    path = tmp_path / "mesh.yaml"
    write(path, workload("a", "10.0.0.1") + "---\n" + workload("b", "10.0.0.2"))
    source = DirectorySource(tmp_path)
    source.load()
    write(path, workload("a", "10.0.0.1") + "---\n" + workload("b", "bad address!"))
    assert "default/b" in source.load().workloads  # kept while broken
    write(path, workload("a", "10.0.0.1"))
    assert set(source.load().workloads) == {"default/a"}


def test_renamed_object_replaces_the_old_one(tmp_path: Path) -> None:
    path = tmp_path / "mesh.yaml"
    write(path, workload("a", "10.0.0.1"))
    source = DirectorySource(tmp_path)
    source.load()
    write(path, workload("a2", "10.0.0.1"))
    assert set(source.load().workloads) == {"default/a2"}


def test_object_moving_between_files(tmp_path: Path) -> None:
    write(tmp_path / "one.yaml", workload("a", "10.0.0.1"))
    source = DirectorySource(tmp_path)
    source.load()
    (tmp_path / "one.yaml").unlink()
    write(tmp_path / "two.yaml", workload("a", "10.0.0.5"))
    mesh = source.load()
    assert addresses(mesh) == {"default/a": "10.0.0.5"}
    assert mesh.errors == ()


def test_duplicate_object_across_files_first_file_wins(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", workload("w", "10.0.0.1"))
    write(tmp_path / "b.yaml", workload("w", "10.0.0.2"))
    mesh = DirectorySource(tmp_path).load()
    assert addresses(mesh) == {"default/w": "10.0.0.1"}
    (error,) = mesh.errors
    assert error.origin.source == str(tmp_path / "b.yaml")
    assert error.ref == "WorkloadEntry/default/w"
    assert error.message == f"duplicate: already defined at {tmp_path / 'a.yaml'}[doc 0]"


def test_registry_conflict_rejects_the_later_object_alone(tmp_path: Path) -> None:
    entry = """\
        apiVersion: networking.istio.io/v1
        kind: ServiceEntry
        metadata: {name: %s}
        spec:
          hosts: [api.example.com]
          ports: [{number: 80, name: http, protocol: HTTP}]
        """
    write(tmp_path / "a.yaml", entry % "first")
    write(tmp_path / "b.yaml", entry % "second")
    mesh = DirectorySource(tmp_path).load()
    assert list(mesh.services) == ["api.example.com"]
    assert mesh.services["api.example.com"].source == "ServiceEntry/default/first"
    (error,) = mesh.errors
    assert error.ref == "ServiceEntry/default/second"
    assert error.field == "spec.hosts"
    assert "already defined by ServiceEntry/default/first" in error.message


def test_configmap_style_mount_reads_each_file_once(tmp_path: Path) -> None:
    """Kubernetes mounts a ConfigMap as `..<timestamp>/` plus a `..data` symlink and one
    symlink per key: the hidden directories must not be read as more config."""
    stamp = tmp_path / "..2026_01_01_00_00_00.1"
    write(stamp / "mesh.yaml", workload("a", "10.0.0.1"))
    (tmp_path / "..data").symlink_to(stamp.name)
    (tmp_path / "mesh.yaml").symlink_to(os.path.join("..data", "mesh.yaml"))
    mesh = DirectorySource(tmp_path).load()
    assert addresses(mesh) == {"default/a": "10.0.0.1"}
    assert mesh.errors == (), [str(e) for e in mesh.errors]


def test_yaml_file_names_are_the_strings_of_yaml_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The warm start's listing without a `Path` per file spells each name as the
    `Path` listing does, however the root is written."""
    write(tmp_path / "mesh" / "b.yaml", "")
    write(tmp_path / "mesh" / "sub" / "a.yml", "")
    write(tmp_path / "mesh" / ".hidden.yaml", "")
    write(tmp_path / "mesh" / "notes.txt", "")
    monkeypatch.chdir(tmp_path)
    for root in (Path("mesh"), Path("./mesh/"), tmp_path / "mesh", Path("."), Path("mesh/b.yaml")):
        names = yaml_file_names(root)
        assert names == [str(p) for p in yaml_files(root)]
    assert yaml_file_names(Path(".")) == ["mesh/b.yaml", "mesh/sub/a.yml"]


def test_each_definition_carries_the_load_that_first_saw_it(tmp_path: Path) -> None:
    """Objects are stamped with their first load as they are parsed (in place, at a cold
    start): an established definition keeps its stamp and wins over a copy added later,
    even from a file that sorts first."""
    write(tmp_path / "m.yaml", workload("w", "10.0.0.1") + "---\n" + workload("x", "10.0.0.3"))
    source = DirectorySource(tmp_path)
    first = source.load()
    assert {o.name: o.first_seen for o in first.objects} == {"w": 1, "x": 1}
    write(tmp_path / "a.yaml", workload("w", "10.0.0.2") + "---\n" + workload("y", "10.0.0.4"))
    second = source.load()
    assert {o.name: o.first_seen for o in second.objects} == {"w": 1, "x": 1, "y": 2}
    assert addresses(second)["default/w"] == "10.0.0.1"  # the older one, from m.yaml
    (error,) = second.errors
    assert error.origin.source == str(tmp_path / "a.yaml")
    # unchanged files yield the very same objects, stamps untouched
    assert {o.key: o for o in first.objects} == {o.key: o for o in second.objects if o.name != "y"}
