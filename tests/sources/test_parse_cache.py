"""`serve --parse-cache`: a restart parses only the files that changed; a cache that is
stale, damaged or writable by others is ignored (a cold start), never trusted."""

from __future__ import annotations

import os
from pathlib import Path

from structlog.testing import capture_logs

from tests.sources.test_files import workload, write
from tests.sources.test_incremental import canonical, route
from xdscp.sources.files import DirectorySource
from xdscp.sources.safe_yaml import Limits


def mesh_dir(root: Path, count: int = 6) -> Path:
    for i in range(count):
        write(root / "mesh" / f"r{i}.yaml", route(f"r{i}", f"h{i}"))
    write(root / "mesh" / "w.yaml", workload("w", "10.0.0.1"))
    return root / "mesh"


def test_a_restart_parses_only_what_changed(tmp_path: Path) -> None:
    config, cache = mesh_dir(tmp_path), tmp_path / "state" / "parse.cache"
    first = DirectorySource(config, log_errors=False, parse_cache=cache)
    mesh = first.load()
    assert first.parses == 7
    first.save_parse_cache()
    assert cache.stat().st_mode & 0o777 == 0o600
    again = DirectorySource(config, log_errors=False, parse_cache=cache)
    assert canonical(again.load()) == canonical(mesh)
    assert again.parses == 0
    write(config / "r3.yaml", route("r3", "h3", weight=40))
    third = DirectorySource(config, log_errors=False, parse_cache=cache)
    third.load()
    assert third.parses == 1  # the cache is the first run's: r3 changed since


def test_a_cache_others_can_write_is_not_read(tmp_path: Path) -> None:
    config, cache = mesh_dir(tmp_path), tmp_path / "parse.cache"
    first = DirectorySource(config, log_errors=False, parse_cache=cache)
    first.load()
    first.save_parse_cache()
    os.chmod(cache, 0o666)
    with capture_logs() as logs:
        again = DirectorySource(config, log_errors=False, parse_cache=cache)
        again.load()
    assert again.parses == 7
    (ignored,) = [e for e in logs if e["event"] == "config.parse_cache_ignored"]
    assert "writable by others" in ignored["reason"]


def test_a_stale_or_damaged_cache_is_a_cold_start(tmp_path: Path) -> None:
    config, cache = mesh_dir(tmp_path), tmp_path / "parse.cache"
    first = DirectorySource(config, log_errors=False, parse_cache=cache)
    first.load()
    first.save_parse_cache()
    other_limits = DirectorySource(
        config, log_errors=False, parse_cache=cache, limits=Limits(depth=50)
    )
    other_limits.load()
    assert other_limits.parses == 7  # parsed under other limits: not reused
    cache.write_bytes(cache.read_bytes()[:100])  # cut short
    damaged = DirectorySource(config, log_errors=False, parse_cache=cache)
    assert len(damaged.load().objects) == 7 and damaged.parses == 7


def test_a_cache_in_a_sticky_shared_directory_is_read(tmp_path: Path) -> None:
    """Like /tmp: others may write the directory, but not replace a file of ours."""
    config, shared = mesh_dir(tmp_path), tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)
    first = DirectorySource(config, log_errors=False, parse_cache=shared / "parse.cache")
    first.load()
    first.save_parse_cache()
    again = DirectorySource(config, log_errors=False, parse_cache=shared / "parse.cache")
    again.load()
    assert again.parses == 0
    os.chmod(shared, 0o777)  # not sticky: anyone could swap the file
    third = DirectorySource(config, log_errors=False, parse_cache=shared / "parse.cache")
    third.load()
    assert third.parses == 7
