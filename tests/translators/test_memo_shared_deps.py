"""A piece made from several large pieces keeps their dependency sets by reference (a
`DepUnion`, no copy into one set), and is still invalidated by a change of any
dependency in any of them, or of what it read itself — and reused when none changed."""

from __future__ import annotations

from collections.abc import Callable

from translators.memo import Dep, DepUnion, MeshChanges, PieceCache

SIZE = 1000  # above the size from which collections are shared


def _changes(*deps: Dep) -> MeshChanges:
    return MeshChanges(frozenset(deps))


def test_a_piece_of_two_large_pieces_and_a_mapping_is_invalidated_by_any_of_them() -> None:
    built: list[str] = []
    readers = {("service", f"m{i}"): i for i in range(SIZE)}  # as the view's entries hand in

    def large(name: str) -> str:
        def build() -> str:
            for i in range(SIZE):
                memo.read(("service", f"{name}{i}"))
            built.append(name)
            return name

        return memo.get(("large", name), build)

    def whole() -> tuple[str, ...]:
        memo.read(("vs-host", "own"))
        memo.read_all(readers)
        built.append("whole")
        return (large("a"), large("b"))

    memo = PieceCache()
    first = memo.get(("whole",), whole)
    deps = memo.get_tracked(("whole",), whole)[1]
    assert isinstance(deps, DepUnion)
    assert any(part is readers for part in deps.parts)  # by reference, not copied
    assert ("service", "a7") in deps and ("service", "m7") in deps
    assert ("vs-host", "own") in deps and ("service", "z1") not in deps
    assert set(deps) == {("vs-host", "own")} | {
        ("service", f"{n}{i}") for n in "abm" for i in range(SIZE)
    }

    for change, rebuilt in [
        (("kind", "Sidecar"), []),  # read by nothing here: all carried over
        (("service", "m3"), ["whole"]),  # in the mapping
        (("vs-host", "own"), ["whole"]),  # read by the piece itself
        (("service", "b999"), ["whole", "b"]),  # in one large part
    ]:
        memo = memo.next_generation(_changes(change))
        built.clear()
        again = memo.get(("whole",), whole)
        assert built == rebuilt, change
        assert (again is first) == (not rebuilt)
        assert again == first


def test_a_piece_made_from_a_union_shares_its_parts() -> None:
    """Route resources made from the view: the view's union is taken over by reference,
    and a change inside it invalidates the resources too."""

    def view() -> str:
        for name in ("a", "b"):
            memo.read_all(frozenset(("service", f"{name}{i}") for i in range(SIZE)))
        return "view"

    def resources() -> str:
        memo.inherit(("view",))
        return "resources"

    memo = PieceCache()
    memo.get(("view",), view)
    memo.get(("resources",), resources)
    view_deps = memo.get_tracked(("view",), view)[1]
    resource_deps = memo.get_tracked(("resources",), resources)[1]
    assert isinstance(view_deps, DepUnion) and isinstance(resource_deps, DepUnion)
    assert all(a is b for a, b in zip(view_deps.parts, resource_deps.parts, strict=True))
    memo = memo.next_generation(_changes(("service", "b5")))
    calls: list[str] = []

    def counted(name: str, build: Callable[[], str]) -> Callable[[], str]:
        def run() -> str:
            calls.append(name)
            return build()

        return run

    memo.get(("view",), counted("view", view))
    memo.get(("resources",), counted("resources", resources))
    assert calls == ["view", "resources"]
