"""One fuzz case through the pipeline a file takes in production: YAML text -> parse and
validate -> mesh -> translation per proxy -> a static bootstrap per proxy that real
Envoy then judges (`envoy --mode validate`, see tests/envoy_validate.py).

The rules checked here, shared by the property test and the fuzzer:
- validation never raises, and every refusal names a field;
- mesh building and translation never raise;
- what validated, Envoy accepts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.envoy_validate import Validation, bootstrap_json, build_bootstrap, validate_many
from translators.mesh import MeshConfig, MeshOptions, build_mesh
from translators.model.objects import ConfigError
from translators.translate import MeshTranslator
from xdscp.sources.documents import parse_text

REPO = Path(__file__).resolve().parents[2]
BASE_PROXIES = ("default/client", "default/order-v1")


def base_mesh_text() -> str:
    """The canary example's services, workloads and sidecars, which the generated objects
    act on. Not its routing: a generated VirtualService for order-service would lose to the
    older one there and never reach Envoy."""
    files = sorted(
        p for p in (REPO / "examples" / "canary").glob("*.yaml") if p.name != "routing.yaml"
    )
    return "\n---\n".join(p.read_text(encoding="utf-8") for p in files)


@dataclass
class Judged:
    """What one case produced before Envoy saw it."""

    objects: int
    errors: list[ConfigError]
    # rule violations found without Envoy (an error without a field)
    problems: list[str] = field(default_factory=list)
    # proxy key -> bootstrap JSON for Envoy
    bootstraps: dict[str, str] = field(default_factory=dict)
    mesh: MeshConfig | None = None


def dump_documents(docs: Iterable[Any]) -> str:
    return yaml.safe_dump_all(list(docs), sort_keys=False, allow_unicode=True)


def judge_text(text: str, source: str = "fuzz.yaml", max_proxies: int = 4) -> Judged:
    """Parse, validate, build and translate `text` appended to the base mesh; exceptions
    propagate (a crash is a finding). Translates the base proxies and up to
    `max_proxies` in all (generated WorkloadEntries are proxies too)."""
    parsed_base = parse_text(base_mesh_text(), "base.yaml")
    assert not parsed_base.errors, [str(e) for e in parsed_base.errors]
    parsed = parse_text(text, source)
    errors = list(parsed.errors)
    problems = [f"refusal without a field: {e}" for e in errors if not e.field and _a_mapping(e)]
    mesh = build_mesh([*parsed_base.objects, *parsed.objects], errors, MeshOptions(local_mode=True))
    problems += [f"refusal without a field: {e}" for e in mesh.errors[len(errors) :] if not e.field]
    translator = MeshTranslator(mesh)
    keys = [*BASE_PROXIES, *sorted(set(mesh.workloads) - set(BASE_PROXIES))][:max_proxies]
    bootstraps = {}
    for key in keys:
        workload = mesh.workloads.get(key)
        if workload is None:
            continue
        resources = translator.translate(workload).resources
        bootstraps[key] = bootstrap_json(build_bootstrap(resources))
    return Judged(len(parsed.objects), list(mesh.errors), problems, bootstraps, mesh)


def _a_mapping(error: ConfigError) -> bool:
    """Errors about a whole document (not a mapping, YAML syntax) have no field to name."""
    return "not a mapping" not in error.message and "YAML" not in error.message


def envoy_rejections(bootstraps: Mapping[str, str], workers: int = 2) -> dict[str, Validation]:
    """The proxies whose configuration Envoy refuses, with Envoy's verdict."""
    if not bootstraps:
        return {}
    verdicts = validate_many(bootstraps, workers=workers)
    return {key: v for key, v in verdicts.items() if not v.ok}
