"""The runner: a failing check becomes one XDS0001 message and the others still run;
schema errors become XDS0002 when asked for."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from tests.analysis.meshes import base, vs_reviews, write_mesh
from translators.analysis import Check, Message, Severity, analyze
from translators.analysis.checks import CHECKS
from translators.analysis.context import AnalysisContext
from translators.mesh import MeshOptions
from xdscp.sources.files import DirectorySource


def _mesh(tmp_path: Path, subset: str = "v3") -> DirectorySource:
    docs = base()
    vs_reviews(docs)["spec"]["http"][1]["route"][1]["destination"]["subset"] = subset
    docs.append({"apiVersion": "extensions.istio.io/v1alpha1", "kind": "WasmPlugin",
                 "metadata": {"name": "gw", "namespace": "shop"}, "spec": {}})  # fmt: skip
    return DirectorySource(
        write_mesh(tmp_path, docs), MeshOptions(local_mode=True), log_errors=False
    )


def test_a_failing_check_is_reported_and_the_others_still_run(tmp_path: Path) -> None:
    def broken(ctx: AnalysisContext) -> Iterable[Message]:
        raise RuntimeError("boom")

    mesh = _mesh(tmp_path).load()
    analysis = analyze(mesh, (Check("broken", broken, ()), *CHECKS))
    codes = [m.code for m in analysis.messages]
    assert codes == ["XDS0001", "XDS0102"]
    assert "check broken failed: RuntimeError: boom" in analysis.messages[0].text
    assert analysis.worst is Severity.ERROR


def test_schema_errors_are_included_only_when_asked(tmp_path: Path) -> None:
    mesh = _mesh(tmp_path, subset="v2").load()
    assert analyze(mesh).messages == ()
    [schema] = analyze(mesh, include_schema=True).messages
    assert (schema.code, schema.type.istio_code, schema.ref, schema.field) == (
        "XDS0002", "IST0106", "WasmPlugin/shop/gw", "kind",
    )  # fmt: skip
    assert schema.origin is not None and schema.origin.document == len(base())
