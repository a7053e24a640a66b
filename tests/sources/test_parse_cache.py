"""`serve --parse-cache`: a restart parses only the files that changed; a cache that is
stale, damaged or writable by others is ignored (a cold start), never trusted."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from tests.sources.test_files import workload, write
from tests.sources.test_incremental import canonical, route
from xdscp.sources import file_identity, parse_cache
from xdscp.sources.files import DirectorySource
from xdscp.sources.safe_yaml import DEFAULT_LIMITS, Limits


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


def aged(monkeypatch: pytest.MonkeyPatch) -> None:
    """Files written a moment ago count as old enough to vouch for by `stat` (the real
    margin, seconds, would make every test wait)."""
    monkeypatch.setattr(file_identity, "RACY_SECONDS", 0.0)
    time.sleep(0.05)  # past the timestamp tick of the writes


def test_a_restart_does_not_read_files_stat_vouches_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config, cache = mesh_dir(tmp_path), tmp_path / "parse.cache"
    aged(monkeypatch)
    first = DirectorySource(config, log_errors=False, parse_cache=cache)
    mesh = first.load()
    assert first.reads == 7
    first.save_parse_cache()
    again = DirectorySource(config, log_errors=False, parse_cache=cache)
    assert canonical(again.load()) == canonical(mesh)
    assert (again.reads, again.parses) == (0, 0)
    # and what it remembers is enough for the next restart and for edits
    again.save_parse_cache()
    third = DirectorySource(config, log_errors=False, parse_cache=cache)
    third.load()
    assert (third.reads, third.parses) == (0, 0)
    write(config / "r1.yaml", route("r1", "h1", weight=30))
    assert third.load_changed([config / "r1.yaml"]) is not None and third.parses == 1


def test_a_same_size_edit_with_its_mtime_put_back_is_seen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`cp -p`, `touch -d`, a tool restoring timestamps: same inode, same size, same
    mtime, other content. The ctime still moved, so the file is read again."""
    config, cache = mesh_dir(tmp_path), tmp_path / "parse.cache"
    aged(monkeypatch)
    first = DirectorySource(config, log_errors=False, parse_cache=cache)
    first.load()
    first.save_parse_cache()
    target = config / "r2.yaml"
    before = target.stat()
    text = target.read_text()
    edited = text.replace("h2", "h9")
    assert len(edited) == len(text) and edited != text
    with target.open("r+") as stream:  # in place: the inode stays
        stream.write(edited)
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = target.stat()
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (
        before.st_ino,
        before.st_size,
        before.st_mtime_ns,
    )
    again = DirectorySource(config, log_errors=False, parse_cache=cache)
    mesh = again.load()
    assert (again.reads, again.parses) == (1, 1)
    (vs,) = [o for o in mesh.objects if o.name == "r2"]
    assert vs.spec.hosts == ["h9"]


def test_files_too_young_to_vouch_for_are_checked_by_content(tmp_path: Path) -> None:
    """Read within `RACY_SECONDS` of their last change, a same-size rewrite in the same
    timestamp tick could leave `stat` unchanged: such files are read (not parsed) again."""
    config, cache = mesh_dir(tmp_path), tmp_path / "parse.cache"
    first = DirectorySource(config, log_errors=False, parse_cache=cache)
    first.load()
    first.save_parse_cache()
    again = DirectorySource(config, log_errors=False, parse_cache=cache)
    again.load()
    assert (again.reads, again.parses) == (7, 0)
    now = time.time_ns()
    found = file_identity.file_identity((config / "w.yaml").stat())
    assert file_identity.vouched(found, now) is None
    assert file_identity.vouched(found, now + 3 * 10**9) == found


def test_a_damaged_cache_is_ignored_with_a_log_line(tmp_path: Path) -> None:
    config, cache = mesh_dir(tmp_path), tmp_path / "parse.cache"
    first = DirectorySource(config, log_errors=False, parse_cache=cache)
    first.load()
    first.save_parse_cache()
    data = bytearray(cache.read_bytes())
    data[len(data) // 2 :] = b"\x00" * (len(data) - len(data) // 2)  # garbage, same size
    cache.write_bytes(bytes(data))
    with capture_logs() as logs:
        damaged = DirectorySource(config, log_errors=False, parse_cache=cache)
        mesh = damaged.load()
    assert len(mesh.objects) == 7 and damaged.parses == 7
    assert [e["event"] for e in logs if e["event"].startswith("config.parse_cache")] == [
        "config.parse_cache_ignored"
    ]


def test_edits_are_appended_and_a_torn_record_is_ignored(tmp_path: Path) -> None:
    config, cache = mesh_dir(tmp_path), tmp_path / "parse.cache"
    first = DirectorySource(config, log_errors=False, parse_cache=cache)
    first.load()
    first.save_parse_cache()  # a forked child writes it whole
    whole = cache.read_bytes()
    write(config / "r3.yaml", route("r3", "h3", weight=40))
    first.load_changed([config / "r3.yaml"])
    with capture_logs() as logs:
        assert first.persist_parse_cache()
    (appended,) = [e for e in logs if e["event"] == "config.parse_cache_appended"]
    assert appended["files"] == 1
    grown = cache.read_bytes()
    assert grown.startswith(whole) and len(grown) > len(whole)  # appended, not rewritten
    again = DirectorySource(config, log_errors=False, parse_cache=cache)
    again.load()
    assert again.parses == 0  # r3's new content came from the appended record
    (config / "r5.yaml").unlink()
    first.load_changed([config / "r5.yaml"])
    with capture_logs() as logs:
        assert first.persist_parse_cache()
    (gone,) = [e for e in logs if e["event"] == "config.parse_cache_appended"]
    assert gone["files"] == 1
    kept = parse_cache.load(cache, parse_cache.fingerprint(None, DEFAULT_LIMITS))
    assert str(config / "r5.yaml") not in kept and str(config / "r3.yaml") in kept
    write(config / "r5.yaml", route("r5", "h5"))
    cache.write_bytes(grown[:-10])  # a crash tore the record appended after the edit
    with capture_logs() as logs:
        torn = DirectorySource(config, log_errors=False, parse_cache=cache)
        mesh = torn.load()
    assert torn.parses == 1 and len(mesh.objects) == 7  # only r3 parsed again
    assert not [e for e in logs if e["event"] == "config.parse_cache_ignored"]


def test_stopping_abandons_an_unfinished_whole_write(tmp_path: Path) -> None:
    config, cache = mesh_dir(tmp_path), tmp_path / "parse.cache"
    source = DirectorySource(config, log_errors=False, parse_cache=cache)
    source.load()
    source.persist_parse_cache()  # forks the writer; stopping right away kills it
    source.stop_parse_cache()
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".parse.cache.")]
    assert leftovers == []  # its temporary file is removed; a cache is whole or absent
    again = DirectorySource(config, log_errors=False, parse_cache=cache)
    again.load()
    assert again.parses in (0, 7)


def test_models_read_back_share_their_fields_sets_and_are_equal(tmp_path: Path) -> None:
    """The cache stores one fields set per model class and fields (frozen models only):
    the objects read back are equal to the ones parsed, and translate alike."""
    config, cache = mesh_dir(tmp_path), tmp_path / "parse.cache"
    first = DirectorySource(config, log_errors=False, parse_cache=cache)
    mesh = first.load()
    first.save_parse_cache()
    again = DirectorySource(config, log_errors=False, parse_cache=cache)
    read = again.load()
    assert again.parses == 0
    assert canonical(read) == canonical(mesh)
    assert [o.spec for o in read.objects] == [o.spec for o in mesh.objects]
    routes = [o for o in read.objects if o.kind == "VirtualService"]
    assert len(routes) == 6
    shared = {id(o.meta.__pydantic_fields_set__) for o in routes}
    assert len(shared) == 1  # six ObjectMeta with the same fields: one set
    before = set(routes[1].meta.model_fields_set)
    copy = routes[0].meta.model_copy(update={"labels": {"a": "b"}})
    assert "labels" in copy.model_fields_set and "labels" not in before
    assert routes[1].meta.model_fields_set == before  # a copy never changes the shared set
