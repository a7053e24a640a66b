"""The operator commands against a debug port that asks for a token."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from click.testing import CliRunner
from prometheus_client import CollectorRegistry

from xdscp.cache import SnapshotCache
from xdscp.cli_proxy_config import proxy_config
from xdscp.cli_proxy_status import proxy_status
from xdscp.debug.config_dump import config_dump_routes
from xdscp.debug.http import start_debug_server
from xdscp.metrics import XdsMetrics
from xdscp.server.status import StatusBook

TOKEN = "0123456789abcdef-operator-token"


async def test_commands_send_the_token_and_say_how_when_it_is_missing(tmp_path: Path) -> None:
    metrics = XdsMetrics(CollectorRegistry())
    status = StatusBook(metrics)
    status.open("default/client", "node-1", "spiffe://cluster.local/ns/default/sa/client", "sotw")
    runner, port = await start_debug_server(
        status,
        metrics.registry,
        "127.0.0.1:0",
        extra_routes=config_dump_routes(SnapshotCache()),
        token=TOKEN,
    )
    server = f"http://127.0.0.1:{port}"
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    try:
        refused = await asyncio.to_thread(CliRunner().invoke, proxy_status, ["--server", server])
        assert refused.exit_code == 1
        assert "--debug-token-file" in refused.output and "Traceback" not in refused.output
        allowed = await asyncio.to_thread(
            CliRunner().invoke,
            proxy_status,
            ["--server", server, "--debug-token-file", str(token_file), "-o", "json"],
        )
        assert allowed.exit_code == 0, allowed.output
        shown = json.loads(allowed.output)["default/client"]
        assert shown["peer_identity"] == "spiffe://cluster.local/ns/default/sa/client"
        assert shown["state"] == "STALE"  # nothing sent yet
        unknown = await asyncio.to_thread(
            CliRunner().invoke,
            proxy_config,
            ["clusters", "nope", "--server", server, "--debug-token-file", str(token_file)],
        )
        assert unknown.exit_code == 1
        assert "'nope' is not a connected proxy" in unknown.output
    finally:
        await runner.cleanup()
