"""Repository-wide pytest options and fixtures."""

from __future__ import annotations

import os
import sys

import pytest

# The environment may say PYTHONDONTWRITEBYTECODE (this machine's and CI's do): then this
# process and every `xdscp` process a test starts (hundreds: CLI, serve, up, benchmarks)
# compiles the project from source again, ~0.4 s CPU per start. The suite writes bytecode
# as usual (in the gitignored __pycache__ directories), and its subprocesses inherit that.
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
sys.dont_write_bytecode = False


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite golden output files from the current translators (and delete stale ones)",
    )


@pytest.fixture(scope="session")
def update_golden(request: pytest.FixtureRequest) -> bool:
    """True under `pytest --update-golden`: golden tests write instead of compare."""
    return bool(request.config.getoption("--update-golden"))
