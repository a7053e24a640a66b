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
import hashlib
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import structlog
import watchfiles

from translators.extensions import ExtensionSet
from translators.mesh import MeshConfig, MeshOptions, build_mesh
from translators.model.objects import ConfigError, KindEntry, MeshObject, Origin
from xdscp.errors import XdscpError
from xdscp.sources.blame import find_culprits, rejection, translation_failure
from xdscp.sources.documents import (
    YAML_SUFFIXES,
    FileResult,
    duplicate_errors,
    parse_file,
    parse_text,
    yaml_files,
)
from xdscp.sources.health import SourceHealth
from xdscp.sources.safe_yaml import DEFAULT_LIMITS, Limits

log = structlog.get_logger()

Key = tuple[str, str, str]


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
        quiet_ms: int = 100,
        max_wait_ms: int = 1000,
        log_errors: bool = True,
        kinds: Mapping[str, KindEntry] | None = None,
        limits: Limits = DEFAULT_LIMITS,
        settle_ms: int = 200,
        settle_max_s: float = 10.0,
    ) -> None:
        self.root = root
        self.kinds = kinds  # None: the built-in kinds; extensions add theirs
        self.options = options or MeshOptions(local_mode=True)
        self.quiet_ms = quiet_ms
        self.max_wait_ms = max_wait_ms
        self.log_errors = log_errors
        self._last_good: dict[Key, MeshObject[Any]] = {}
        # keys each file contributed last time, parsed or kept: a file that stays
        # unreadable over several loads must keep contributing the same objects
        self._keys_by_file: dict[str, set[Key]] = {}
        self._parsed: dict[Path, tuple[bytes, FileResult]] = {}
        # (file, document index) -> the key that document defined last time
        self._key_at: dict[tuple[str, int], Key] = {}
        self._logged: set[str] = set()
        self._loading = threading.Lock()
        self.limits = limits
        # a changed file is read once its size and mtime held still this long (`_settle`)
        self.settle_ms = settle_ms
        self.settle_max_s = settle_max_s
        self._sizes: dict[Path, int] = {}
        self.health = SourceHealth()
        # last good objects as of the load before the latest one (fallbacks for `blame`)
        self._good_before: dict[Key, MeshObject[Any]] = {}
        self._loads = 0
        # (file, key) -> the load that first saw this definition (see `_stamped`)
        self._first_seen: dict[tuple[str, Key], int] = {}
        # key -> (digest, why, fallback): an object version that cannot be translated
        self._rejected: dict[Key, tuple[str, str, MeshObject[Any] | None]] = {}
        self.parses = 0  # files decoded and validated so far (unchanged files are not)

    def unavailable(self) -> str:
        """Why the directory cannot be read at all ("" when it can)."""
        return "" if self.root.exists() else f"config directory {self.root} does not exist"

    def load(self) -> MeshConfig:
        """Read every file now and return the resulting mesh (also used by `validate`).
        Thread-safe: the watcher loads in a worker thread. A directory that is gone (an
        unmounted volume) raises SourceUnavailable: it must not read as an empty mesh."""
        problem = self.unavailable()
        if problem:
            raise SourceUnavailable(problem)
        with self._loading, _collector_paused():
            started = time.perf_counter()
            self._loads += 1
            paths = yaml_files(self.root)
            parses = self.parses
            results = [self._parse(p) for p in paths]
            present = set(paths)  # forget deleted files (a long-running watcher)
            self._parsed = {p: v for p, v in self._parsed.items() if p in present}
            self._sizes = {p: v for p, v in self._sizes.items() if p in present}
            mesh = self._assemble(results)
            log.info(
                "config.loaded",
                files=len(paths),
                parsed=self.parses - parses,
                objects=len(mesh.objects),
                errors=len(mesh.errors),
                seconds=round(time.perf_counter() - started, 3),
            )
            return mesh

    def _parse(self, path: Path) -> FileResult:
        """A file whose bytes are unchanged since the last load is not parsed again: one
        edited VirtualService among 10,000 files costs one YAML parse, not 10,000, and the
        unchanged files yield the very same objects, which keeps translation memos hot.
        (Compared by content, not mtime: two same-size writes within one timestamp tick
        must not be missed.) Anything unexpected while reading fails this file alone."""
        try:
            return self._parse_unchecked(path)
        except Exception as exc:
            log.exception("config.file_failed", file=str(path))
            message = f"cannot be read ({type(exc).__name__}: {str(exc)[:200]})"
            error = ConfigError(Origin(str(path)), "", "", "", "", message)
            return FileResult(str(path), (), (error,), frozenset(), syntax_ok=False)

    def _parse_unchecked(self, path: Path) -> FileResult:
        try:
            if path.stat().st_size > self.limits.file_bytes:
                message = f"file is larger than {self.limits.file_bytes} bytes"
                error = ConfigError(Origin(str(path)), "", "", "", "", message)
                return FileResult(str(path), (), (error,), frozenset(), syntax_ok=False)
            data = path.read_bytes()
        except OSError:
            return parse_file(path, self.kinds)
        self._sizes[path] = len(data)
        digest = hashlib.blake2b(data, digest_size=16).digest()
        cached = self._parsed.get(path)
        if cached is not None and cached[0] == digest:
            return cached[1]
        self.parses += 1
        try:
            result = parse_text(data.decode("utf-8"), str(path), self.kinds, self.limits)
        except UnicodeDecodeError:
            result = parse_file(path, self.kinds)  # reports the decoding error
        result = self._stamped(result)
        self._parsed[path] = (digest, result)
        return result

    def _stamped(self, result: FileResult) -> FileResult:
        """Each definition (file + object) carries the load in which this source first saw
        it: conflicts go to the oldest (`age_order`). Everything present at start shares
        load 1, so then Istio's creationTimestamp and name order decide."""
        stamped = tuple(
            _first_seen(o, self._first_seen.setdefault((result.path, o.key), self._loads))
            for o in result.objects
        )
        return replace(result, objects=stamped)

    def _assemble(self, results: list[FileResult]) -> MeshConfig:
        previous_keys = self._keys_by_file
        previous_positions = self._key_at
        self._keys_by_file = {}
        self._key_at = {}
        objects: list[MeshObject[Any]] = []
        errors: list[ConfigError] = []
        for result in results:
            errors += result.errors
            objects += result.objects
            contributed = {o.key for o in result.objects}
            for obj in result.objects:
                if obj.origin.document is not None:
                    self._key_at[(result.path, obj.origin.document)] = obj.key
            kept_keys = set(result.failed_keys)
            for index in result.failed_documents:
                # the object this document held before it broke, even when the edit broke
                # its identity (an invalid metadata.name must not delete the object)
                held = previous_positions.get((result.path, index))
                if held is not None:
                    kept_keys.add(held)
                    self._key_at[(result.path, index)] = held
            if not result.syntax_ok:
                kept_keys |= previous_keys.get(result.path, set())
                self._key_at.update(
                    (position, key)
                    for position, key in previous_positions.items()
                    if position[0] == result.path
                )
            for key in sorted(kept_keys):
                last = self._last_good.get(key)
                if last is not None and key not in contributed:
                    objects.append(last)  # keep the last good version of a now-broken object
                    contributed.add(key)
            self._keys_by_file[result.path] = contributed
        unique, dup_errors = duplicate_errors(objects)
        errors += dup_errors
        unique = self._without_rejected(unique, errors)
        self._good_before = self._last_good
        self._last_good = {o.key: o for o in unique}
        # forget definitions that are gone: written again, they are new
        live = {(o.origin.source, o.key) for o in objects}
        self._first_seen = {d: n for d, n in self._first_seen.items() if d in live}
        mesh = build_mesh(unique, errors, self.options)
        if self.log_errors:
            self._log_new_errors(mesh.errors)
        return mesh

    def _without_rejected(
        self, objects: list[MeshObject[Any]], errors: list[ConfigError]
    ) -> list[MeshObject[Any]]:
        """Objects that failed translation (see `blame`) give way to their last good
        version until they are edited."""
        out: list[MeshObject[Any]] = []
        still: dict[Key, tuple[str, str, MeshObject[Any] | None]] = {}
        for obj in objects:
            rejected = self._rejected.get(obj.key)
            if rejected is None or rejected[0] != obj.digest:
                out.append(obj)
                continue
            still[obj.key] = rejected
            _, failure, fallback = rejected
            errors.append(rejection(obj, failure, kept=fallback is not None))
            if fallback is not None:
                out.append(fallback)
        self._rejected = still  # an edited or deleted object gets a fresh chance
        return out

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
            before = self._good_before
            suspects = [o for o in mesh.objects if before.get(o.key) is not o]
            fallback = {k: o for k, o in before.items() if k in {s.key for s in suspects}}
            culprits = find_culprits(
                mesh.objects, self.options, workload_key, suspects, fallback, extensions
            )
            for obj in culprits:
                self._rejected[obj.key] = (obj.digest, failure, fallback.get(obj.key))
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
        if initial:
            await self.reload(on_update)
        async for changes in watchfiles.awatch(
            self.root,
            debounce=self.max_wait_ms,
            step=self.quiet_ms,
            stop_event=stop,
            recursive=True,
        ):
            log.info("config.changed", files=sorted({Path(p).name for _, p in changes}))
            problem = self.unavailable()
            if problem:  # the watch is on a directory that no longer exists: start over
                raise SourceUnavailable(problem)
            await self._settle({Path(p) for _, p in changes if Path(p).suffix in YAML_SUFFIXES})
            await self.reload(on_update)

    async def _settle(self, paths: set[Path]) -> None:
        """Wait (bounded) until the files just written stop changing, so a slow in-place
        write is read once finished, not half-written (which could delete every object
        the file held). A file that shrank to less than half waits longer: truncation is
        what a half-done write looks like. The reliable way is still to write a temporary
        file and rename it over the old one (README); this catches the rest."""
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

    async def reload(self, on_update: Callable[[MeshConfig], Awaitable[None]]) -> None:
        """Read everything (off the event loop) and hand the mesh to `on_update`; an
        unexpected failure is logged and recorded in `health`, never raised."""
        self.health.begin()
        try:
            mesh = await asyncio.to_thread(self.load)
            await on_update(mesh)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("config.reload_failed")
            self.health.failed(f"{type(exc).__name__}: {str(exc)[:200]}")
            return
        self.health.succeeded()
