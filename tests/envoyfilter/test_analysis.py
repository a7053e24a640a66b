"""`xdscp analyze` warns about EnvoyFilter patches that will not work: an HTTP filter
ADDed after the router (Envoy would NACK it) and BOOTSTRAP patches (not applied)."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from click.testing import CliRunner

from tests.extensions.fixtures import MESH
from xdscp.cli import main

LUA = {
    "name": "late.lua",
    "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua",
        "inlineCode": "function envoy_on_request(h) end",
    },
}


def test_analyze_reports_add_after_router_and_bootstrap(tmp_path: Path) -> None:
    envoy_filter = {
        "apiVersion": "networking.istio.io/v1alpha3",
        "kind": "EnvoyFilter",
        "metadata": {"name": "late", "namespace": "default"},
        "spec": {
            "configPatches": [
                {"applyTo": "HTTP_FILTER", "patch": {"operation": "INSERT_BEFORE", "value": LUA}},
                {"applyTo": "HTTP_FILTER", "patch": {"operation": "ADD", "value": LUA}},
                {
                    "applyTo": "BOOTSTRAP",
                    "patch": {"operation": "MERGE", "value": {"stats_flush_interval": "6s"}},
                },
            ]
        },
    }
    (tmp_path / "mesh.yaml").write_text(MESH)
    (tmp_path / "ef.yaml").write_text(yaml.safe_dump(envoy_filter))
    result = CliRunner().invoke(main, ["analyze", str(tmp_path), "-o", "json"])
    assert "Traceback" not in result.output
    found = {
        (m["code"], m["field"])
        for m in json.loads(result.output)
        if m["object"] == "EnvoyFilter/default/late"
    }
    assert found == {
        ("XDS1002", "spec.configPatches[1].patch.operation"),
        ("XDS1001", "spec.configPatches[2].applyTo"),
    }
