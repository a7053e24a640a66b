"""The serve-start and edit-latency benchmarks, tiny: a real `xdscp serve` on a few YAML
files, one simulated proxy ACKs its full config and every edit. Figures are printed by
the benchmarks, not asserted here (a loaded CI machine decides them)."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import edit_latency, serve_start


async def test_serve_start_reports_every_stage_and_a_restart_reads_the_cache(
    tmp_path: Path,
) -> None:
    cache = tmp_path / "parse.cache"
    figures = await serve_start.measure(5, tmp_path, timeout=60, parse_cache=cache)
    assert figures.files == 11
    assert 0 < figures.listening_s < figures.acked_s
    assert figures.translate_s > 0 and figures.push_s >= 0 and figures.load_s > 0
    # 5 services x 3 clusters (no subset, v1, v2) + the passthrough/blackhole specials
    assert figures.resources > 15
    text = serve_start.report(figures)
    assert "process start -> proxy ACKed" in text and "5 services in 11 YAML files" in text
    assert cache.exists() and figures.cache_saved_s > 0  # written while serve ran
    assert 0 < figures.stop_s < 20  # Ctrl-C -> exited
    warm = await serve_start.measure(5, tmp_path, timeout=60, parse_cache=cache)
    assert warm.resources == figures.resources
    (loaded,) = [line for line in (tmp_path / "server.log").read_text().splitlines()
                 if '"config.loaded"' in line]  # fmt: skip
    assert '"parsed": 0' in loaded  # every file came from the cache


async def test_edit_latency_sees_every_edit_acked(tmp_path: Path) -> None:
    figures = await edit_latency.measure(5, 3, tmp_path, timeout=60, pause=0.1)
    assert len(figures.edits_ms) == 3
    assert all(ms > 0 for ms in figures.edits_ms)
    assert figures.debounce_ms == 30
    # the watcher saw each rename before the proxy ACKed it
    assert len(figures.detect_ms) == 3
    assert all(0 < d < e for d, e in zip(figures.detect_ms, figures.edits_ms, strict=True))
    assert len(figures.apply_cpu_ms) == 3 and all(ms > 0 for ms in figures.apply_cpu_ms)
    assert "median" in edit_latency.report(figures)


async def test_edit_latency_over_delta_sees_each_edit_as_a_virtual_host(tmp_path: Path) -> None:
    """`--delta`: the proxy speaks delta xDS with VHDS and each VirtualService edit
    reaches it as a virtual host (else the wait for a VHDS response would time out)."""
    figures = await edit_latency.measure(5, 2, tmp_path, timeout=60, pause=0.1, delta=True)
    assert len(figures.edits_ms) == 2 and all(ms > 0 for ms in figures.edits_ms)
    assert figures.delta and "delta xDS + VHDS" in edit_latency.report(figures)


@pytest.mark.parametrize("edit", ["service-entry", "workload-entry"])
async def test_edit_latency_sees_every_registry_edit_acked(tmp_path: Path, edit: str) -> None:
    """A ServiceEntry given a host shows as a new route version, a WorkloadEntry moved
    as new endpoints: the server applied each and the proxy ACKed it."""
    figures = await edit_latency.measure(5, 2, tmp_path, timeout=60, pause=0.1, edit=edit)
    assert len(figures.edits_ms) == 2 and all(ms > 0 for ms in figures.edits_ms)
    assert len(figures.apply_cpu_ms) == 2
    assert figures.edit == edit and "ACKed it" in edit_latency.report(figures)


async def test_edit_latency_without_analysis_serves_every_edit_unanalyzed(
    tmp_path: Path,
) -> None:
    """`--analysis off`: the same edits ACKed, and the server analyzed none of them (the
    switch is real: with it on, every generation is analyzed)."""
    figures = await edit_latency.measure(5, 2, tmp_path, timeout=60, pause=0.1, analysis=False)
    assert len(figures.edits_ms) == 2 and all(ms > 0 for ms in figures.edits_ms)
    assert "(analysis off)" in edit_latency.report(figures)
    log = (tmp_path / "server.log").read_text()
    assert '"mesh.applied"' in log and '"analysis.completed"' not in log
    analyzed = tmp_path / "analyzed"
    analyzed.mkdir()
    await edit_latency.measure(5, 1, analyzed, timeout=60, pause=0.5)
    assert '"analysis.completed"' in (analyzed / "server.log").read_text()
