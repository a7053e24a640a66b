"""`python -m benchmarks.table`, tiny: every figure of issue 12's table is measured by its
own benchmark and rendered with the issue's "now" and target; nothing is skipped on a
full checkout. Nothing here asserts a duration."""

from __future__ import annotations

from pathlib import Path

from benchmarks.table import Row, Scale, _run, measure, render

TINY = Scale(services=20, push_proxies=3, push_services=(8, 4), repeats=1, edits=1)


def test_every_figure_is_measured_and_rendered(tmp_path: Path) -> None:
    rows = measure(TINY, tmp_path)
    assert [r.verdict for r in rows if not r.measured or r.measured == "-"] == []
    figures = " ".join(r.figure for r in rows)
    for expected in ("serve", "edited", "translation", "replay floor", "memory", "bytes"):
        assert expected in figures, expected
    table = render(rows, TINY)
    assert table.count("\n| ") == len(rows) + 1  # header + one line per row
    assert "scaled down" in table


def test_a_failing_benchmark_leaves_a_row_saying_why() -> None:
    def broken() -> list[Row]:
        raise RuntimeError("no server")

    rows: list[Row] = []
    _run(rows, broken, [Row("push", "1.30x", "-", "<= 1.1x", "")])
    assert rows == [Row("push", "1.30x", "-", "<= 1.1x", "failed: RuntimeError: no server")]
