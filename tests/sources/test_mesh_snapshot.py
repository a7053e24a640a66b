"""`serve --parse-cache`'s mesh snapshot: a restart on unchanged files takes the
assembled mesh whole, equal to assembling it; a snapshot is never trusted when a file
changed, appeared or went, when the code assembling it or the options changed, when it
is damaged or writable by others — and none is written for a state a fresh start would
not give (an object rejected by translation, a second load, files too young to vouch
for)."""

from __future__ import annotations

import asyncio
import dataclasses
import os
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

import translators
from tests.sources.test_files import write
from tests.sources.test_incremental import canonical, route
from tests.sources.test_parse_cache import aged, mesh_dir
from tests.sources.test_untranslatable import (  # noqa: F401  (a fixture)
    canary,
    node,
    set_weights,
    weight_77_breaks_translation,
)
from translators.mesh import MeshConfig, MeshOptions, Workload
from translators.naming import CLUSTER_TYPE, LISTENER_TYPE
from translators.resources import EnvoyResource, ResourceGroup
from translators.translate import MeshTranslator, translate
from xdscp.cache import SnapshotCache
from xdscp.cache.snapshot import TypeSnapshot
from xdscp.runtime import MeshRuntime
from xdscp.server.resolver import ProxyRejected
from xdscp.sources import code_fingerprint, mesh_snapshot
from xdscp.sources.files import DirectorySource
from xdscp.warm_start import KeptTranslation, WarmStart, differing_types

BROKEN = "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: bad}\n"
BROKEN += "spec: {hosts: [h0], http: [{route: [{destination: {host: h0}, weight: -1}]}]}\n"


def snapshot_written(config: Path, cache: Path, options: MeshOptions | None = None) -> Path:
    first = DirectorySource(config, options, log_errors=False, parse_cache=cache)
    first.load()
    first.save_parse_cache()
    assert first.save_mesh_snapshot()
    return mesh_snapshot.path_for(cache)


def test_a_restart_on_unchanged_files_takes_the_assembled_mesh(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config, cache = mesh_dir(tmp_path), tmp_path / "state" / "parse.cache"
    write(config / "bad.yaml", BROKEN)
    aged(monkeypatch)
    path = snapshot_written(config, cache)
    assert path.stat().st_mode & 0o777 == 0o600
    fresh = DirectorySource(config, log_errors=False).load()
    again = DirectorySource(config, log_errors=False, parse_cache=cache)
    mesh = again.load()
    assert again.restored and (again.reads, again.parses) == (0, 0)
    assert canonical(mesh) == canonical(fresh)
    assert [str(e) for e in mesh.errors] == [str(e) for e in fresh.errors]
    (error,) = mesh.errors  # the bad file's error, as the fresh load names it
    assert "bad.yaml" in str(error) and "weight" in error.field
    # a restored source goes on as any other: an edit, then the next restart
    write(config / "r1.yaml", route("r1", "h1", weight=30))
    edited = again.load_changed([config / "r1.yaml"])
    assert canonical(edited) == canonical(DirectorySource(config, log_errors=False).load())
    assert not again.save_mesh_snapshot()  # the state of a restore, then an edit: none
    again.save_parse_cache()
    third = DirectorySource(config, log_errors=False, parse_cache=cache)
    assert canonical(third.load()) == canonical(edited)
    assert not third.restored  # r1 changed since the snapshot
    assert third.parses == 0  # ... and its new content came from the parse cache


@pytest.mark.parametrize("change", ["edited", "touched", "added", "removed"])
def test_a_changed_added_or_removed_file_is_never_taken_from_the_snapshot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    config, cache = mesh_dir(tmp_path), tmp_path / "parse.cache"
    aged(monkeypatch)
    snapshot_written(config, cache)
    if change == "edited":
        write(config / "r3.yaml", route("r3", "h3", weight=40))
    elif change == "touched":  # same content, written again: stat differs
        write(config / "r3.yaml", (config / "r3.yaml").read_text())
    elif change == "added":
        write(config / "r9.yaml", route("r9", "h9"))
    else:
        (config / "r3.yaml").unlink()
    with capture_logs() as logs:
        again = DirectorySource(config, log_errors=False, parse_cache=cache)
        mesh = again.load()
    assert not again.restored
    # told apart by the files alone: the assembled state is not even read
    (stale,) = [e for e in logs if e["event"] == "config.mesh_snapshot_stale"]
    assert stale["reason"] == "files"
    assert canonical(mesh) == canonical(DirectorySource(config, log_errors=False).load())


def test_the_code_fingerprint_covers_every_source_file_of_the_code_it_names(
    tmp_path: Path,
) -> None:
    # derived from the trees, not a hand list: the whole translator core, nested too
    roots = mesh_snapshot.CODE
    translators_root = Path(next(iter(translators.__path__)))
    assert translators_root in roots
    assert {"sources", "cache", "runtime.py"} <= {root.name for root in roots}
    package = tmp_path / "pkg"
    (package / "deep").mkdir(parents=True)
    write(package / "a.py", "A = 1\n")
    write(package / "deep" / "b.py", "B = 1\n")
    before = code_fingerprint.digest([package])
    assert code_fingerprint.digest([package]) == before
    write(package / "deep" / "b.py", "B = 2\n")  # an edit, nested
    edited = code_fingerprint.digest([package])
    (package / "deep" / "c.py").write_text("")  # a new, empty module
    added = code_fingerprint.digest([package])
    (package / "deep" / "c.py").rename(package / "c.py")  # moved
    moved = code_fingerprint.digest([package])
    assert len({before, edited, added, moved}) == 4
    (package / "notes.txt").write_text("not code")
    assert code_fingerprint.digest([package]) == moved


def test_changed_code_or_options_make_the_snapshot_stale(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a change to any source file under the fingerprinted trees makes it stale
    code = tmp_path / "code"
    write(code / "nested" / "assembling.py", "VERSION = 1\n")
    monkeypatch.setattr(mesh_snapshot, "CODE", (*mesh_snapshot.CODE, code))
    config, cache = mesh_dir(tmp_path), tmp_path / "parse.cache"
    aged(monkeypatch)
    snapshot_written(config, cache)
    same = DirectorySource(config, log_errors=False, parse_cache=cache)
    same.load()
    assert same.restored
    write(code / "nested" / "assembling.py", "VERSION = 2\n")
    code_fingerprint.cached.cache_clear()  # as a new process (the fingerprint is per process)
    changed = DirectorySource(config, log_errors=False, parse_cache=cache)
    changed.load()
    assert not changed.restored and changed.parses == 0  # the parse cache still holds
    write(code / "nested" / "assembling.py", "VERSION = 1\n")
    code_fingerprint.cached.cache_clear()
    other = MeshOptions(local_mode=True, domain_suffix="example.internal")
    with_options = DirectorySource(config, other, log_errors=False, parse_cache=cache)
    mesh = with_options.load()
    assert not with_options.restored
    fresh = DirectorySource(config, other, log_errors=False).load()
    assert canonical(mesh) == canonical(fresh)


def test_a_damaged_or_foreign_snapshot_is_ignored_with_a_log_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config, cache = mesh_dir(tmp_path), tmp_path / "parse.cache"
    aged(monkeypatch)
    path = snapshot_written(config, cache)
    data = bytearray(path.read_bytes())
    data[-200:] = b"\x00" * 200  # garbage, same size
    path.write_bytes(bytes(data))
    with capture_logs() as logs:
        damaged = DirectorySource(config, log_errors=False, parse_cache=cache)
        mesh = damaged.load()
    assert not damaged.restored and len(mesh.objects) == 7
    (ignored,) = [e for e in logs if e["event"] == "config.mesh_snapshot_ignored"]
    assert "damaged" in ignored["reason"]
    path = snapshot_written(config, cache)
    os.chmod(path, 0o666)
    with capture_logs() as logs:
        foreign = DirectorySource(config, log_errors=False, parse_cache=cache)
        foreign.load()
    assert not foreign.restored
    (ignored,) = [e for e in logs if e["event"] == "config.mesh_snapshot_ignored"]
    assert "writable by others" in ignored["reason"]


@pytest.mark.usefixtures("weight_77_breaks_translation")
def test_no_snapshot_of_a_state_a_fresh_start_would_not_give(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # files too young to vouch for by stat: never taken from a snapshot, so none is written
    config, cache = mesh_dir(tmp_path / "young"), tmp_path / "young" / "parse.cache"
    young = DirectorySource(config, log_errors=False, parse_cache=cache)
    young.load()
    assert not young.save_mesh_snapshot()
    assert not mesh_snapshot.path_for(cache).exists()
    aged(monkeypatch)
    # an object rejected by translation (kept out until edited: a fresh start retries it)
    config = canary(tmp_path)
    set_weights(config, 77, 23)
    aged(monkeypatch)
    cache = tmp_path / "rejected" / "parse.cache"
    options = MeshOptions(local_mode=True)
    source = DirectorySource(config, options, log_errors=False, parse_cache=cache)
    mesh = source.load()
    (culprit,) = source.blame(mesh, "default/client")
    assert culprit.name == "order-service-routing"
    assert not source.save_mesh_snapshot()
    assert not mesh_snapshot.path_for(cache).exists()
    # a second load (the state of edits, not of a start)
    set_weights(config, 70, 30)
    source.load_changed([config / "routing.yaml"])
    assert not source.save_mesh_snapshot()
    assert not mesh_snapshot.path_for(cache).exists()


def resources(mesh: MeshConfig, workload: str) -> list[tuple[str, str, bytes]]:
    namespace, name = workload.split("/")
    proxy = mesh.workload(namespace, name)
    assert proxy is not None
    translated = translate(mesh, proxy)
    return [
        (type_url, resource.name, resource.body())
        for type_url, groups in sorted(translated.groups.items())
        for group in groups
        for resource in group
    ]


def test_a_restored_mesh_translates_byte_for_byte_as_an_assembled_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config, cache = canary(tmp_path), tmp_path / "parse.cache"
    options = MeshOptions(local_mode=True)
    aged(monkeypatch)
    snapshot_written(config, cache, options)
    restoring = DirectorySource(config, options, log_errors=False, parse_cache=cache)
    restored = restoring.load()
    assert restoring.restored and restored.services
    fresh = DirectorySource(config, options, log_errors=False).load()
    assert dict(restored.services) == dict(fresh.services)
    for workload in ("default/client", "default/order-v1"):
        found = resources(restored, workload)
        assert found and found == resources(fresh, workload)


def test_stopping_abandons_an_unfinished_snapshot_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config, cache = mesh_dir(tmp_path), tmp_path / "state" / "parse.cache"
    aged(monkeypatch)
    source = DirectorySource(config, log_errors=False, parse_cache=cache)
    mesh = source.load()
    source.save_parse_cache()
    assert source.write_mesh_snapshot()  # forks the writer; stopping right away kills it
    source.stop_parse_cache()
    leftovers = [p.name for p in cache.parent.iterdir() if p.name.startswith(".parse.cache.")]
    assert leftovers == []  # a snapshot is whole or absent
    again = DirectorySource(config, log_errors=False, parse_cache=cache)
    assert canonical(again.load()) == canonical(mesh)
    assert again.restored == mesh_snapshot.path_for(cache).exists()


def served(runtime: MeshRuntime, key: str) -> dict[str, tuple[str, list[tuple[str, str, bytes]]]]:
    """What the cache serves `key`: per type its version and each resource's name,
    version and bytes."""
    snapshot = runtime.cache.get(key)
    assert snapshot is not None
    return {
        type_url: (types.version, [(r.name, r.version, r.body) for r in types.resources.values()])
        for type_url, types in snapshot.types.items()
    }


def started(
    config: Path, cache: Path | None, proxies: tuple[str, ...]
) -> tuple[MeshRuntime, DirectorySource]:
    """A plane's start as `xdscp serve` wires it (`ControlPlane`), `proxies` connected."""
    source = DirectorySource(config, log_errors=False, parse_cache=cache)
    runtime = MeshRuntime(SnapshotCache())
    source.translations_to_keep = runtime.kept_translations
    mesh = source.load()
    runtime.keep(mesh, source.kept_translations)
    runtime.apply_now(mesh)
    for workload in proxies:
        runtime.connect(node(workload), None)
    if cache is not None and not source.restored:
        source.save_parse_cache()
        assert source.save_mesh_snapshot()
    return runtime, source


def counted_translations(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The workloads `MeshTranslator.translate` is called for from now on."""
    calls: list[str] = []
    translate_ = MeshTranslator.translate

    def counted(self: MeshTranslator, workload: Workload, **kwargs: Any) -> Any:
        calls.append(workload.key)
        return translate_(self, workload, **kwargs)

    monkeypatch.setattr(MeshTranslator, "translate", counted)
    return calls


def test_a_restart_serves_the_kept_translations_untranslated_and_edits_as_a_fresh_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config, cache = canary(tmp_path), tmp_path / "parse.cache"
    proxies = ("client", "order-v1")
    aged(monkeypatch)
    started(config, cache, proxies)  # writes the snapshot with both proxies' translations
    calls = counted_translations(monkeypatch)
    restarts = [started(config, cache, proxies) for _ in range(2)]
    assert calls == []  # served without translating
    fresh, _ = started(config, None, proxies)
    for runtime, _ in restarts:
        for workload in proxies:
            key = f"default/{workload}"
            assert served(runtime, key) == served(fresh, key)  # bytes and versions
    # one restart translates for real once served (its memo for the first edit): the
    # same content, so the very same snapshot stays and nothing is pushed
    warmed = restarts[0][0]
    calls.clear()
    before = {w: warmed.cache.get(f"default/{w}") for w in proxies}
    assert asyncio.run(warmed.warm_kept()) == 2
    assert sorted(calls) == ["default/client", "default/order-v1"]
    assert all(warmed.cache.get(f"default/{w}") is before[w] for w in proxies)
    # edits, on the warmed restart and on one never warmed: byte for byte a fresh start's
    for v1, v2 in ((70, 30), (55, 45)):
        set_weights(config, v1, v2)
        for runtime, source in restarts:
            runtime.apply_now(source.load_changed([config / "routing.yaml"]))
        fresh, _ = started(config, None, proxies)
        for runtime, _ in restarts:
            for workload in proxies:
                key = f"default/{workload}"
                assert served(runtime, key) == served(fresh, key)


def test_a_kept_translation_that_differs_from_the_real_one_is_replaced_once_served(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config, cache = canary(tmp_path), tmp_path / "parse.cache"
    aged(monkeypatch)
    started(config, cache, ("client",))
    source = DirectorySource(config, log_errors=False, parse_cache=cache)
    mesh = source.load()
    (kept,) = source.kept_translations.values()
    # a kept translation that lost its listeners (what a stale one would look like)
    wrong = dataclasses.replace(
        kept,
        groups={**kept.groups, LISTENER_TYPE: ()},
        types={**kept.types, LISTENER_TYPE: TypeSnapshot.of(LISTENER_TYPE, (), origin=())},
    )
    runtime = MeshRuntime(SnapshotCache())
    runtime.keep(mesh, {"default/client": wrong})
    runtime.apply_now(mesh)
    runtime.connect(node("client"), None)
    fresh, _ = started(config, None, ("client",))
    assert served(runtime, "default/client") != served(fresh, "default/client")
    with capture_logs() as logs:
        assert asyncio.run(runtime.warm_kept()) == 1
    assert served(runtime, "default/client") == served(fresh, "default/client")
    (differed,) = [e for e in logs if e["event"] == "warm_start.kept_translation_differed"]
    assert differed["types"] == [LISTENER_TYPE]


def test_kept_translations_serve_their_proxies_before_the_mesh_is_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As `xdscp serve` starts (`ControlPlane._kept_served_first`): the kept
    translations read first serve their proxies before anything else of the snapshot is
    loaded; the restored mesh, applied after, takes them as its own (nothing pushed)."""
    config, cache = canary(tmp_path), tmp_path / "parse.cache"
    proxies = ("client", "order-v1")
    aged(monkeypatch)
    started(config, cache, proxies)
    calls = counted_translations(monkeypatch)
    source = DirectorySource(config, log_errors=False, parse_cache=cache)
    runtime = MeshRuntime(SnapshotCache())
    kept = source.restore_kept()
    assert sorted(kept) == ["default/client", "default/order-v1"] and not source.restored
    runtime.keep(None, kept)
    for workload in proxies:
        runtime.connect(node(workload), None)
    # a proxy without a kept translation waits for the mesh, as before any load
    with pytest.raises(ProxyRejected, match="no mesh configuration loaded yet"):
        runtime.connect(node("order-v2"), None)
    assert calls == []
    fresh, _ = started(config, None, proxies)
    calls.clear()
    early = {w: runtime.cache.get(f"default/{w}") for w in proxies}
    for workload in proxies:
        assert served(runtime, f"default/{workload}") == served(fresh, f"default/{workload}")
    mesh = source.load()
    assert source.restored and source.reads == 0
    assert source.changed_since_restore() == []
    runtime.keep(mesh, source.kept_translations)
    runtime.apply_now(mesh)
    assert all(runtime.cache.get(f"default/{w}") is early[w] for w in proxies)
    runtime.connect(node("order-v2"), None)  # the mesh is there: translated as usual
    assert calls == ["default/order-v2"]
    assert asyncio.run(runtime.warm_kept()) == 2  # the same content: nothing replaced
    assert all(runtime.cache.get(f"default/{w}") is early[w] for w in proxies)
    set_weights(config, 70, 30)
    runtime.apply_now(source.load_changed([config / "routing.yaml"]))
    fresh, _ = started(config, None, proxies)
    for workload in proxies:
        assert served(runtime, f"default/{workload}") == served(fresh, f"default/{workload}")


def test_proxies_served_before_a_load_that_cannot_restore_get_their_real_translation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The kept translations were read and served, then the assembled state turns out
    damaged: the load assembles the mesh from the parse cache, the kept translations
    are dropped and every proxy gets its translation from that mesh."""
    config, cache = canary(tmp_path), tmp_path / "parse.cache"
    aged(monkeypatch)
    started(config, cache, ("client",))
    path = mesh_snapshot.path_for(cache)
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF  # the last section: the assembled state
    path.write_bytes(bytes(data))
    calls = counted_translations(monkeypatch)
    source = DirectorySource(config, log_errors=False, parse_cache=cache)
    runtime = MeshRuntime(SnapshotCache())
    runtime.keep(None, source.restore_kept())
    runtime.connect(node("client"), None)
    assert calls == []
    with capture_logs() as logs:
        mesh = source.load()
    assert not source.restored
    assert [e["reason"] for e in logs if e["event"] == "config.mesh_snapshot_ignored"] == [
        "ValueError('damaged (digest mismatch)')"
    ]
    runtime.keep(None, {})  # as `ControlPlane._load_initial` does for a load not restored
    runtime.apply_now(mesh)
    assert calls == ["default/client"]
    fresh, _ = started(config, None, ("client",))
    assert served(runtime, "default/client") == served(fresh, "default/client")


def test_a_proxy_served_gateway_credentials_waits_for_the_mesh() -> None:
    """Which credential Secrets a proxy gets is the mesh's to say: its kept
    translation serves it only once the mesh is loaded."""
    workload = Workload("default", "gw", "10.0.0.1", {}, "gw", {}, {}, "gw.yaml")
    kept = KeptTranslation(workload, {}, (), {}, credentials=True)
    warm = WarmStart({workload.key: kept}, None)
    assert warm.early_workload("default", "gw") is None
    assert warm.translation(None, workload, extensions=True) is None
    mesh = MeshConfig((), (), {}, {workload.key: workload})
    warm.mesh = mesh
    assert warm.translation(mesh, workload, extensions=True) is kept


def test_differing_types_compares_bytes_and_versions_in_order() -> None:
    def resource(name: str, body: bytes, version: str | None = None) -> EnvoyResource:
        return EnvoyResource(CLUSTER_TYPE, name, body=body, version=version)

    a, b = resource("a", b"\x01"), resource("b", b"\x02")
    kept = {CLUSTER_TYPE: (ResourceGroup([a, b]),), LISTENER_TYPE: (ResourceGroup([]),)}
    same = {CLUSTER_TYPE: (ResourceGroup([resource("a", b"\x01")]), ResourceGroup([b]))}
    assert differing_types(kept, {**same, LISTENER_TYPE: ()}) == []
    changed = {CLUSTER_TYPE: (ResourceGroup([a, resource("b", b"\x03")]),), LISTENER_TYPE: ()}
    assert differing_types(kept, changed) == [CLUSTER_TYPE]
    swapped = {CLUSTER_TYPE: (ResourceGroup([b, a]),), LISTENER_TYPE: ()}
    assert differing_types(kept, swapped) == [CLUSTER_TYPE]
    versioned = {CLUSTER_TYPE: (ResourceGroup([a, resource("b", b"\x02", "v2")]),)}
    assert differing_types(kept, {**versioned, LISTENER_TYPE: ()}) == [CLUSTER_TYPE]
    assert differing_types(kept, same) == [LISTENER_TYPE]  # a type gone


def test_files_changed_after_the_kept_translations_were_read_are_loaded_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The files are checked when the kept translations are read, the restored mesh
    is loaded later and watched only from then on: what changed in between is found
    (`changed_since_restore`) and loaded, as a fresh start would have it."""
    config, cache = canary(tmp_path), tmp_path / "parse.cache"
    aged(monkeypatch)
    started(config, cache, ("client",))
    source = DirectorySource(config, log_errors=False, parse_cache=cache)
    assert source.restore_kept()
    set_weights(config, 70, 30)  # after the check
    write(config / "extra.yaml", "")
    (config / "sidecars.yaml").unlink()
    mesh = source.load()
    assert source.restored  # the state as checked
    changed = source.changed_since_restore()
    assert sorted(p.name for p in changed) == ["extra.yaml", "routing.yaml", "sidecars.yaml"]
    assert source.changed_since_restore() == []  # once
    mesh = source.load_changed(changed)
    fresh = DirectorySource(config, log_errors=False).load()
    assert canonical(mesh) == canonical(fresh)
