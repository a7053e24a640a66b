"""Helpers for CLI-hygiene tests: the one-line error contract, the real `xdscp` process,
and small file systems that are full or read-only."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import Result

REPO = Path(__file__).resolve().parents[2]


def one_line_error(result: Result, exit_code: int = 1) -> str:
    """The single `Error:` line of a CliRunner result that failed as a user error should:
    a clean exit with `exit_code`, no traceback, no uncaught exception."""
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == exit_code, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1, result.stderr
    return lines[0]


def run_xdscp(
    *args: str, timeout: float = 60, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The real console entry point in a subprocess, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "xdscp.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        env={**os.environ, **(env or {})},
    )


def process_error(result: subprocess.CompletedProcess[str], exit_code: int = 1) -> str:
    """The single `Error:` line of a failed `xdscp` process; no traceback anywhere."""
    output = result.stdout + result.stderr
    assert result.returncode == exit_code, output
    assert "Traceback" not in output
    lines = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1, result.stderr
    return lines[0]


@contextmanager
def small_filesystem(path: Path, size_kb: int = 64, read_only: bool = False) -> Iterator[Path]:
    """A tmpfs of `size_kb` mounted at `path` (root here); without the privilege to
    mount, a read-only directory by permissions (non-root) or a skip."""
    path.mkdir(parents=True, exist_ok=True)
    options = f"size={size_kb}k" + (",ro" if read_only else "")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "xdscp-test", str(path)],
        capture_output=True,
        text=True,
        timeout=10,
    )
    if mounted.returncode != 0:
        if read_only and os.geteuid() != 0:
            path.chmod(0o555)
            try:
                yield path
            finally:
                path.chmod(0o755)
            return
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True, timeout=10)


def fill(directory: Path) -> None:
    """Write into `directory` until its file system is full."""
    fd = os.open(directory / "filler", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * 512)
    except OSError:
        pass
    finally:
        os.close(fd)
