"""`serve --parse-cache` keeps the cache on disk while it runs: a plane killed (SIGKILL)
after its start leaves a cache the next start reads, and Ctrl-C exits at once."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

from benchmarks import serve_start
from benchmarks.serve_process import ServeProcess, serve, write_mesh
from xdscp.sources.file_identity import RACY_SECONDS


def wait_event(server: ServeProcess, name: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not server.log_events(name):
        assert server.process.poll() is None, server.log.read_text()[-2000:]
        assert time.monotonic() < deadline, f"no {name} in {timeout} s"
        time.sleep(0.05)


def test_a_killed_plane_leaves_a_usable_cache_and_ctrl_c_is_prompt(tmp_path: Path) -> None:
    config, cache = tmp_path / "mesh", tmp_path / "state" / "parse.cache"
    files = write_mesh(config, 20)
    extra = ("--parse-cache", str(cache))
    (tmp_path / "first").mkdir()
    (tmp_path / "second").mkdir()
    with serve(config, tmp_path / "first", extra) as first:
        first.wait_listening(60)
        wait_event(first, "config.parse_cache_saved", 60)  # written while it runs
        first.process.kill()
        first.process.wait(10)
    with serve(config, tmp_path / "second", extra) as second:
        second.wait_listening(60)
        (loaded,) = second.log_events("config.loaded")
        assert loaded["files"] == files and loaded["parsed"] == 0  # all from the cache
        # Ctrl-C once the plane has started: a clean stop, exit 0 (while it starts: 130,
        # tests/cli/test_serve_interrupt.py)
        wait_event(second, "control_plane.started", 60)
        time.sleep(0.5)
        stopping = time.monotonic()
        second.process.send_signal(signal.SIGINT)
        assert second.process.wait(20) == 0
        assert time.monotonic() - stopping < 10  # nothing big is written at exit


def test_ctrl_c_right_after_a_cold_start_still_leaves_the_cache(tmp_path: Path) -> None:
    """No cache on disk yet (the first whole write waits for the first proxies to be
    served): Ctrl-C then finishes that write, or every next start would be cold again."""
    config, cache = tmp_path / "mesh", tmp_path / "state" / "parse.cache"
    files = write_mesh(config, 20)
    extra = ("--parse-cache", str(cache))
    (tmp_path / "first").mkdir()
    (tmp_path / "second").mkdir()
    with serve(config, tmp_path / "first", extra) as first:
        wait_event(first, "control_plane.started", 60)
        assert not first.log_events("config.parse_cache_saved")
        first.process.send_signal(signal.SIGINT)
        assert first.process.wait(60) == 0
        assert first.log_events("config.parse_cache_finishing"), first.log.read_text()
    assert cache.is_file()
    with serve(config, tmp_path / "second", extra) as second:
        second.wait_listening(60)
        (loaded,) = second.log_events("config.loaded")
        assert loaded["files"] == files and loaded["parsed"] == 0  # all from the cache


def test_a_restart_takes_the_mesh_snapshot_the_first_start_wrote(tmp_path: Path) -> None:
    """Files old enough to vouch for by `stat`: the first start writes the assembled
    mesh beside the cache once its first proxies are served; the next start takes it."""
    config, cache = tmp_path / "mesh", tmp_path / "state" / "parse.cache"
    files = write_mesh(config, 20)
    time.sleep(RACY_SECONDS + 0.1)  # the files are read past their racy window
    extra = ("--parse-cache", str(cache))
    (tmp_path / "first").mkdir()
    (tmp_path / "second").mkdir()
    with serve(config, tmp_path / "first", extra) as first:
        wait_event(first, "config.mesh_snapshot_saved", 60)
        assert not first.log_events("config.mesh_snapshot_restored")
        (assembled,) = first.log_events("config.loaded")
        first.process.send_signal(signal.SIGINT)
        assert first.process.wait(60) == 0
    with serve(config, tmp_path / "second", extra) as second:
        second.wait_listening(60)
        restored_events = second.log_events("config.mesh_snapshot_restored")
        assert len(restored_events) == 1, second.log.read_text()[-3000:]
        (restored,) = restored_events
        assert restored["files"] == files
        (loaded,) = second.log_events("config.loaded")
        assert loaded["files"] == files and loaded["parsed"] == 0
        assert (loaded["objects"], loaded["errors"]) == (assembled["objects"], 0)
        wait_event(second, "control_plane.started", 60)  # Ctrl-C while starting: 130
        second.process.send_signal(signal.SIGINT)
        assert second.process.wait(60) == 0


async def test_a_restart_serves_its_proxy_the_kept_translation_before_loading_the_mesh(
    tmp_path: Path,
) -> None:
    """A proxy connected when the snapshot was written: at the restart it is served its
    kept translation before the rest of the snapshot is loaded (the load comes after
    it connected), and the restored mesh, once applied, pushes it nothing new."""
    write_mesh(tmp_path / "mesh", 5)
    time.sleep(RACY_SECONDS + 0.1)  # the files are read past their racy window
    cache = tmp_path / "parse.cache"
    first = await serve_start.measure(5, tmp_path, timeout=60, parse_cache=cache)
    assert not first.kept_first and not first.restored
    # the first start leaves the snapshot with the proxy's translation (on a loaded
    # machine, rarely, the next one does: as `serve_start` runs them)
    for _ in range(2):
        again = await serve_start.measure(5, tmp_path, timeout=60, parse_cache=cache)
        if again.restored:
            break
    assert again.kept_first and again.restored and again.resources == first.resources
    events = [json.loads(line) for line in (tmp_path / "server.log").read_text().splitlines()
              if line.startswith("{")]  # fmt: skip
    names = [e["event"] for e in events]
    assert names.index("xds.stream_open") < names.index("config.mesh_snapshot_restored")
    (applied,) = [e for e in events if e["event"] == "mesh.applied" and e["generation"] == 1]
    assert (applied["proxies"], applied["changed"]) == (1, 0)
