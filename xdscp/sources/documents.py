"""Reading YAML files into validated mesh objects, one document at a time.

A YAML syntax error rejects only the file it is in; a schema error, a duplicate
key or a document beyond the limits of `safe_yaml` rejects only the one document.
Errors carry file, document index (and line for YAML errors), kind, namespace/name and
field so `xdscp validate` and the debug endpoint can point at the exact spot.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from translators.model.objects import (
    ConfigError,
    KindEntry,
    MeshObject,
    Origin,
    age_order,
    parse_object,
)
from xdscp.sources.listing import YAML_SUFFIXES as YAML_SUFFIXES
from xdscp.sources.listing import yaml_files as yaml_files
from xdscp.sources.safe_yaml import (
    DEFAULT_LIMITS,
    Document,
    Limits,
    StreamError,
    load_documents,
)


@dataclass(frozen=True, slots=True)
class FileResult:
    """What one file yielded. `syntax_ok` False means its objects are unknown, so the
    previous good versions of everything it used to define must be kept; likewise for
    the documents in `failed_documents` (by position: a failed document may no longer
    say which object it was, e.g. after a bad `metadata.name` edit)."""

    path: str
    objects: tuple[MeshObject[Any], ...]
    errors: tuple[ConfigError, ...]
    # (kind, namespace, name) of documents that failed validation but could be identified
    failed_keys: frozenset[tuple[str, str, str]]
    syntax_ok: bool
    failed_documents: frozenset[int] = frozenset()


def _identify(doc: Any) -> tuple[str, str, str] | None:
    if not isinstance(doc, dict):
        return None
    meta = doc.get("metadata")
    if not isinstance(meta, dict) or not meta.get("name"):
        return None
    return (str(doc.get("kind") or ""), str(meta.get("namespace") or "default"), str(meta["name"]))


def parse_document(
    doc: Any, origin: Origin, kinds: Mapping[str, KindEntry] | None
) -> MeshObject[Any] | list[ConfigError]:
    """parse_object, contained: whatever a document holds, it becomes an object or errors
    of that document, never an exception out of the config loop."""
    try:
        return parse_object(doc, origin, kinds)
    except Exception as exc:
        key = _identify(doc) if isinstance(doc, dict) else None
        kind, namespace, name = key or ("", "", "")
        message = f"cannot be validated ({type(exc).__name__}: {str(exc)[:200]})"
        return [ConfigError(origin, kind, namespace, name, "", message)]


def parse_text(
    text: str,
    source: str,
    kinds: Mapping[str, KindEntry] | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> FileResult:
    """`kinds`: what to accept besides (instead of) the built-in kinds (extensions)."""
    try:
        documents = load_documents(text, limits)
    except StreamError as exc:
        return syntax_error(source, str(exc))
    return file_result(source, documents, kinds)


def syntax_error(source: str, problem: str) -> FileResult:
    """A file whose token stream is broken: none of its documents is known."""
    error = ConfigError(Origin(source), "", "", "", "", f"YAML syntax error {problem}")
    return FileResult(source, (), (error,), frozenset(), syntax_ok=False)


def file_result(
    source: str, documents: Iterable[Document], kinds: Mapping[str, KindEntry] | None = None
) -> FileResult:
    """The decoded `documents` of file `source`, validated one by one."""
    objects: list[MeshObject[Any]] = []
    errors: list[ConfigError] = []
    failed: set[tuple[str, str, str]] = set()
    failed_documents: set[int] = set()
    for document in documents:
        origin = Origin(source, document.index)
        if document.error:
            errors.append(ConfigError(origin, "", "", "", "", f"YAML error {document.error}"))
            failed_documents.add(document.index)
            continue
        if document.value is None:
            continue  # empty document between `---` separators
        parsed = parse_document(document.value, origin, kinds)
        if isinstance(parsed, list):
            errors += parsed
            failed_documents.add(document.index)
            key = _identify(document.value)
            if key:
                failed.add(key)
        else:
            objects.append(parsed)
    return FileResult(
        source,
        tuple(objects),
        tuple(errors),
        frozenset(failed),
        syntax_ok=True,
        failed_documents=frozenset(failed_documents),
    )


def parse_file(path: Path, kinds: Mapping[str, KindEntry] | None = None) -> FileResult:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        error = ConfigError(Origin(str(path)), "", "", "", "", f"cannot read: {exc}")
        return FileResult(str(path), (), (error,), frozenset(), syntax_ok=False)
    return parse_text(text, str(path), kinds)


def duplicate_error(obj: MeshObject[Any], first: MeshObject[Any]) -> ConfigError:
    """`obj` is refused: `first` defines the same kind/namespace/name."""
    return ConfigError(
        obj.origin,
        obj.kind,
        obj.namespace,
        obj.name,
        "metadata.name",
        f"duplicate: already defined at {first.origin}",
    )


def duplicate_errors(
    objects: Iterable[MeshObject[Any]],
) -> tuple[list[MeshObject[Any]], list[ConfigError]]:
    """Two documents defining the same kind/namespace/name: the established one (first
    seen, see `age_order`) wins, and between equally old ones the first in file order;
    the other is reported. A copy added later, in whatever file, never replaces it."""
    listed = list(objects)
    position = {id(o): i for i, o in enumerate(listed)}
    seen: dict[tuple[str, str, str], MeshObject[Any]] = {}
    errors: list[ConfigError] = []
    for obj in sorted(listed, key=lambda o: (age_order(o), position[id(o)])):
        first = seen.get(obj.key)
        if first is not None:
            errors.append(duplicate_error(obj, first))
            continue
        seen[obj.key] = obj
    return sorted(seen.values(), key=lambda o: position[id(o)]), errors
