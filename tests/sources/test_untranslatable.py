"""An object that validates but cannot be translated (a gap in validation, a translator
bug) is rejected alone: the proxy keeps its last good config, the object its last good
version, the rest of the change applies, and the next edit is read.

No input known today gets past validation and breaks translation (that is the point of
validation), so a translator gap is injected: the route builder refuses weight 77, as
protobuf refused an out-of-range weight before validation bounded it."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from envoy.config.core.v3 import base_pb2
from google.protobuf import struct_pb2

import translators.envoy.route_bytes as route_bytes
import translators.envoy.traffic as traffic
from translators.mesh import MeshOptions
from xdscp.service import ControlPlane
from xdscp.sources.blame import translation_errors
from xdscp.sources.files import DirectorySource

REPO = Path(__file__).resolve().parents[2]
WAIT_S = 15.0


@pytest.fixture
def weight_77_breaks_translation(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    real = traffic._weighted

    def weighted(wc: Any) -> Any:
        if wc.weight == 77:
            raise ValueError("Value out of range: 77")
        return real(wc)

    real_bytes = route_bytes._weighted

    def weighted_bytes(clusters: Any) -> Any:  # routes assembled as bytes take this path
        if any(wc.weight == 77 for wc in clusters):
            raise ValueError("Value out of range: 77")
        return real_bytes(clusters)

    monkeypatch.setattr(traffic, "_weighted", weighted)
    monkeypatch.setattr(route_bytes, "_weighted", weighted_bytes)
    yield


def canary(tmp_path: Path) -> Path:
    config = tmp_path / "mesh"
    shutil.copytree(REPO / "examples" / "canary", config)
    return config


def set_weights(config: Path, v1: int, v2: int) -> None:
    path = config / "routing.yaml"
    text = (REPO / "examples" / "canary" / "routing.yaml").read_text()
    text = text.replace("weight: 90", f"weight: {v1}").replace("weight: 10", f"weight: {v2}")
    path.write_text(text)


def vs_weights(plane: ControlPlane) -> list[int]:
    assert plane.runtime.mesh is not None
    (vs,) = plane.runtime.mesh.of_kind("VirtualService")
    return [d.weight for d in vs.spec.http[0].route]


def node(workload: str) -> base_pb2.Node:
    metadata = struct_pb2.Struct()
    metadata.update({"NAMESPACE": "default", "WORKLOAD_NAME": workload})
    return base_pb2.Node(id=f"sidecar-{workload}", metadata=metadata)


@pytest.fixture
async def plane(tmp_path: Path) -> AsyncIterator[ControlPlane]:
    control = ControlPlane(
        canary(tmp_path), listen="127.0.0.1:0", debug_listen="127.0.0.1:0", insecure=True
    )
    await control.start()
    try:
        yield control
    finally:
        await control.stop()


async def wait_for(predicate: Any) -> None:
    deadline = time.monotonic() + WAIT_S
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.05)


@pytest.mark.usefixtures("weight_77_breaks_translation")
async def test_untranslatable_edit_is_rejected_alone_and_the_fix_applies(
    plane: ControlPlane,
) -> None:
    config = plane.config_dir
    key = plane.runtime.connect(node("client"), None)
    good = plane.cache.get(key)
    assert good is not None
    generation = plane.runtime.generation
    # the bad edit, together with a good one in another file
    set_weights(config, 77, 23)
    (config / "extra.yaml").write_text(
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
        "metadata: {name: extra}\nspec: {host: extra.example.com}\n"
    )

    def rejected() -> bool:
        status = plane.runtime.config_status()
        return any("cannot be translated" in e["message"] for e in status["errors"])

    await wait_for(rejected)
    status = plane.runtime.config_status()
    (error,) = [e for e in status["errors"] if "cannot be translated" in e["message"]]
    assert error["kind"] == "VirtualService" and error["name"] == "order-service-routing"
    assert error["source"].endswith("routing.yaml")
    assert "Value out of range: 77" in error["message"]
    assert "last good version stays in force" in error["message"]
    assert vs_weights(plane) == [90, 10]  # the last good version, for every proxy
    assert "DestinationRule/default/extra" in status["objects"]  # the rest applied
    assert status["translate_errors"] == []  # the proxy's config builds again
    assert plane.runtime.generation > generation
    # the fix is read and applied
    set_weights(config, 70, 30)
    await wait_for(lambda: vs_weights(plane) == [70, 30])
    await wait_for(lambda: not rejected())
    assert plane.runtime.config_status()["translate_errors"] == []
    assert plane.source.health.view().up


@pytest.mark.usefixtures("weight_77_breaks_translation")
def test_validate_names_the_object_that_cannot_be_translated(tmp_path: Path) -> None:
    config = canary(tmp_path)
    set_weights(config, 77, 23)
    mesh = DirectorySource(config, MeshOptions(local_mode=True), log_errors=False).load()
    assert mesh.errors == ()
    (error,) = translation_errors(mesh)
    assert error.ref == "VirtualService/default/order-service-routing"
    assert "cannot be translated for Envoy (ValueError: Value out of range: 77)" in str(error)
