"""The peer-cost benchmark against a real `xdscp serve`, small: every attack is refused
with RESOURCE_EXHAUSTED, the storm writes (almost) no log, an honest proxy is served.
Figures are printed, not asserted (they are the benchmark's output)."""

from __future__ import annotations

import argparse

import pytest

from benchmarks.peer_cost import run


async def test_peer_cost_benchmark_runs_and_every_attack_is_refused(
    capsys: pytest.CaptureFixture[str],
) -> None:
    await run(argparse.Namespace(big_mb=5, delta_names=240_000, nacks=50, settle=0.3))
    out = capsys.readouterr().out
    section1, rest = out.split("\n2. ", 1)
    section2, rest = rest.split("\n3. ", 1)
    assert section1.count("ended RESOURCE_EXHAUSTED: SERVER: Received message larger than max") == 3
    assert section2.count("resource names subscribed on one stream; at most 100,000") == 2
    written = float(rest.split("server log written:")[1].split("MiB")[0])
    assert written < 0.05  # 50 NACKs of 64 KB: one line, not 50
    assert "honest proxy default/order-v1 afterwards: open, 1 responses" in rest
    assert "RSS after the streams closed" in out
