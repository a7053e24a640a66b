"""The push benchmark's machinery, tiny: both servers, a handful of clients, every figure
produced and every client ACKed. Nothing here asserts a duration."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.push import (
    TURNS,
    format_ratio,
    format_rounds,
    format_row,
    format_threads,
    make_tls,
    merge,
    run_one,
)
from benchmarks.push_bodies import floor_bodies, xdscp_runtime
from benchmarks.push_mesh import NAMESPACE, client_name, push_mesh
from xdscp.cache import CLUSTER_TYPE, LISTENER_TYPE
from xdscp.server.wire import SotwResponses, nonce_field

CLIENTS = 5
SERVICES = 5


@pytest.mark.parametrize("tls", [False, True], ids=["plaintext", "mtls"])
async def test_push_benchmark_runs_both_servers(tmp_path: Path, tls: bool) -> None:
    material = make_tls(tmp_path, CLIENTS) if tls else None
    results = {}
    for mode in ("floor", "xdscp"):
        result = await run_one(mode, SERVICES, CLIENTS, tmp_path, material, repeats=2, settle=0.05)
        results[mode] = result
        assert result.streams == CLIENTS + 1  # and the first proxy's stream, kept open
        assert result.initial_s > 0
        assert min(result.rss_empty_kib, result.rss_before_kib, result.rss_after_kib) > 0
        assert len(result.change_ms) == len(result.client_ms) == len(result.apply_ms) == 2
        assert all(ms > 0 for ms in result.change_ms + result.client_ms)
        # e2e: the file rewrite came first, so it took longer than from the mesh on
        assert len(result.e2e_ms) == len(result.own_ms) == 2
        assert all(e >= c for e, c in zip(result.e2e_ms, result.change_ms, strict=True))
        # the server's CPU in the change window, measured by the server itself
        assert len(result.window_cpu_ms) == 2 and all(ms > 0 for ms in result.window_cpu_ms)
        # --threads: per thread (clock ticks: a tiny change may show none) and loop turns
        assert len(result.thread_cpu_ms) == 2
        assert all(change[TURNS] > 0 for change in result.thread_cpu_ms)
        assert "event loop turns" in format_threads(result)
        if mode == "xdscp":
            pairs = zip(result.own_ms, result.apply_ms, strict=True)
            assert all(0 < own <= apply for own, apply in pairs)
            assert all(cpu > 0 for cpu in result.own_cpu_ms)
            assert all(e > c for e, c in zip(result.e2e_ms, result.change_ms, strict=True))
        # Every client ACKed the new RDS version each time, and the server saw each ACK.
        assert result.acks == [CLIENTS + 1, CLIENTS + 1]
        assert result.clients_acked == [CLIENTS, CLIENTS]
        assert result.all_acked
        assert format_row(result)
    assert "x" in format_ratio(results["floor"], results["xdscp"])
    per_round = format_rounds([results["floor"]] * 2, [results["xdscp"]] * 2)
    assert per_round.count("x ") >= 2 and "win" in per_round  # two rounds, both figures
    twice = merge([results["xdscp"], results["xdscp"]])
    assert len(twice.change_ms) == 4 and twice.all_acked


def test_floor_replays_exactly_the_bytes_the_server_sends(tmp_path: Path) -> None:
    """The floor's bodies come from the server's own serializer: for every client and
    type they equal the server's prepared response without its nonce."""
    ca_dir = tmp_path / "ca"
    bodies = floor_bodies(SERVICES, 2, ca_dir)
    runtime = xdscp_runtime(ca_dir)
    mesh = push_mesh(SERVICES, 2)
    runtime.apply_now(mesh)
    responses = SotwResponses()
    for i in range(2):
        workload = mesh.workload(NAMESPACE, client_name(i))
        assert workload is not None
        snapshot = runtime.snapshot_for(workload)
        for type_url in (CLUSTER_TYPE, LISTENER_TYPE):
            prepared = responses.prepare(snapshot.get(type_url), None)
            sent = prepared.response.removesuffix(nonce_field(prepared.nonce))
            assert bodies.initial[client_name(i)][type_url] == sent
