"""Last-known-good across objects: a broken document keeps what it held (even when the
edit broke its identity), duplicate YAML keys are errors, and conflicts go to the
oldest object — never to whichever sorts first by file or name."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from structlog.testing import capture_logs

from tests.sources.test_files import addresses, workload, write
from translators.mesh import MeshConfig
from translators.translate import MeshTranslator
from xdscp.sources.files import DirectorySource

REPO = Path(__file__).resolve().parents[2]
HOST = "order-service.default.svc.cluster.local"

CLAIM = """\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: %s%s}
spec:
  hosts: [order-service]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 8080, name: http, protocol: HTTP}]
  endpoints: [{address: 127.9.9.9}]
"""


def canary(tmp_path: Path) -> Path:
    config = tmp_path / "mesh"
    shutil.copytree(REPO / "examples" / "canary", config)
    return config


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def weights(mesh: MeshConfig) -> dict[str, list[int]]:
    return {
        vs.name: [d.weight for d in vs.spec.http[0].route] for vs in mesh.of_kind("VirtualService")
    }


@contextlib.asynccontextmanager
async def collecting(source: DirectorySource) -> AsyncIterator[list[MeshConfig]]:
    """Every mesh `source.run` emits, in order; yielded once the first is out and the
    watcher is up, the source stopped on exit."""
    meshes: list[MeshConfig] = []

    async def collect(mesh: MeshConfig) -> None:
        meshes.append(mesh)

    stop = asyncio.Event()
    task = asyncio.create_task(source.run(collect, stop))
    try:
        deadline = time.monotonic() + 10
        while not meshes:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # the watcher is up
        yield meshes
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def until_all_at(meshes: list[MeshConfig], address: str) -> None:
    """Wait (bounded) until the latest mesh has every workload at `address`."""
    deadline = time.monotonic() + 10
    while set(addresses(meshes[-1]).values()) != {address}:
        assert time.monotonic() < deadline, addresses(meshes[-1])
        await asyncio.sleep(0.05)


def test_an_invalid_name_edit_keeps_the_object_in_force(tmp_path: Path) -> None:
    """90/10 must not become 50/50 because `metadata.name` was mistyped."""
    config = canary(tmp_path)
    source = DirectorySource(config, log_errors=False)
    assert weights(source.load()) == {"order-service-routing": [90, 10]}
    edit(config / "routing.yaml", "name: order-service-routing", "name: Order_Routing!")
    mesh = source.load()
    assert weights(mesh) == {"order-service-routing": [90, 10]}
    (error,) = mesh.errors
    assert error.origin.source.endswith("routing.yaml") and error.origin.document == 0
    assert error.field == "metadata.name"
    # a valid new name is a rename: the old object goes
    edit(config / "routing.yaml", "name: Order_Routing!", "name: renamed")
    assert weights(source.load()) == {"renamed": [90, 10]}


def test_a_document_that_no_longer_decodes_keeps_the_object(tmp_path: Path) -> None:
    config = canary(tmp_path)
    source = DirectorySource(config, log_errors=False)
    source.load()
    edit(config / "routing.yaml", "  hosts:\n", "  hosts: &a [x]\n  more: *b\n  hosts2:\n")
    mesh = source.load()
    assert weights(mesh) == {"order-service-routing": [90, 10]}
    assert "found undefined alias" in mesh.errors[0].message


def test_duplicate_yaml_keys_are_an_error_not_last_wins(tmp_path: Path) -> None:
    config = canary(tmp_path)
    source = DirectorySource(config, log_errors=False)
    source.load()
    edit(config / "routing.yaml", "weight: 90\n", "weight: 90\n      weight: 0\n")
    mesh = source.load()
    assert weights(mesh) == {"order-service-routing": [90, 10]}
    (error,) = mesh.errors
    assert str(error).endswith(
        "routing.yaml[doc 0]: document: YAML error (line 17, column 7): "
        "duplicate key 'weight' (first at line 16)"
    ), str(error)


def test_a_new_service_entry_cannot_take_an_established_host(tmp_path: Path) -> None:
    config = canary(tmp_path)
    source = DirectorySource(config, log_errors=False)
    before = source.load()
    assert before.services[HOST].source == "ServiceEntry/default/order-service"
    (config / "aaa.yaml").write_text(CLAIM % ("aaa", ""))
    mesh = source.load()
    assert mesh.services[HOST].source == "ServiceEntry/default/order-service"
    assert {e.address for e in mesh.services[HOST].endpoints} == {"127.0.2.1", "127.0.2.2"}
    (error,) = mesh.errors
    assert error.ref == "ServiceEntry/default/aaa"
    assert error.field == "spec.hosts"
    assert "already defined by ServiceEntry/default/order-service (the oldest wins)" in (
        error.message
    )
    # what the client's sidecar gets is unchanged, byte for byte
    client = before.workloads["default/client"]
    old = MeshTranslator(before).translate(client).groups
    new = MeshTranslator(mesh).translate(client).groups
    assert _bodies(old) == _bodies(new)
    # once the established entry is deleted, the claimant takes the host
    edit(config / "services.yaml", "  hosts:\n  - order-service\n", "  hosts:\n  - retired\n")
    assert source.load().services[HOST].source == "ServiceEntry/default/aaa"


def _bodies(groups: Any) -> dict[str, dict[str, bytes]]:
    return {
        type_url: {r.name: r.body() for group in type_groups for r in group}
        for type_url, type_groups in groups.items()
    }


def test_at_start_the_older_creation_timestamp_wins_not_the_name(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", CLAIM % ("aaa", ", creationTimestamp: '2025-06-01T00:00:00Z'"))
    write(tmp_path / "z.yaml", CLAIM % ("zzz", ", creationTimestamp: '2020-01-01T00:00:00Z'"))
    mesh = DirectorySource(tmp_path, log_errors=False).load()
    assert mesh.services[HOST].source == "ServiceEntry/default/zzz"
    (error,) = mesh.errors
    assert error.ref == "ServiceEntry/default/aaa"


def test_a_duplicate_in_an_earlier_file_does_not_replace_the_live_object(
    tmp_path: Path,
) -> None:
    write(tmp_path / "b.yaml", workload("w", "10.0.0.1"))
    source = DirectorySource(tmp_path, log_errors=False)
    assert addresses(source.load()) == {"default/w": "10.0.0.1"}
    write(tmp_path / "a.yaml", workload("w", "10.0.0.2"))
    mesh = source.load()
    assert addresses(mesh) == {"default/w": "10.0.0.1"}
    (error,) = mesh.errors
    assert error.origin.source == str(tmp_path / "a.yaml")
    assert error.message == f"duplicate: already defined at {tmp_path / 'b.yaml'}[doc 0]"
    # editing the live one keeps it live; deleting it hands over to the copy
    write(tmp_path / "b.yaml", workload("w", "10.0.0.3"))
    assert addresses(source.load()) == {"default/w": "10.0.0.3"}
    (tmp_path / "b.yaml").unlink()
    assert addresses(source.load()) == {"default/w": "10.0.0.2"}


async def test_a_slow_in_place_write_is_read_once_finished(tmp_path: Path) -> None:
    """A writer that rewrites a file in small pieces: no mesh may ever lack its objects."""
    path = tmp_path / "mesh.yaml"
    names = [f"w{i}" for i in range(40)]
    path.write_text("---\n".join(workload(n, "10.0.0.1") for n in names))
    source = DirectorySource(tmp_path, quiet_ms=50, max_wait_ms=300, log_errors=False)
    async with collecting(source) as meshes:
        text = "---\n".join(workload(n, "10.0.0.2") for n in names)
        with path.open("w") as out:  # truncates, then writes slowly: 20 pieces, 60 ms apart
            step = len(text) // 20 + 1
            for start in range(0, len(text), step):
                out.write(text[start : start + step])
                out.flush()
                await asyncio.sleep(0.06)
        await until_all_at(meshes, "10.0.0.2")
    for mesh in meshes:
        assert len(mesh.workloads) == len(names), sorted(mesh.workloads)


def test_each_config_error_is_logged_once_per_change_not_per_reload(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", workload("a", "10.0.0.1"))
    source = DirectorySource(tmp_path)
    source.load()
    write(tmp_path / "b.yaml", workload("b", "not an address"))
    with capture_logs() as logs:
        for _ in range(5):
            source.load()
        write(tmp_path / "b.yaml", workload("b", "still not one"))
        source.load()
        write(tmp_path / "b.yaml", workload("b", "10.0.0.2"))
        source.load()
        source.load()
    events = [(e["event"], "not an address" in e["error"]) for e in logs if "error" in e]
    assert events == [
        ("config.rejected", True),
        ("config.rejected", False),
        ("config.resolved", True),
        ("config.resolved", False),
    ], events


async def test_a_truncated_file_that_still_parses_is_not_applied_mid_write(
    tmp_path: Path,
) -> None:
    """Fuzzing deleted 2,083 objects with in-place writes that truncate first: the short
    prefix parses as a valid, smaller file. A file that shrank to less than half is
    given longer to settle, so a writer pausing between the truncation and the rest
    (longer than the ordinary settle time) never has its prefix applied."""
    path = tmp_path / "mesh.yaml"
    names = [f"w{i}" for i in range(40)]
    docs = [workload(n, "10.0.0.1") for n in names]
    path.write_text("---\n".join(docs))
    source = DirectorySource(tmp_path, quiet_ms=50, max_wait_ms=300, log_errors=False)
    assert source.settle_ms == 200
    async with collecting(source) as meshes:
        new = [workload(n, "10.0.0.2") for n in names]
        with path.open("w") as out:
            out.write(new[0])  # one whole document: parses, 1 object instead of 40
            out.flush()
            await asyncio.sleep(0.45)  # > settle_ms, < the 3x given to a shrunk file
            out.write("---\n" + "---\n".join(new[1:]))
        await until_all_at(meshes, "10.0.0.2")
    assert [len(m.workloads) for m in meshes if len(m.workloads) != len(names)] == []
