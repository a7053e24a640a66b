"""`replaced_objects`: the objects that differ between a mesh and the one `update_mesh`
made from it come from the update's few keys (the work of an edit does not follow the
size of the mesh), and equal what walking both object lists finds."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.meshgen import parse, synthetic_mesh, virtual_service
from tests.translators.test_registry_update import (
    OPTIONS,
    SOURCE_ERRORS,
    Step,
    service_entries,
    steps,
    workload_entries,
)
from translators import mesh_diff
from translators.memo import mesh_changes
from translators.mesh import build_mesh, update_mesh
from translators.mesh_diff import replaced_objects, walk_objects
from translators.model.objects import MeshObject


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    initial=st.lists(st.one_of(service_entries(), workload_entries()), max_size=8),
    sequence=st.lists(steps(), min_size=1, max_size=6),
)
def test_the_update_keys_find_what_the_walk_finds(
    initial: list[MeshObject[Any]], sequence: list[Step]
) -> None:
    """Adds, edits, removals, ServiceEntries rejected and taken back (keys flipping in
    and out of the listed objects): the keyed answer is the walk's, pair for pair."""
    mesh = build_mesh({o.key: o for o in initial}.values(), SOURCE_ERRORS, OPTIONS)
    first = mesh
    for changed, removed, _ in sequence:
        updated = update_mesh(mesh, changed, removed)
        assert updated.delta is not None and updated.delta.since is mesh.objects
        assert replaced_objects(mesh, updated) == walk_objects(mesh.objects, updated.objects)
        # meshes further apart than one update: the walk
        assert replaced_objects(first, updated) == walk_objects(first.objects, updated.objects)
        mesh = updated


def test_an_edit_is_found_without_walking_the_mesh(monkeypatch: pytest.MonkeyPatch) -> None:
    """One VirtualService edited among 2,000 services: the translator's change set comes
    from the update's keys; the walk over every object (the work that followed the mesh
    size, ~3 ms of each edit at 10,000 services) is not done."""
    mesh = synthetic_mesh(2_000)
    edited = parse(virtual_service(1_234, 10))
    updated = update_mesh(mesh, [edited], [])

    def walked(*args: object) -> list[Any]:
        raise AssertionError("the whole mesh was walked for one edit")

    monkeypatch.setattr(mesh_diff, "walk_objects", walked)
    changes = mesh_changes(mesh, updated, security_changed=False)
    (pair,) = changes.objects
    assert pair[1] is edited and pair[0] is not None and pair[0].key == edited.key
    assert ("object", edited.ref) in changes.deps
