"""A cold `xdscp serve --config DIR` starts decoding its files before it imports the
rest of itself.

Importing the control plane (models, translators, grpc: about a second) comes before
the first load, and during it the second core idles. So the `xdscp` entry point calls
`start` first, with its own light imports only (`listing`, `decode_worker`): for a
serve of a directory with many files and no parse cache file yet, the decode worker
(`decode_worker`) is started on all of its files right away, and the first load adopts
it (`adopt`) instead of starting one, finding thousands of files decoded already.

It only guesses from the command line: the source adopts the worker only for the
very directory, files and limits it would have started one with; anything else (the
guess was wrong, the parse cache held the files) is stopped (`discard`, and at exit
at the latest). A wrong guess costs some work on the other core, never a file.
"""

from __future__ import annotations

import atexit
import contextlib
import os
from pathlib import Path

from xdscp.sources import decode_worker
from xdscp.sources.listing import yaml_files
from xdscp.sources.safe_yaml import DEFAULT_LIMITS, Limits

_started: tuple[Path, list[str], decode_worker.DecodeWorker] | None = None


def _option(arguments: list[str], name: str) -> str | None:
    """The value of `--name VALUE` or `--name=VALUE` among `arguments` (None: absent)."""
    for index, argument in enumerate(arguments):
        if argument == name and index + 1 < len(arguments):
            return arguments[index + 1]
        if argument.startswith(f"{name}="):
            return argument[len(name) + 1 :]
    return None


def start(argv: list[str]) -> None:
    """Start decoding the files of `xdscp serve --config DIR` (argv after the program)
    when that start will decode them all: no parse cache file, enough files, two cores.
    Never fails: whatever goes wrong here, the load does as it always did."""
    global _started
    with contextlib.suppress(Exception):
        if _started is not None or "serve" not in argv:
            return
        arguments = argv[argv.index("serve") + 1 :]
        config = _option(arguments, "--config")
        if config is None or "--kubernetes" in arguments:
            return
        cache = _option(arguments, "--parse-cache")
        if cache is not None and Path(cache).exists():
            return  # a warm start: the cache decides which files are read
        root = Path(config)
        if not root.is_dir() or (os.cpu_count() or 1) < 2:
            return
        paths = [str(p) for p in yaml_files(root)]
        if len(paths) < decode_worker.MIN_FILES:
            return
        _started = (root, paths, decode_worker.DecodeWorker(paths, DEFAULT_LIMITS))
        atexit.register(discard)


def adopt(root: Path, paths: list[str], limits: Limits) -> decode_worker.DecodeWorker | None:
    """The worker started for exactly these files of `root` under `limits`, untouched
    so far; None (and any other started worker stopped) otherwise."""
    global _started
    started, _started = _started, None
    if started is None:
        return None
    started_root, started_paths, worker = started
    if started_root == root and started_paths == paths and limits == DEFAULT_LIMITS:
        return worker
    worker.close()
    return None


def discard() -> None:
    """Stop a worker nobody adopted (the first load is done, or the process exits)."""
    global _started
    started, _started = _started, None
    if started is not None:
        started[2].close()
