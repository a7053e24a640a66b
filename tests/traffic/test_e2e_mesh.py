"""The e2e traffic mesh (tests/traffic/meshes/traffic) loads cleanly, as `xdscp up`
loads it, and real Envoy accepts every proxy's config: a broken mesh fails here, in
seconds, rather than as a confusing e2e timeout."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.envoy_validate import find_envoy, validate_resources
from translators.translate import translate
from xdscp.sources.files import DirectorySource

MESH = Path(__file__).resolve().parent / "meshes" / "traffic"


def test_traffic_mesh_loads_and_envoy_accepts_it() -> None:
    mesh = DirectorySource(MESH).load()
    assert mesh.errors == (), [str(e) for e in mesh.errors]
    assert len(mesh.workloads) == 4
    for workload in mesh.workloads.values():
        result = translate(mesh, workload)
        assert result.view.warnings == (), result.view.warnings
        if find_envoy() is None:
            pytest.skip("no envoy binary")
        verdict = validate_resources(result.resources, validate_clusters=True)
        assert verdict.ok, f"{workload.key}: {verdict}"
