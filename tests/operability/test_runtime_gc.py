"""The first proxy's full translation in a service runs with the cyclic GC paused and
its pieces frozen out of it (`tuning.frozen_after`): once, with the GC back on after
it, and with the same snapshot a normal translation gives."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from benchmarks.meshgen import mesh_objects
from translators.mesh import MeshOptions, build_mesh
from xdscp.cache import Snapshot, SnapshotCache
from xdscp.runtime import MeshRuntime
from xdscp.tuning import frozen_after, pause_collection, resume_collection


@pytest.fixture(autouse=True)
def _unfrozen_after() -> Iterator[None]:
    yield
    gc.unfreeze()  # the rest of the test session collects normally


def _versions(snapshot: Snapshot) -> dict[str, dict[str, str]]:
    return {t: {n: r.version for n, r in ts.resources.items()} for t, ts in snapshot.types.items()}


def test_first_translation_frozen_once_with_the_same_snapshot() -> None:
    mesh = build_mesh(mesh_objects(20), options=MeshOptions(local_mode=True))
    client = mesh.workload("default", "client")
    assert client is not None
    plain = MeshRuntime(SnapshotCache())
    plain.apply_now(mesh)
    expected = _versions(plain.snapshot_for(client))

    runtime = MeshRuntime(SnapshotCache())
    runtime.apply_now(mesh)
    runtime.freeze_next_translation = True
    gc.unfreeze()
    assert gc.isenabled()
    assert _versions(runtime.snapshot_for(client)) == expected
    frozen = gc.get_freeze_count()
    assert frozen > 0  # the translation's pieces are out of the collector
    assert gc.isenabled()  # and the collector is back on
    assert runtime.freeze_next_translation is False

    gc.unfreeze()
    assert _versions(runtime.snapshot_for(client)) == expected
    assert gc.get_freeze_count() == 0  # once: later translations are collected normally


def test_frozen_after_restores_the_collector_on_error() -> None:
    assert gc.isenabled()
    with pytest.raises(RuntimeError), frozen_after():
        assert not gc.isenabled()
        raise RuntimeError("translation failed")
    assert gc.isenabled()
    gc.disable()
    try:
        with frozen_after():
            pass
        assert not gc.isenabled()  # it was off before: left off
    finally:
        gc.enable()


def test_collector_pauses_are_counted() -> None:
    """Overlapping pauses (an edit's hold, the first analysis, the first translation, on
    different threads) keep the collector off until the last one ends."""
    assert gc.isenabled()
    pause_collection()
    with frozen_after():
        assert not gc.isenabled()
    assert not gc.isenabled()  # the first pause still holds
    resume_collection()
    assert gc.isenabled()
    resume_collection()  # unbalanced: ignored
    assert gc.isenabled()
    gc.unfreeze()
