"""A file of parsed config files, so a restart does not read, decode and validate
10,000 unchanged files again (`xdscp serve --parse-cache FILE`, off by default).

Each entry is a file's path, the identity of what was read (device, inode, size, mtime
and ctime, `FileIdentity`), its content digest and its parse result. At a restart, a
file whose `stat` shows the same identity is taken from the cache without being read;
any other file is read, and taken from the cache only if its content digest is the
same. The identity is trusted only because a change to a file always moves its ctime
to "now" (nobody can set a ctime back, unlike an mtime: `touch -d`, `cp -p`), and an
entry vouches by identity only when the file's ctime and mtime were already
`RACY_SECONDS` (file_identity) old when it was read: a write in the same timestamp tick
as the read (same size, same coarse time) could otherwise go unseen. Younger files are checked by
content (git's "racy clean" rule). Only a wall clock set back by more than that while
a file changes could fool it. The whole cache is thrown away when anything that decides
what a file parses to differs from when it was written: the model and loader source
code, pydantic's and Python's versions, the YAML limits and the kinds read
(`fingerprint`). Entries are Python pickles, so the file is trusted like the code: it
is written with mode 0600 and read only if this user owns it and nobody else can
write it or its directory; anything else is ignored (and said so), never loaded.
"""

from __future__ import annotations

import copyreg
import dataclasses
import hashlib
import io
import os
import pickle
import stat
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO

import pydantic
import structlog

import translators.model
import xdscp.sources
from translators.model.objects import KINDS, ConfigError, KindEntry, MeshObject, Origin
from xdscp.sources.documents import FileResult
from xdscp.sources.file_identity import FileIdentity
from xdscp.sources.safe_yaml import Limits

log = structlog.get_logger()

# path -> (identity when read, None when too young to vouch for it; content digest; result)
Entry = tuple[FileIdentity | None, bytes, FileResult]
Entries = dict[str, Entry]
_FORMAT = b"xdscp-parse-cache-5"


def _constructed(obj: Any) -> tuple[type, tuple[Any, ...]]:
    """A frozen slots dataclass pickled as a call of its constructor with its fields:
    the default (`__getstate__`/`__setstate__` walking `dataclasses.fields` for every
    instance) made unpickling 50,000 objects take twice as long."""
    cls = type(obj)
    return cls, tuple(getattr(obj, name) for name in _FIELDS[cls])


_FIELDS = {
    cls: tuple(f.name for f in dataclasses.fields(cls))
    for cls in (FileResult, MeshObject, Origin, ConfigError)
}
_DISPATCH: dict[type, Any] = {**copyreg.dispatch_table, **dict.fromkeys(_FIELDS, _constructed)}
_new = object.__new__
_set = object.__setattr__


def _model(
    cls: type[pydantic.BaseModel], values: dict[str, Any], fields_set: set[str]
) -> pydantic.BaseModel:
    """A pydantic model (no extra fields, no private attributes) as it was pickled: what
    pydantic's own `__setstate__` does, without building and reading a state dict for
    each of ~190,000 models (a sixth of unpickling them)."""
    model = _new(cls)
    _set(model, "__dict__", values)
    _set(model, "__pydantic_fields_set__", fields_set)
    _set(model, "__pydantic_extra__", None)
    _set(model, "__pydantic_private__", None)
    return model


class _Pickler(pickle.Pickler):
    dispatch_table = _DISPATCH

    def __init__(self, file: BinaryIO, protocol: int) -> None:
        super().__init__(file, protocol)
        # one set of fields per model class and fields set, pickled once and shared by
        # the models read back (unpickling 190,000 sets was a fifth of reading the cache):
        # only for frozen models, whose set pydantic never changes (a copy gets its own)
        self._fields_sets: dict[tuple[type, frozenset[str]], set[str]] = {}

    def reducer_override(self, obj: Any) -> Any:
        if (
            isinstance(obj, pydantic.BaseModel)
            and obj.__pydantic_extra__ is None
            and obj.__pydantic_private__ is None
        ):
            cls, fields_set = type(obj), obj.__pydantic_fields_set__
            if cls.model_config.get("frozen"):
                key = (cls, frozenset(fields_set))
                fields_set = self._fields_sets.setdefault(key, fields_set)
            return _model, (cls, obj.__dict__, fields_set)
        return NotImplemented


def fingerprint(kinds: Mapping[str, KindEntry] | None, limits: Limits) -> bytes:
    """What a file's parse result depends on besides its bytes."""
    digest = hashlib.blake2b(_FORMAT, digest_size=16)
    for package in (translators.model, xdscp.sources):
        for path in sorted(Path(next(iter(package.__path__))).glob("*.py")):
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    digest.update(f"{sys.version}|{pydantic.VERSION}|{limits!r}".encode())
    for kind, (group, versions, model) in sorted((KINDS if kinds is None else kinds).items()):
        name = f"{model.__module__}.{model.__qualname__}"
        digest.update(f"{kind}|{group}|{sorted(versions)}|{name}".encode())
    return digest.digest()


def _trusted(path: Path) -> str:
    """Why `path` must not be unpickled ("" when it may)."""
    uid = os.geteuid()
    info = path.stat()
    if info.st_uid != uid:
        return f"{path} is not owned by this user"
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return f"{path} is writable by others"
    directory = path.parent.stat()
    # a sticky directory (/tmp) lets nobody else replace a file this user owns
    shared = directory.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    if directory.st_uid not in (uid, 0) or (shared and not directory.st_mode & stat.S_ISVTX):
        return f"{path.parent} is writable by others"
    return ""


def load(path: Path, expected: bytes) -> Entries:
    """The entries stored at `path`, or none when it is missing, untrusted, stale or
    unreadable (a cache never stops a start). Records appended after the first (see
    `append`) update it in order; a damaged or torn one ends the reading there (what it
    would have said is re-parsed: a missing entry costs a parse, never correctness)."""
    try:
        problem = _trusted(path)
        if problem:
            log.warning("config.parse_cache_ignored", file=str(path), reason=problem)
            return {}
        with path.open("rb") as stream:
            if stream.read(len(_FORMAT)) != _FORMAT or stream.read(16) != expected:
                log.info("config.parse_cache_stale", file=str(path))
                return {}
            entries: Entries = {}
            first = True
            while (record := _read_record(stream)) is not None:
                for name, entry in record.items():
                    if entry is None:
                        entries.pop(name, None)
                    else:
                        entries[name] = entry
                first = False
            if first:
                raise ValueError("no complete record")
    except FileNotFoundError:
        return {}
    except Exception as exc:  # a damaged cache is a cold start, not a failure
        log.warning("config.parse_cache_ignored", file=str(path), reason=repr(exc)[:200])
        return {}
    return entries


def usable(path: Path, expected: bytes) -> bool:
    """Whether `load` would read the cache at `path` (trusted, of this fingerprint),
    without reading its records."""
    try:
        if _trusted(path):
            return False
        with path.open("rb") as stream:
            return stream.read(len(_FORMAT)) == _FORMAT and stream.read(16) == expected
    except OSError:
        return False


# a record: its length (8 bytes), a digest of its bytes (16), a pickled {path: Entry | None}
_HEADER = 24


def _read_record(stream: BinaryIO) -> dict[str, Entry | None] | None:
    """The next complete, intact record; None at the end or at a torn/damaged one."""
    header = stream.read(_HEADER)
    if len(header) < _HEADER:
        return None
    size = int.from_bytes(header[:8], "big")
    body = stream.read(size)
    if len(body) != size or hashlib.blake2b(body, digest_size=16).digest() != header[8:]:
        return None
    record = pickle.loads(body)
    return record if isinstance(record, dict) else None


def _record(entries: Mapping[str, Entry | None]) -> bytes:
    stream = io.BytesIO()
    _Pickler(stream, protocol=pickle.HIGHEST_PROTOCOL).dump(dict(entries))
    body = stream.getvalue()
    digest = hashlib.blake2b(body, digest_size=16).digest()
    return len(body).to_bytes(8, "big") + digest + body


def save(path: Path, fingerprint_: bytes, entries: Entries, temporary: Path | None = None) -> None:
    """Write `entries` atomically (temporary file, mode 0600, renamed over `path`).
    `temporary`: the file to write first (made by `temporary_beside`), else a new one."""
    if temporary is None:
        temporary = temporary_beside(path)
    try:
        with temporary.open("wb") as stream:
            stream.write(_FORMAT + fingerprint_ + _record(entries))
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def temporary_beside(path: Path) -> Path:
    """A new empty file (mode 0600) in `path`'s directory, to be renamed over it."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(descriptor)
    return Path(temporary)


def append(path: Path, changes: Mapping[str, Entry | None]) -> int:
    """Add one record of `changes` (None: the file is gone) to the cache at `path`,
    which must be this run's (its header checked by `load` or written by `save`). One
    write: a crash tears at most this record, which `load` then ignores. Its size."""
    data = _record(changes)
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(descriptor, view) :]
    finally:
        os.close(descriptor)
    return len(data)
