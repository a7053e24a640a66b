"""The second half of scripts/istio_compat.py: does real Envoy accept what xdscp makes of
the documents it accepted?

Istio's test data comes as files that are small meshes (a ServiceEntry, its
VirtualService and DestinationRule, ...), and the validation test cases as single
objects. Each such group of accepted documents becomes one mesh, with a probe workload
(a WorkloadEntry) per namespace it uses and per label set its selectors name, so that
Sidecars, policies and Telemetry select a proxy. Every workload of that mesh is
translated, and its resources are folded into a bootstrap that `envoy --mode validate`
judges (tests/envoy_validate.py). A document "validates" when every proxy of its group
does; a translation that raises is reported as such (a translator bug, whatever the
input).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from tests.envoy_validate import Validation, bootstrap_json, build_bootstrap, validate_many
from translators.mesh import build_mesh
from translators.model.objects import MeshObject, Origin
from translators.translate import MeshTranslator
from xdscp.sources.documents import parse_document

PROBE_NETWORK = ipaddress.ip_network("10.254.0.0/16")  # probes' addresses (no real ones)


@dataclass(slots=True)
class Group:
    """Accepted documents that are translated together (one file, or one unit case)."""

    source: str
    objects: list[MeshObject[Any]]
    proxies: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # "<proxy>: <why>" (empty: all valid)
    # Envoy refused only because a file the config names (a CA bundle, a certificate) is
    # not on this machine: the translation is right, the test data's paths are Istio's
    missing_files: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.proxies) and not self.failures and not self.missing_files


def _selected_labels(obj: MeshObject[Any]) -> Iterator[tuple[str, dict[str, str]]]:
    spec = obj.spec
    workload_selector = getattr(spec, "workload_selector", None)
    if workload_selector is not None and workload_selector.labels:
        yield obj.namespace, dict(workload_selector.labels)
    selector = getattr(spec, "selector", None)
    labels = getattr(selector, "match_labels", None) if selector is not None else None
    if labels:
        yield obj.namespace, dict(labels)


def _probes(objects: list[MeshObject[Any]]) -> list[MeshObject[Any]]:
    """One unlabelled probe per namespace, one per label set a selector asks for."""
    wanted: dict[tuple[str, tuple[tuple[str, str], ...]], None] = {}
    for obj in objects:
        wanted[(obj.namespace, ())] = None
        for namespace, labels in _selected_labels(obj):
            wanted[(namespace, tuple(sorted(labels.items())))] = None
    hosts = PROBE_NETWORK.hosts()
    out: list[MeshObject[Any]] = []
    for i, (namespace, pairs) in enumerate(wanted):
        document = {
            "apiVersion": "networking.istio.io/v1",
            "kind": "WorkloadEntry",
            "metadata": {"name": f"xdscp-compat-probe-{i}", "namespace": namespace},
            "spec": {"address": str(next(hosts)), "labels": dict(pairs)},
        }
        parsed = parse_document(document, Origin("probe"), None)
        if isinstance(parsed, MeshObject):
            out.append(parsed)
    return out


def groups_of(accepted: Iterable[tuple[str, MeshObject[Any]]]) -> list[Group]:
    """(source, object) pairs -> one group per file (unit-test cases: one each)."""
    by_source: dict[str, Group] = {}
    for source, obj in accepted:
        key = source.split("[doc ")[0] if "[doc " in source else source
        by_source.setdefault(key, Group(key, [])).objects.append(obj)
    return list(by_source.values())


def _bootstraps(group: Group) -> dict[str, str]:
    """proxy -> bootstrap JSON; a proxy whose translation raises is a failure."""
    mesh = build_mesh([*group.objects, *_probes(group.objects)])
    translator = MeshTranslator(mesh)
    out: dict[str, str] = {}
    for key in sorted(mesh.workloads):
        group.proxies.append(key)
        try:
            resources = translator.translate(mesh.workloads[key]).resources
            out[key] = bootstrap_json(build_bootstrap(resources))
        except Exception as exc:  # a translator bug: reported, never hidden
            group.failures.append(f"{key}: translation raised {type(exc).__name__}: {exc}")
    return out


def check(groups: list[Group], envoy: str, workers: int = 2) -> None:
    """Translate every group and have Envoy validate each proxy's config."""
    configs: dict[str, str] = {}
    owners: dict[str, Group] = {}
    for i, group in enumerate(groups):
        for proxy, text in _bootstraps(group).items():
            name = f"{i}:{proxy}"
            configs[name] = text
            owners[name] = group
    verdicts: Mapping[str, Validation] = validate_many(configs, envoy=envoy, workers=workers)
    for name, verdict in verdicts.items():
        if not verdict.ok:
            problem = f"{name.partition(':')[2]}: {_first_error(verdict)}"
            if _MISSING_FILE in verdict.output:
                owners[name].missing_files.append(problem)
            else:
                owners[name].failures.append(problem)


_MISSING_FILE = "Invalid path: "  # Envoy's words for a DataSource file that is not there


def _first_error(verdict: Validation) -> str:
    lines = [line.strip() for line in verdict.output.splitlines() if line.strip()]
    errors = [line for line in lines if "rror" in line or "exception" in line.lower()]
    return (errors or lines or [f"exit {verdict.returncode}"])[-1][:400]


def print_envoy_report(groups: list[Group], *, listing: bool) -> None:
    documents = sum(len(g.objects) for g in groups)
    ok_documents = sum(len(g.objects) for g in groups if g.ok)
    files_only = [g for g in groups if g.missing_files and not g.failures]
    failing = [g for g in groups if g.failures]
    proxies = sum(len(g.proxies) for g in groups)
    print(
        f"{documents} accepted valid documents in {len(groups)} meshes, {proxies} proxies: "
        f"{ok_documents} documents ({_percent(ok_documents, documents)}) give config "
        "`envoy --mode validate` accepts"
    )
    print(
        f"  {sum(len(g.objects) for g in files_only)} more only name files absent here "
        f"(certificate paths of Istio's test data); "
        f"{sum(len(g.objects) for g in failing)} documents in {len(failing)} meshes fail"
    )
    for group in failing + (files_only if listing else []):
        print(f"  {group.source} ({len(group.objects)} documents)")
        problems = group.failures or group.missing_files
        for problem in problems[: None if listing else 2]:
            print(f"    {problem}")


def _percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"
