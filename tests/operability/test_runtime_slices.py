"""`MeshRuntime.apply` hands the event loop back early in a generation: the first proxies'
snapshots are published (and their pushes can go out) while the rest are translated."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import xdscp.runtime as runtime_module
from benchmarks.ads_clients import ClientSpec
from benchmarks.push_mesh import NAMESPACE, client_name, push_mesh
from xdscp.cache import SnapshotCache
from xdscp.identity import IdentityService, IdentitySettings
from xdscp.runtime import MeshRuntime

SERVICES = 4
CLIENTS = 3
KEYS = [f"{NAMESPACE}/{client_name(i)}" for i in range(CLIENTS)]


async def test_the_first_slice_publishes_before_the_rest_is_translated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = MeshRuntime(SnapshotCache(), IdentityService(IdentitySettings(ca_dir=tmp_path)))
    runtime.apply_now(push_mesh(SERVICES, CLIENTS))
    for i in range(CLIENTS):
        runtime.connect(ClientSpec(NAMESPACE, client_name(i), "127.0.0.1").node(), None)
    before = {key: runtime.cache.generation(key) for key in KEYS}
    # a first slice of no time at all, later slices that never end: the only hand-back
    # before the generation is done is the one after the first slice
    monkeypatch.setattr(runtime_module, "_APPLY_FIRST_SLICE_SECONDS", 0.0)
    monkeypatch.setattr(runtime_module, "_APPLY_SLICE_SECONDS", 3600.0)

    applying = asyncio.create_task(runtime.apply(push_mesh(SERVICES, CLIENTS, changed=True)))
    await asyncio.sleep(0)  # the apply task runs until it first hands the loop back

    published = [key for key in KEYS if runtime.cache.generation(key) != before[key]]
    assert len(published) == 1, published  # one proxy out, its stream can push already
    assert not applying.done()
    await applying
    assert all(runtime.cache.generation(key) != before[key] for key in KEYS)
