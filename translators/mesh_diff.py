"""Which objects differ between two meshes, by identity: (old version or None, new
version or None) per object whose listed version is not the same Python object.

An edit's mesh is made by `update_mesh` from the one before it, and says so
(`MeshDelta.since` is that mesh's objects; `MeshDelta.objects` the only keys whose entry
may differ): then the answer comes from those few keys, by bisection, whatever the
size of the mesh. Otherwise (meshes further apart, a mesh built anew) the two object
lists are walked, at C speed. Both give the same pairs in the same order: the objects
present in `new` in key order, then the ones gone from it in key order
(tests/translators/test_mesh_diff.py).
"""

from __future__ import annotations

from bisect import bisect_left
from itertools import compress, count
from operator import is_not
from typing import Any

from translators.mesh import MeshConfig, ObjectKey
from translators.model.objects import MeshObject

ObjectPair = tuple[MeshObject[Any] | None, MeshObject[Any] | None]


def replaced_objects(old: MeshConfig, new: MeshConfig) -> list[ObjectPair]:
    """The objects whose version in `new` is not the very object `old` lists."""
    if old.objects is new.objects:
        return []
    delta = new.delta
    if (
        delta is not None
        and delta.since is old.objects
        and old.inputs is not None
        and new.inputs is not None
    ):
        return _by_keys(old, new, delta.objects)
    return walk_objects(old.objects, new.objects)


def _listed(mesh: MeshConfig, key: ObjectKey) -> MeshObject[Any] | None:
    assert mesh.inputs is not None
    keys = mesh.inputs.keys  # the keys of `mesh.objects`, in order
    at = bisect_left(keys, key)
    return mesh.objects[at] if at < len(keys) and keys[at] == key else None


def _by_keys(old: MeshConfig, new: MeshConfig, keys: frozenset[ObjectKey]) -> list[ObjectPair]:
    present: list[ObjectPair] = []
    gone: list[ObjectPair] = []
    for key in sorted(keys):
        before, after = _listed(old, key), _listed(new, key)
        if after is None:
            if before is not None:
                gone.append((before, None))
        elif before is not after:
            present.append((before, after))
    return present + gone


def walk_objects(
    old: tuple[MeshObject[Any], ...], new: tuple[MeshObject[Any], ...]
) -> list[ObjectPair]:
    """`replaced_objects` from the two object lists alone: every pair looked at."""
    if old is new:
        return []
    if len(old) == len(new):
        # the usual edit replaces objects in place (key order): a walk by identity at C
        # speed (compress/map/is_not), without building 50,000-entry maps
        at = compress(count(), map(is_not, old, new))
        pairs: list[ObjectPair] = [(old[i], new[i]) for i in at]
        if all(a is not None and b is not None and a.key == b.key for a, b in pairs):
            return pairs
    before = {o.key: o for o in old}
    after = {o.key: o for o in new}
    found: list[ObjectPair] = [
        (before.get(k), o) for k, o in after.items() if before.get(k) is not o
    ]
    found += [(o, None) for k, o in before.items() if k not in after]
    return found
