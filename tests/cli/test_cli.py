"""The `xdscp` command line as a user runs it: validate, bootstrap (checked by real Envoy)."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import yaml
from click.testing import CliRunner

from xdscp.cli import main
from xdscp.local.envoy_process import envoy_binary

REPO = Path(__file__).resolve().parents[2]


def test_validate_accepts_the_canary_example() -> None:
    result = CliRunner().invoke(main, ["validate", str(REPO / "examples" / "canary")])
    assert result.exit_code == 0, result.output
    assert "0 errors" in result.output


def test_validate_lists_every_error_with_file_kind_name_field(tmp_path: Path) -> None:
    shutil.copytree(REPO / "examples" / "canary", tmp_path / "mesh")
    (tmp_path / "mesh" / "broken.yaml").write_text(
        "apiVersion: networking.istio.io/v1beta1\n"
        "kind: VirtualService\n"
        "metadata: {name: typo, namespace: prod}\n"
        "spec: {hosts: [a], htpp: []}\n"
        "---\n"
        "apiVersion: networking.istio.io/v1beta1\n"
        "kind: DestinationRule\n"
        "metadata: {name: nohost}\n"
        "spec: {subsets: [{name: v1}]}\n"
        "---\n"
        "kind: [unclosed\n"
    )
    result = CliRunner().invoke(main, ["validate", str(tmp_path / "mesh")])
    assert result.exit_code == 1
    out = result.output
    assert "broken.yaml" in out and "YAML syntax error (line 12" in out
    # A syntax error rejects the file; fixing it shows the per-object errors.
    (tmp_path / "mesh" / "broken.yaml").write_text(
        (tmp_path / "mesh" / "broken.yaml").read_text().rsplit("---", 1)[0]
    )
    result = CliRunner().invoke(main, ["validate", str(tmp_path / "mesh")])
    assert result.exit_code == 1
    assert "broken.yaml[doc 0]: VirtualService prod/typo: field spec.htpp: unknown field" in (
        result.output
    )
    assert (
        "broken.yaml[doc 1]: DestinationRule default/nohost: field spec.host: Field required"
        in (result.output)
    )
    assert "2 errors" in result.output


def test_bootstrap_is_accepted_by_envoy_and_carries_mtls_credentials(tmp_path: Path) -> None:
    out = tmp_path / "client" / "envoy.yaml"
    out.parent.mkdir()
    result = CliRunner().invoke(
        main,
        [
            "bootstrap",
            "--config", str(REPO / "examples" / "canary"),
            "--workload", "default/client",
            "--xds", "127.0.0.1:15999",
            "--ca-dir", str(tmp_path / "ca"),
            "-o", str(out),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    config = yaml.safe_load(out.read_text())
    assert config["node"]["metadata"]["WORKLOAD_NAME"] == "client"
    assert config["dynamic_resources"]["ads_config"]["set_node_on_first_message_only"] is True
    for name in (
        "envoy.xds-client-cert.pem",
        "envoy.xds-client-key.pem",
        "envoy.xds-root-cert.pem",
    ):
        mode = stat.S_IMODE(os.stat(out.parent / name).st_mode)
        assert mode == 0o600, (name, oct(mode))
    tls = config["static_resources"]["clusters"][0]["transport_socket"]["typed_config"]
    assert tls["sni"] == "xdscp"
    checked = subprocess.run(
        [envoy_binary(), "--mode", "validate", "-c", str(out), "--disable-hot-restart"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_bootstrap_for_an_unknown_workload_names_the_known_ones(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main,
        [
            "bootstrap",
            "--config", str(REPO / "examples" / "canary"),
            "--workload", "default/nobody",
            "--insecure",
            "-o", str(tmp_path / "envoy.yaml"),
        ],
    )  # fmt: skip
    assert result.exit_code == 1
    assert "no WorkloadEntry default/nobody" in result.output
    assert "default/client" in result.output


def test_the_console_script_runs() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "xdscp.cli", "--help"], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0
    for command in ("serve", "bootstrap", "validate", "up"):
        assert command in result.stdout
