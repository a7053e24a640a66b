"""Keeps `serve --parse-cache` on disk while the plane runs, so stopping costs nothing
and a killed plane leaves a usable cache.

Writing the whole cache (10,000 files: ~190,000 pickled models) holds the interpreter
for seconds. It is done by a forked child, off this process's CPU and interpreter,
writing a temporary file it renames into place (a crash never leaves a half-written
cache): once after a cold start (the caller waits until the first proxies are served)
and whenever the changes appended since make up much of the file. Every other change
(edited, added or removed files) is appended to the file as one small record
(`parse_cache.append`). Stopping kills an unfinished child (its temporary file is
removed; the previous cache stays) and appends what is left: milliseconds. Only when
there is no usable cache on disk yet (stopped soon after a cold start) does stopping
wait for the whole write (`DirectorySource.stop_parse_cache`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path

import structlog

from xdscp.sources import parse_cache
from xdscp.sources.forked_write import ForkedWrite, wait_until_idle
from xdscp.sources.parse_cache import Entries, Entry

log = structlog.get_logger()

# what an entry vouches for: (identity, content digest)
Stamp = tuple[object, bytes]


def _stamp(entry: Entry) -> Stamp:
    return entry[0], entry[1]


class CacheWriter:
    def __init__(self, path: Path, fingerprint: bytes) -> None:
        self.path = path
        self.fingerprint = fingerprint
        # what the file at `path` holds (None: nothing usable, a whole write is due)
        self._on_disk: dict[str, Stamp] | None = None
        self._appended = 0  # entries appended since the file was last written whole
        # the child writing the file whole, and what that file will vouch for
        self._child: tuple[ForkedWrite, dict[str, Stamp]] | None = None
        # changes not yet on disk (None: any file may have changed, compare them all)
        self._pending: dict[str, Entry | None] | None = None
        self.writes = 0  # whole writes started (children forked)
        self.appends = 0  # records appended

    def loaded(self, entries: Entries) -> None:
        """The cache just read from `path` (empty: none, stale or untrusted)."""
        self._on_disk = {name: _stamp(entry) for name, entry in entries.items()} or None
        self._appended = 0

    def has_file(self) -> bool:
        """Whether a usable cache is on disk (read at start, or written since)."""
        self.busy()  # a child that just finished wrote one
        return self._on_disk is not None

    def busy(self) -> bool:
        """A child still writing (reaped here when it is done)."""
        if self._child is None:
            return False
        child, stamps = self._child
        wrote = child.poll()
        if wrote is None:
            return True
        self._child = None
        if wrote:
            self._on_disk, self._appended = stamps, 0
            log.info(
                "config.parse_cache_saved",
                file=str(self.path),
                files=len(stamps),
                seconds=child.seconds(),
            )
        else:
            self._pending = None  # what changed while it wrote: compared in full next time
            log.warning("config.parse_cache_not_saved", file=str(self.path), pid=child.pid)
        return False

    def persist(
        self,
        entries: Callable[[], Entries],
        changed: Mapping[str, Entry | None] | None,
        whole_allowed: bool = True,
    ) -> None:
        """Bring the file up to `entries()` (the source's parse results now), given the
        entries of the files `changed` since the last call (None: any may have): append
        what differs, or fork a child to write it whole when there is no usable file or
        the appended records have grown to half of it (unless `whole_allowed` is off:
        stopping). While a child writes, `changed` is kept for the next call."""
        if changed is None:
            self._pending = None
        elif self._pending is not None:
            self._pending.update(changed)
        if self.busy():
            return
        on_disk = self._on_disk
        pending, self._pending = self._pending, {}
        if on_disk is None or self._appended > len(on_disk) // 2 + 64:
            if whole_allowed:
                everything = entries()
                if everything:
                    self._fork(everything)
            return
        if pending is None:
            everything = entries()
            pending = {**dict.fromkeys(on_disk.keys() - everything.keys()), **everything}
        changes = {
            name: entry
            for name, entry in pending.items()
            if (on_disk.get(name) if entry is None else on_disk.get(name) != _stamp(entry))
        }
        if not changes:
            return
        started = time.perf_counter()
        try:
            parse_cache.append(self.path, changes)
        except OSError as exc:
            log.warning("config.parse_cache_not_saved", file=str(self.path), error=str(exc))
            self._on_disk = None  # write it whole next time
            return
        for name, entry in changes.items():
            if entry is None:
                on_disk.pop(name, None)
            else:
                on_disk[name] = _stamp(entry)
        self._appended += len(changes)
        self.appends += 1
        log.info(
            "config.parse_cache_appended",
            file=str(self.path),
            files=len(changes),
            seconds=round(time.perf_counter() - started, 4),
        )

    def _fork(self, entries: Entries) -> None:
        try:
            temporary = parse_cache.temporary_beside(self.path)
        except OSError as exc:
            log.warning("config.parse_cache_not_saved", file=str(self.path), error=str(exc))
            return
        stamps = {name: _stamp(entry) for name, entry in entries.items()}
        write = ForkedWrite.start(
            temporary, lambda into: parse_cache.save(self.path, self.fingerprint, entries, into)
        )
        self._child = (write, stamps)
        self.writes += 1

    def wait(self, timeout: float) -> bool:
        """Wait (bounded) for a child writing; True when none is left."""
        return wait_until_idle(self.busy, timeout)

    def abandon(self) -> None:
        """Kill an unfinished child and remove its temporary file (the cache on disk
        stays what it was)."""
        if self._child is None:
            return
        child, stamps = self._child
        self._child = None
        if child.abandon():  # it finished after all
            self._on_disk, self._appended = stamps, 0
            return
        self._pending = None
        log.info("config.parse_cache_abandoned", file=str(self.path))
