"""The one golden harness: every suite's cases, rendered stage by stage.

A suite is a `testdata/` directory with `in/<case>.yaml` inputs and `out/` outputs
(`SUITES`: tests/golden, tests/telemetry, tests/extensions). Each case has
outputs per stage:

    out/<case>.ir.yaml      Istio objects -> IR (translators/ir/codec.py's YAML, loadable)
    out/<case>.<xds>.yaml   IR -> xDS, one file per type (cds, eds, lds, rds)

and for every case without extensions or EnvoyFilters, the harness checks that the IR
*loaded from the IR output* generates byte for byte the xDS the translator produced
(`stage_mismatches`), so the xDS outputs are exactly what the IR golden generates.
`make golden` (`pytest tests/golden --update-golden`) rewrites them all.

An input is a multi-document mesh whose leading comment block names what to
translate and how:

    # proxies: <namespace>/<workload> [<namespace>/<workload> ...]
    # options: local_mode=true root_namespace=istio-system
    # telemetry: access_log=/dev/stdout tracing=zipkin=127.0.0.1:9411 sampling=100
    # extensions: examples/extension/local_ratelimit.py:extension

`proxies` is required; `options` are `MeshOptions` fields. Every other comment line is
the case's description.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml
from google.protobuf import json_format
from google.protobuf.message import Message

from translators.envoy.proxy import proxy_resources
from translators.extensions import ExtensionSet
from translators.gateway.proxy import mesh_gateways
from translators.ir.codec import IRDocument, dump_document, load_document
from translators.mesh import MeshConfig, MeshOptions, build_mesh
from translators.naming import PUSH_ORDER, SHORT_TYPE_NAMES
from translators.telemetry.options import TelemetryOptions, TracingProvider
from translators.translate import MeshTranslator, ProxyResources
from xdscp.cli_mesh import load_extension
from xdscp.sources.documents import parse_text

REPO = Path(__file__).resolve().parents[2]
TESTDATA = Path(__file__).parent / "testdata"
SUITES = (
    TESTDATA,
    REPO / "tests" / "telemetry" / "testdata",
    REPO / "tests" / "extensions" / "testdata",
)
IN_DIR = TESTDATA / "in"


@dataclass(frozen=True, slots=True)
class GoldenCase:
    name: str
    path: Path
    proxies: tuple[str, ...]
    options: MeshOptions
    extensions: ExtensionSet = dataclasses.field(default_factory=ExtensionSet)

    @property
    def root(self) -> Path:
        """The suite's testdata directory."""
        return self.path.parent.parent

    def output(self, kind: str) -> Path:
        return self.root / "out" / f"{self.name}.{kind}.yaml"


def _option_value(field: dataclasses.Field[Any], raw: str) -> object:
    if field.type in (bool, "bool"):
        if raw not in ("true", "false"):
            raise ValueError(f"option {field.name}: expected true or false, got {raw!r}")
        return raw == "true"
    return raw


def _telemetry(value: str) -> TelemetryOptions:
    options = TelemetryOptions()
    for item in value.split():
        key, _, raw = item.partition("=")
        if key == "access_log":
            options = replace(options, access_log_path=raw)
        elif key == "tracing":
            options = replace(options, tracing=TracingProvider.parse(raw))
        elif key == "sampling":
            options = replace(options, sampling=float(raw))
        else:
            raise ValueError(f"unknown telemetry option {key!r}")
    return options


def load_case(path: Path) -> GoldenCase:
    proxies: list[str] = []
    options: dict[str, object] = {}
    specs: list[str] = []
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
        elif key == "telemetry":
            options["telemetry"] = _telemetry(value)
        elif key == "extensions":
            specs += [str(REPO / s) for s in value.split()]
    if not proxies:
        raise ValueError(f"{path.name}: the header must name `# proxies: ns/name ...`")
    return GoldenCase(
        path.name.removesuffix(".yaml"),
        path,
        tuple(proxies),
        MeshOptions(**options),  # type: ignore[arg-type]
        ExtensionSet(tuple(load_extension(s) for s in specs)),
    )


def suite_cases(root: Path) -> list[GoldenCase]:
    return [load_case(p) for p in sorted((root / "in").glob("*.yaml"))]


def all_cases() -> list[GoldenCase]:
    """The cases of tests/golden (the core translator's)."""
    return suite_cases(TESTDATA)


def every_case() -> list[GoldenCase]:
    """The cases of every suite."""
    return [case for root in SUITES for case in suite_cases(root)]


def case_named(name: str) -> GoldenCase:
    return load_case(IN_DIR / f"{name}.yaml")


def load_mesh(case: GoldenCase) -> MeshConfig:
    """Parse the case as the file source would (source named by file name only, so
    error texts do not depend on where the repository lives)."""
    text = case.path.read_text(encoding="utf-8")
    parsed = parse_text(text, case.path.name, case.extensions.kinds())
    return build_mesh(parsed.objects, parsed.errors, case.options)


def translate_case(case: GoldenCase) -> tuple[MeshConfig, list[ProxyResources]]:
    mesh = load_mesh(case)
    translator = MeshTranslator(mesh, extensions=case.extensions)
    out: list[ProxyResources] = []
    for key in case.proxies:
        namespace, _, name = key.partition("/")
        workload = mesh.workload(namespace, name)
        if workload is None:
            raise LookupError(f"{case.name}: no workload {key} (have {sorted(mesh.workloads)})")
        out.append(translator.translate(workload))
    return mesh, out


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
    where = case.path.relative_to(REPO)
    return f"# {what} for {where}.\n# Generated: edit the input, then run `make golden`.\n"


def render_ir(case: GoldenCase, mesh: MeshConfig, results: list[ProxyResources]) -> str:
    document = IRDocument(tuple(str(e) for e in mesh.errors), tuple(r.view for r in results))
    return _header(case, "Istio objects -> IR (ProxyView)") + dump_document(document)


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


def render_xds(case: GoldenCase, results: list[ProxyResources]) -> dict[str, str]:
    """Output kind (`cds`, `eds`, ...) -> that type's golden text, for the types any of
    the case's proxies has."""
    by_proxy = [(r.proxy, resources_by_type(r)) for r in results]
    out: dict[str, str] = {}
    for type_url in PUSH_ORDER:
        short = SHORT_TYPE_NAMES[type_url]
        proxies = [
            {"proxy": proxy, short: grouped[short]}
            for proxy, grouped in by_proxy
            if short in grouped
        ]
        if proxies:
            what = f"IR -> xDS {short}"
            out[short.lower()] = _dump(_header(case, what), {"proxies": proxies})
    return out


def render(case: GoldenCase) -> dict[str, str]:
    """Output kind -> golden text."""
    mesh, results = translate_case(case)
    return {"ir": render_ir(case, mesh, results), **render_xds(case, results)}


def stage_mismatches(case: GoldenCase, ir_text: str) -> list[str]:
    """Where the IR loaded from `ir_text` (the case's IR output) does not generate the
    translator's xDS byte for byte. Cases with extensions or EnvoyFilters are not checked
    (those patch the xDS after the IR stage), nor gateway proxies (built from the
    gateway IR, translators/gateway/ir.py)."""
    mesh, results = translate_case(case)
    if case.extensions or mesh.of_kind("EnvoyFilter"):
        return []
    loaded = load_document(ir_text, case.output("ir").name)
    gateways = mesh_gateways(MeshTranslator(mesh))
    problems: list[str] = []
    for result, view in zip(results, loaded.proxies, strict=True):
        workload = mesh.workload(*result.proxy.split("/", 1))
        if workload is None or gateways.is_gateway_proxy(workload):
            continue
        for type_url, resources in proxy_resources(view).items():
            generated = {r.name: r.body() for r in resources}
            translated = {r.name: r.body() for r in result.of_type(type_url)}
            if generated != translated:
                differ = sorted(
                    n
                    for n in generated.keys() | translated.keys()
                    if generated.get(n) != translated.get(n)
                )
                problems.append(
                    f"{result.proxy} {SHORT_TYPE_NAMES[type_url]}: the IR output generates other"
                    f" bytes than the translator for {differ[:5]}"
                )
    return problems
