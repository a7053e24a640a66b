"""ProxyView details not worth a golden case."""

from __future__ import annotations

from tests.translators.helpers import docs, mesh_of, service_entry, workload, workload_entry
from translators.translate import translate

SIDECAR = """\
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: app}
spec:
  ingress:
  - port: {number: 8080, protocol: HTTP, name: http}
  - port: {number: 9090, protocol: HTTP, name: admin}
    defaultEndpoint: 127.0.0.1:19090
"""


def test_ingress_without_default_endpoint_is_skipped_with_a_warning() -> None:
    mesh = mesh_of(docs(SIDECAR, workload_entry("app", "10.0.0.1")))
    view = translate(mesh, workload(mesh, "default/app")).view
    assert view.warnings == (
        "Sidecar/default/app: ingress port 8080 has no defaultEndpoint; skipped",
    )
    assert [(li.name, li.inbound_destination) for li in view.listeners] == [
        ("10.0.0.1_9090", "inbound|9090||")
    ]
    (inbound,) = [c for c in view.destinations if c.name == "inbound|9090||"]
    # not local mode: the pod loopback stays the loopback
    assert [(e.address, e.port) for e in inbound.endpoints] == [("127.0.0.1", 19090)]


def test_ingress_ports_are_not_also_outbound_listeners() -> None:
    mesh = mesh_of(
        docs(
            SIDECAR,
            service_entry("web", ports="[{number: 9090, name: http, protocol: HTTP}]"),
            service_entry("api", ports="[{number: 7070, name: http, protocol: HTTP}]"),
            workload_entry("app", "10.0.0.1"),
        )
    )
    view = translate(mesh, workload(mesh, "default/app")).view
    assert [(li.direction.value, li.port) for li in view.listeners] == [
        ("outbound", 7070),
        ("inbound", 9090),
    ]


def test_translation_does_not_depend_on_document_order() -> None:
    parts = [
        service_entry("a"),
        service_entry("b", namespace="other"),
        workload_entry("client", "10.0.0.1"),
        workload_entry("x", "10.0.0.2", namespace="other"),
    ]
    forward = mesh_of(docs(*parts))
    backward = mesh_of(docs(*reversed(parts)))
    one = translate(forward, workload(forward, "default/client"))
    two = translate(backward, workload(backward, "default/client"))
    assert one.view == two.view
    assert [r.message.SerializeToString(deterministic=True) for r in one.resources] == [
        r.message.SerializeToString(deterministic=True) for r in two.resources
    ]


def test_shadowed_virtual_service_is_reported_once_per_proxy() -> None:
    def vs(name: str, stamp: str) -> str:
        return (
            "apiVersion: networking.istio.io/v1\n"
            "kind: VirtualService\n"
            f'metadata: {{name: {name}, creationTimestamp: "{stamp}"}}\n'
            "spec:\n"
            "  hosts: [a]\n"
            "  http:\n"
            f"  - name: {name}\n"
            "    route: [{destination: {host: a}}]\n"
        )

    two_ports = "[{number: 80, name: http, protocol: HTTP}, {number: 81, name: h2, protocol: HTTP}]"
    mesh = mesh_of(
        docs(
            service_entry("a", ports=two_ports),
            vs("old", "2021-01-01T00:00:00Z"),
            vs("new", "2022-01-01T00:00:00Z"),
            workload_entry("c", "10.0.0.1"),
        )
    )
    view = translate(mesh, workload(mesh, "default/c")).view
    assert [
        r.name
        for rc in view.route_tables
        for vh in rc.virtual_hosts
        for r in vh.routes
        if vh.domains != ("*",)  # the outbound catch-all
    ] == ["old", "old"]
    assert view.warnings == (
        "VirtualService/default/new: shadowed by older VirtualService/default/old "
        "for a.default.svc.cluster.local",
    )
