"""A path template whose literal segment holds `*` is refused as Istio refuses it, by
`xdscp validate` as a user runs it: one line naming file, object and field, exit 1;
a literal with `=` or `%` (which Istio accepts) passes."""

from __future__ import annotations

import shutil
from pathlib import Path

from click.testing import CliRunner

from tests.e2e.harness import REPO
from xdscp.cli import main

POLICY = """\
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: versions, namespace: prod}
spec:
  rules:
  - to:
    - operation: {paths: [PATHS]}
"""


def validate(tmp_path: Path, paths: str) -> tuple[int, str]:
    config = tmp_path / "mesh"
    shutil.copytree(REPO / "examples" / "strict-mtls", config)
    (config / "versions.yaml").write_text(POLICY.replace("PATHS", paths))
    result = CliRunner().invoke(main, ["validate", str(config)])
    return result.exit_code, result.output


def test_a_star_in_a_template_literal_is_one_clear_error(tmp_path: Path) -> None:
    code, out = validate(tmp_path, '"/v*/{**}", "/ok/{*}"')
    assert code == 1
    assert (
        "versions.yaml[doc 0]: AuthorizationPolicy prod/versions:"
        " field spec.rules[0].to[0].operation.paths: path: '/v*/{**}':"
        " segment 'v*' of a path template holds '*'"
    ) in out
    assert "Traceback" not in out


def test_equals_and_percent_literals_are_valid(tmp_path: Path) -> None:
    code, out = validate(tmp_path, '"/q=1/{*}", "/{*}/100%", "/matrix;k=v/{**}"')
    assert code == 0, out
