"""A first load of many files decodes most of them in a second process
(`xdscp.sources.decode_worker`): the mesh, the errors and what the source remembers of
each file are exactly those of a load in one process, and a worker that fails costs
time, never a file."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from tests.sources.test_files import workload, write
from tests.sources.test_incremental import canonical, entry, route, rule
from xdscp.sources import decode_worker
from xdscp.sources.files import DirectorySource
from xdscp.sources.safe_yaml import Limits


def mixed_mesh(root: Path, services: int = 1000) -> Path:
    """Good files, and one of each way a file or document can fail. Many files: the
    worker (a Python process starting) must get to decode some before this process,
    stealing from the end while it waits, has read them all."""
    config = root / "mesh"
    for i in range(services):
        write(config / "services" / f"s{i}.yaml", entry(f"s{i}", f"h{i}", f"app{i}"))
        write(config / "rules" / f"s{i}.yaml", rule(f"s{i}", f"h{i}"))
        write(config / "routes" / f"s{i}.yaml", route(f"s{i}", f"h{i}", weight=70))
    write(config / "w.yaml", workload("w", "10.0.0.1"))
    write(config / "broken" / "syntax.yaml", "kind: [unclosed\n")
    write(config / "broken" / "dup.yaml", "a: 1\na: 2\n---\n" + workload("w2", "10.0.0.2"))
    write(config / "broken" / "schema.yaml", route("bad", "h0").replace("weight: 100", "x: 1"))
    write(config / "broken" / "deep.yaml", "a: " + "[" * 20 + "]" * 20 + "\n")
    write(config / "broken" / "big.yaml", "# " + "x" * 3000 + "\n" + workload("w3", "10.0.0.3"))
    (config / "broken" / "latin1.yaml").write_bytes(b"kind: caf\xe9\n")
    return config


def load(config: Path, min_files: int) -> DirectorySource:
    source = DirectorySource(config, log_errors=False, limits=Limits(depth=10, file_bytes=2000))
    source.decode_worker_min_files = min_files
    source.load()
    return source


def test_two_processes_load_what_one_does(tmp_path: Path) -> None:
    config = mixed_mesh(tmp_path)
    alone = load(config, min_files=10**9)
    shared = load(config, min_files=1)
    assert alone.worker_decoded == 0
    # each file read once, by one process or the other; the worker hands back the files
    # it does not decode (too big, not UTF-8)
    assert 0 < shared.worker_decoded <= shared.reads - 1 and shared.reads == alone.reads
    one, two = alone._assembly.mesh, shared._assembly.mesh
    assert one is not None and two is not None
    assert canonical(one) == canonical(two)
    assert len(two.errors) == 6
    assert {e.origin.source.rsplit("/", 1)[-1] for e in two.errors} == {
        "syntax.yaml", "dup.yaml", "schema.yaml", "deep.yaml", "big.yaml", "latin1.yaml",
    }  # fmt: skip
    # what the source keeps of each file (for reloads and the parse cache) is the same
    assert shared.parses == alone.parses
    assert {p: d for p, (d, _) in shared._parsed.items()} == {
        p: d for p, (d, _) in alone._parsed.items()
    }
    assert shared._sizes == alone._sizes and shared._inodes == alone._inodes


def test_an_edit_after_a_two_process_load_reads_that_file(tmp_path: Path) -> None:
    config = mixed_mesh(tmp_path)
    source = load(config, min_files=1)
    assert source.worker_decoded > 0
    write(config / "routes" / "s3.yaml", route("s3", "h3", weight=40))
    before = source.parses
    mesh = source.load_changed([config / "routes" / "s3.yaml"])
    assert source.parses == before + 1
    (changed,) = [o for o in mesh.objects if o.key == ("VirtualService", "default", "s3")]
    assert changed.spec.http[0].route[0].weight == 40


FAILING_WORKERS = [
    "import sys; sys.stdin.buffer.read(); sys.stdout.buffer.write(b'\\x05\\x00')",  # cut
    "import sys; sys.stdin.buffer.read(); sys.exit(3)",  # dies without an answer
    "import sys, marshal; sys.stdin.buffer.read(); f = marshal.dumps(('elsewhere', None));"
    " sys.stdout.buffer.write(len(f).to_bytes(4, 'little') + f)",  # answers out of turn
]


@pytest.mark.parametrize("script", FAILING_WORKERS)
def test_a_failing_worker_is_noticed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, script: str
) -> None:
    monkeypatch.setattr(decode_worker.DecodeWorker, "command", (sys.executable, "-c", script))
    write(tmp_path / "a.yaml", workload("a", "10.0.0.1"))
    worker = decode_worker.DecodeWorker([str(tmp_path / "a.yaml")], Limits())
    try:
        deadline = time.monotonic() + 30
        with pytest.raises((EOFError, ValueError)):
            while time.monotonic() < deadline:
                assert worker.ready() == []
                time.sleep(0.01)
    finally:
        worker.close()
    assert worker.process.returncode is not None


@pytest.mark.parametrize("script", [*FAILING_WORKERS, "import time; time.sleep(60)"])
def test_a_failing_or_stuck_worker_costs_time_never_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, script: str
) -> None:
    config = mixed_mesh(tmp_path, services=10)
    expected = load(config, min_files=10**9)._assembly.mesh
    assert expected is not None
    monkeypatch.setattr(decode_worker.DecodeWorker, "command", (sys.executable, "-c", script))
    started = time.monotonic()
    source = load(config, min_files=1)
    assert time.monotonic() - started < 10  # a stuck worker is not waited for
    assert source.worker_decoded == 0
    assert source._assembly.mesh is not None
    assert canonical(source._assembly.mesh) == canonical(expected)
