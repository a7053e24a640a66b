"""`xdscp describe` shows the JWT rules a workload enforces and where their keys stand."""

from __future__ import annotations

import shutil
from pathlib import Path

from click.testing import CliRunner

from tests.translators.helpers import mesh_of, workload
from translators.describe import describe_workload
from xdscp.cli import main

GOLDEN = (
    Path(__file__).resolve().parents[1] / "golden" / "testdata" / "in" / "jwt-request-authn.yaml"
)


def test_describe_lists_request_authentication(tmp_path: Path) -> None:
    shutil.copy(GOLDEN, tmp_path / "mesh.yaml")
    result = CliRunner().invoke(main, ["describe", "prod/orders", "-f", str(tmp_path)])
    assert result.exit_code == 0, result.output
    text = result.output
    assert "RequestAuthentication/istio-system/mesh-idp  issuer https://idp.example.com/" in text
    assert "keys from https://partner.example.com/jwks.json: not fetched" in text
    assert "token from header x-partner-token ('Token '), query access_token" in text

    mesh = mesh_of(GOLDEN.read_text())
    rules = describe_workload(mesh, workload(mesh, "prod/frontend"))["request_authentication"]
    # the root namespace's policy applies to every workload; orders-partner selects orders
    assert [(r["policy"], r["keys"]) for r in rules] == [
        ("RequestAuthentication/istio-system/mesh-idp", "inline")
    ]
