"""The serve-start and edit-latency benchmarks, tiny: a real `xdscp serve` on a few YAML
files, one simulated proxy ACKs its full config and every edit. Figures are printed by
the benchmarks, not asserted here (a loaded CI machine decides them)."""

from __future__ import annotations

from pathlib import Path

from benchmarks import edit_latency, serve_start


async def test_serve_start_reports_every_stage(tmp_path: Path) -> None:
    figures = await serve_start.measure(5, tmp_path, timeout=60)
    assert figures.files == 11
    assert 0 < figures.listening_s < figures.acked_s
    assert figures.translate_s > 0 and figures.push_s >= 0
    # 5 services x 3 clusters (no subset, v1, v2) + the passthrough/blackhole specials
    assert figures.resources > 15
    text = serve_start.report(figures)
    assert "process start -> proxy ACKed" in text and "5 services in 11 YAML files" in text


async def test_edit_latency_sees_every_edit_acked(tmp_path: Path) -> None:
    figures = await edit_latency.measure(5, 3, tmp_path, timeout=60, pause=0.1)
    assert len(figures.edits_ms) == 3
    assert all(ms > 0 for ms in figures.edits_ms)
    assert figures.debounce_ms == 100
    assert "median" in edit_latency.report(figures)
