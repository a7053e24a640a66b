"""Small builders for translator tests: meshes from YAML text, proxies by name."""

from __future__ import annotations

import textwrap

from translators.mesh import MeshConfig, MeshOptions, Workload, build_mesh
from xdscp.sources.documents import parse_text


def mesh_of(text: str, options: MeshOptions | None = None, *, strict: bool = True) -> MeshConfig:
    """A MeshConfig from (dedented) multi-document YAML. `strict` fails on any parse
    or registry error, so a test never runs on a silently smaller mesh."""
    parsed = parse_text(textwrap.dedent(text), "test.yaml")
    mesh = build_mesh(parsed.objects, parsed.errors, options)
    if strict:
        assert not mesh.errors, [str(e) for e in mesh.errors]
    return mesh


def workload(mesh: MeshConfig, key: str) -> Workload:
    namespace, _, name = key.partition("/")
    found = mesh.workload(namespace, name)
    assert found is not None, f"no workload {key} in {sorted(mesh.workloads)}"
    return found


def service_entry(
    name: str,
    namespace: str = "default",
    ports: str = "[{number: 8080, name: http, protocol: HTTP}]",
    endpoints: str = "[{address: 10.1.0.1}]",
    extra: str = "",
) -> str:
    """A MESH_INTERNAL STATIC ServiceEntry document (flow-style fragments as YAML text)."""
    return (
        "apiVersion: networking.istio.io/v1\n"
        "kind: ServiceEntry\n"
        f"metadata: {{name: {name}, namespace: {namespace}}}\n"
        "spec:\n"
        f"  hosts: [{name}]\n"
        "  location: MESH_INTERNAL\n"
        "  resolution: STATIC\n"
        f"  ports: {ports}\n"
        f"  endpoints: {endpoints}\n"
        f"{extra}"
    )


def workload_entry(name: str, address: str, namespace: str = "default", labels: str = "{}") -> str:
    return (
        "apiVersion: networking.istio.io/v1\n"
        "kind: WorkloadEntry\n"
        f"metadata: {{name: {name}, namespace: {namespace}}}\n"
        f"spec: {{address: {address}, labels: {labels}}}\n"
    )


def docs(*documents: str) -> str:
    return "\n---\n".join(documents)
