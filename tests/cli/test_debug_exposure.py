"""The debug port shows the whole mesh: off loopback it needs a token, `serve`/`up`
refuse to expose it without one, and with a token only the health path stays open.
Run through the real `xdscp` CLI."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.cli.hygiene import REPO, one_line_error, process_error, run_xdscp
from tests.e2e.harness import free_port
from xdscp.cli import main
from xdscp.debug.auth import TOKEN_ENV, is_loopback

TOKEN = "s3cr3t-debug-token-0123456789abcdef"


@pytest.mark.parametrize(
    "host,loopback",
    [
        ("127.0.0.1", True),
        ("127.3.4.5", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("", False),
        ("10.0.0.7", False),
        ("xdscp.example", False),
    ],
)
def test_only_loopback_addresses_count_as_private(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


@pytest.mark.parametrize("debug", ["0.0.0.0:0", "[::]:0", ":0", "192.0.2.1:0"])
@pytest.mark.parametrize("command", ["serve", "up"])
def test_an_exposed_debug_port_without_a_token_is_refused(
    command: str, debug: str, tmp_path: Path
) -> None:
    args = ["--config", str(REPO / "examples" / "canary")] if command == "serve" else []
    if command == "up":
        args = [str(REPO / "examples" / "canary"), "--run-dir", str(tmp_path / "run")]
    result = CliRunner(env={TOKEN_ENV: None}).invoke(
        main, [command, *args, "--debug", debug, "--ca-dir", str(tmp_path / "ca")]
    )
    error = one_line_error(result)
    assert f"--debug {debug}" in error and "--debug-token-file" in error, error
    # refused before anything was created
    assert not (tmp_path / "ca").exists() and not (tmp_path / "run").exists()


def test_the_refusal_through_the_console_script(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != TOKEN_ENV}
    result = subprocess.run(
        [sys.executable, "-m", "xdscp.cli", "serve", "--config", "examples/canary",
         "--debug", "0.0.0.0:0", "--ca-dir", str(tmp_path / "ca")],
        capture_output=True, text=True, timeout=60, cwd=REPO, env=env,
    )  # fmt: skip
    assert "without a token" in process_error(result)


@pytest.mark.parametrize(
    "content,expected",
    [(None, "cannot read debug token file"), ("short", "at least 16 characters"),
     ("two words-but-long-enough", "one word")],
)  # fmt: skip
def test_bad_token_files_are_one_line_errors(
    content: str | None, expected: str, tmp_path: Path
) -> None:
    token_file = tmp_path / "token"
    if content is not None:
        token_file.write_text(content)
    result = CliRunner().invoke(
        main,
        ["serve", "--config", str(REPO / "examples" / "canary"),
         "--debug-token-file", str(token_file), "--ca-dir", str(tmp_path / "ca")],
    )  # fmt: skip
    assert expected in one_line_error(result)


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str, dict[str, str]]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read().decode(), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(), dict(exc.headers)


@contextmanager
def serving(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """`xdscp serve` on a random loopback debug port; yields its base URL once it answers."""
    port = free_port()
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "xdscp.cli", "serve", "--config", "examples/canary",
         "--listen", "127.0.0.1:0", "--debug", f"127.0.0.1:{port}",
         "--ca-dir", str(tmp_path / "ca"), *args],
        stdout=log, stderr=subprocess.STDOUT, cwd=REPO,
        env={**{k: v for k, v in os.environ.items() if k != TOKEN_ENV}, **(env or {})},
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                if get(f"{base}/healthz")[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.1)
        yield base
    finally:
        process.send_signal(signal.SIGINT)
        try:
            assert process.wait(30) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(5)
            log.close()
        assert "Traceback" not in (tmp_path / "serve.log").read_text()


@pytest.mark.parametrize("via", ["file", "env"])
def test_a_token_guards_every_debug_endpoint_but_health(via: str, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    args, env = (["--debug-token-file", str(token_file)], None)
    if via == "env":
        args, env = ([], {TOKEN_ENV: TOKEN})
    with serving(tmp_path, *args, env=env) as base:
        for path in ("/debug", "/debug/proxies", "/debug/nacks", "/debug/config", "/metrics"):
            status, body, headers = get(base + path)
            assert status == 401, (path, status)
            assert "Bearer" in headers["WWW-Authenticate"]
            status, _, _ = get(base + path, {"Authorization": "Bearer wrong-token-of-some-length"})
            assert status == 401, (path, status)
            status, body, _ = get(base + path, {"Authorization": f"Bearer {TOKEN}"})
            assert status == 200, (path, status, body)
        # a browser's Basic prompt works too (any user name, the token as password)
        basic = base64.b64encode(f"me:{TOKEN}".encode()).decode()
        assert get(base + "/debug/config", {"Authorization": f"Basic {basic}"})[0] == 200
        # the probe path stays open and says nothing about the mesh
        status, body, _ = get(base + "/healthz")
        assert (status, body) == (200, "ok\n")
        if via == "env":
            return
        # xdscp's own debug-API clients send $XDSCP_DEBUG_TOKEN
        ask = (
            "explain",
            "--server",
            base,
            "--from",
            "default/client",
            "http://order-service:8080/",
        )
        refused = run_xdscp(*ask, env={TOKEN_ENV: ""})
        assert refused.returncode == 1 and TOKEN_ENV in refused.stderr, refused.stderr
        assert "Traceback" not in refused.stderr
        answered = run_xdscp(*ask, env={TOKEN_ENV: TOKEN})
        assert answered.returncode == 0, answered.stderr
        assert "order-service" in answered.stdout


def test_debug_endpoints_list_themselves_and_pretty_print(tmp_path: Path) -> None:
    with serving(tmp_path) as base:
        status, body, _ = get(base + "/debug")
        assert status == 200
        listed = {e["path"]: e["description"] for e in json.loads(body)}
        for path in ("/debug", "/debug/proxies", "/debug/nacks", "/debug/config", "/metrics",
                     "/healthz"):  # fmt: skip
            assert listed.get(path), (path, listed)
        assert "per proxy" in listed["/debug/proxies"]
        # every endpoint, including those other components add, says what it is
        assert all(listed.values()), listed
        # and the README's table lists every one of them
        commands = readme_commands_section()
        assert [p for p in listed if f"`GET {p}" not in commands] == []
        # indented for a terminal: one key per line, also for routes added by components
        for path in ("/debug", "/debug/config"):
            text = get(base + path)[1]
            assert text.startswith(("[\n  ", "{\n  ")), text[:80]
            assert text.endswith("\n")


def readme_commands_section() -> str:
    text = (REPO / "README.md").read_text()
    start = text.index("## Commands\n")
    return text[start : text.index("\n## ", start + 1)]


@pytest.mark.parametrize("command", ["serve", "up"])
def test_every_listener_defaults_to_loopback(command: str) -> None:
    """`--cert-listen` once defaulted to 0.0.0.0 while the rest were loopback: out of a
    cluster nothing may listen beyond this machine unless asked for."""
    group = main.commands[command]
    defaults = {
        param.name: param.default
        for param in group.params
        if param.name in ("listen", "debug", "cert_listen")
    }
    assert defaults, [p.name for p in group.params]
    for name, default in defaults.items():
        host = str(default).rpartition(":")[0]
        assert is_loopback(host), (command, name, default)
    if command == "serve":
        assert set(defaults) == {"listen", "debug", "cert_listen"}
        help_text = CliRunner().invoke(main, ["serve", "--help"], terminal_width=200).output
        assert "[default: 127.0.0.1:15012]" in " ".join(help_text.split()), help_text
