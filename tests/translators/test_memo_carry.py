"""A piece carried over whole brings its parts along: after an edit that touches nothing
it read, then an edit that invalidates it but not its parts, only it is rebuilt (the
parts are not rebuilt from nothing, as they were when a carried piece left them behind)."""

from __future__ import annotations

from translators.memo import MeshChanges, PieceCache


def _changes(*deps: tuple[str, ...]) -> MeshChanges:
    return MeshChanges(frozenset(deps))


def test_parts_of_a_carried_piece_survive_the_generation_after() -> None:
    built: list[str] = []

    def part(name: str) -> str:
        def build() -> str:
            memo.read(("service", name))
            built.append(name)
            return name

        return memo.get(("part", name), build)

    def whole() -> tuple[str, ...]:
        memo.read(("vs-host", "a"))
        built.append("whole")
        return tuple(part(n) for n in ("a", "b", "c"))

    memo = PieceCache()
    first = memo.get(("whole",), whole)
    assert built == ["whole", "a", "b", "c"]

    # 1. a change nothing here read: the whole piece is carried over, unbuilt
    memo = memo.next_generation(_changes(("kind", "AuthorizationPolicy")))
    built.clear()
    assert memo.get(("whole",), whole) is first
    assert built == []

    # 2. a change the whole read, none of its parts: only the whole is rebuilt
    memo = memo.next_generation(_changes(("vs-host", "a")))
    second = memo.get(("whole",), whole)
    assert built == ["whole"]
    assert second == first and second is not first

    # 3. a part's own change: that part and the whole, nothing else
    memo = memo.next_generation(_changes(("service", "b")))
    built.clear()
    memo.get(("whole",), whole)
    assert built == ["whole", "b"]


def test_parts_stay_through_many_carries_and_pieces_of_this_generation_win() -> None:
    """The parts a carried piece brings along are gathered once and reused by every later
    carry: after several unrelated edits they are all still there, and a part already
    fetched in this generation is not replaced by the remembered one."""
    built: list[str] = []

    def part(name: str) -> str:
        def build() -> str:
            memo.read(("service", name))
            built.append(name)
            return name

        return memo.get(("part", name), build)

    def whole() -> tuple[str, ...]:
        memo.read(("vs-host", "a"))
        built.append("whole")
        return tuple(part(n) for n in ("a", "b", "c"))

    memo = PieceCache()
    first = memo.get(("whole",), whole)
    for _ in range(3):  # carried whole, again and again
        memo = memo.next_generation(_changes(("kind", "AuthorizationPolicy")))
        assert memo.get(("whole",), whole) is first
    # a part looked up on its own before the whole is carried: the same object stays
    memo = memo.next_generation(_changes(("kind", "AuthorizationPolicy")))
    alone = memo.get(("part", "b"), lambda: "rebuilt")
    assert alone == "b"
    assert memo.get(("whole",), whole) is first
    assert memo.get(("part", "b"), lambda: "rebuilt") is alone
    built.clear()
    # the whole invalidated: only it is rebuilt, every part carried
    memo = memo.next_generation(_changes(("vs-host", "a")))
    assert memo.get(("whole",), whole) == first
    assert built == ["whole"]
