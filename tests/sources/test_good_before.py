"""The last good objects as of the load before the latest (what `blame` falls back on)
are what they were, after edits, additions, deletions and a broken edit: the view
the assembly keeps equals a copy taken before each load."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.sources.test_incremental import route, rule
from xdscp.sources.files import DirectorySource


def test_good_before_is_the_last_good_objects_before_each_load(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(route("a", "a", 90) + "---\n" + rule("a", "a"))
    (tmp_path / "b.yaml").write_text(route("b", "b", 90))
    source = DirectorySource(tmp_path, log_errors=False)
    source.load()
    assembly: Any = source._assembly
    steps = [
        ("a.yaml", route("a", "a", 50) + "---\n" + rule("a", "a")),  # one object changed
        ("c.yaml", rule("c", "c")),  # a file added
        ("b.yaml", None),  # a file deleted
        ("a.yaml", "kind: [broken"),  # a syntax error: keeps what it held
        ("a.yaml", route("a", "a", 70)),  # fixed, its DestinationRule gone
    ]
    for name, text in steps:
        expected = dict(assembly.last_good)  # what good_before must say after the load
        path = tmp_path / name
        if text is None:
            path.unlink()
        else:
            path.write_text(text)
        source.load_changed([path])
        before = assembly.good_before
        assert dict(before) == expected, name
        assert len(before) == len(expected)
        for key, obj in expected.items():
            assert before.get(key) is obj
        assert all(before.get(key) is None for key in assembly.last_good if key not in expected)
