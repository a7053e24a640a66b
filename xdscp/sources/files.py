"""The file source: a directory of Istio YAML, watched, debounced.

It keeps, per object, the last good version: when an edit breaks an object, the
mesh keeps running on that object's previous version (and the error is shown)
until the file is fixed. Objects whose documents are removed are deleted.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import structlog
import watchfiles

from translators.mesh import MeshConfig, MeshOptions, build_mesh
from translators.model.objects import ConfigError, KindEntry, MeshObject
from xdscp.sources.documents import FileResult, duplicate_errors, parse_file, parse_text, yaml_files

log = structlog.get_logger()

Key = tuple[str, str, str]


class DirectorySource:
    def __init__(
        self,
        root: Path,
        options: MeshOptions | None = None,
        quiet_ms: int = 100,
        max_wait_ms: int = 1000,
        log_errors: bool = True,
        kinds: Mapping[str, KindEntry] | None = None,
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

    def load(self) -> MeshConfig:
        """Read every file now and return the resulting mesh (also used by `validate`)."""
        results = [self._parse(p) for p in yaml_files(self.root)]
        return self._assemble(results)

    def _parse(self, path: Path) -> FileResult:
        """A file whose bytes are unchanged since the last load is not parsed again: one
        edited VirtualService among 10,000 files costs one YAML parse, not 10,000, and the
        unchanged files yield the very same objects, which keeps translation memos hot.
        (Compared by content, not mtime: two same-size writes within one timestamp tick
        must not be missed.)"""
        try:
            data = path.read_bytes()
        except OSError:
            return parse_file(path, self.kinds)
        digest = hashlib.blake2b(data, digest_size=16).digest()
        cached = self._parsed.get(path)
        if cached is not None and cached[0] == digest:
            return cached[1]
        try:
            result = parse_text(data.decode("utf-8"), str(path), self.kinds)
        except UnicodeDecodeError:
            result = parse_file(path, self.kinds)  # reports the decoding error
        self._parsed[path] = (digest, result)
        return result

    def _assemble(self, results: list[FileResult]) -> MeshConfig:
        previous_keys = self._keys_by_file
        self._keys_by_file = {}
        objects: list[MeshObject[Any]] = []
        errors: list[ConfigError] = []
        for result in results:
            errors += result.errors
            objects += result.objects
            contributed = {o.key for o in result.objects}
            kept_keys = set(result.failed_keys)
            if not result.syntax_ok:
                kept_keys |= previous_keys.get(result.path, set())
            for key in sorted(kept_keys):
                last = self._last_good.get(key)
                if last is not None and key not in contributed:
                    objects.append(last)  # keep the last good version of a now-broken object
                    contributed.add(key)
            self._keys_by_file[result.path] = contributed
        unique, dup_errors = duplicate_errors(objects)
        errors += dup_errors
        self._last_good = {o.key: o for o in unique}
        mesh = build_mesh(unique, errors, self.options)
        if self.log_errors:
            for error in mesh.errors:
                log.warning("config.rejected", error=str(error))
        return mesh

    async def run(
        self,
        on_update: Callable[[MeshConfig], Awaitable[None]],
        stop: asyncio.Event | None = None,
        initial: bool = True,
    ) -> None:
        """Emit the initial mesh (unless the caller already loaded it), then one mesh per
        batch of file changes."""
        if initial:
            await on_update(self.load())
        async for changes in watchfiles.awatch(
            self.root,
            debounce=self.max_wait_ms,
            step=self.quiet_ms,
            stop_event=stop,
            recursive=True,
        ):
            log.info("config.changed", files=sorted({Path(p).name for _, p in changes}))
            await on_update(self.load())
