"""User errors through the real `xdscp` command: one `Error:` line saying what is wrong
and what to do, a non-zero exit, never a traceback. Plus `--version` and `-h`."""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from tests.cli.hygiene import (
    REPO,
    fill,
    one_line_error,
    process_error,
    run_xdscp,
    small_filesystem,
)
from tests.e2e.harness import free_port, relocate_example
from xdscp.cli import main
from xdscp.cli_errors import register_user_error, user_error_message
from xdscp.errors import UserError

CANARY = str(REPO / "examples" / "canary")


def test_version() -> None:
    result = run_xdscp("--version")
    assert result.returncode == 0
    assert result.stdout.startswith("xdscp, version ")


@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_every_command_has_short_and_long_help(flag: str) -> None:
    runner = CliRunner()
    top = runner.invoke(main, [flag], prog_name="xdscp")
    assert top.exit_code == 0 and "Usage: xdscp" in top.output
    assert set(main.commands) >= {"serve", "up", "bootstrap", "validate", "crds", "inject"}
    for name in main.commands:
        result = runner.invoke(main, [name, flag], prog_name="xdscp")
        assert result.exit_code == 0, (name, result.output)
        assert f"Usage: xdscp {name}" in result.output, name


def test_a_bad_log_level_names_the_choices() -> None:
    result = run_xdscp("--log-level", "loud", "validate", CANARY)
    error = process_error(result, exit_code=2)
    assert "'loud'" in error and "debug" in error and "warning" in error, error
    assert run_xdscp("--log-level", "WARNING", "validate", CANARY).returncode == 0


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A loopback port held by someone else."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


@pytest.mark.parametrize("flag,what", [("--listen", "xDS"), ("--debug", "the debug endpoint")])
def test_a_port_in_use_is_one_line(flag: str, what: str, busy_port: int, tmp_path: Path) -> None:
    ports = {"--listen": "127.0.0.1:0", "--debug": "127.0.0.1:0"}
    ports[flag] = f"127.0.0.1:{busy_port}"
    result = run_xdscp(
        "serve", "--config", CANARY, "--ca-dir", str(tmp_path / "ca"),
        *(part for item in ports.items() for part in item),
    )  # fmt: skip
    error = process_error(result)
    assert f"cannot listen on 127.0.0.1:{busy_port} for {what}" in error, error
    assert "in use" in error and f"another {flag}" in error, error
    # nothing else on stderr but log lines
    assert all(line.startswith(("Error:", "20")) for line in result.stderr.splitlines() if line), (
        result.stderr
    )


def test_no_kubeconfig_is_one_line(tmp_path: Path) -> None:
    result = run_xdscp(
        "serve", "--kubernetes", "--listen", "127.0.0.1:0", "--debug", "127.0.0.1:0",
        "--ca-dir", str(tmp_path / "ca"),
        env={"HOME": str(tmp_path), "KUBECONFIG": "", "KUBERNETES_SERVICE_HOST": ""},
    )  # fmt: skip
    error = process_error(result)
    assert "no Kubernetes configuration" in error and "--kubeconfig" in error, error


def test_an_unreachable_cluster_is_one_line_and_quick(tmp_path: Path) -> None:
    closed = free_port()
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        f"clusters: [{{name: c, cluster: {{server: 'http://127.0.0.1:{closed}'}}}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: u}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
    )
    result = run_xdscp(
        "serve", "--kubernetes", "--kubeconfig", str(kubeconfig), "--listen", "127.0.0.1:0",
        "--debug", "127.0.0.1:0", "--cert-listen", "127.0.0.1:0", "--ca-dir", str(tmp_path / "ca"),
        timeout=30,
    )  # fmt: skip
    error = process_error(result)
    assert f"cannot reach the Kubernetes API server at http://127.0.0.1:{closed}" in error


def test_a_missing_config_directory_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["serve", "--config", str(tmp_path / "nope")])
    assert "does not exist" in one_line_error(result, exit_code=2)
    result = CliRunner().invoke(main, ["validate", str(tmp_path / "nope")])
    assert "does not exist" in one_line_error(result, exit_code=2)


def serve_with_ca(ca_dir: Path) -> str:
    result = CliRunner().invoke(
        main,
        ["serve", "--config", CANARY, "--listen", "127.0.0.1:0", "--debug", "127.0.0.1:0",
         "--ca-dir", str(ca_dir)],
    )  # fmt: skip
    return one_line_error(result)


def test_a_read_only_ca_directory_is_one_line(tmp_path: Path) -> None:
    with small_filesystem(tmp_path / "ro", read_only=True) as read_only:
        error = serve_with_ca(read_only / "ca")
    assert str(read_only / "ca") in error and "writable" in error, error


def test_a_full_ca_disk_is_one_line_and_leaves_no_empty_file(tmp_path: Path) -> None:
    with small_filesystem(tmp_path / "disk", size_kb=16) as disk:
        (disk / "ca").mkdir()
        fill(disk)
        error = serve_with_ca(disk / "ca")
        assert "No space left on device" in error and str(disk / "ca") in error, error
        assert [p for p in (disk / "ca").iterdir() if p.stat().st_size == 0] == []


def test_a_file_in_place_of_the_ca_directory_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("not a directory")
    error = serve_with_ca(tmp_path / "blocker" / "ca")
    assert str(tmp_path / "blocker") in error and "Not a directory" in error, error


def test_commands_added_by_other_modules_get_the_same_treatment() -> None:
    class ServerGone(Exception):
        pass

    register_user_error(ServerGone, lambda exc: f"debug API gone: {exc}; start xdscp serve")

    @click.command("probe-hygiene")
    @click.argument("kind")
    def probe(kind: str) -> None:
        if kind == "user":
            raise UserError("the thing is wrong", "do the other thing")
        if kind == "registered":
            raise RuntimeError("wrapped") from ServerGone("refused")
        if kind == "interrupt":
            raise KeyboardInterrupt
        raise ValueError("a bug keeps its traceback")

    main.add_command(probe)
    try:
        runner = CliRunner()
        error = one_line_error(runner.invoke(main, ["probe-hygiene", "user"]))
        assert error == "Error: the thing is wrong; do the other thing"
        error = one_line_error(runner.invoke(main, ["probe-hygiene", "registered"]))
        assert error == "Error: debug API gone: refused; start xdscp serve"
        interrupted = runner.invoke(main, ["probe-hygiene", "interrupt"])
        assert interrupted.exit_code == 130 and "interrupted" in interrupted.stderr
        bug = runner.invoke(main, ["probe-hygiene", "bug"])
        assert isinstance(bug.exception, ValueError)
        assert user_error_message(ValueError("x")) is None
        grouped = ExceptionGroup("task group", [ValueError("x"), ServerGone("down")])
        assert user_error_message(grouped) == "debug API gone: down; start xdscp serve"
    finally:
        main.commands.pop("probe-hygiene")


def test_the_readme_lists_every_command() -> None:
    from tests.cli.test_debug_exposure import readme_commands_section

    section = readme_commands_section()
    assert [name for name in main.commands if f"xdscp {name} " not in section] == []
    assert "--version" in section and "-h" in section


def test_up_with_a_read_only_run_directory_is_one_line(tmp_path: Path) -> None:
    config, _ = relocate_example("canary", tmp_path)
    with small_filesystem(tmp_path / "ro", read_only=True) as read_only:
        result = run_xdscp(
            "up", str(config), "--listen", "127.0.0.1:0", "--debug", "127.0.0.1:0",
            "--ca-dir", str(tmp_path / "ca"), "--run-dir", str(read_only / "run"),
            env={"PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"},
        )  # fmt: skip
    error = process_error(result)
    assert str(read_only / "run") in error and "writable" in error, error


@pytest.mark.parametrize(
    "args",
    [["serve", "--config", CANARY, "--listen", "127.0.0.1:99999"],
     ["serve", "--config", CANARY, "--debug", "127.0.0.1:x"],
     ["serve", "--kubernetes", "--cert-listen", "nowhere"],
     ["up", CANARY, "--listen", "localhost"],
     ["bootstrap", "--config", CANARY, "--workload", "default/client", "-o", "x.yaml",
      "--xds", "xdscp:port"]],
)  # fmt: skip
def test_a_malformed_address_is_a_usage_error(args: list[str]) -> None:
    error = one_line_error(CliRunner().invoke(main, args), exit_code=2)
    assert "is not HOST:PORT" in error, error


def test_a_missing_envoy_is_a_user_error() -> None:
    from xdscp.local.envoy_process import EnvoyNotFound

    message = user_error_message(RuntimeError("start failed").with_traceback(None))
    assert message is None
    assert user_error_message(EnvoyNotFound("no `envoy` on PATH: set ENVOY_BIN")) == (
        "no `envoy` on PATH: set ENVOY_BIN"
    )
