"""Every mistake of `cases.py`, analyzed through the CLI as a user runs it
(`xdscp analyze DIR -o json`): exactly the expected messages, nothing else."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.analysis.cases import CASES
from tests.analysis.meshes import Case, write_mesh
from translators.analysis import BY_CODE
from xdscp.cli import main


def analyze_json(directory: Path) -> list[dict[str, object]]:
    result = CliRunner().invoke(
        main, ["analyze", str(directory), "-o", "json", "--fail-on", "never"]
    )
    assert result.exit_code == 0, result.output
    found: list[dict[str, object]] = json.loads(result.output)
    return found


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case_produces_exactly_its_messages(case: Case, tmp_path: Path) -> None:
    messages = analyze_json(write_mesh(tmp_path / "mesh", case.docs()))
    found = sorted((str(m["code"]), str(m["object"]), str(m["field"])) for m in messages)
    assert found == sorted(case.expected), json.dumps(messages, indent=1)
    for message in messages:
        known = BY_CODE[str(message["code"])]
        assert message["severity"] == known.severity.label
        assert message["source"] == str(tmp_path / "mesh" / "mesh.yaml")
        assert isinstance(message["document"], int)
        assert message["hint"] and message["message"]
