"""A started in-process control plane serving the explain tests' TRAFFIC mesh."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from tests.e2e.harness import free_port
from tests.explain.test_explain import TRAFFIC
from xdscp.identity import IdentitySettings
from xdscp.service import ControlPlane


@asynccontextmanager
async def traffic_plane(
    tmp_path: Path, debug_token: str | None = None
) -> AsyncIterator[ControlPlane]:
    plane = ControlPlane(
        TRAFFIC,
        f"127.0.0.1:{free_port()}",
        "127.0.0.1:0",
        identity_settings=IdentitySettings(ca_dir=tmp_path / "ca"),
        debug_token=debug_token,
    )
    await plane.start()
    try:
        yield plane
    finally:
        await plane.stop()
