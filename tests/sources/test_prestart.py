"""A cold `xdscp serve --config DIR` of many files starts its decode worker before the
heavy imports (`prestart`); the first load adopts it only for the very files it would
have decoded, and stops it otherwise. Either way the load is the one-process load."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from benchmarks.serve_process import serve, write_mesh
from tests.sources.test_decode_worker import mixed_mesh
from tests.sources.test_files import workload, write
from tests.sources.test_incremental import canonical
from xdscp.sources import decode_worker, prestart
from xdscp.sources.files import DirectorySource


@pytest.fixture(autouse=True)
def nothing_left_started() -> Iterator[None]:
    yield
    prestart.discard()


def one_process_load(config: Path) -> DirectorySource:
    source = DirectorySource(config, log_errors=False)
    source.decode_worker_min_files = 10**9
    source.load()
    return source


def started_worker() -> decode_worker.DecodeWorker:
    assert prestart._started is not None
    return prestart._started[2]


def test_the_first_load_adopts_the_worker_started_for_its_files(tmp_path: Path) -> None:
    config = mixed_mesh(tmp_path, services=200)
    prestart.start(["--log-json", "serve", "--insecure", f"--config={config}"])
    worker = started_worker()
    source = DirectorySource(config, log_errors=False)
    with capture_logs() as logs:
        mesh = source.load()
    assert [e["files"] for e in logs if e["event"] == "config.decode_worker_adopted"] == [
        len(worker.paths)
    ]
    assert prestart._started is None and worker.process.poll() is not None  # done, reaped
    alone = one_process_load(config)
    assert canonical(mesh) == canonical(alone._assembly.mesh)  # type: ignore[arg-type]
    assert source.reads == alone.reads and source.parses == alone.parses


def test_a_worker_started_for_other_files_is_stopped_and_not_used(tmp_path: Path) -> None:
    config = mixed_mesh(tmp_path, services=200)
    prestart.start(["serve", "--config", str(config)])
    worker = started_worker()
    write(config / "late.yaml", workload("late", "10.0.0.9"))  # the files changed since
    source = DirectorySource(config, log_errors=False)
    with capture_logs() as logs:
        mesh = source.load()
    assert "config.decode_worker_adopted" not in [e["event"] for e in logs]
    assert prestart._started is None and worker.process.poll() is not None
    assert "default/late" in mesh.workloads
    assert canonical(mesh) == canonical(one_process_load(config)._assembly.mesh)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "arguments",
    [
        ["validate", "CONFIG"],  # not serve
        ["serve", "--kubernetes", "--config", "CONFIG"],
        ["serve", "--config", "CONFIG", "--parse-cache", "CACHE"],  # a warm start
        ["serve", "--config", "SMALL"],  # too few files to pay
    ],
)
def test_no_worker_is_started_where_a_start_would_not_decode_everything(
    tmp_path: Path, arguments: list[str]
) -> None:
    config = mixed_mesh(tmp_path, services=200)
    small = tmp_path / "small"
    write(small / "w.yaml", workload("w", "10.0.0.1"))
    cache = tmp_path / "parse.cache"
    cache.write_bytes(b"")
    names = {"CONFIG": str(config), "CACHE": str(cache), "SMALL": str(small)}
    prestart.start([names.get(a, a) for a in arguments])
    assert prestart._started is None


def test_serve_adopts_the_worker_its_entry_point_started(tmp_path: Path) -> None:
    config = tmp_path / "mesh"
    files = write_mesh(config, 300)
    assert files >= decode_worker.MIN_FILES
    with serve(config, tmp_path) as server:
        server.wait_listening(120)
        assert server.log_events("config.decode_worker_adopted"), server.log.read_text()[-2000:]
        (loaded,) = server.log_events("config.loaded")
        assert loaded["files"] == files and loaded["worker_cpu_seconds"] > 0
        deadline = time.monotonic() + 60
        while not server.log_events("control_plane.started"):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        server.process.send_signal(signal.SIGINT)
        assert server.process.wait(60) == 0
