"""Reading YAML files into validated mesh objects, one document at a time.

A YAML syntax error rejects only the file it is in; a schema error rejects only
the one document. Errors carry file, document index, kind, namespace/name and
field so `xdscp validate` and the debug endpoint can point at the exact spot.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from translators.model.objects import ConfigError, KindEntry, MeshObject, Origin, parse_object

YAML_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True, slots=True)
class FileResult:
    """What one file yielded. `syntax_ok` False means its objects are unknown, so the
    previous good versions of everything it used to define must be kept."""

    path: str
    objects: tuple[MeshObject[Any], ...]
    errors: tuple[ConfigError, ...]
    # (kind, namespace, name) of documents that failed validation but could be identified
    failed_keys: frozenset[tuple[str, str, str]]
    syntax_ok: bool


def yaml_files(root: Path) -> list[Path]:
    """YAML files under `root`, skipping hidden files and directories (editor backups, and
    the `..data`/`..<timestamp>` directories of a mounted Kubernetes ConfigMap, whose files
    are also reachable through the visible per-key symlinks)."""
    if root.is_file():
        return [root]
    return sorted(
        p
        for p in root.rglob("*")
        if p.suffix in YAML_SUFFIXES
        and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )


def _identify(doc: Any) -> tuple[str, str, str] | None:
    if not isinstance(doc, dict):
        return None
    meta = doc.get("metadata")
    if not isinstance(meta, dict) or not meta.get("name"):
        return None
    return (str(doc.get("kind") or ""), str(meta.get("namespace") or "default"), str(meta["name"]))


def parse_text(text: str, source: str, kinds: Mapping[str, KindEntry] | None = None) -> FileResult:
    """`kinds`: what to accept besides (instead of) the built-in kinds (extensions)."""
    try:
        docs = list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        error = ConfigError(Origin(source), "", "", "", "", f"YAML syntax error{where}: {problem}")
        return FileResult(source, (), (error,), frozenset(), syntax_ok=False)
    objects: list[MeshObject[Any]] = []
    errors: list[ConfigError] = []
    failed: set[tuple[str, str, str]] = set()
    for index, doc in enumerate(docs):
        if doc is None:
            continue  # empty document between `---` separators
        parsed = parse_object(doc, Origin(source, index), kinds)
        if isinstance(parsed, list):
            errors += parsed
            key = _identify(doc)
            if key:
                failed.add(key)
        else:
            objects.append(parsed)
    return FileResult(source, tuple(objects), tuple(errors), frozenset(failed), syntax_ok=True)


def parse_file(path: Path, kinds: Mapping[str, KindEntry] | None = None) -> FileResult:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        error = ConfigError(Origin(str(path)), "", "", "", "", f"cannot read: {exc}")
        return FileResult(str(path), (), (error,), frozenset(), syntax_ok=False)
    return parse_text(text, str(path), kinds)


def duplicate_errors(
    objects: Iterable[MeshObject[Any]],
) -> tuple[list[MeshObject[Any]], list[ConfigError]]:
    """Two documents defining the same kind/namespace/name: the first (by file order) wins."""
    seen: dict[tuple[str, str, str], MeshObject[Any]] = {}
    errors: list[ConfigError] = []
    for obj in objects:
        first = seen.get(obj.key)
        if first is not None:
            errors.append(
                ConfigError(
                    obj.origin,
                    obj.kind,
                    obj.namespace,
                    obj.name,
                    "metadata.name",
                    f"duplicate: already defined at {first.origin}",
                )
            )
            continue
        seen[obj.key] = obj
    return list(seen.values()), errors
