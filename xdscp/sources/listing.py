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
    found: list[tuple[tuple[str, ...], Path]] = []
    _scan(root, (), found, set())
    found.sort(key=lambda item: item[0])
    return [path for _, path in found]


def _scan(
    directory: Path,
    parts: tuple[str, ...],
    found: list[tuple[tuple[str, ...], Path]],
    visiting: set[tuple[int, int]],
) -> None:
    """One directory of `yaml_files` (scandir: the file type comes with the listing, so a
    plain file costs no `stat`). `visiting` holds the directories on the current path
    (device, inode): a symbolic link back up the tree is not followed round again."""
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
                _scan(directory / name, (*parts, name), found, visiting)
            elif is_file:
                found.append(((*parts, name), directory / name))
    finally:
        visiting.discard(key)
