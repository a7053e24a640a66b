"""The analysis in Kubernetes mode, against the fake API server: `xdscp analyze
--kubernetes` reads the cluster once, and `xdscp serve --kubernetes` writes each
object's messages to its status (`validationMessages`, as Istio does, and an `Analyzed`
condition beside `Accepted`/`Applied`), following edits."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.kube.conftest import FAST
from tests.kube.fakeapi import FakeKube, fake_kube
from tests.kube.helpers import eventually
from tests.kube.meshes import cluster_docs, namespace
from translators.analysis import analyze
from translators.mesh import MeshConfig, MeshOptions
from xdscp.kube.api import KubeApi
from xdscp.kube.plane import KubeControlPlane, KubeSettings
from xdscp.kube.status import StatusWriter
from xdscp.sources.kubernetes import KubernetesSource

NS = "xdscp-system"
_STATUS_PATH = "/virtualservices/order-service-routing/status"
VS = ("VirtualService", "default", "order-service-routing")
DR = ("DestinationRule", "default", "order-service-subsets")


@pytest.fixture
async def kube() -> AsyncIterator[FakeKube]:
    async with fake_kube() as server:
        yield server


def _routing(docs: list[dict[str, Any]]) -> dict[str, Any]:
    return next(d for d in docs if d["kind"] == "VirtualService")


def broken_docs() -> list[dict[str, Any]]:
    """The canary with its 10% going to a subset no DestinationRule defines."""
    docs = cluster_docs()
    _routing(docs)["spec"]["http"][0]["route"][1]["destination"]["subset"] = "v3"
    return docs


async def _analyze(kube: FakeKube, tmp_path: Path) -> tuple[int, list[dict[str, Any]], str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "xdscp.cli", "analyze", "--kubernetes",
        "--kubeconfig", str(kube.kubeconfig(tmp_path / "kubeconfig")), "-o", "json",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, json.loads(out or b"null"), err.decode()


async def test_analyze_kubernetes_reads_the_cluster_once(kube: FakeKube, tmp_path: Path) -> None:
    kube.apply_all(cluster_docs())
    code, messages, err = await _analyze(kube, tmp_path)
    assert (code, messages) == (0, []), err  # the canary, as the cluster holds it, is clean
    kube.apply(_routing(broken_docs()))
    code, messages, err = await _analyze(kube, tmp_path)
    assert code == 1, err
    assert [(m["code"], m["object"], m["field"], m["source"]) for m in messages] == [
        (
            "XDS0102",
            "VirtualService/default/order-service-routing",
            "spec.http[0].route[1].destination.subset",
            "k8s:VirtualService/default/order-service-routing",
        )
    ]
    assert "Traceback" not in err


async def test_analyze_kubernetes_without_a_cluster_is_one_line(tmp_path: Path) -> None:
    config = tmp_path / "kubeconfig"
    config.write_text("apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "xdscp.cli", "analyze", "--kubernetes", "--kubeconfig", str(config),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 1
    lines = err.decode().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: cannot connect to Kubernetes")


@contextlib.asynccontextmanager
async def control_plane(kube: FakeKube, tmp_path: Path) -> AsyncIterator[KubeControlPlane]:
    plane = KubeControlPlane(
        KubeSettings(
            kubeconfig=kube.kubeconfig(tmp_path / "kubeconfig"),
            namespace=NS,
            identity="replica-a",
            listen="127.0.0.1:0",
            debug_listen="127.0.0.1:0",
            cert_listen=None,
            ca_dir=tmp_path / "ca",
            watch=FAST,
            lease_duration=2.0,
            renew_deadline=1.5,
            retry_period=0.1,
        )
    )
    try:
        await asyncio.wait_for(plane.start(sync_timeout=10), 20)
        yield plane
    finally:
        await asyncio.wait_for(plane.stop(), 20)


def _status(kube: FakeKube, ref: tuple[str, str, str]) -> dict[str, Any]:
    found: dict[str, Any] = (kube.get(*ref) or {}).get("status") or {}
    return found


def _conditions(kube: FakeKube, ref: tuple[str, str, str]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in _status(kube, ref).get("conditions") or []}


async def test_serve_writes_analysis_to_status_and_follows_edits(
    kube: FakeKube, tmp_path: Path
) -> None:
    kube.apply_all([namespace(NS), *broken_docs()])
    async with control_plane(kube, tmp_path) as plane:
        await eventually(plane.is_leader)
        for ref in (VS, DR):  # one reconcile writes them one after the other

            def has_analysis(ref: tuple[str, str, str] = ref) -> bool:
                return "Analyzed" in _conditions(kube, ref)

            await eventually(has_analysis, timeout=20)
        status = _status(kube, VS)
        analyzed = _conditions(kube, VS)["Analyzed"]
        assert (analyzed["status"], analyzed["reason"]) == ("False", "Errors")
        assert "XDS0102 spec.http[0].route[1].destination.subset" in analyzed["message"]
        assert _conditions(kube, VS)["Accepted"]["status"] == "True"  # valid, yet broken
        [validation] = status["validationMessages"]
        assert validation["type"] == {"code": "XDS0102", "name": "DestinationSubsetNotFound"}
        assert validation["level"] == "ERROR" and validation["istioCode"] == "IST0101"
        assert "subset 'v3'" in validation["message"]
        # the neighbours are analyzed too, and clean
        dr = _conditions(kube, DR)["Analyzed"]
        assert (dr["status"], dr["reason"]) == ("True", "NoProblems")
        assert _status(kube, DR)["validationMessages"] == []

        # the same messages on the debug endpoint of the running plane
        assert plane.plane is not None
        async with (
            aiohttp.ClientSession() as http,
            http.get(plane.plane.debug_url + "/debug/analysis?wait=5") as response,
        ):
            body = await response.json()
        assert [m["code"] for m in body["messages"]] == ["XDS0102"]

        fixed = copy.deepcopy(_routing(cluster_docs()))
        kube.apply(fixed)

        def clean() -> bool:
            found = _conditions(kube, VS).get("Analyzed") or {}
            return found.get("status") == "True"

        await eventually(clean, timeout=20)
        assert _status(kube, VS)["validationMessages"] == []
        assert _conditions(kube, VS)["Analyzed"]["reason"] == "NoProblems"


def _vs_status_writes(kube: FakeKube) -> int:
    return len([r for r in kube.requests if r[0] == "PATCH" and r[1].endswith(_STATUS_PATH)])


async def _writes_for_one_edit(kube: FakeKube, api: KubeApi, grace: float) -> int:
    """Status writes of the VirtualService for one edit whose analysis comes 0.5 s after
    the mesh (a big mesh's analysis takes that long)."""
    kube.apply_all(broken_docs())
    source = KubernetesSource(api, MeshOptions(), watch=FAST)
    writer = StatusWriter(api, source, lambda: True, settle=0.02)
    writer.analysis_grace = grace
    meshes: list[MeshConfig] = []

    async def on_update(mesh: MeshConfig) -> None:
        meshes.append(mesh)
        writer.mesh_updated(mesh)

    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(source.run(on_update, stop)),
        asyncio.create_task(writer.run(stop)),
    ]
    try:
        await eventually(lambda: bool(meshes))
        # The source may deliver another mesh while the first lists settle; an analysis of
        # a superseded mesh is (rightly) not written, so analyse the latest until it is.
        for _ in range(50):  # bounded: ~10 s
            writer.analysis_updated(meshes[-1], analyze(meshes[-1]))
            await asyncio.sleep(0.2)
            if "Analyzed" in _conditions(kube, VS):
                break
        assert "Analyzed" in _conditions(kube, VS), _conditions(kube, VS)
        before, seen = _vs_status_writes(kube), len(meshes)
        kube.apply(_routing(cluster_docs()))  # the fix
        await eventually(lambda: len(meshes) > seen)
        await asyncio.sleep(0.5)
        writer.analysis_updated(meshes[-1], analyze(meshes[-1]))
        await eventually(lambda: _conditions(kube, VS)["Analyzed"]["status"] == "True")
        await asyncio.sleep(0.2)
        return _vs_status_writes(kube) - before
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 10)


async def test_status_waits_for_the_analysis_and_writes_an_object_once(
    kube: FakeKube, tmp_path: Path
) -> None:
    api = await KubeApi.connect(kube.kubeconfig(tmp_path / "kubeconfig"))
    try:
        assert await _writes_for_one_edit(kube, api, grace=3.0) == 1
    finally:
        await api.close()


async def test_without_grace_an_edit_is_written_twice(kube: FakeKube, tmp_path: Path) -> None:
    """What the grace saves (and proof the test above measures it)."""
    api = await KubeApi.connect(kube.kubeconfig(tmp_path / "kubeconfig"))
    try:
        assert await _writes_for_one_edit(kube, api, grace=0.0) == 2
    finally:
        await api.close()
