"""`xdscp explain` as a user runs it: offline on a directory (-f), against a running
control plane (--server), text and JSON, and one-line errors with a non-zero exit."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from click.testing import CliRunner

from tests.e2e.harness import free_port
from tests.explain.plane import traffic_plane
from tests.explain.test_explain import STRICT, TRAFFIC, V1, V2
from xdscp.cli import main


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["explain", *args])
    return result.exit_code, result.stdout, result.stderr


def test_text_names_every_step() -> None:
    code, out, _ = run(
        "-f", str(TRAFFIC), "--from", "default/client", "-H", "end-user: mary",
        "http://reviews:8080/abort",
    )  # fmt: skip
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0].startswith("GET http://reviews:8080/abort  from default/client")
    assert (
        "1. Outbound listener 127.0.1.1_8080 on 127.0.1.1:8080 (HTTP, route config '8080')" in out
    )
    assert "3. Route 'abort': VirtualService/default/reviews http[1]" in out
    assert "skipped http[0] ('jason'): header end-user: wants exact 'jason', got 'mary'" in out
    assert "fault: abort 418 for 50% of requests" in out
    assert f"4.1 100% -> {V1} (subset v1)" in out
    assert "decided by auto-mTLS" in out
    assert (
        "callee default/reviews-v1: listener 127.0.2.1_8080, filter chain inbound|8080|mtls" in out
    )
    assert "50%  418  fault abort" in out
    assert f"50%  app  forwarded to {V1}" in out


def test_text_shows_the_authorization_verdict() -> None:
    code, out, _ = run("-f", str(STRICT), "--from", "prod/intruder", "http://orders:8080/orders")
    assert code == 0
    assert "PeerAuthentication STRICT (PeerAuthentication/prod/default)" in out
    assert "RBAC ALLOW (AuthorizationPolicy/prod/orders-readers): no rule matches -> denied" in out
    assert "100%  403  denied at outbound|8080||orders.prod.svc.cluster.local" in out


def test_json_output_tcp() -> None:
    code, out, _ = run(
        "-f", str(TRAFFIC), "--from", "default/client", "-o", "json", "tcp://reviews:9090"
    )
    assert code == 0
    found = json.loads(out)
    assert found["route"] is None
    assert {(o["cluster"], o["share"]) for o in found["outcomes"]} == {
        (V1.replace("8080", "9090"), 50.0),
        (V2.replace("8080", "9090"), 50.0),
    }


def test_user_errors_are_one_line_without_traceback(tmp_path: Path) -> None:
    for args, message in [
        (
            ("-f", str(TRAFFIC), "--from", "default/ghost", "http://reviews:8080/"),
            "no workload default/ghost",
        ),
        (
            ("-f", str(TRAFFIC), "--from", "default/client", "http://ratings:8080/"),
            "unknown host 'ratings'",
        ),
        (
            ("--from", "default/client", "-H", "nocolon", "http://reviews:8080/"),
            "expected 'name: value'",
        ),
        (
            (
                "--server",
                f"http://127.0.0.1:{free_port()}",
                "--from",
                "default/client",
                "http://reviews:8080/",
            ),
            "cannot reach the control plane",
        ),
    ]:
        code, out, err = run(*args)
        assert code == 1, (args, out, err)
        assert err.startswith("xdscp explain: ") and message in err, err
        assert err.count("\n") == 1 and "Traceback" not in err


async def test_server_mode_reads_the_running_control_plane(tmp_path: Path) -> None:
    async with traffic_plane(tmp_path) as plane:
        # the CLI blocks on HTTP: run it off the event loop that serves the answer
        code, out, err = await asyncio.to_thread(
            run,
            "--server",
            plane.debug_url,
            "--from",
            "default/client",
            "http://reviews:8080/levels",
        )
        assert code == 0, err
        assert f"50%  app  forwarded to {V1}" in out and f"50%  app  forwarded to {V2}" in out
        # a bare HOST:PORT, as proxy-status and describe take it
        bare = plane.debug_url.removeprefix("http://")
        code, again, err = await asyncio.to_thread(
            run, "--server", bare, "--from", "default/client", "http://reviews:8080/levels"
        )
        assert (code, again) == (0, out), err
        code, _, err = await asyncio.to_thread(
            run, "--server", plane.debug_url, "--from", "default/ghost", "http://reviews:8080/"
        )
        # the in-process control plane logs to the same (captured) stderr: the last line
        assert code == 1 and err.splitlines()[-1].startswith("xdscp explain: no workload")


async def test_server_mode_with_a_debug_token(tmp_path: Path) -> None:
    token = "t0ken-for-the-debug-port-0123456789"
    token_file = tmp_path / "token"
    token_file.write_text(token + "\n")
    async with traffic_plane(tmp_path, debug_token=token) as plane:
        asked = ("--server", plane.debug_url, "--from", "default/client", "http://reviews:8080/")
        code, _, err = await asyncio.to_thread(run, *asked)
        assert code == 1
        last = err.splitlines()[-1]  # after any log line of the in-process control plane
        assert last.startswith("xdscp explain: this debug endpoint needs"), err
        assert "--debug-token-file" in last
        code, out, err = await asyncio.to_thread(run, "--debug-token-file", str(token_file), *asked)
        assert code == 0, err
        assert f"100%  app  forwarded to {V1}" in out
