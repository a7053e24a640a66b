"""The file source: a directory of Istio YAML, watched, debounced.

It keeps, per object, the last good version: when an edit breaks an object, the
mesh keeps running on that object's previous version (and the error is shown)
until the file is fixed — also when the edit broke the document's identity (it is
found by file and document position). Objects whose documents are removed are
deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import resource
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import structlog
import watchfiles

from translators.extensions import ExtensionSet
from translators.mesh import MeshConfig, MeshOptions
from translators.model.objects import ConfigError, KindEntry, MeshObject, Origin
from xdscp.errors import XdscpError
from xdscp.sources import decode_worker, mesh_snapshot, prestart, watch_batches
from xdscp.sources import parse_cache as parse_cache_file
from xdscp.sources.assembly import Assembly
from xdscp.sources.blame import find_culprits, translation_failure
from xdscp.sources.documents import (
    YAML_SUFFIXES,
    FileResult,
    file_result,
    parse_file,
    parse_text,
    syntax_error,
    yaml_files,
)
from xdscp.sources.file_identity import FileIdentity, file_identity, vouched
from xdscp.sources.health import SourceHealth
from xdscp.sources.listing import yaml_file_names
from xdscp.sources.mesh_snapshot import SnapshotWriter
from xdscp.sources.parse_cache_writer import CacheWriter
from xdscp.sources.safe_yaml import DEFAULT_LIMITS, Limits
from xdscp.warm_start import KeptTranslation

log = structlog.get_logger()

Key = tuple[str, str, str]


# the cache on disk is brought up to date this long after a load (`_keep_parse_cache`)
CACHE_WRITE_DELAY_S = 0.5
# stopping waits at most this long for a first whole write of the cache (`stop_parse_cache`)
CACHE_STOP_WRITE_S = 60.0


class SourceUnavailable(XdscpError):
    """The config directory itself cannot be read; the mesh in force stays."""


def _stats(paths: set[Path]) -> dict[Path, tuple[int, int] | None]:
    found: dict[Path, tuple[int, int] | None] = {}
    for path in paths:
        try:
            stat = path.stat()
        except OSError:
            found[path] = None
        else:
            found[path] = (stat.st_size, stat.st_mtime_ns)
    return found


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection while files load: decoding 10,000 files allocates
    millions of (acyclic) objects, and the collections they trigger walk everything
    alive each time, a third of a cold start. Reference counting still frees them."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _identity_now(path: Path | str) -> FileIdentity | None:
    try:
        return file_identity(os.stat(path))
    except OSError:
        return None


def _children_cpu() -> float:
    """CPU seconds of this process's finished children (the decode worker, once reaped)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _first_seen(obj: MeshObject[Any], load: int) -> MeshObject[Any]:
    """`obj` stamped with the load that first saw it (a plain constructor call: this runs
    for every object of a cold start, where `dataclasses.replace` is slow)."""
    if obj.first_seen == load:
        return obj
    return MeshObject(obj.kind, obj.api_version, obj.meta, obj.spec, obj.origin, obj.digest, load)


class DirectorySource:
    def __init__(
        self,
        root: Path,
        options: MeshOptions | None = None,
        quiet_ms: int = 30,
        max_wait_ms: int = 1000,
        log_errors: bool = True,
        kinds: Mapping[str, KindEntry] | None = None,
        limits: Limits = DEFAULT_LIMITS,
        settle_ms: int = 200,
        settle_max_s: float = 10.0,
        parse_cache: Path | None = None,
        credentials_dir: Path | None = None,
    ) -> None:
        self.root = root
        # Gateway certificates (xdscp/gateway_credentials.py): a change under this
        # directory is no YAML to load; it goes to `on_credentials` (the plane re-reads
        # the certificates and republishes the mesh it has, untranslated).
        self.credentials_dir = credentials_dir
        self.on_credentials: Callable[[], Awaitable[None]] | None = None
        # parsed files kept across restarts (see `parse_cache`); read at the first load
        self.parse_cache = parse_cache
        self._cached: parse_cache_file.Entries = {}
        self._cache_writer: CacheWriter | None = None
        # the assembled mesh of the first load, kept beside the cache (`mesh_snapshot`)
        self._snapshot_writer: SnapshotWriter | None = None
        self.restored = False  # the first load was the snapshot's (nothing assembled)
        # the snapshot as `restore_kept` opened it, for the first load to finish (None:
        # none opened; checked: whether the first load need not look for one again)
        self._opened: tuple[mesh_snapshot.Opened, list[str]] | None = None
        self._snapshot_checked = False
        # the files a restored load was checked against (`changed_since_restore`)
        self._restored_files: Mapping[str, tuple[FileIdentity, bytes]] | None = None
        # what the plane translated from the first load's mesh, kept in the snapshot
        # (set by `xdscp.service`: the runtime's `kept_translations`), and what a restore
        # took from it (xdscp/warm_start.py)
        self.translations_to_keep: Callable[[MeshConfig], Mapping[str, KeptTranslation]] = (
            lambda mesh: {}
        )
        self.kept_translations: Mapping[str, KeptTranslation] = {}
        # awaited before the first write of the cache while watching (`run`): the plane
        # lets the first proxies be served first (set by `xdscp.service`)
        self.before_cache_write: Callable[[], Awaitable[None]] | None = None
        # called when a burst of changes begins (its first change, before the watcher's
        # quiet period) and when its batch arrives, before it is read (the plane pauses
        # its analysis thread, so the watcher, the load and the apply have the
        # interpreter to themselves)
        self.on_batch: Callable[[], None] | None = None
        self._cache_due = asyncio.Event()
        # files whose entry may differ from the cache on disk since it was last brought up
        # to date (None: any, after a full load), so an edit appends without a full diff
        self._cache_dirty: set[Path] | None = None
        self.kinds = kinds  # None: the built-in kinds; extensions add theirs
        self.options = options or MeshOptions(local_mode=True)
        # The watcher yields a batch once `quiet_ms` passed with no new change (so a burst
        # of files is read together), at most `max_wait_ms` after its first change: an
        # edit is seen `quiet_ms` after it happened (xdscp/sources/watch_batches.py).
        # Half-written files are `_settle`'s job, not the quiet period's (a rename is
        # complete at once).
        self.quiet_ms = quiet_ms
        self.max_wait_ms = max_wait_ms
        self.log_errors = log_errors
        self._assembly = Assembly(self.options)
        self._parsed: dict[Path, tuple[bytes, FileResult]] = {}
        self._logged: set[str] = set()
        self._loading = threading.Lock()
        # set by `abandon_load`: the load under way stops at the next file (stopping)
        self._abandoned = threading.Event()
        self.limits = limits
        # a changed file is read once its size and mtime held still this long (`_settle`)
        self.settle_ms = settle_ms
        self.settle_max_s = settle_max_s
        self._sizes: dict[Path, int] = {}
        # inode of each file when last read: a different one means it was replaced by a
        # rename (complete), not written in place (maybe half-written: see `_settle`)
        self._inodes: dict[Path, int] = {}
        # what `stat` said of each file when last read, if it may stand for its content
        # at the next start (`parse_cache`; None: too young when read to vouch for it)
        self._identities: dict[Path, FileIdentity | None] = {}
        # a first load of many files decodes most of them in a second process
        self.decode_worker_min_files = decode_worker.MIN_FILES
        self.health = SourceHealth()
        self._loads = 0
        self.parses = 0  # files decoded and validated so far (unchanged files are not)
        self.reads = 0  # files read so far (`parse_cache` spares those `stat` vouches for)
        self.worker_decoded = 0  # files the decode worker read and decoded

    def unavailable(self) -> str:
        """Why the directory cannot be read at all ("" when it can)."""
        return "" if self.root.exists() else f"config directory {self.root} does not exist"

    def load(self) -> MeshConfig:
        """Read every file now and return the resulting mesh (also used by `validate`).
        Thread-safe: the watcher loads in a worker thread. A directory that is gone (an
        unmounted volume) raises SourceUnavailable: it must not read as an empty mesh."""
        return self._load(None)

    def abandon_load(self) -> None:
        """The plane stops while a load runs in a thread (Ctrl-C at start): that load,
        and any after it, raises CancelledError at its next file instead of reading on
        for seconds (the process waits for the thread before it exits)."""
        self._abandoned.set()

    def _check_abandoned(self) -> None:
        if self._abandoned.is_set():
            raise asyncio.CancelledError("the config load was abandoned: stopping")

    def load_changed(self, paths: Iterable[Path]) -> MeshConfig:
        """The mesh after the files at `paths` changed (written, added or deleted): only
        they are read again, and the mesh is updated from the previous one with what
        they changed (`MeshConfig.delta`). Whatever cannot be told from the paths alone
        (a directory added or removed, a ConfigMap's hidden directories swapped) reads
        everything, as `load` does."""
        return self._load(list(paths))

    def _load(self, paths: list[Path] | None) -> MeshConfig:
        problem = self.unavailable()
        if problem:
            raise SourceUnavailable(problem)
        with self._loading, _collector_paused():
            started, cpu, helpers = time.perf_counter(), time.process_time(), _children_cpu()
            parses = self.parses
            self._loads += 1
            changed = self._changed_files(paths) if paths is not None else None
            full = changed is None or self._assembly.mesh is None
            restored = self._restored() if self._assembly.mesh is None else None
            if restored is not None:
                mesh = restored
            elif full:
                mesh = self._assembly.update(self._read_all())
            else:
                assert changed is not None
                mesh = self._assembly.update({str(p): self._read(p) for p in sorted(changed)})
            prestart.discard()  # a worker started for a load that did not need it
            if full:
                # what a full load made is long-lived config: out of the cyclic GC for
                # good (as `tuning.tune_gc` does), or the next collection walks it all
                gc.freeze()
            if self.log_errors:
                self._log_new_errors(mesh.errors)
            # a service's log says what each load cost; commands that print (validate,
            # analyze: log_errors off) keep their output clean
            (log.info if self.log_errors else log.debug)(
                "config.loaded",
                files=len(self._assembly.files),
                parsed=self.parses - parses,
                objects=len(mesh.objects),
                errors=len(mesh.errors),
                changed=len(mesh.delta.objects) if mesh.delta is not None else None,
                seconds=round(time.perf_counter() - started, 4),
                cpu_seconds=round(time.process_time() - cpu, 4),  # the process's, all threads
                worker_cpu_seconds=round(_children_cpu() - helpers, 4),  # the decode worker's
            )
            return mesh

    def _read_all(self) -> dict[str, FileResult | None]:
        first = self._assembly.mesh is None
        if self.parse_cache is not None and first:
            fingerprint = self._fingerprint()
            self._cached = parse_cache_file.load(self.parse_cache, fingerprint)
            self._cache_writer = CacheWriter(self.parse_cache, fingerprint)
            self._cache_writer.loaded(self._cached)
        # what earlier reads left (none: everything known now was read from `paths`)
        known_before = bool(self._parsed or self._sizes or self._inodes or self._identities)
        paths = yaml_files(self.root)
        found: dict[Path, FileResult] = {}
        unknown: list[Path] = []
        for path in paths:
            self._check_abandoned()
            unchanged = self._unchanged_since_cached(path) if self._cached else None
            if unchanged is None:
                unknown.append(path)
            else:
                found[path] = unchanged
        if first and len(unknown) >= self.decode_worker_min_files and (os.cpu_count() or 1) > 1:
            found.update(self._parse_in_two_processes(unknown))
        else:
            found.update((path, self._parse(path)) for path in unknown)
        results: dict[str, FileResult | None] = {str(p): found[p] for p in paths}
        if known_before:  # forget deleted files (a long-running watcher)
            present = set(paths)
            self._parsed = {p: v for p, v in self._parsed.items() if p in present}
            self._sizes = {p: v for p, v in self._sizes.items() if p in present}
            self._inodes = {p: v for p, v in self._inodes.items() if p in present}
            self._identities = {p: v for p, v in self._identities.items() if p in present}
        self._cache_dirty = None
        for gone in set(self._assembly.files) - results.keys():
            results[gone] = None
        self._cached = {}  # what this run did not use is stale
        return results

    def restore_kept(self) -> Mapping[str, KeptTranslation]:
        """A warm start's first step: the translations kept with a trusted mesh snapshot
        (`mesh_snapshot.open_snapshot`: the files checked unchanged), read before the
        assembled state, which the first `load` unpickles; the plane serves them
        meanwhile (xdscp/warm_start.py). Empty when there is no such snapshot (the first
        load then loads as usual, without looking for it again)."""
        with self._loading, _collector_paused():
            if self._assembly.mesh is None and not self._snapshot_checked:
                self._opened = self._open_snapshot()
                self._snapshot_checked = True
                if self._opened is not None:
                    # long-lived (until checked against real translations): out of the
                    # cyclic GC, as a full load's objects (`_load`)
                    gc.freeze()
            opened = self._opened
            self.kept_translations = opened[0].translations if opened is not None else {}
            return self.kept_translations

    def _open_snapshot(self) -> tuple[mesh_snapshot.Opened, list[str]] | None:
        """The mesh snapshot opened (`mesh_snapshot.open_snapshot`) and the files it
        was found to hold (`yaml_files` as strings: no `Path` made before listening)."""
        if self.parse_cache is None:
            return None
        path = mesh_snapshot.path_for(self.parse_cache)
        fingerprint = mesh_snapshot.fingerprint(self._fingerprint(), self.options)
        self._snapshot_writer = SnapshotWriter(path, fingerprint)
        if not path.exists():
            return None
        paths = yaml_file_names(self.root)
        opened = mesh_snapshot.open_snapshot(path, fingerprint, paths, _identity_now)
        return (opened, paths) if opened is not None else None

    def _restored(self) -> MeshConfig | None:
        """The first load taken whole from the mesh snapshot beside the parse cache, when
        it is trusted (`mesh_snapshot`: the same files, unchanged, the same code and
        options); None: load as usual."""
        found = self._opened if self._snapshot_checked else self._open_snapshot()
        self._opened, self._snapshot_checked = None, True
        if found is None or self.parse_cache is None:
            return None
        opened, names = found
        assembly = opened.assembly()
        if assembly is None:
            return None
        path = opened.path
        if assembly.mesh is None or assembly.options != self.options:
            log.info("config.mesh_snapshot_stale", file=str(path), reason="options")
            return None
        self._assembly = assembly
        results = assembly.results
        for name in names:  # the snapshot's files (`unchanged`), in its order
            known, digest = opened.files[name]
            file = Path(name)
            self._parsed[file] = (digest, results[name])
            self._sizes[file] = known[2]
            self._inodes[file] = known[1]
            self._identities[file] = known
        parse_fingerprint = self._fingerprint()
        self._cache_writer = CacheWriter(self.parse_cache, parse_fingerprint)
        if parse_cache_file.usable(self.parse_cache, parse_fingerprint):
            snapshot = mesh_snapshot.Snapshot(opened.files, assembly, opened.translations)
            self._cache_writer.loaded(dict(mesh_snapshot.entries(snapshot)))
        self._cache_dirty = None
        self.restored = True
        self._restored_files = opened.files
        self.kept_translations = opened.translations
        log.info(
            "config.mesh_snapshot_restored",
            file=str(path),
            files=len(opened.files),
            translations=len(opened.translations),
        )
        return assembly.mesh

    def changed_since_restore(self) -> list[Path]:
        """The files changed, added or removed since a restored first load checked them
        (once; none when the first load was not restored). A warm start that served its
        kept translations first (`restore_kept`) loads seconds after that check and
        watches only from then on: these are what its watcher cannot report
        (`load_changed` them)."""
        files, self._restored_files = self._restored_files, None
        if files is None:
            return []
        now = yaml_file_names(self.root)
        changed = [n for n in now if n not in files or _identity_now(n) != files[n][0]]
        listed = set(now)
        changed += [n for n in files if n not in listed]
        return [Path(n) for n in changed]

    def _snapshot(self) -> mesh_snapshot.Snapshot | None:
        """What the mesh snapshot would hold now, if a start could trust it: the state
        of the first load (the only one so far, not itself the snapshot's), with no
        object rejected by translation and every file vouched for by its identity."""
        assembly = self._assembly
        if self._loads != 1 or self.restored or assembly.rejected or assembly.mesh is None:
            return None
        files: dict[str, tuple[FileIdentity, bytes]] = {}
        # by name (this runs on the event loop: 20,000 `Path(name)` cost 0.2 s)
        paths = {str(path): path for path in self._parsed}
        for name in assembly.files:  # in `yaml_files` order, as the first load read them
            path = paths.get(name)
            parsed = self._parsed.get(path) if path is not None else None
            known = self._identities.get(path) if path is not None else None
            if parsed is None or known is None:
                return None
            files[name] = (known, parsed[0])
        if len(files) != len(self._parsed):
            return None
        translations = self.translations_to_keep(assembly.mesh)
        return mesh_snapshot.Snapshot(files, assembly, translations)

    def write_mesh_snapshot(self) -> bool:
        """Start writing the mesh snapshot (in a child, see `mesh_snapshot`) when one is
        due; False when none is (or a load is under way: then none will be)."""
        writer = self._snapshot_writer
        if writer is None:
            return False
        if not self._loading.acquire(blocking=False):
            log.info("config.mesh_snapshot_not_due", file=str(writer.path), reason="loading")
            return False
        try:
            snapshot = self._snapshot()
            if snapshot is None:
                reason = "not the state of a start"
                log.info("config.mesh_snapshot_not_due", file=str(writer.path), reason=reason)
                return False
            writer.start(snapshot)  # forked here: the state as of now, under the lock
        finally:
            self._loading.release()
        return True

    def save_mesh_snapshot(self, timeout: float = 120.0) -> bool:
        """Write the mesh snapshot (when due) and wait (bounded) until it is on disk."""
        writer = self._snapshot_writer
        return writer is not None and self.write_mesh_snapshot() and writer.wait(timeout)

    def _unchanged_since_cached(self, path: Path) -> FileResult | None:
        """`path`'s cached result when `stat` shows the very file the cache read (see
        `parse_cache` for why that is safe); None when it must be read."""
        entry = self._cached.get(str(path))
        if entry is None or entry[0] is None:
            return None
        try:
            found = file_identity(path.stat())
        except OSError:
            return None
        if found != entry[0]:
            return None
        del self._cached[str(path)]
        self._sizes[path] = found[2]
        self._inodes[path] = found[1]
        self._identities[path] = found
        return self._accepted(path, entry[1], entry[2])

    def _parse_in_two_processes(self, paths: list[Path]) -> dict[Path, FileResult]:
        """The worker decodes from the first file on; this process validates what it
        sends and, whenever nothing is ready, reads files itself from the last one
        backwards, until the two meet (see `decode_worker`). A worker that fails or
        hangs leaves the rest to this process: it costs time, never a file."""
        names = [str(p) for p in paths]
        try:
            # started by the entry point before the imports (`prestart`), or now
            worker = prestart.adopt(self.root, names, self.limits)
            if worker is not None:
                log.info("config.decode_worker_adopted", files=len(names))
            else:
                worker = decode_worker.DecodeWorker(names, self.limits)
        except OSError as exc:
            log.warning("config.decode_worker_failed", error=str(exc)[:200])
            return {path: self._parse(path) for path in paths}
        found: dict[Path, FileResult] = {}
        mine = len(paths)  # paths[mine:] are read here
        try:
            while worker.taken < mine:
                ready = worker.ready()
                if not ready:
                    mine -= 1
                    found[paths[mine]] = self._parse(paths[mine])
                    continue
                first = worker.taken - len(ready)
                for index, (_, decoded) in enumerate(ready, first):
                    path = paths[index]
                    if index >= mine:
                        continue  # read here already
                    found[path] = (
                        self._parse(path) if decoded is None else self._decoded(path, decoded)
                    )
        except Exception as exc:  # a failed worker costs time, never a file
            log.warning("config.decode_worker_failed", error=f"{type(exc).__name__}: {exc}"[:200])
        finally:
            worker.close()
        for path in paths:
            if path not in found:
                found[path] = self._parse(path)
        return found

    def _decoded(self, path: Path, decoded: decode_worker.Decoded) -> FileResult:
        """A file the worker read and decoded: validated here (contained as `_parse`)."""
        self._check_abandoned()
        try:

            def validate() -> FileResult:
                if decoded.stream_error:
                    return syntax_error(decoded.path, decoded.stream_error)
                return file_result(decoded.path, decoded.documents, self.kinds)

            self.reads += 1
            self.worker_decoded += 1
            self._sizes[path] = decoded.size
            self._inodes[path] = decoded.identity[1]
            self._identities[path] = vouched(decoded.identity, decoded.read_at_ns)
            return self._known(path, decoded.digest, validate)
        except Exception as exc:
            return self._failed(path, exc)

    def _fingerprint(self) -> bytes:
        return parse_cache_file.fingerprint(self.kinds, self.limits)

    def _cache_entries(self) -> parse_cache_file.Entries:
        return {
            str(p): (self._identities.get(p), digest, result)
            for p, (digest, result) in self._parsed.items()
        }

    def _cache_changes(self) -> dict[str, parse_cache_file.Entry | None] | None:
        """The entries of the files changed since the cache was last brought up to date
        (None: a gone file), or None when any may have (compare them all); resets."""
        dirty, self._cache_dirty = self._cache_dirty, set()
        if dirty is None:
            return None
        changes: dict[str, parse_cache_file.Entry | None] = {}
        for path in dirty:
            parsed = self._parsed.get(path)
            changes[str(path)] = None if parsed is None else (self._identities.get(path), *parsed)
        return changes

    def persist_parse_cache(self, whole_allowed: bool = True) -> bool:
        """Bring `parse_cache` (when set) up to what is parsed now without holding this
        process (see `parse_cache_writer`); False while a load is under way (never waited
        for: this runs on the event loop) or a child still writes it whole."""
        writer = self._cache_writer
        if writer is None:
            return True
        if not self._loading.acquire(blocking=False):
            return False
        try:
            writer.persist(self._cache_entries, self._cache_changes(), whole_allowed)
        finally:
            self._loading.release()
        return not writer.busy()

    def save_parse_cache(self, timeout: float = 120.0) -> None:
        """Write what is parsed now to `parse_cache` (when set) and wait (bounded) until
        it is on disk."""
        writer = self._cache_writer
        if writer is None:
            return
        writer.wait(timeout)
        with self._loading:
            writer.persist(self._cache_entries, self._cache_changes())
        writer.wait(timeout)

    def stop_parse_cache(self) -> None:
        """Stopping: an unfinished whole write is abandoned (the previous cache stays) and
        the changes since the last write are appended, when there is a file to append to.
        When there is none (Ctrl-C soon after a cold start: the first write is under way
        or not begun), the whole write is finished, bounded: otherwise every next start
        would be cold again."""
        snapshots = self._snapshot_writer
        if snapshots is not None and snapshots.busy():
            # not waited for: Ctrl-C stays prompt; the next start takes the parse cache
            # (and writes a snapshot itself)
            snapshots.abandon()
        writer = self._cache_writer
        if writer is None:
            return
        if not writer.has_file() and self._assembly.mesh is not None:
            log.info("config.parse_cache_finishing", file=str(writer.path))
            writer.wait(CACHE_STOP_WRITE_S)
            with self._loading:
                writer.persist(self._cache_entries, self._cache_changes())
            if writer.wait(CACHE_STOP_WRITE_S):
                return
        writer.abandon()
        with self._loading:
            writer.persist(self._cache_entries, self._cache_changes(), whole_allowed=False)

    async def _keep_parse_cache(self, stop: asyncio.Event | None) -> None:
        """While watching: after the first proxies are served (`before_cache_write`),
        and after every load, bring the cache on disk up to date."""
        if self.before_cache_write is not None:
            await self.before_cache_write()
        snapshot = self.write_mesh_snapshot()
        reaper = asyncio.create_task(self._mesh_snapshot_written()) if snapshot else None
        self._cache_due.set()
        try:
            while stop is None or not stop.is_set():
                await self._cache_due.wait()
                # off the edit -> ACK path (and a burst of loads written as one record)
                await asyncio.sleep(CACHE_WRITE_DELAY_S)
                self._cache_due.clear()
                # a load under way or a child writing it whole: then what changed since
                while not self.persist_parse_cache():
                    await asyncio.sleep(0.1)
        finally:
            if reaper is not None:
                reaper.cancel()

    async def _mesh_snapshot_written(self) -> None:
        """Reap the child writing the mesh snapshot (it says when it is on disk); bounded
        by the writer's own timeout."""
        writer = self._snapshot_writer
        while writer is not None and writer.busy():
            await asyncio.sleep(0.1)

    def _read(self, path: Path) -> FileResult | None:
        """One changed file read again (None: it is gone)."""
        if path.is_file():
            return self._parse(path)
        self._parsed.pop(path, None)
        self._sizes.pop(path, None)
        self._inodes.pop(path, None)
        self._identities.pop(path, None)
        self._mark_dirty(path)
        return None

    def _local(self, path: str) -> Path:
        """A path the watcher reported, in the form `yaml_files` gives (relative to the
        directory as it was given), so both name one file alike."""
        if self.root.is_file():
            return Path(path)
        relative = os.path.relpath(os.path.abspath(path), os.path.abspath(self.root))
        parts = Path(relative).parts
        if not parts or parts[0] == ".." or relative == ".":
            return Path(path)
        return self.root.joinpath(*parts)

    def _changed_files(self, paths: Iterable[Path]) -> set[Path] | None:
        """The YAML files to read again for these changed paths, in the form
        `yaml_files` gives them; None when only a full scan can tell."""
        if self.root.is_file():
            return {self.root}
        root = os.path.abspath(self.root)
        known = self._assembly.files
        files: set[Path] = set()
        for changed in paths:
            relative = os.path.relpath(os.path.abspath(changed), root)
            parts = Path(relative).parts
            if not parts or parts[0] == ".." or relative == ".":
                return None  # outside the directory (or the directory itself)
            path = self.root.joinpath(*parts)
            if any(part.startswith(".") for part in parts[:-1]):
                return None  # inside a hidden directory: a ConfigMap's `..data` swap
            if path.is_dir():
                return None  # a directory added (or moved in): its files are unknown
            if parts[-1].startswith("."):
                if parts[-1].startswith("..") and not path.exists():
                    return None  # a ConfigMap's `..data` link moved
                continue  # a hidden file: an editor's or writer's temporary file
            if path.suffix in YAML_SUFFIXES:
                files.add(path)
            elif not path.exists() and any(f.startswith(f"{path}{os.sep}") for f in known):
                return None  # a directory we read files from is gone
        return files

    def _parse(self, path: Path) -> FileResult:
        """A file whose bytes are unchanged since the last load is not parsed again: one
        edited VirtualService among 10,000 files costs one YAML parse, not 10,000, and the
        unchanged files yield the very same objects, which keeps translation memos hot.
        (Compared by content, not mtime: two same-size writes within one timestamp tick
        must not be missed.) Anything unexpected while reading fails this file alone."""
        self._check_abandoned()
        try:
            return self._parse_unchecked(path)
        except Exception as exc:
            return self._failed(path, exc)

    def _failed(self, path: Path, exc: Exception) -> FileResult:
        log.exception("config.file_failed", file=str(path), exc_info=exc)
        message = f"cannot be read ({type(exc).__name__}: {str(exc)[:200]})"
        error = ConfigError(Origin(str(path)), "", "", "", "", message)
        return FileResult(str(path), (), (error,), frozenset(), syntax_ok=False)

    def _parse_unchecked(self, path: Path) -> FileResult:
        read_at_ns = time.time_ns()
        try:
            descriptor = os.open(path, os.O_RDONLY)
        except OSError:
            return parse_file(path, self.kinds)
        try:
            info = os.fstat(descriptor)
            if info.st_size > self.limits.file_bytes:
                message = f"file is larger than {self.limits.file_bytes} bytes"
                error = ConfigError(Origin(str(path)), "", "", "", "", message)
                return FileResult(str(path), (), (error,), frozenset(), syntax_ok=False)
            with os.fdopen(descriptor, "rb", closefd=False) as stream:
                data = stream.read()
        except OSError:
            return parse_file(path, self.kinds)
        finally:
            os.close(descriptor)
        self.reads += 1
        self._sizes[path] = len(data)
        self._inodes[path] = info.st_ino
        self._identities[path] = vouched(file_identity(info), read_at_ns)
        self._mark_dirty(path)

        def parse() -> FileResult:
            try:
                return parse_text(data.decode("utf-8"), str(path), self.kinds, self.limits)
            except UnicodeDecodeError:
                return parse_file(path, self.kinds)  # reports the decoding error

        return self._known(path, decode_worker.digest_of(data), parse)

    def _known(self, path: Path, digest: bytes, parse: Callable[[], FileResult]) -> FileResult:
        """The result for `path`'s content `digest`: the one it had if unchanged (since
        the last load, or the last run: `parse_cache`), else `parse()`d now."""
        cached = self._parsed.get(path)
        if cached is not None and cached[0] == digest:
            return cached[1]
        entry = self._cached.pop(str(path), None)  # from the last run
        if entry is not None and entry[1] == digest:
            return self._accepted(path, digest, entry[2])
        self.parses += 1
        return self._accepted(path, digest, parse(), fresh=True)

    def _mark_dirty(self, path: Path) -> None:
        if self._cache_dirty is not None:
            self._cache_dirty.add(path)

    def _accepted(
        self, path: Path, digest: bytes, result: FileResult, fresh: bool = False
    ) -> FileResult:
        """`fresh`: `result` was parsed just now (its objects are held by nothing else)."""
        self._mark_dirty(path)
        result = self._stamped_fresh(result) if fresh else self._stamped(result)
        self._parsed[path] = (digest, result)
        return result

    def _stamped(self, result: FileResult) -> FileResult:
        """Each definition (file + object) carries the load in which this source first saw
        it: conflicts go to the oldest (`age_order`). Everything present at start shares
        load 1, so then Istio's creationTimestamp and name order decide."""
        first_seen, path, load = self._assembly.first_seen, result.path, self._loads
        stamped = tuple(
            _first_seen(
                o, first_seen.setdefault((path, (o.kind, o.meta.namespace, o.meta.name)), load)
            )
            for o in result.objects
        )
        if all(new is old for new, old in zip(stamped, result.objects, strict=True)):
            return result  # as stamped already (a reload, or a result from the parse cache)
        return FileResult(
            result.path,
            stamped,
            result.errors,
            result.failed_keys,
            result.syntax_ok,
            result.failed_documents,
        )

    def _stamped_fresh(self, result: FileResult) -> FileResult:
        """`_stamped` for objects made by the parse a moment ago, which nothing else holds
        yet: stamped in place, as their constructor would have (building 50,000 objects
        again was a tenth of a cold start's validation)."""
        first_seen, path, load = self._assembly.first_seen, result.path, self._loads
        for obj in result.objects:
            stamp = first_seen.setdefault((path, obj.key), load)
            if obj.first_seen != stamp:
                object.__setattr__(obj, "first_seen", stamp)
        return result

    def blame(
        self, mesh: MeshConfig, workload_key: str, extensions: ExtensionSet | None = None
    ) -> list[MeshObject[Any]]:
        """`workload_key`'s config cannot be built from `mesh` (the last load): find the
        objects of that load responsible and reject them from now on (the next `load`
        keeps their previous versions). Returns them; empty when none is to blame."""
        with self._loading:
            failure = translation_failure(mesh, workload_key, extensions)
            if failure is None:
                return []
            before = self._assembly.good_before
            suspects = [o for o in mesh.objects if before.get(o.key) is not o]
            suspect_keys = {s.key for s in suspects}
            fallback = {k: o for k, o in before.items() if k in suspect_keys}
            culprits = find_culprits(
                mesh.objects, self.options, workload_key, suspects, fallback, extensions
            )
            for obj in culprits:
                self._assembly.rejected[obj.key] = (obj.digest, failure, fallback.get(obj.key))
                log.warning(
                    "config.rejected_by_translation",
                    object=obj.ref,
                    origin=str(obj.origin),
                    proxy=workload_key,
                    error=failure,
                )
            return culprits

    def _log_new_errors(self, errors: Iterable[ConfigError]) -> None:
        """Each error once, when it appears (or changes), not again on every reload."""
        texts = {str(e) for e in errors}
        for text in sorted(texts - self._logged):
            log.warning("config.rejected", error=text)
        for text in sorted(self._logged - texts):
            log.info("config.resolved", error=text)
        self._logged = texts

    async def run(
        self,
        on_update: Callable[[MeshConfig], Awaitable[None]],
        stop: asyncio.Event | None = None,
        initial: bool = True,
    ) -> None:
        """Emit the initial mesh (unless the caller already loaded it), then one mesh per
        batch of file changes. Files are read and parsed in a worker thread so xDS and
        the debug endpoint keep answering while a large directory loads. A batch that
        fails unexpectedly is reported in `health` and the next change is still read."""
        keeper = asyncio.create_task(self._keep_parse_cache(stop)) if self.parse_cache else None
        try:
            if initial:
                await self.reload(on_update)
            watched = [self.root]
            credentials = self.credentials_dir
            if (
                credentials is not None
                and credentials.is_dir()
                and not self._inside_root(credentials)
            ):
                watched.append(credentials)  # `serve --credentials-dir` elsewhere
            changed = watch_batches.batches(
                watched, self.quiet_ms, self.max_wait_ms, stop, on_first=self._burst_begins
            )
            async with contextlib.aclosing(changed) as bursts:
                async for changes in bursts:
                    await self._changed(changes, on_update)
        finally:
            if keeper is not None:
                keeper.cancel()
            if stop is not None and stop.is_set():
                self.stop_parse_cache()  # stopping for good (the plane shuts down)

    def _burst_begins(self) -> None:
        if self.on_batch is not None:
            self.on_batch()

    async def _changed(
        self,
        changes: set[tuple[watchfiles.Change, str]],
        on_update: Callable[[MeshConfig], Awaitable[None]],
    ) -> None:
        """One burst of file changes: certificates to the plane, YAML read again."""
        log.info("config.changed", files=sorted({Path(p).name for _, p in changes}))
        if self.on_batch is not None:
            self.on_batch()
        problem = self.unavailable()
        if problem:  # the watch is on a directory that no longer exists: start over
            raise SourceUnavailable(problem)
        certificates = {Path(p) for _, p in changes if self._is_credential(p)}
        paths = {self._local(p) for _, p in changes if not self._is_credential(p)}
        if certificates and self.on_credentials is not None:
            await self._settle({p for p in certificates if p.is_file()})
            await self._credentials_changed()
        if not paths and certificates:
            return  # only certificates changed: the mesh is the same
        await self._settle({p for p in paths if p.suffix in YAML_SUFFIXES})
        await self.reload(on_update, paths)

    def _inside_root(self, path: Path) -> bool:
        relative = os.path.relpath(os.path.abspath(path), os.path.abspath(self.root))
        return relative != ".." and not relative.startswith(f"..{os.sep}")

    def _is_credential(self, path: str) -> bool:
        """A changed path that is a gateway certificate file (or a `..data` link or
        directory among them), not config: under the credentials directory, not YAML."""
        if self.credentials_dir is None or self.on_credentials is None:
            return False
        relative = os.path.relpath(os.path.abspath(path), os.path.abspath(self.credentials_dir))
        if relative == ".." or relative.startswith(f"..{os.sep}"):
            return False
        return Path(path).suffix not in YAML_SUFFIXES

    async def _credentials_changed(self) -> None:
        """Tell the plane; a failure there is logged, and the watcher goes on."""
        assert self.on_credentials is not None
        try:
            await self.on_credentials()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("gateway.credentials_reload_failed")

    async def _settle(self, paths: set[Path]) -> None:
        """Wait (bounded) until the files just written stop changing, so a slow in-place
        write is read once finished, not half-written (which could delete every object
        the file held). A file that shrank to less than half waits longer: truncation is
        what a half-done write looks like. The reliable way is still to write a temporary
        file and rename it over the old one (README); this catches the rest."""
        paths = {p for p in paths if not self._replaced(p)}
        if not paths or self.settle_ms <= 0:
            return
        deadline = time.monotonic() + self.settle_max_s
        before = _stats(paths)
        shrunk = any(
            stat is not None and stat[0] < self._sizes.get(path, 0) // 2
            for path, stat in before.items()
        )
        pause = self.settle_ms / 1000 * (3 if shrunk else 1)
        while True:
            await asyncio.sleep(pause)
            now = _stats(paths)
            if now == before:
                return
            if time.monotonic() >= deadline:
                log.warning(
                    "config.file_unstable",
                    files=sorted(str(p) for p in paths),
                    waited_s=self.settle_max_s,
                    action="reading it as it is now",
                )
                return
            before = now

    def _replaced(self, path: Path) -> bool:
        """Whether a file read before is now another file (another inode): renamed over
        the old one, so complete, and read at once. (A file written in place keeps its
        inode; a new file is unknown: both wait in `_settle`.)"""
        known = self._inodes.get(path)
        try:
            return known is not None and path.stat().st_ino != known
        except OSError:
            return False

    async def reload(
        self,
        on_update: Callable[[MeshConfig], Awaitable[None]],
        changed: set[Path] | None = None,
    ) -> None:
        """Read everything, or the `changed` paths (off the event loop), and hand the mesh
        to `on_update`; an unexpected failure is logged and recorded in `health`, never
        raised."""
        self.health.begin()
        try:
            if changed is None:
                mesh = await asyncio.to_thread(self.load)
            else:
                mesh = await asyncio.to_thread(self.load_changed, changed)
            await on_update(mesh)
            self._cache_due.set()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("config.reload_failed")
            self.health.failed(f"{type(exc).__name__}: {str(exc)[:200]}")
            return
        self.health.succeeded()
