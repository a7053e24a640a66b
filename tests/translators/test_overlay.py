"""`Overlay` behaves as the dict it stands for after any sequence of updates (folded or
not, pickled or not), and an edit's `update_mesh` shares the previous generation's
large tables instead of copying them."""

from __future__ import annotations

import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.meshgen import parse, synthetic_mesh, virtual_service
from translators import overlay
from translators.mesh import update_mesh
from translators.overlay import Overlay

KEYS = st.integers(0, 30)
# one update: keys set (to a value) and keys removed
UPDATES = st.lists(
    st.tuples(st.dictionaries(KEYS, st.integers(), max_size=4), st.lists(KEYS, max_size=4)),
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(base=st.dictionaries(KEYS, st.integers(), max_size=20), updates=UPDATES)
def test_an_overlay_is_the_dict_it_stands_for(
    base: dict[int, int], updates: list[tuple[dict[int, int], list[int]]]
) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(overlay, "_FOLD_MIN", 3)  # fold often, too
        expected = dict(base)
        current: Overlay[int, int] = Overlay(dict(base))
        for upserts, removed in updates:
            old, before = current, dict(current)
            current = current.updated(upserts, removed)
            for key in removed:
                expected.pop(key, None)
            expected.update(upserts)
            assert dict(current) == expected
            assert len(current) == len(expected) == len(list(current))
            for key in range(31):
                assert (key in current) == (key in expected)
                assert current.get(key) == expected.get(key)
                assert current.get(key, -1) == expected.get(key, -1)
            assert pickle.loads(pickle.dumps(current)) == expected
            assert dict(old) == before  # the previous version is unchanged
    with pytest.raises(KeyError):
        _ = Overlay({1: 1}).updated({}, [1])[1]


def test_an_edit_shares_the_mesh_tables() -> None:
    """A VirtualService edit among 2,000 services: the keys and the input objects of the
    previous generation are taken as they are (a copy of each was 1-3 ms of every edit
    at 10,000 services), and only the edited object is new."""
    mesh = synthetic_mesh(2_000)
    edited = parse(virtual_service(777, 10))
    updated = update_mesh(mesh, [edited], [])
    assert mesh.inputs is not None and updated.inputs is not None
    assert updated.inputs.keys is mesh.inputs.keys
    assert updated.inputs.objects._base is mesh.inputs.objects._base
    assert updated.inputs.objects[edited.key] is edited
    assert dict(updated.inputs.objects) == {**mesh.inputs.objects, edited.key: edited}
