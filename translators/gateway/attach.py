"""Gateway API attachment: which Gateways this control plane owns, which listeners are
valid, which routes attach to which listeners, and whether their backends resolve.

One pure function, `resolve_gateway_api(mesh)`, computes all of it once; both the
status (`translators.gateway.status`) and the translation read the result, so a route
that status calls Accepted is exactly a route that is translated.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from translators.gateway.mesh_parents import MESH_ROUTE_KINDS, is_service_parent, names_port
from translators.hosts import resolve_host
from translators.mesh import MeshConfig, Service, Workload
from translators.model.gateway_api import (
    GATEWAY_API,
    KUBERNETES_GATEWAY,
    BackendObjectReference,
    BackendRef,
    FromNamespaces,
    GatewayClassSpec,
    GatewaySpec,
    Listener,
    ParentReference,
    ReferenceGrantSpec,
    TLSModeType,
)
from translators.model.objects import MeshObject, age_order

# The controller names whose GatewayClasses xdscp implements: its own, and Istio's, so
# Istio's manifests (`controllerName: istio.io/gateway-controller`) work unchanged.
CONTROLLER_NAME = "xdscp.io/gateway-controller"
CONTROLLER_NAMES = frozenset({CONTROLLER_NAME, "istio.io/gateway-controller"})
# Classes that exist without a GatewayClass object, as Istio's built-in `istio` class.
BUILTIN_CLASSES = frozenset({"xdscp", "istio"})
# The label that marks the proxy workloads of a Gateway API Gateway (Istio's convention
# for the Deployment it creates per Gateway).
GATEWAY_NAME_LABEL = "gateway.networking.k8s.io/gateway-name"

# Route kinds xdscp translates, per listener protocol (and TLS mode), as the spec pairs
# them: HTTP(S) listeners take HTTP and gRPC routes, a TLS Passthrough listener TLSRoutes
# (by SNI), a TCP listener or a TLS Terminate one TCPRoutes.
HTTP_ROUTE_KINDS = ("HTTPRoute", "GRPCRoute")
ROUTE_KINDS = ("HTTPRoute", "GRPCRoute", "TLSRoute", "TCPRoute")
SUPPORTED_PROTOCOLS = frozenset({"HTTP", "HTTPS", "TLS", "TCP"})


def route_kinds_for(listener: Listener) -> tuple[str, ...]:
    if listener.protocol in ("HTTP", "HTTPS"):
        return HTTP_ROUTE_KINDS
    if listener.protocol == "TLS" and listener.tls is not None:
        return ("TLSRoute",) if listener.tls.mode is TLSModeType.PASSTHROUGH else ("TCPRoute",)
    if listener.protocol == "TCP":
        return ("TCPRoute",)
    return ()


# Callable telling whether a Secret (namespace, name) exists; None: not known here.
SecretLookup = Callable[[str, str], bool]


@dataclass(frozen=True, slots=True)
class Condition:
    """One status condition, as the spec names it (`status` True/False)."""

    type: str
    status: bool
    reason: str
    message: str


@dataclass(frozen=True, slots=True)
class ListenerState:
    listener: Listener
    conditions: tuple[Condition, ...]
    supported_kinds: tuple[str, ...]

    @property
    def valid(self) -> bool:
        return all(c.status != (c.type == "Conflicted") for c in self.conditions)


@dataclass(frozen=True, slots=True)
class GatewayState:
    obj: MeshObject[GatewaySpec]
    listeners: tuple[ListenerState, ...]
    workloads: tuple[Workload, ...]
    conditions: tuple[Condition, ...]

    @property
    def key(self) -> tuple[str, str]:
        return (self.obj.namespace, self.obj.name)


@dataclass(frozen=True, slots=True)
class Attachment:
    """A route attached to one listener of one Gateway; `hostnames` are the route's
    hostnames narrowed to the listener's (or the listener's own / `*` if neither has)."""

    gateway: tuple[str, str]
    listener: str
    hostnames: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ParentState:
    parent_ref: ParentReference
    conditions: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class BackendState:
    """A backendRef resolved to a mesh service, or the reason it is not."""

    ref: BackendRef | BackendObjectReference
    service: Service | None
    reason: str = ""
    message: str = ""


@dataclass(frozen=True, slots=True)
class RouteState:
    obj: MeshObject[Any]
    parents: tuple[ParentState, ...]
    attachments: tuple[Attachment, ...]
    backends: tuple[BackendState, ...]


@dataclass(frozen=True, slots=True)
class GatewayAPIState:
    classes: Mapping[str, tuple[MeshObject[GatewayClassSpec], Condition]]
    gateways: Mapping[tuple[str, str], GatewayState]
    routes: Mapping[str, RouteState] = field(default_factory=dict)


# --- hostnames -------------------------------------------------------------------------


def _within(host: str, wildcard: str) -> bool:
    """Is `host` (exact or wildcard) covered by `wildcard` (`*.example.com`)?"""
    return host.endswith(wildcard[1:]) and host != wildcard[2:]


def intersect_hostnames(listener: str | None, route: str) -> str | None:
    """The hostnames both match (the more specific one), or None: the spec's
    bidirectional wildcard match of a listener hostname and a route hostname."""
    if listener is None or listener == route:
        return route
    if listener.startswith("*.") and _within(route, listener):
        return route
    if route.startswith("*.") and _within(listener, route):
        return listener
    return None


def attached_hostnames(listener: str | None, route: list[str]) -> tuple[str, ...]:
    if not route:
        return (listener or "*",)
    found = (intersect_hostnames(listener, h) for h in route)
    return tuple(dict.fromkeys(h for h in found if h is not None))


# --- classes and gateways --------------------------------------------------------------


def _classes(mesh: MeshConfig) -> dict[str, tuple[MeshObject[GatewayClassSpec], Condition]]:
    out = {}
    for obj in mesh.of_kind("GatewayClass"):
        if obj.spec.controller_name in CONTROLLER_NAMES:
            out[obj.name] = (obj, Condition("Accepted", True, "Accepted", "handled by xdscp"))
    return out


def owns_class(mesh: MeshConfig, class_name: str) -> bool:
    """Is `class_name` a GatewayClass of this controller (a GatewayClass object naming
    our controller, or a built-in class no GatewayClass object redefines)?"""
    named = [o for o in mesh.of_kind("GatewayClass") if o.name == class_name]
    if named:
        return any(o.spec.controller_name in CONTROLLER_NAMES for o in named)
    return class_name in BUILTIN_CLASSES


def _granted(
    mesh: MeshConfig,
    from_group: str,
    from_kind: str,
    from_namespace: str,
    to_group: str,
    to_kind: str,
    to_namespace: str,
    to_name: str,
) -> bool:
    """Does a ReferenceGrant in `to_namespace` let `from_kind` objects in `from_namespace`
    refer to `to_kind/to_name`?"""
    for grant in mesh.of_kind("ReferenceGrant"):
        if grant.namespace != to_namespace:
            continue
        spec: ReferenceGrantSpec = grant.spec
        from_ok = any(
            (f.group, f.kind, f.namespace) == (from_group, from_kind, from_namespace)
            for f in spec.from_
        )
        to_ok = any(
            (t.group, t.kind) == (to_group, to_kind) and t.name in (None, to_name) for t in spec.to
        )
        if from_ok and to_ok:
            return True
    return False


def _protocol_family(listener: Listener) -> str:
    if listener.protocol in ("HTTPS", "TLS"):
        return "tls"
    return listener.protocol


def _listener_state(
    mesh: MeshConfig,
    gateway: MeshObject[GatewaySpec],
    listener: Listener,
    siblings: list[Listener],
    secrets: SecretLookup | None,
) -> ListenerState:
    accepted = Condition("Accepted", True, "Accepted", "listener accepted")
    if listener.protocol not in SUPPORTED_PROTOCOLS:
        accepted = Condition(
            "Accepted",
            False,
            "UnsupportedProtocol",
            f"protocol {listener.protocol} is not supported by xdscp "
            f"(supported: {', '.join(sorted(SUPPORTED_PROTOCOLS))})",
        )
    elif listener.tls is not None and listener.tls.options:
        accepted = Condition(
            "Accepted", False, "UnsupportedValue", "tls.options are not supported by xdscp"
        )
    same_port = [o for o in siblings if o.port == listener.port and o is not listener]
    conflicted = Condition("Conflicted", False, "NoConflicts", "no conflicts")
    if any(_protocol_family(o) != _protocol_family(listener) for o in same_port):
        conflicted = Condition(
            "Conflicted",
            True,
            "ProtocolConflict",
            f"port {listener.port} is used by listeners of incompatible protocols",
        )
    elif any(o.hostname == listener.hostname for o in same_port):
        conflicted = Condition(
            "Conflicted",
            True,
            "HostnameConflict",
            f"another listener on port {listener.port} has the same hostname",
        )
    kinds = route_kinds_for(listener)
    resolved = Condition("ResolvedRefs", True, "ResolvedRefs", "all references resolved")
    asked = listener.allowed_routes.kinds
    if asked:
        valid = tuple(k.kind for k in asked if k.group == GATEWAY_API and k.kind in kinds)
        if len(valid) != len(asked):
            bad = [f"{k.group}/{k.kind}" for k in asked if k.kind not in valid]
            resolved = Condition(
                "ResolvedRefs",
                False,
                "InvalidRouteKinds",
                f"route kinds not supported on this listener: {', '.join(bad)}",
            )
        kinds = valid
    if listener.tls is not None and listener.tls.mode is TLSModeType.TERMINATE:
        problem = _certificate_problem(mesh, gateway, listener, secrets)
        if problem is not None:
            resolved = problem
    programmed_ok = accepted.status and not conflicted.status and resolved.status
    programmed = (
        Condition("Programmed", True, "Programmed", "listener programmed")
        if programmed_ok
        else Condition("Programmed", False, "Invalid", "listener is not valid")
    )
    return ListenerState(listener, (accepted, programmed, resolved, conflicted), kinds)


def _certificate_problem(
    mesh: MeshConfig,
    gateway: MeshObject[GatewaySpec],
    listener: Listener,
    secrets: SecretLookup | None,
) -> Condition | None:
    assert listener.tls is not None
    for ref in listener.tls.certificate_refs:
        namespace = ref.namespace or gateway.namespace
        if (ref.group, ref.kind) != ("", "Secret"):
            return Condition(
                "ResolvedRefs",
                False,
                "InvalidCertificateRef",
                f"certificateRef {ref.group}/{ref.kind} {ref.name}: only Secrets are supported",
            )
        if namespace != gateway.namespace and not _granted(
            mesh, GATEWAY_API, "Gateway", gateway.namespace, "", "Secret", namespace, ref.name
        ):
            return Condition(
                "ResolvedRefs",
                False,
                "RefNotPermitted",
                f"certificateRef {namespace}/{ref.name}: no ReferenceGrant in {namespace} "
                "allows it",
            )
        if secrets is not None and not secrets(namespace, ref.name):
            return Condition(
                "ResolvedRefs",
                False,
                "InvalidCertificateRef",
                f"certificateRef {namespace}/{ref.name}: secret not found",
            )
    return None


def gateway_workloads(mesh: MeshConfig, namespace: str, name: str) -> tuple[Workload, ...]:
    """The proxies that run a Gateway API Gateway: workloads in its namespace labelled
    with its name (the Deployment Istio creates per Gateway carries the same label)."""
    return tuple(
        w
        for _, w in sorted(mesh.workloads.items())
        if w.namespace == namespace and w.labels.get(GATEWAY_NAME_LABEL) == name
    )


def _gateway_state(
    mesh: MeshConfig, gateway: MeshObject[GatewaySpec], secrets: SecretLookup | None
) -> GatewayState:
    listeners = tuple(
        _listener_state(mesh, gateway, lst, gateway.spec.listeners, secrets)
        for lst in gateway.spec.listeners
    )
    valid = [s for s in listeners if s.valid]
    workloads = gateway_workloads(mesh, gateway.namespace, gateway.name)
    if gateway.spec.addresses:
        accepted = Condition(
            "Accepted",
            False,
            "UnsupportedAddress",
            "spec.addresses are not supported: the gateway's address is its proxy's",
        )
    elif len(valid) == len(listeners):
        accepted = Condition("Accepted", True, "Accepted", "gateway accepted")
    else:
        invalid = ", ".join(s.listener.name for s in listeners if not s.valid)
        accepted = Condition(
            "Accepted", bool(valid), "ListenersNotValid", f"invalid listeners: {invalid}"
        )
    if not accepted.status:
        programmed = Condition("Programmed", False, "Invalid", "gateway is not accepted")
    elif not workloads:
        programmed = Condition(
            "Programmed",
            False,
            "NoResources",
            f"no proxy runs this gateway: no workload in {gateway.namespace} is labelled "
            f"{GATEWAY_NAME_LABEL}={gateway.name}",
        )
    else:
        programmed = Condition("Programmed", True, "Programmed", "gateway programmed")
    return GatewayState(gateway, listeners, workloads, (accepted, programmed))


# --- routes ----------------------------------------------------------------------------


def _namespace_allowed(
    listener: Listener,
    gateway_namespace: str,
    route_namespace: str,
    namespace_labels: Mapping[str, Mapping[str, str]],
) -> bool:
    namespaces = listener.allowed_routes.namespaces
    if namespaces.from_ is FromNamespaces.ALL:
        return True
    if namespaces.from_ is FromNamespaces.SAME:
        return route_namespace == gateway_namespace
    labels = {
        "kubernetes.io/metadata.name": route_namespace,
        **namespace_labels.get(route_namespace, {}),
    }
    return namespaces.selector is not None and namespaces.selector.matches(labels)


def _parent(
    route: MeshObject[Any],
    ref: ParentReference,
    gateways: Mapping[tuple[str, str], GatewayState],
    owned_elsewhere: set[tuple[str, str]],
    namespace_labels: Mapping[str, Mapping[str, str]],
) -> tuple[ParentState | None, list[Attachment]]:
    key = (ref.namespace or route.namespace, ref.name)
    if (ref.group, ref.kind) != (GATEWAY_API, "Gateway") or key in owned_elsewhere:
        return None, []  # another controller's parent (or mesh routing): not ours to judge

    def refused(reason: str, message: str) -> tuple[ParentState, list[Attachment]]:
        return ParentState(ref, (Condition("Accepted", False, reason, message),)), []

    state = gateways.get(key)
    if state is None:
        return refused("NoMatchingParent", f"gateway {key[0]}/{key[1]} not found")
    candidates = list(state.listeners)
    if ref.section_name is not None:
        candidates = [s for s in candidates if s.listener.name == ref.section_name]
        if not candidates:
            return refused("NoMatchingParent", f"sectionName {ref.section_name!r} not found")
    if ref.port is not None:
        candidates = [s for s in candidates if s.listener.port == ref.port]
        if not candidates:
            return refused("NoMatchingParent", f"port {ref.port} not found")
    allowed = [
        s
        for s in candidates
        if s.valid
        and route.kind in s.supported_kinds
        and _namespace_allowed(s.listener, key[0], route.namespace, namespace_labels)
    ]
    if not allowed:
        return refused(
            "NotAllowedByListeners",
            f"no listener of gateway {key[0]}/{key[1]} allows this {route.kind} from "
            f"namespace {route.namespace}",
        )
    route_hosts: list[str] = list(getattr(route.spec, "hostnames", []))
    attachments = []
    for s in allowed:
        hosts = attached_hostnames(s.listener.hostname, route_hosts)
        if hosts:
            attachments.append(Attachment(key, s.listener.name, hosts))
    if not attachments:
        return refused(
            "NoMatchingListenerHostname",
            f"no listener hostname matches the route's hostnames ({', '.join(route_hosts)})",
        )
    accepted = Condition("Accepted", True, "Accepted", "route accepted")
    return ParentState(ref, (accepted,)), attachments


def backend_state(
    mesh: MeshConfig, route: MeshObject[Any], ref: BackendRef | BackendObjectReference
) -> BackendState:
    namespace = ref.namespace or route.namespace
    if (ref.group, ref.kind) != ("", "Service"):
        return BackendState(
            ref, None, "InvalidKind", f"backendRef {ref.group}/{ref.kind}: only Services"
        )
    if namespace != route.namespace and not _granted(
        mesh, GATEWAY_API, route.kind, route.namespace, "", "Service", namespace, ref.name
    ):
        return BackendState(
            ref,
            None,
            "RefNotPermitted",
            f"backendRef {namespace}/{ref.name}: no ReferenceGrant in {namespace} allows it",
        )
    host = resolve_host(ref.name, namespace, mesh.options.domain_suffix)
    service = mesh.services.get(host)
    if service is None:
        return BackendState(ref, None, "BackendNotFound", f"service {host} not found")
    if ref.port is not None and service.port(ref.port) is None:
        return BackendState(ref, None, "BackendNotFound", f"service {host} has no port {ref.port}")
    return BackendState(ref, service)


def _mesh_parent(mesh: MeshConfig, route: MeshObject[Any], ref: ParentReference) -> ParentState:
    """A Service parent (GAMMA mesh routing): accepted if the Service (and the port the
    reference names) exists; no ReferenceGrant is needed to name another namespace's
    Service (a consumer route)."""
    host = resolve_host(ref.name, ref.namespace or route.namespace, mesh.options.domain_suffix)
    service = mesh.services.get(host)
    if service is None:
        reason, message = "NoMatchingParent", f"service {host} not found"
    elif not any(names_port(ref, p.number, p.name) for p in service.ports):
        wanted = ref.port if ref.port is not None else ref.section_name
        reason, message = "NoMatchingParent", f"service {host} has no port {wanted}"
    else:
        return ParentState(ref, (Condition("Accepted", True, "Accepted", "route accepted"),))
    return ParentState(ref, (Condition("Accepted", False, reason, message),))


def route_backend_refs(spec: Any) -> list[BackendRef | BackendObjectReference]:
    """Every backend a route (of any kind) names: its rules' and its mirrors'."""
    refs: list[BackendRef | BackendObjectReference] = []
    for rule in spec.rules:
        refs += rule.backend_refs
        filters = [*getattr(rule, "filters", ())]
        filters += [x for b in rule.backend_refs for x in getattr(b, "filters", ())]
        for f in filters:
            if f.request_mirror is not None:
                refs.append(f.request_mirror.backend_ref)
    return refs


def resolved_refs(backends: tuple[BackendState, ...]) -> Condition:
    broken = [b for b in backends if b.service is None]
    if not broken:
        return Condition("ResolvedRefs", True, "ResolvedRefs", "all references resolved")
    return Condition("ResolvedRefs", False, broken[0].reason, "; ".join(b.message for b in broken))


def resolve_gateway_api(
    mesh: MeshConfig,
    namespace_labels: Mapping[str, Mapping[str, str]] | None = None,
    secrets: SecretLookup | None = None,
) -> GatewayAPIState:
    """Everything the Gateway API spec decides about this mesh, for this controller.
    `namespace_labels` (Kubernetes) feed `allowedRoutes.namespaces.selector`; `secrets`
    tells whether a certificateRef's Secret exists (None: not judged)."""
    labels = namespace_labels or {}
    classes = _classes(mesh)
    gateways: dict[tuple[str, str], GatewayState] = {}
    elsewhere: set[tuple[str, str]] = set()
    for obj in sorted(mesh.of_kind(KUBERNETES_GATEWAY), key=age_order):
        if owns_class(mesh, obj.spec.gateway_class_name):
            gateways[(obj.namespace, obj.name)] = _gateway_state(mesh, obj, secrets)
        else:
            elsewhere.add((obj.namespace, obj.name))
    routes: dict[str, RouteState] = {}
    for kind in ROUTE_KINDS:
        for obj in sorted(mesh.of_kind(kind), key=age_order):
            parents: list[ParentState] = []
            attachments: list[Attachment] = []
            for ref in obj.spec.parent_refs:
                if kind in MESH_ROUTE_KINDS and is_service_parent(ref):
                    parents.append(_mesh_parent(mesh, obj, ref))
                    continue
                parent, attached = _parent(obj, ref, gateways, elsewhere, labels)
                if parent is not None:
                    parents.append(parent)
                    attachments += attached
            backends = tuple(backend_state(mesh, obj, r) for r in route_backend_refs(obj.spec))
            routes[obj.ref] = RouteState(obj, tuple(parents), tuple(attachments), backends)
    return GatewayAPIState(classes, gateways, routes)
