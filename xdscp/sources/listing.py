"""Which files of a config directory are read: its YAML files, in a stable order. Its
own small module: `prestart` lists them before the heavy imports of a start."""

from __future__ import annotations

import os
from pathlib import Path

YAML_SUFFIXES = (".yaml", ".yml")


def yaml_files(root: Path) -> list[Path]:
    """YAML files under `root`, skipping hidden files and directories (editor backups, and
    the `..data`/`..<timestamp>` directories of a mounted Kubernetes ConfigMap, whose files
    are also reachable through the visible per-key symlinks). Sorted as `Path`s sort (by
    their parts), following symbolic links as `os.walk(followlinks=True)` does."""
    if root.is_file():
        return [root]
    return [Path(name) for name in _names(root)]


def yaml_file_names(root: Path) -> list[str]:
    """`yaml_files(root)` as the strings of those paths, without a `Path` per file (a
    warm start checks 20,000 of them against its mesh snapshot before it listens)."""
    if root.is_file():
        return [str(root)]
    return _names(root)


def _names(root: Path) -> list[str]:
    found: list[tuple[tuple[str, ...], str]] = []
    _scan(str(root), (), found, set())
    found.sort(key=lambda item: item[0])
    return [name for _, name in found]


def _scan(
    directory: str,
    parts: tuple[str, ...],
    found: list[tuple[tuple[str, ...], str]],
    visiting: set[tuple[int, int]],
) -> None:
    """One directory of `yaml_files` (scandir: the file type comes with the listing, so a
    plain file costs no `stat`). `visiting` holds the directories on the current path
    (device, inode): a symbolic link back up the tree is not followed round again.
    `directory` is a `Path`'s string, so each name joined to it is `str(path / name)`."""
    try:
        with os.scandir(directory) as entries:
            listed = list(entries)
        identity = os.stat(directory)
    except OSError:
        return
    key = (identity.st_dev, identity.st_ino)
    if key in visiting:
        return
    visiting.add(key)
    # as `Path(directory) / name` spells it: no "./" before a name, one separator
    prefix = "" if directory == "." else directory.rstrip(os.sep) + os.sep
    try:
        for entry in listed:
            name = entry.name
            if name.startswith("."):
                continue
            try:
                is_dir = entry.is_dir()
                is_file = not is_dir and name.endswith(YAML_SUFFIXES) and entry.is_file()
            except OSError:
                continue
            if is_dir:
                _scan(prefix + name, (*parts, name), found, visiting)
            elif is_file:
                found.append(((*parts, name), prefix + name))
    finally:
        visiting.discard(key)
