"""The assembled mesh of a start, kept beside the parse cache (`serve --parse-cache FILE`
writes `FILE.mesh`), so a restart on unchanged files skips assembling it again.

A warm start from the parse cache alone still assembles the mesh from 50,000 parsed
objects (per-file claims, then the registry: `Assembly`, `build_mesh`), more than a
second at 10,000 services. The snapshot is the file source's whole state right after
its first load — the `Assembly` (which holds the mesh) and, per file, what `stat` said
of it and its content digest — pickled by a forked child once the first proxies are
served (`SnapshotWriter`), so it costs the plane nothing. With it go the translations
the runtime published from that very mesh for the proxies served by then
(`xdscp.warm_start`), so a restart serves them without translating.

The file has three sections, each with its length and digest: the files (with their
identities), the kept translations, the assembled state. A start reads the first two
(`open_snapshot`: the files checked, the translations read) and serves the kept
translations before it unpickles the third (`Opened.assembly`, about a second at
10,000 services), which it loads in the background.

It is trusted only when the start would assemble the very same state:
- the same files, in the same order, each with the identity (`stat`) it had when read,
  vouched for as the parse cache's entries are (`parse_cache`, `file_identity`): a
  file the snapshot cannot vouch for is never taken from it;
- the same code and settings: the parse cache's fingerprint (model and source code,
  pydantic, Python, limits, kinds) plus every source file of the code that shapes
  what is stored (`code_fingerprint.SOURCES`: all of `translators/`, the file source,
  the cache and the runtime) and the mesh options (`fingerprint`);
- a state that a fresh start gives: written only after exactly one load (the initial
  one), with no object rejected by translation (`blame`), every file vouched for.
Anything else is a warm start from the parse cache as before (or a cold one). Like the
parse cache it is a pickle: written with mode 0600, read only under the same ownership
rules (`parse_cache._trusted`), and a damaged one is ignored.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import pickle
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, BinaryIO

import structlog

import translators.mesh
from translators.mesh import Endpoint, MeshConfig, MeshOptions, Service, Workload
from translators.resources import EnvoyResource
from xdscp.cache.snapshot import Resource, TypeSnapshot
from xdscp.sources import assembly as assembly_module
from xdscp.sources import code_fingerprint, parse_cache
from xdscp.sources.assembly import Assembly
from xdscp.sources.file_identity import FileIdentity
from xdscp.sources.forked_write import ForkedWrite, wait_until_idle
from xdscp.warm_start import KeptTranslation, reduce_resource

log = structlog.get_logger()

_FORMAT = b"xdscp-mesh-snapshot-3"
# the source trees whose code shapes what a snapshot holds (`code_fingerprint`): a
# change to any file under them makes every snapshot stale
CODE: tuple[Path, ...] = code_fingerprint.SOURCES


@dataclass(frozen=True, slots=True)
class Snapshot:
    # path -> (its identity when read, its content digest), in `yaml_files` order
    files: dict[str, tuple[FileIdentity, bytes]]
    assembly: Assembly  # after the first load: holds the parse results and the mesh
    # what the runtime translated from that mesh for the proxies served by the time it
    # was written, by proxy key (xdscp/warm_start.py)
    translations: Mapping[str, KeptTranslation] = dataclasses.field(default_factory=dict)


def path_for(cache: Path) -> Path:
    return cache.with_name(f"{cache.name}.mesh")


def fingerprint(parse_fingerprint: bytes, options: MeshOptions) -> bytes:
    digest = hashlib.blake2b(_FORMAT + parse_fingerprint, digest_size=16)
    digest.update(code_fingerprint.cached(CODE))
    digest.update(repr(options).encode())
    return digest.digest()


def _constructed(obj: Any) -> tuple[type, tuple[Any, ...]]:
    """A frozen slots dataclass pickled as a call of its constructor (see parse_cache)."""
    cls = type(obj)
    return cls, tuple(getattr(obj, name) for name in _FIELDS[cls])


_FIELDS: dict[type, tuple[str, ...]] = {
    cls: tuple(f.name for f in dataclasses.fields(cls))
    for cls in (
        Service,
        Endpoint,
        Workload,
        assembly_module._Contribution,
        KeptTranslation,
        Resource,
        TypeSnapshot,
        translators.mesh._Inputs,
        translators.mesh._Registry,
    )
}


def _proxy(values: dict[Any, Any]) -> MappingProxyType[Any, Any]:
    return MappingProxyType(values)


def _mesh(*values: Any) -> MeshConfig:
    return MeshConfig(*values)


_MESH_FIELDS = tuple(f.name for f in dataclasses.fields(MeshConfig) if f.init)


def _reduce_mesh(mesh: MeshConfig) -> tuple[Any, tuple[Any, ...]]:
    # the init fields only: `_by_kind` is a cache, grouped again at its first use
    return _mesh, tuple(getattr(mesh, name) for name in _MESH_FIELDS)


def _reduce_proxy(proxy: MappingProxyType[Any, Any]) -> tuple[Any, tuple[Any, ...]]:
    return _proxy, (dict(proxy),)


# the parse cache's pickler (pydantic models and parse results as it writes them) with
# the mesh's classes besides
class _Pickler(parse_cache._Pickler):
    dispatch_table = {
        **parse_cache._DISPATCH,
        **dict.fromkeys(_FIELDS, _constructed),  # KeptTranslation and the cache's too
        MeshConfig: _reduce_mesh,
        MappingProxyType: _reduce_proxy,
        EnvoyResource: reduce_resource,
    }


def _section(data: bytes) -> bytes:
    """One section of the file: its length (8 bytes), its digest (16), its bytes."""
    return len(data).to_bytes(8, "big") + hashlib.blake2b(data, digest_size=16).digest() + data


def _read_section(stream: BinaryIO) -> bytes:
    header = stream.read(24)
    size = int.from_bytes(header[:8], "big")
    data = stream.read(size)
    if len(header) < 24 or len(data) != size:
        raise ValueError("damaged (cut short)")
    if hashlib.blake2b(data, digest_size=16).digest() != header[8:]:
        raise ValueError("damaged (digest mismatch)")
    return data


def save(
    path: Path, fingerprint_: bytes, snapshot: Snapshot, temporary: Path | None = None
) -> None:
    """Write `snapshot` atomically (`temporary`, made by `parse_cache.temporary_beside`,
    or a new one: mode 0600, renamed over `path`): the files first, in a section of
    their own, so that a start whose files changed reads only that (`load`)."""
    if temporary is None:
        temporary = parse_cache.temporary_beside(path)
    try:
        files = pickle.dumps(snapshot.files, protocol=pickle.HIGHEST_PROTOCOL)
        with temporary.open("wb") as out:
            out.write(_FORMAT + fingerprint_ + _section(files))
            out.write(_section(_pickled(dict(snapshot.translations))))
            out.write(_section(_pickled(snapshot.assembly)))
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _pickled(value: Any) -> bytes:
    stream = io.BytesIO()
    _Pickler(stream, protocol=pickle.HIGHEST_PROTOCOL).dump(value)
    return stream.getvalue()


@dataclass(frozen=True, slots=True)
class Opened:
    """A trusted snapshot whose files were found unchanged and whose kept translations
    are read; its assembled state is read on (`assembly`)."""

    path: Path
    files: dict[str, tuple[FileIdentity, bytes]]
    translations: Mapping[str, KeptTranslation]
    _section: bytes  # the assembled state's section (length, digest, pickle), unchecked

    def assembly(self) -> Assembly | None:
        """The assembled state; None, with a log line, when it is damaged."""
        try:
            assembly = pickle.loads(_read_section(io.BytesIO(self._section)))
            if not isinstance(assembly, Assembly):
                raise ValueError(f"not an assembly: {type(assembly).__name__}")
            return assembly
        except Exception as exc:  # a damaged snapshot is a start without it, not a failure
            log.warning("config.mesh_snapshot_ignored", file=str(self.path), reason=repr(exc)[:200])
            return None


def open_snapshot(
    path: Path, expected: bytes, paths: Sequence[Path | str], identity: Callable[[Any], Any]
) -> Opened | None:
    """The snapshot at `path` if it is there, trusted, of this fingerprint, of exactly
    `paths` (the files now, in `yaml_files` order) each with the identity it had when
    read (`identity`: what `stat` says now), and its kept translations intact; else
    None, with a log line saying why (none when it is simply missing). Nothing else is
    read before the files are known to be unchanged; the assembled state is read into
    memory, not unpickled (`Opened.assembly`)."""
    try:
        problem = parse_cache._trusted(path)
        if problem:
            log.warning("config.mesh_snapshot_ignored", file=str(path), reason=problem)
            return None
        with path.open("rb") as stream:
            if stream.read(len(_FORMAT)) != _FORMAT or stream.read(16) != expected:
                log.info("config.mesh_snapshot_stale", file=str(path), reason="code or options")
                return None
            files = pickle.loads(_read_section(stream))
            if not isinstance(files, dict) or not unchanged(files, paths, identity):
                log.info("config.mesh_snapshot_stale", file=str(path), reason="files")
                return None
            translations = pickle.loads(_read_section(stream))
            rest = stream.read()
        if not isinstance(translations, dict):
            raise ValueError(f"not kept translations: {type(translations).__name__}")
        return Opened(path, files, MappingProxyType(translations), rest)
    except FileNotFoundError:
        return None
    except Exception as exc:  # a damaged snapshot is a start without it, not a failure
        log.warning("config.mesh_snapshot_ignored", file=str(path), reason=repr(exc)[:200])
        return None


def load(
    path: Path, expected: bytes, paths: list[Path], identity: Callable[[Path], Any]
) -> Snapshot | None:
    """The whole snapshot (`open_snapshot`, then its assembled state), or None."""
    opened = open_snapshot(path, expected, paths, identity)
    assembly = opened.assembly() if opened is not None else None
    if opened is None or assembly is None:
        return None
    return Snapshot(opened.files, assembly, opened.translations)


def unchanged(
    files: Mapping[str, tuple[FileIdentity, bytes]],
    paths: Sequence[Path | str],
    identity: Callable[[Any], Any],
) -> bool:
    """Whether `paths` are the snapshot's `files`, each as `stat` saw it when read."""
    if len(paths) != len(files):
        return False
    for path, (name, (known, _)) in zip(paths, files.items(), strict=True):
        if str(path) != name or identity(path) != known:
            return False
    return True


class SnapshotWriter:
    """Writes one snapshot in a forked child (the parent's state as of the fork, taken
    under the source's loading lock), off this process's CPU and interpreter."""

    def __init__(self, path: Path, fingerprint_: bytes) -> None:
        self.path = path
        self.fingerprint = fingerprint_
        self._child: ForkedWrite | None = None
        self.writes = 0

    def start(self, snapshot: Snapshot) -> None:
        if self.busy():
            return
        try:
            temporary = parse_cache.temporary_beside(self.path)
        except OSError as exc:
            log.warning("config.mesh_snapshot_not_saved", file=str(self.path), error=str(exc))
            return
        self._child = ForkedWrite.start(
            temporary, lambda into: save(self.path, self.fingerprint, snapshot, into)
        )
        self.writes += 1

    def busy(self) -> bool:
        """A child still writing (reaped here when it is done)."""
        child = self._child
        if child is None:
            return False
        wrote = child.poll()
        if wrote is None:
            return True
        self._child = None
        if wrote:
            log.info("config.mesh_snapshot_saved", file=str(self.path), seconds=child.seconds())
        else:
            log.warning("config.mesh_snapshot_not_saved", file=str(self.path), pid=child.pid)
        return False

    def wait(self, timeout: float) -> bool:
        """Wait (bounded) for a child writing; True when none is left."""
        return wait_until_idle(self.busy, timeout)

    def abandon(self) -> None:
        """Kill an unfinished child and remove its temporary file (no snapshot, or the
        previous one: the next start checks it as any other)."""
        child, self._child = self._child, None
        if child is not None and not child.abandon():
            log.info("config.mesh_snapshot_abandoned", file=str(self.path))


def entries(snapshot: Snapshot) -> Mapping[str, parse_cache.Entry]:
    """The parse cache entries the snapshot's files stand for."""
    results = snapshot.assembly.results
    return {
        name: (known, digest, results[name]) for name, (known, digest) in snapshot.files.items()
    }
