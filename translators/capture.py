"""Traffic capture (Istio's iptables mode): the listeners a captured sidecar needs.

With capture, the pod's iptables rules send every outbound connection to 15001 and
every inbound one to 15006 (the proxy's own UID excluded). Those two *virtual*
listeners hand each connection to the per-port listener matching its original
destination; the per-port listeners are not bound themselves. File (local) mode
has no iptables: there, and with a Sidecar that says `captureMode: NONE`, listeners
bind their own addresses instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from translators.index import MeshIndex
from translators.ir import (
    DestinationIR,
    Direction,
    InboundMTLS,
    ListenerIR,
    LoadBalancing,
    Resolution,
)
from translators.mesh import Service, Workload
from translators.model.networking import (
    HTTP_PROTOCOLS,
    CaptureMode,
    OutboundMode,
    Protocol,
    SidecarSpec,
)
from translators.naming import (
    BLACKHOLE_CLUSTER,
    INBOUND_PASSTHROUGH_CLUSTER,
    INJECTED_ANNOTATIONS,
    PASSTHROUGH_CLUSTER,
    VIRTUAL_INBOUND_LISTENER,
    VIRTUAL_INBOUND_PORT,
    VIRTUAL_OUTBOUND_LISTENER,
    VIRTUAL_OUTBOUND_PORT,
)

ANY_ADDRESS = "0.0.0.0"
INTERCEPTION_ANNOTATION = "sidecar.istio.io/interceptionMode"


def captures_traffic(index: MeshIndex, workload: Workload, sidecar: SidecarSpec | None) -> bool:
    """Only a pod whose iptables rules were installed (injected, interception not turned
    off) has its traffic captured; everything else binds its listeners itself."""
    if index.mesh.options.local_mode:
        return False
    annotations = workload.annotations
    if not any(a in annotations for a in INJECTED_ANNOTATIONS):
        return False
    if annotations.get(INTERCEPTION_ANNOTATION, "REDIRECT").upper() == "NONE":
        return False
    if sidecar is None:
        return True
    modes = [i.capture_mode for i in sidecar.ingress] + [e.capture_mode for e in sidecar.egress]
    return not any(mode is CaptureMode.NONE for mode in modes)


def inbound_ports(index: MeshIndex, workload: Workload) -> list[tuple[int, bool, str]]:
    """(target port, is HTTP, service ref) for every service port this workload serves,
    which is what a captured sidecar must accept on 15006 (Istio derives it the same way
    when no Sidecar lists ingress ports)."""
    return [
        (s.target, s.protocol in HTTP_PROTOCOLS, s.source) for s in served_ports(index, workload)
    ]


@dataclass(frozen=True, slots=True)
class ServedPort:
    """A target port of the workload and the (first) service port it serves."""

    target: int
    protocol: Protocol
    source: str  # the service's ref
    hostname: str
    namespace: str
    service_port: int


def served_ports(index: MeshIndex, workload: Workload) -> list[ServedPort]:
    """Every target port this workload serves, with the first service's port where
    several services share a target port."""
    found: dict[int, ServedPort] = {}
    services: list[Service] = list(index.mesh.services.values())
    for service in services:
        endpoint = next((e for e in service.endpoints if e.workload == workload.key), None)
        if endpoint is None:
            continue
        for port in service.ports:
            target = endpoint.port_for(port)
            if target not in found:
                found[target] = ServedPort(
                    target,
                    port.protocol,
                    service.source,
                    service.hostname,
                    service.namespace,
                    port.number,
                )
    return [found[p] for p in sorted(found)]


def inbound_passthrough_cluster() -> DestinationIR:
    return DestinationIR(
        INBOUND_PASSTHROUGH_CLUSTER, Resolution.ORIGINAL_DESTINATION, LoadBalancing.PASSTHROUGH
    )


def virtual_listeners(
    outbound: OutboundMode,
    workload_mtls: InboundMTLS,
    provenance: tuple[str, ...],
    egress_cluster: str = "",
) -> list[ListenerIR]:
    """virtualOutbound: unknown destinations pass through (ALLOW_ANY; to `egress_cluster`,
    the Sidecar's egressProxy, when given) or are dropped (REGISTRY_ONLY). virtualInbound:
    ports no service declares pass through to the app, except under STRICT, where only
    mTLS on a declared port is ever accepted."""
    out_fallback = (
        BLACKHOLE_CLUSTER
        if outbound is OutboundMode.REGISTRY_ONLY
        else egress_cluster or PASSTHROUGH_CLUSTER
    )
    in_fallback = (
        BLACKHOLE_CLUSTER if workload_mtls is InboundMTLS.STRICT else INBOUND_PASSTHROUGH_CLUSTER
    )
    return [
        ListenerIR(
            VIRTUAL_OUTBOUND_LISTENER,
            Direction.OUTBOUND,
            ANY_ADDRESS,
            VIRTUAL_OUTBOUND_PORT,
            provenance=provenance,
            capture_fallback=out_fallback,
        ),
        ListenerIR(
            VIRTUAL_INBOUND_LISTENER,
            Direction.INBOUND,
            ANY_ADDRESS,
            VIRTUAL_INBOUND_PORT,
            provenance=provenance,
            capture_fallback=in_fallback,
        ),
    ]
