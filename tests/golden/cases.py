"""Golden cases: `testdata/in/<case>.yaml` -> `testdata/out/<case>.{ir,envoy}.yaml`.

An input is a multi-document mesh whose leading comment block names what to
translate and how:

    # proxies: <namespace>/<workload> [<namespace>/<workload> ...]
    # options: local_mode=true root_namespace=istio-system

`proxies` is required; `options` are `MeshOptions` fields. Every other comment line is
the case's description.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import yaml
from google.protobuf import json_format
from google.protobuf.message import Message

from translators.mesh import MeshConfig, MeshOptions, build_mesh
from translators.naming import PUSH_ORDER, SHORT_TYPE_NAMES
from translators.translate import MeshTranslator, ProxyResources
from xdscp.sources.documents import parse_text

TESTDATA = Path(__file__).parent / "testdata"
IN_DIR = TESTDATA / "in"
OUT_DIR = TESTDATA / "out"
OUTPUT_KINDS = ("ir", "envoy")


@dataclass(frozen=True, slots=True)
class GoldenCase:
    name: str
    path: Path
    proxies: tuple[str, ...]
    options: MeshOptions

    def output(self, kind: str) -> Path:
        return OUT_DIR / f"{self.name}.{kind}.yaml"


def _option_value(field: dataclasses.Field[Any], raw: str) -> object:
    if field.type in (bool, "bool"):
        if raw not in ("true", "false"):
            raise ValueError(f"option {field.name}: expected true or false, got {raw!r}")
        return raw == "true"
    return raw


def load_case(path: Path) -> GoldenCase:
    proxies: list[str] = []
    options: dict[str, object] = {}
    fields = {f.name: f for f in dataclasses.fields(MeshOptions)}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        key, sep, value = line.lstrip("# ").partition(":")
        if not sep:
            continue
        if key == "proxies":
            proxies += value.split()
        elif key == "options":
            for item in value.split():
                name, _, raw = item.partition("=")
                if name not in fields:
                    raise ValueError(f"{path.name}: unknown option {name!r}")
                options[name] = _option_value(fields[name], raw)
    if not proxies:
        raise ValueError(f"{path.name}: the header must name `# proxies: ns/name ...`")
    return GoldenCase(path.name.removesuffix(".yaml"), path, tuple(proxies), MeshOptions(**options))  # type: ignore[arg-type]


def all_cases() -> list[GoldenCase]:
    return [load_case(p) for p in sorted(IN_DIR.glob("*.yaml"))]


def case_named(name: str) -> GoldenCase:
    return load_case(IN_DIR / f"{name}.yaml")


def load_mesh(case: GoldenCase) -> MeshConfig:
    """Parse the case as the file source would (source named by file name only, so
    error texts do not depend on where the repository lives)."""
    parsed = parse_text(case.path.read_text(encoding="utf-8"), case.path.name)
    return build_mesh(parsed.objects, parsed.errors, case.options)


def translate_case(case: GoldenCase) -> tuple[MeshConfig, list[ProxyResources]]:
    mesh = load_mesh(case)
    translator = MeshTranslator(mesh)
    out: list[ProxyResources] = []
    for key in case.proxies:
        namespace, _, name = key.partition("/")
        workload = mesh.workload(namespace, name)
        if workload is None:
            raise LookupError(f"{case.name}: no workload {key} (have {sorted(mesh.workloads)})")
        out.append(translator.translate(workload))
    return mesh, out


def _plain(value: object) -> object:
    """dataclasses.asdict output made YAML-safe and compact: enums by value, tuples as
    lists, and None and empty strings/collections left out (they are the IR's defaults)."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {
            str(k): _plain(v)
            for k, v in value.items()
            if v is not None and not (isinstance(v, str | list | tuple | Mapping) and len(v) == 0)
        }
    return value


def _builtin(value: object) -> object:
    """MessageToDict output (OrderedDicts inside Any) as plain dicts, nothing dropped:
    an empty message such as `ads: {}` means something."""
    if isinstance(value, Mapping):
        return {str(k): _builtin(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_builtin(v) for v in value]
    return value


def _dump(header: str, document: object) -> str:
    body = yaml.safe_dump(
        document, sort_keys=False, default_flow_style=False, width=100, allow_unicode=True
    )
    return header + body


def _header(case: GoldenCase, what: str) -> str:
    return (
        f"# {what} for tests/golden/testdata/in/{case.name}.yaml.\n"
        "# Generated: edit the input, then run `pytest tests/golden --update-golden`.\n"
    )


def render_ir(case: GoldenCase, mesh: MeshConfig, results: list[ProxyResources]) -> str:
    document = {
        "mesh_errors": [str(e) for e in mesh.errors],
        "proxies": [_plain(dataclasses.asdict(r.view)) for r in results],
    }
    return _dump(_header(case, "Intermediate representation (ProxyView)"), document)


def resources_by_type(result: ProxyResources) -> dict[str, list[dict[str, Any]]]:
    """Envoy resources of one proxy as dicts (proto field names), grouped by xDS type in
    push order, sorted by name within a type."""
    grouped: dict[str, list[dict[str, Any]]] = {}
    for type_url in PUSH_ORDER:
        found = sorted(result.of_type(type_url), key=lambda r: r.name)
        if found:
            grouped[SHORT_TYPE_NAMES[type_url]] = [message_dict(r.message) for r in found]
    return grouped


def message_dict(message: Message) -> dict[str, Any]:
    plain = _builtin(json_format.MessageToDict(message, preserving_proto_field_name=True))
    assert isinstance(plain, dict)
    _sort_maps(message, plain)
    return plain


def _sort_maps(message: Message, plain: dict[str, Any]) -> None:
    """Protobuf map fields (RBAC policies, Struct fields) come out of MessageToDict in
    hash order, which changes from one process to the next: sort them by key, in place,
    down through nested and Any-packed messages."""
    if message.DESCRIPTOR.full_name == "google.protobuf.Any":
        inner = _unpacked(message)
        if inner is not None:
            _sort_maps(inner, plain)
        return
    if message.DESCRIPTOR.full_name == "google.protobuf.Struct":
        _sort_plain(plain)
        return
    for field, value in message.ListFields():
        if field.name not in plain:
            continue
        if field.message_type is None:
            continue
        if field.message_type.GetOptions().map_entry:
            entries = dict(sorted(plain[field.name].items()))
            plain[field.name] = entries
            if field.message_type.fields_by_name["value"].message_type is not None:
                for key, item in value.items():
                    if isinstance(entries.get(str(key)), dict):
                        _sort_maps(item, entries[str(key)])
        elif field.is_repeated:
            for item, item_plain in zip(value, plain[field.name], strict=True):
                if isinstance(item_plain, dict):
                    _sort_maps(item, item_plain)
        elif isinstance(plain[field.name], dict):
            _sort_maps(value, plain[field.name])


def _sort_plain(value: Any) -> Any:
    if isinstance(value, dict):
        ordered = {k: _sort_plain(value[k]) for k in sorted(value)}
        value.clear()
        value.update(ordered)
    elif isinstance(value, list):
        for item in value:
            _sort_plain(item)
    return value


def _unpacked(packed: Message) -> Message | None:
    from google.protobuf import descriptor_pool, message_factory

    type_name = getattr(packed, "type_url", "").rpartition("/")[2]
    try:
        descriptor = descriptor_pool.Default().FindMessageTypeByName(type_name)
    except KeyError:
        return None
    inner: Message = message_factory.GetMessageClass(descriptor)()
    packed.Unpack(inner)  # type: ignore[attr-defined]
    return inner


def render_envoy(case: GoldenCase, results: list[ProxyResources]) -> str:
    document = {"proxies": [{"proxy": r.proxy, **resources_by_type(r)} for r in results]}
    return _dump(_header(case, "Envoy resources (xDS, by type)"), document)


def render(case: GoldenCase) -> dict[str, str]:
    """Output kind -> golden text."""
    mesh, results = translate_case(case)
    return {"ir": render_ir(case, mesh, results), "envoy": render_envoy(case, results)}
