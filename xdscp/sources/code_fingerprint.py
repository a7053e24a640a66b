"""A digest of the source code that shapes what a restart may take from disk instead
of computing it (the mesh snapshot: `mesh_snapshot`), derived from the files
themselves rather than from a hand-kept list of modules: every `*.py` under each
package directory named here, recursively, by relative path and content. A new
module, a moved one or an edit anywhere in them makes every kept snapshot stale.

About 1.7 MB of source is read and hashed once per process (a few milliseconds;
`cached`), at the first start that uses a snapshot.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable
from pathlib import Path

import translators
import xdscp

_XDSCP = Path(next(iter(xdscp.__path__)))

# What a mesh snapshot's content depends on besides the files it was read from: the
# translator core as a whole (the mesh, its registry, naming, the translation whose
# output is kept for the first proxies), the file source that assembles and stores it,
# and the runtime with the cache types it is stored as.
SOURCES: tuple[Path, ...] = (
    Path(next(iter(translators.__path__))),
    _XDSCP / "sources",
    _XDSCP / "cache",
    _XDSCP / "runtime.py",
    _XDSCP / "warm_start.py",
)


def digest(roots: Iterable[Path]) -> bytes:
    """Every `*.py` under `roots` (a directory recursively, a file itself), in a
    stable order, by path relative to its root and content."""
    hasher = hashlib.blake2b(b"xdscp-code-1", digest_size=16)
    for root in roots:
        files = sorted(root.rglob("*.py")) if root.is_dir() else [root] if root.exists() else []
        hasher.update(f"{root.name}\0{len(files)}\0".encode())
        for path in files:
            data = path.read_bytes()
            name = path.relative_to(root).as_posix() if root.is_dir() else path.name
            hasher.update(f"{name}\0{len(data)}\0".encode())
            hasher.update(data)
    return hasher.digest()


@functools.cache
def cached(roots: tuple[Path, ...] = SOURCES) -> bytes:
    """`digest(roots)`, worked out once per process, at its first start that uses a
    snapshot: what it writes later comes from the code it loaded then, whatever the
    files on disk say by that time (`cached.cache_clear()`: a new process's view)."""
    return digest(roots)
