"""Where an `xdscp serve` start goes, stage by stage, in CPU seconds of one process.

    python -m benchmarks.start_stages --services 10000

Writes the mesh of `benchmarks.serve_process` and, in a fresh interpreter (so imports
are measured cold), runs the stages of a start one after the other in this process,
without the decode worker, each timed by `time.process_time` (independent of other
load on the machine):

  import     `xdscp.cli` and what it pulls in (translators, pydantic models, grpc, ...)
  read       listing the directory and reading every file
  decode     YAML -> JSON-shaped values (`safe_yaml.load_documents`)
  validate   values -> pydantic models and objects (`documents.file_result`)
  assemble   the file source's per-file/per-key bookkeeping (`Assembly`, minus ...)
  registry   ... services and workloads from the objects (`build_mesh`)
  cache read a warm start's `--parse-cache` read (instead of read + decode + validate)
  warm load  the whole `DirectorySource.load` of a warm start (cache read, stat of
             every file, assemble, registry)
  snapshot   the whole `DirectorySource.load` of a warm start that takes the mesh
             snapshot (`mesh_snapshot`: its read, stat of every file); the files are
             taken as read long after they were written, as at a real restart
  kept serve a start that took the snapshot: the runtime's setup and the first proxy
             served the translation kept with the snapshot (`xdscp.warm_start`)
  kept read  what such a start does before it listens: the snapshot's files checked
             and its kept translations read (`DirectorySource.restore_kept`); the
             rest of it ("snapshot") is loaded after listening
  kept first the first proxy served its kept translation before the mesh is loaded
  translate  the first proxy's full config (`MeshRuntime.snapshot_for`)

`benchmarks.serve_start` gives the wall-clock view of the same start, through the real
process and a simulated Envoy.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.serve_process import REPO, compile_bytecode, server_environment, write_mesh

STAGES = (
    "import",
    "read",
    "decode",
    "validate",
    "assemble",
    "registry",
    "cache read",
    "warm load",
    "snapshot",
    "kept serve",
    "kept read",
    "kept first",
    "translate",
)


def measure(config: Path, cache: Path) -> dict[str, float]:
    """The stages, in this (fresh) process."""
    import gc
    import time

    cpu = time.process_time
    started = cpu()
    import xdscp.cli  # noqa: F401  (the import a start pays)

    figures = {"import": cpu() - started}

    from translators.mesh import MeshOptions
    from xdscp.cache import SnapshotCache
    from xdscp.runtime import MeshRuntime
    from xdscp.sources import assembly as assembly_module
    from xdscp.sources import parse_cache
    from xdscp.sources.documents import file_result, yaml_files
    from xdscp.sources.files import DirectorySource
    from xdscp.sources.safe_yaml import load_documents

    gc.disable()  # as the source loads (`files._collector_paused`)
    options = MeshOptions(local_mode=True)
    started = cpu()
    texts = [(str(p), p.read_bytes().decode()) for p in yaml_files(config)]
    figures["read"] = cpu() - started
    started = cpu()
    decoded = [(path, load_documents(text)) for path, text in texts]
    figures["decode"] = cpu() - started
    started = cpu()
    results = {path: file_result(path, documents) for path, documents in decoded}
    figures["validate"] = cpu() - started

    registry = 0.0
    build_mesh = getattr(assembly_module, "build_mesh")  # noqa: B009

    def timed_build_mesh(*args: Any, **kwargs: Any) -> Any:
        nonlocal registry
        begun = cpu()
        try:
            return build_mesh(*args, **kwargs)
        finally:
            registry += cpu() - begun

    setattr(assembly_module, "build_mesh", timed_build_mesh)  # noqa: B010
    started = cpu()
    assembly_module.Assembly(options).update(results)
    figures["assemble"] = cpu() - started - registry
    figures["registry"] = registry
    del decoded, results

    # a warm start: the cache written by a cold load, then a source reading it
    cold = DirectorySource(config, options, parse_cache=cache, log_errors=False)
    cold.decode_worker_min_files = 1 << 30
    cold.load()
    writer = cold._cache_writer
    assert writer is not None
    writer.persist(cold._cache_entries, None)
    writer.wait(600)
    started = cpu()
    parse_cache.load(cache, cold._fingerprint())
    figures["cache read"] = cpu() - started
    warm = DirectorySource(config, options, parse_cache=cache, log_errors=False)
    registry = 0.0
    started = cpu()
    mesh = warm.load()
    figures["warm load"] = cpu() - started
    # files read long after they were written (a real restart; this benchmark has just
    # written them): every one vouched for by `stat`, so a start leaves the snapshot
    from xdscp.sources import file_identity

    file_identity.RACY_SECONDS = 0.0
    from envoy.config.core.v3 import base_pb2
    from google.protobuf import struct_pb2

    metadata = struct_pb2.Struct()
    metadata.update({"NAMESPACE": "default", "WORKLOAD_NAME": "client"})
    client_node = base_pb2.Node(id="client", metadata=metadata)
    vouching = DirectorySource(config, options, parse_cache=cache, log_errors=False)
    served = MeshRuntime(SnapshotCache())
    vouching.translations_to_keep = served.kept_translations  # as `xdscp serve` keeps them
    served.apply_now(vouching.load())
    served.connect(client_node, None)
    vouching.save_parse_cache(600)
    assert vouching.save_mesh_snapshot(600)
    restoring = DirectorySource(config, options, parse_cache=cache, log_errors=False)
    started = cpu()
    restored_mesh = restoring.load()
    figures["snapshot"] = cpu() - started
    assert restoring.restored and restoring.kept_translations
    kept = MeshRuntime(SnapshotCache())
    started = cpu()
    kept.keep(restored_mesh, restoring.kept_translations)
    kept.apply_now(restored_mesh)
    kept.connect(client_node, None)
    figures["kept serve"] = cpu() - started
    # as `xdscp serve` starts now: the kept translations first, served before the mesh
    first = DirectorySource(config, options, parse_cache=cache, log_errors=False)
    started = cpu()
    kept_first = first.restore_kept()
    figures["kept read"] = cpu() - started
    assert kept_first and not first.restored
    early = MeshRuntime(SnapshotCache())
    started = cpu()
    early.keep(None, kept_first)
    early.connect(client_node, None)
    figures["kept first"] = cpu() - started
    del vouching, restoring, served, kept, first, early
    gc.enable()

    runtime = MeshRuntime(SnapshotCache())
    runtime.apply_now(mesh)
    runtime.freeze_next_translation = True
    client = mesh.workload("default", "client")
    assert client is not None
    started = cpu()
    runtime.snapshot_for(client)
    figures["translate"] = cpu() - started
    return figures


def report(services: int, figures: dict[str, float]) -> str:
    warm_only = ("cache read", "warm load", "snapshot", "kept serve", "kept read", "kept first")
    cold = sum(figures[s] for s in STAGES if s not in warm_only)
    warm = figures["import"] + figures["warm load"] + figures["translate"]
    lines = [f"xdscp serve start, {services:,} services: CPU seconds by stage (one process)"]
    lines += [f"  {stage:<11} {figures[stage]:7.2f} s" for stage in STAGES]
    lines.append(f"  cold total  {cold:7.2f} s   (import .. registry + translate)")
    lines.append(f"  warm total  {warm:7.2f} s   (import + warm load + translate)")
    snapshot = figures["import"] + figures["snapshot"] + figures["translate"]
    lines.append(f"  snap total  {snapshot:7.2f} s   (import + snapshot + translate)")
    kept_total = figures["import"] + figures["snapshot"] + figures["kept serve"]
    lines.append(f"  kept total  {kept_total:7.2f} s   (import + snapshot + kept serve)")
    first_total = figures["import"] + figures["kept read"] + figures["kept first"]
    lines.append(
        f"  first total {first_total:7.2f} s   (import + kept read + kept first: before "
        "the snapshot's rest loads, as `serve` starts)"
    )
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.start_stages")
    parser.add_argument("--services", type=int, default=10_000)
    parser.add_argument("--inner", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.inner:
        print(json.dumps(measure(*args.inner)))
        return
    compile_bytecode(REPO)  # as installed: the import stage does not compile the modules
    with tempfile.TemporaryDirectory(prefix="xdscp-start-stages-") as tmp:
        config = Path(tmp) / "mesh"
        write_mesh(config, args.services)
        command = [sys.executable, "-m", "benchmarks.start_stages", "--inner"]
        output = subprocess.run(
            [*command, str(config), str(Path(tmp) / "parse.cache")],
            cwd=REPO,
            env=server_environment(REPO),
            check=True,
            capture_output=True,
            text=True,
            timeout=1800,
        ).stdout
    figures = json.loads(output.strip().splitlines()[-1])
    print(report(args.services, figures))


if __name__ == "__main__":
    main(sys.argv[1:])
