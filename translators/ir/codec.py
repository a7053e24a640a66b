"""The IR as YAML: dumped and loaded, typed, so that a loaded IR equals the one dumped.

The IR is the contract between the two stages (Istio model -> IR -> xDS): a golden IR
file is both the first stage's expected output and the second's input. So the text form
must carry everything and nothing else: a dataclass is a mapping of its fields, in field
order, leaving out the fields equal to their default; an enum is its value; a tuple is a
list. Loading checks every value against the field's annotation and names the path of
the first that does not fit (`proxies[0].destinations[3].resolution: ...`).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from functools import cache
from typing import Any, TypeVar

import yaml

from translators.errors import TranslatorError
from translators.ir.proxy import ProxyView

T = TypeVar("T")
_MISSING = dataclasses.MISSING


class IRFormatError(TranslatorError, ValueError):
    """A YAML document is not a valid IR (the message names the path and the field)."""


@dataclass(frozen=True, slots=True)
class IRDocument:
    """What an IR file holds: the proxies' IR and the errors of the mesh it came from."""

    mesh_errors: tuple[str, ...] = ()
    proxies: tuple[ProxyView, ...] = ()


def to_plain(value: object) -> object:
    """`value` (an IR object, or a tuple of them) as plain YAML-safe data."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out: dict[str, object] = {}
        for name, default in _defaults(type(value)):
            item = getattr(value, name)
            if default is not _MISSING and type(item) is type(default) and item == default:
                continue
            out[name] = to_plain(item)
        return out
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, tuple | list):
        return [to_plain(v) for v in value]
    if value is None or isinstance(value, str | int | float):
        return value
    raise TypeError(f"not IR data: {type(value).__name__}")


def from_plain(kind: type[T], data: object, path: str = "") -> T:
    """Plain data (as `to_plain` made it) back into an object of `kind`."""
    value: T = _decode(kind, data, path)
    return value


def dump_document(document: IRDocument) -> str:
    return yaml.dump(
        to_plain(document),
        Dumper=_DUMPER,
        sort_keys=False,
        default_flow_style=False,
        width=100,
        allow_unicode=True,
    )


def load_document(text: str, source: str = "IR") -> IRDocument:
    """An IR file's document; IRFormatError names `source` and what is wrong."""
    try:
        data = yaml.load(text, Loader=_LOADER)
    except yaml.YAMLError as exc:
        raise IRFormatError(f"{source}: not YAML: {exc}") from exc
    try:
        return from_plain(IRDocument, data if data is not None else {}, "")
    except IRFormatError as exc:
        raise IRFormatError(f"{source}: {exc}") from exc


_DUMPER: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@cache
def _defaults(kind: type) -> tuple[tuple[str, object], ...]:
    """(field name, default or MISSING) of a dataclass, in field order."""
    out: list[tuple[str, object]] = []
    for f in dataclasses.fields(kind):
        if f.default is not _MISSING:
            out.append((f.name, f.default))
        elif f.default_factory is not _MISSING:
            out.append((f.name, f.default_factory()))
        else:
            out.append((f.name, _MISSING))
    return tuple(out)


@cache
def _hints(kind: type) -> Mapping[str, Any]:
    return typing.get_type_hints(kind)


def _where(path: str) -> str:
    return path or "the document"


def _decode(kind: Any, data: object, path: str) -> Any:
    decoder = _decoder(kind)
    return decoder(data, path)


@cache
def _decoder(kind: Any) -> Callable[[object, str], Any]:
    """The function decoding plain data into `kind` (an annotation of an IR field)."""
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        return _union_decoder(typing.get_args(kind))
    if origin is tuple:
        return _tuple_decoder(typing.get_args(kind))
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        return _dataclass_decoder(kind)
    if isinstance(kind, type) and issubclass(kind, Enum):
        return _enum_decoder(kind)
    if kind is bool:
        return _scalar(lambda v: isinstance(v, bool), "true or false")
    if kind is int:
        return _scalar(lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer")
    if kind is float:
        # an int stays an int: what was dumped as 10 was the int 10 in memory
        return _scalar(lambda v: isinstance(v, int | float) and not isinstance(v, bool), "a number")
    if kind is str:
        return _scalar(lambda v: isinstance(v, str), "a string")
    raise TypeError(f"the IR codec has no rule for {kind!r}")


def _scalar(test: Callable[[object], bool], expected: str) -> Callable[[object, str], Any]:
    def decode(data: object, path: str) -> object:
        if not test(data):
            raise IRFormatError(f"{_where(path)}: expected {expected}, got {data!r}")
        return data

    return decode


def _union_decoder(options: tuple[Any, ...]) -> Callable[[object, str], Any]:
    rest = [o for o in options if o is not type(None)]
    nullable = len(rest) < len(options)

    def decode(data: object, path: str) -> object:
        if data is None and nullable:
            return None
        problems = []
        for option in rest:
            try:
                return _decode(option, data, path)
            except IRFormatError as exc:
                problems.append(str(exc))
        raise IRFormatError(
            problems[0] if len(problems) == 1 else f"{_where(path)}: {data!r} fits none"
        )

    return decode


def _tuple_decoder(args: tuple[Any, ...]) -> Callable[[object, str], Any]:
    def decode(data: object, path: str) -> object:
        if not isinstance(data, list):
            raise IRFormatError(f"{_where(path)}: expected a list, got {data!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_decode(args[0], item, f"{path}[{i}]") for i, item in enumerate(data))
        if len(data) != len(args):
            raise IRFormatError(f"{_where(path)}: expected {len(args)} items, got {len(data)}")
        return tuple(
            _decode(arg, item, f"{path}[{i}]")
            for i, (arg, item) in enumerate(zip(args, data, strict=True))
        )

    return decode


def _enum_decoder(kind: type[Enum]) -> Callable[[object, str], Any]:
    by_value = {m.value: m for m in kind}

    def decode(data: object, path: str) -> object:
        try:
            return by_value[data]
        except (KeyError, TypeError):
            allowed = ", ".join(str(v) for v in by_value)
            raise IRFormatError(f"{_where(path)}: {data!r} is not one of {allowed}") from None

    return decode


def _dataclass_decoder(kind: type) -> Callable[[object, str], Any]:
    def decode(data: object, path: str) -> object:
        if not isinstance(data, dict):
            raise IRFormatError(
                f"{_where(path)}: expected a mapping of {kind.__name__}, got {data!r}"
            )
        hints = _hints(kind)
        unknown = sorted(set(data) - set(hints))
        if unknown:
            raise IRFormatError(f"{_where(path)}: {kind.__name__} has no field {unknown[0]!r}")
        values: dict[str, object] = {}
        for name, default in _defaults(kind):
            where = f"{path}.{name}" if path else name
            if name in data:
                values[name] = _decode(hints[name], data[name], where)
            elif default is _MISSING:
                raise IRFormatError(f"{where}: required")
        return kind(**values)

    return decode
