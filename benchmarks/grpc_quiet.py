"""Benchmark drivers that print a table run with gRPC's notices off. gRPC reads
GRPC_VERBOSITY when it is loaded, so setting it later does nothing: the driver sets it
and starts itself again."""

from __future__ import annotations

import os
import sys


def restart_with_grpc_quiet(module: str, argv: list[str] | None) -> None:
    """Unless GRPC_VERBOSITY is set already: set it to ERROR (gRPC's per-connection
    notices would cut the table) and replace this process with `python -m module` and
    the same arguments; the call then does not return."""
    if "GRPC_VERBOSITY" in os.environ:
        return
    os.environ["GRPC_VERBOSITY"] = "ERROR"
    forwarded = sys.argv[1:] if argv is None else argv
    os.execv(sys.executable, [sys.executable, "-m", module, *forwarded])
