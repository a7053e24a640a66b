"""`DeltaDiffs.changed`: the names whose resource a delta stream must be sent (or told
removed) between two TypeSnapshots, alike on its fast path (same names, same order,
unchanged resources the same objects) and its general one."""

from __future__ import annotations

from xdscp.cache import CLUSTER_TYPE, TypeSnapshot
from xdscp.server.diffs import DeltaDiffs

from .resources import eds_cluster


def _reference(old: TypeSnapshot, new: TypeSnapshot) -> set[str]:
    before, after = old.resources, new.resources
    changed = {n for n, r in after.items() if n not in before or before[n].version != r.version}
    return changed | {n for n in before if n not in after}


def test_changed_names_on_the_fast_path_and_off_it() -> None:
    a, b, c = eds_cluster("a"), eds_cluster("b"), eds_cluster("c")
    old = TypeSnapshot.of(CLUSTER_TYPE, [a, b, c])
    # same names and order: `b` edited, `c` rebuilt with equal content (a new object)
    edited = TypeSnapshot.of(CLUSTER_TYPE, [a, eds_cluster("b", timeout_s=2), eds_cluster("c")])
    diffs = DeltaDiffs()
    assert diffs.changed(old, edited) == ("b",)
    assert set(diffs.changed(old, edited)) == _reference(old, edited)
    # names added, removed and reordered: the general way, the same answer
    moved = TypeSnapshot.of(CLUSTER_TYPE, [eds_cluster("d"), c, eds_cluster("a", timeout_s=3)])
    assert set(diffs.changed(old, moved)) == _reference(old, moved) == {"a", "b", "d"}
    assert diffs.changed(old, old) == ()
