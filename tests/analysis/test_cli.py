"""`xdscp analyze` and `xdscp validate` as a user runs them: table, JSON, YAML, exit codes
by the worst severity and `--fail-on`, and the valid examples analyzing clean."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from tests.analysis.meshes import base, vs_reviews, write_mesh
from xdscp.cli import main

REPO = Path(__file__).resolve().parents[2]
# every example directory, so a new one is checked too; `extension` needs its extension
# loaded (test_extension_example_is_clean_with_its_extension)
VALID_EXAMPLES = sorted(
    p.name for p in (REPO / "examples").iterdir() if p.is_dir() and p.name != "extension"
)


def _broken(tmp_path: Path) -> Path:
    """An Error (unknown subset) and a Warning (weight 0) in one mesh."""
    docs = base()
    routes = vs_reviews(docs)["spec"]["http"][1]["route"]
    routes[0]["destination"]["subset"] = "v3"
    routes[1]["weight"] = 0
    return write_mesh(tmp_path / "mesh", docs)


def _warning_only(tmp_path: Path) -> Path:
    docs = base()
    vs_reviews(docs)["spec"]["http"][1]["route"][1]["weight"] = 0
    return write_mesh(tmp_path / "warn", docs)


@pytest.mark.parametrize("example", VALID_EXAMPLES)
def test_valid_examples_analyze_clean(example: str) -> None:
    assert {"canary", "strict-mtls"} <= set(VALID_EXAMPLES)
    result = CliRunner().invoke(main, ["analyze", str(REPO / "examples" / example)])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "No problems found."


def test_extension_example_is_clean_with_its_extension() -> None:
    example = REPO / "examples" / "extension"
    plain = CliRunner().invoke(main, ["analyze", str(example), "-o", "json"])
    # without the extension its custom kind is a schema error (XDS0002), exit 1
    assert plain.exit_code == 1
    assert [m["code"] for m in json.loads(plain.output)] == ["XDS0002"]
    loaded = CliRunner().invoke(
        main,
        [
            "analyze",
            str(example),
            "--extension",
            f"{example / 'local_ratelimit.py'}:extension",
        ],
    )
    assert loaded.exit_code == 0, loaded.output
    assert "No problems found." in loaded.output


def test_table_shows_code_severity_object_field_message_and_fix(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["analyze", str(_broken(tmp_path))])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0].split() == ["CODE", "SEVERITY", "OBJECT", "FIELD", "MESSAGE"]
    error = next(line for line in lines if line.startswith("XDS0102"))
    assert error.split()[:4] == [
        "XDS0102",
        "Error",
        "VirtualService/shop/reviews",
        "spec.http[1].route[0].destination.subset",
    ]
    assert "subset 'v3'" in result.output
    assert "fix: add subset 'v3' to a DestinationRule" in result.output
    assert "istio: IST0101" in result.output
    assert f"in: {tmp_path / 'mesh' / 'mesh.yaml'}[doc 7]" in result.output
    # errors first, then warnings
    assert result.output.index("XDS0102") < result.output.index("XDS0205")
    assert lines[-1] == "2 messages: 1 error, 1 warning"


def test_yaml_output_matches_json(tmp_path: Path) -> None:
    mesh = str(_broken(tmp_path))
    as_json = json.loads(CliRunner().invoke(main, ["analyze", mesh, "-o", "json"]).output)
    as_yaml = yaml.safe_load(CliRunner().invoke(main, ["analyze", mesh, "-o", "yaml"]).output)
    assert as_json == as_yaml
    assert [m["code"] for m in as_json] == ["XDS0102", "XDS0205"]


@pytest.mark.parametrize(
    ("fail_on", "broken", "warning_only"),
    [("error", 1, 0), ("warning", 1, 1), ("info", 1, 1), ("never", 0, 0)],
)
def test_exit_code_follows_worst_severity_and_fail_on(
    tmp_path: Path, fail_on: str, broken: int, warning_only: int
) -> None:
    for directory, expected in (
        (_broken(tmp_path), broken),
        (_warning_only(tmp_path), warning_only),
    ):
        result = CliRunner().invoke(main, ["analyze", str(directory), "--fail-on", fail_on])
        assert result.exit_code == expected, (fail_on, directory, result.output)


def test_usage_errors_are_one_line_without_traceback(tmp_path: Path) -> None:
    neither = CliRunner().invoke(main, ["analyze"])
    assert neither.exit_code == 2 and "give a DIRECTORY or --kubernetes" in neither.output
    both = CliRunner().invoke(main, ["analyze", str(tmp_path), "--kubernetes"])
    assert both.exit_code == 2
    bad = CliRunner().invoke(main, ["analyze", str(tmp_path), "--fail-on", "sometimes"])
    assert bad.exit_code == 2 and "Traceback" not in bad.output


def test_validate_keeps_its_exit_code_and_prints_the_analysis_as_warnings(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["validate", str(_broken(tmp_path))])
    assert result.exit_code == 0, result.output  # schema-valid: analysis does not fail it
    assert "0 errors" in result.output
    assert "warning: XDS0102 (IST0101) Error VirtualService/shop/reviews" in result.output
    assert "analysis: 2 messages: 1 error, 1 warning" in result.output
    clean = CliRunner().invoke(main, ["validate", str(REPO / "examples" / "canary")])
    assert clean.exit_code == 0 and "warning:" not in clean.output


def test_analyze_as_a_subprocess(tmp_path: Path) -> None:
    """The installed entry point, as a shell user runs it."""
    mesh = _broken(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "xdscp.cli", "analyze", str(mesh), "-o", "json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done.stderr
    assert {m["code"] for m in json.loads(done.stdout)} == {"XDS0102", "XDS0205"}
    assert "Traceback" not in done.stderr


def test_a_file_that_is_not_yaml_is_one_schema_message_naming_the_file(tmp_path: Path) -> None:
    mesh = write_mesh(tmp_path / "mesh", base())
    (mesh / "broken.yaml").write_text("kind: [unclosed\n")
    result = CliRunner().invoke(main, ["analyze", str(mesh), "-o", "json"])
    assert result.exit_code == 1
    [message] = json.loads(result.output)
    assert (message["code"], message["object"], message["source"]) == (
        "XDS0002",
        "",
        str(mesh / "broken.yaml"),
    )
    assert "YAML syntax error (line 2" in message["message"]
    table = CliRunner().invoke(main, ["analyze", str(mesh)]).output
    assert table.splitlines()[1].split()[:3] == ["XDS0002", "Error", str(mesh / "broken.yaml")]
