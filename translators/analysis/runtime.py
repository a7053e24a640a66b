"""Run-time findings: what the proxies' own counters show that config alone cannot.

Double encryption is the case this exists for: a port declared HTTP whose traffic is
TLS (an app calling `https://` through its sidecar's HTTP port, an app serving TLS
behind a mesh HTTP port). The static checks catch it where the config says so (a port
named `https`, a DestinationRule originating TLS to an in-mesh service); everywhere
else Envoy's HTTP codec is the witness: it counts every connection whose bytes are not
HTTP — `downstream_cx_protocol_error` on the port's connection manager, and
`upstream_cx_protocol_error` on the cluster whose server answered something else.

Pure: counters in (gathered by whoever can reach the proxies), messages out, each
naming the object that declared the port HTTP, like every other analysis message.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from translators.analysis.gateway_certs import GATEWAY_CERT_MESSAGE_TYPES
from translators.analysis.jwks import JWKS_MESSAGE_TYPES
from translators.analysis.message import Message, MessageType, Severity
from translators.ir import Direction, ListenerIR, ProxyView
from translators.mesh import MeshConfig
from translators.model.networking import HTTP_PROTOCOLS, SidecarSpec
from translators.model.objects import MeshObject
from translators.naming import listener_stat_prefix, parse_outbound_cluster

# XDS07xx: findings from the running proxies (never from `xdscp analyze` on files).
NOT_HTTP_ON_HTTP_PORT = MessageType(
    "XDS0701",
    "NonHTTPTrafficOnHTTPPort",
    Severity.ERROR,
    "a sidecar received connections on a port declared HTTP that were not HTTP "
    "(TLS from the app inside the mesh: double encryption); they are reset",
)
NOT_HTTP_FROM_UPSTREAM = MessageType(
    "XDS0702",
    "NonHTTPResponseOnHTTPPort",
    Severity.ERROR,
    "a server behind a port declared HTTP answered with something that is not HTTP "
    "(it serves TLS): requests fail with 503",
)
RUNTIME_MESSAGE_TYPES = (
    NOT_HTTP_ON_HTTP_PORT,
    NOT_HTTP_FROM_UPSTREAM,
    *JWKS_MESSAGE_TYPES,
    *GATEWAY_CERT_MESSAGE_TYPES,
)


@dataclass(frozen=True, slots=True)
class ProtocolErrors:
    """Connections one sidecar could not parse as HTTP, as Envoy counted them: on a
    listener's connection manager (`stat_prefix`) or towards a cluster (`cluster`)."""

    workload: str  # namespace/name
    count: int
    stat_prefix: str = ""
    cluster: str = ""


def _listener(view: ProxyView, stat_prefix: str) -> ListenerIR | None:
    return next(
        (
            li
            for li in view.listeners
            if listener_stat_prefix(li.direction.value, li.address, li.port) == stat_prefix
        ),
        None,
    )


def _sidecar_port_field(sidecar: MeshObject[Any], direction: Direction, port: int) -> str:
    spec: SidecarSpec = sidecar.spec
    side = "egress" if direction is Direction.OUTBOUND else "ingress"
    ports = [
        listener.port
        for listener in (spec.egress if direction is Direction.OUTBOUND else spec.ingress)
    ]
    for index, declared in enumerate(ports):
        if declared is not None and declared.number == port:
            return f"spec.{side}[{index}].port"
    return f"spec.{side}"


def _service_port_fields(
    mesh: MeshConfig, hosts: Iterable[str], port: int, target: bool
) -> list[tuple[str, str]]:
    """(defining object, field) of each service port numbered `port` (or whose target
    port is, on the server side) that is declared HTTP. Kubernetes Services are named
    too, though they are not mesh objects here."""
    found: list[tuple[str, str]] = []
    for host in hosts:
        service = mesh.services.get(host)
        if service is None:
            continue
        for index, p in enumerate(service.ports):
            number = (p.target_port or p.number) if target else p.number
            if number == port and p.protocol in HTTP_PROTOCOLS:
                found.append((service.source, f"spec.ports[{index}]"))
    return found


def _declaring(
    mesh: MeshConfig, listener: ListenerIR, view: ProxyView, workload: str
) -> list[tuple[str, str]]:
    """The objects that made `listener` an HTTP port: its Sidecar, else the services."""
    objects = {o.ref: o for o in mesh.objects}
    sidecars = [
        objects[r] for r in listener.provenance if r.startswith("Sidecar/") and r in objects
    ]
    if sidecars:
        return [
            (s.ref, _sidecar_port_field(s, listener.direction, listener.port)) for s in sidecars
        ]
    if listener.direction is Direction.OUTBOUND:
        hosts = {
            parsed[2]
            for config in view.route_tables
            if config.name == listener.route_table
            for vhost in config.virtual_hosts
            for route in vhost.routes
            for weighted in route.destinations
            if (parsed := parse_outbound_cluster(weighted.destination)) is not None
        }
        return _service_port_fields(mesh, sorted(hosts), listener.port, target=False)
    served = sorted(
        h for h, s in mesh.services.items() if any(e.workload == workload for e in s.endpoints)
    )
    return _service_port_fields(mesh, served, listener.port, target=True)


def _message(
    mesh: MeshConfig,
    kind: MessageType,
    declared: list[tuple[str, str]],
    workload_ref: str,
    text: str,
    hint: str,
) -> Message | None:
    if not declared:
        return None
    (ref, field), *others = declared
    related = tuple(dict.fromkeys(r for r in (workload_ref, *(o for o, _ in others)) if r))
    obj = next((o for o in mesh.objects if o.ref == ref), None)
    if obj is not None:
        return kind.at(obj, field, text, hint, related)
    object_kind, _, rest = ref.partition("/")
    namespace, _, name = rest.partition("/")
    return Message(kind, object_kind, namespace, name, None, field, text, hint, related)


def _downstream(
    mesh: MeshConfig, view: ProxyView, errors: ProtocolErrors, workload_ref: str
) -> Message | None:
    listener = _listener(view, errors.stat_prefix)
    if listener is None:
        return None
    where = f"{listener.address}:{listener.port}"
    if listener.direction is Direction.OUTBOUND:
        text = (
            f"the sidecar of {errors.workload} got {errors.count} connection(s) on its HTTP "
            f"port {where} that were not HTTP: the app sends TLS (https://) through the mesh "
            "(double encryption); Envoy resets them"
        )
        hint = (
            "call http:// and let the mesh encrypt (mTLS); or declare the port HTTPS/TLS "
            "so the sidecar passes TLS through"
        )
    else:
        text = (
            f"the sidecar of {errors.workload} got {errors.count} connection(s) on its "
            f"inbound HTTP port {where} that were not HTTP: callers send TLS inside the "
            "mesh's mTLS (double encryption) or another protocol; Envoy resets them"
        )
        hint = "callers should use http:// (the mesh encrypts); or declare the port HTTPS/TLS/TCP"
    declared = _declaring(mesh, listener, view, errors.workload)
    return _message(mesh, NOT_HTTP_ON_HTTP_PORT, declared, workload_ref, text, hint)


def _upstream(
    mesh: MeshConfig, view: ProxyView, errors: ProtocolErrors, workload_ref: str
) -> Message | None:
    parsed = parse_outbound_cluster(errors.cluster)
    if parsed is not None:
        port, _, host = parsed
        declared = _service_port_fields(mesh, [host], port, target=False)
        text = (
            f"{errors.workload} called {host}:{port} (declared HTTP) and {errors.count} "
            "connection(s) got an answer that is not HTTP: the server speaks TLS"
        )
        hint = (
            "declare the port HTTPS/TLS (TLS passes through), or add a DestinationRule "
            "with tls mode SIMPLE so the sidecar originates TLS and the app calls http://"
        )
        return _message(mesh, NOT_HTTP_FROM_UPSTREAM, declared, workload_ref, text, hint)
    listener = next((li for li in view.listeners if li.inbound_destination == errors.cluster), None)
    if listener is None:
        return None
    text = (
        f"the app of {errors.workload} behind HTTP port {listener.port} answered "
        f"{errors.count} connection(s) with something that is not HTTP: it serves TLS "
        "(https) behind a port the mesh treats as HTTP"
    )
    hint = "serve plain HTTP (the mesh encrypts), or declare the port HTTPS/TLS"
    declared = _declaring(mesh, listener, view, errors.workload)
    return _message(mesh, NOT_HTTP_FROM_UPSTREAM, declared, workload_ref, text, hint)


def protocol_error_messages(
    mesh: MeshConfig, views: Mapping[str, ProxyView], observed: Iterable[ProtocolErrors]
) -> list[Message]:
    """One message per sidecar port or cluster whose HTTP codec saw non-HTTP bytes."""
    messages: dict[tuple[str, str, str, str], Message] = {}
    for errors in observed:
        view = views.get(errors.workload)
        workload = mesh.workloads.get(errors.workload)
        if view is None or workload is None or errors.count <= 0:
            continue
        if errors.stat_prefix:
            message = _downstream(mesh, view, errors, workload.source)
        else:
            message = _upstream(mesh, view, errors, workload.source)
        if message is not None:
            messages.setdefault((message.code, message.ref, message.field, message.text), message)
    return sorted(messages.values(), key=Message.sort_key)
