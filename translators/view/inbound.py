"""The proxy's own part of its IR: listeners bound to the workload (outbound ones
included) and the inbound path with its peer authentication and authorization."""

from __future__ import annotations

from dataclasses import dataclass

from translators.capture import (
    ANY_ADDRESS,
    captures_traffic,
    inbound_passthrough_cluster,
    served_ports,
    virtual_listeners,
)
from translators.index import MeshIndex
from translators.ir import (
    DestinationIR,
    Direction,
    EndpointIR,
    InboundIR,
    ListenerIR,
    LoadBalancing,
    Resolution,
)
from translators.mesh import Workload
from translators.model.networking import GRPC_PROTOCOLS, HTTP_PROTOCOLS, Protocol, SidecarSpec
from translators.model.objects import MeshObject
from translators.naming import inbound_cluster, port_listener
from translators.security.ingress_tls import ingress_tls
from translators.security.request_authn import attach_jwt
from translators.telemetry.resolve import WorkloadTelemetry
from translators.traffic.inbound import InboundPool, inbound_pool
from translators.traffic.outbound import egress_proxy_cluster, outbound_mode
from translators.view.outbound import OutboundView


@dataclass(frozen=True, slots=True, eq=False)
class LocalView:
    """The part of a proxy's config that is its own: listeners and inbound clusters."""

    listeners: tuple[ListenerIR, ...]
    clusters: tuple[DestinationIR, ...]
    warnings: tuple[str, ...]


def build_local(
    index: MeshIndex,
    workload: Workload,
    sidecar_obj: MeshObject[SidecarSpec] | None,
    outbound: OutboundView,
    telemetry: WorkloadTelemetry | None = None,
) -> LocalView:
    """The workload's own listeners (outbound ones bound to its address) and inbound path,
    with the workload's request authentication and telemetry (access log, tracing) on
    them."""
    sidecar = sidecar_obj.spec if sidecar_obj else None
    sidecar_ref = outbound.provenance
    warnings: list[str] = []
    # With traffic capture, listeners without an explicit bind are reached through the
    # virtual listeners; without it (file mode), they bind the workload's own address.
    capture = captures_traffic(index, workload, sidecar)
    own_address = ANY_ADDRESS if capture else workload.address
    listeners = [
        ListenerIR(
            port_listener(egress.port, egress.bind or own_address),
            Direction.OUTBOUND,
            egress.bind or own_address,
            egress.port,
            route_table=egress.route_config,
            provenance=sidecar_ref
            + tuple(dict.fromkeys(r for c in egress.tcp_chains for r in c.provenance)),
            tcp_routes=egress.tcp_chains,
            forward_proxy=egress.forward_proxy,
            captured=capture and egress.bind is None,
        )
        for egress in outbound.egress
    ]
    clusters: list[DestinationIR] = []
    peer_authn = index.security.inbound_mtls(workload)
    authz = index.security.authorization(workload)
    authz_refs = tuple(ref for policy in authz for ref in policy.provenance)
    if capture:
        listeners += virtual_listeners(
            outbound_mode(sidecar),
            peer_authn.mode,
            sidecar_ref,
            egress_proxy_cluster(sidecar_obj, index.mesh.options.domain_suffix),
        )
        clusters.append(inbound_passthrough_cluster())
        if not (sidecar and sidecar.ingress):
            for served in served_ports(index, workload):
                port, protocol, source = served.target, served.protocol, served.source
                cluster_name = inbound_cluster(port)
                app = EndpointIR(workload.address, port, workload=workload.key)
                dr = index.destination_rule(served.hostname, served.namespace, workload.namespace)
                pool = inbound_pool(sidecar_obj, port, dr, served.service_port)
                # the Sidecar / DestinationRule is a source when its pool applies
                clusters.append(_app_cluster(cluster_name, app, pool, (source, *pool.provenance)))
                listeners.append(
                    ListenerIR(
                        # the pod's own address: original-destination handoff picks the
                        # most specific listener, so 0.0.0.0_<port> stays outbound
                        port_listener(port, workload.address),
                        Direction.INBOUND,
                        workload.address,
                        port,
                        inbound_destination=cluster_name,
                        provenance=(source, *peer_authn.sources, *authz_refs),
                        inbound=InboundIR(
                            mtls=peer_authn.at(port),
                            tcp=protocol not in HTTP_PROTOCOLS,
                            authz=authz,
                            provenance=peer_authn.sources,
                            grpc=protocol in GRPC_PROTOCOLS,
                        ),
                        captured=True,
                    )
                )
    for ingress in sidecar.ingress if sidecar else []:
        bind = ingress.bind or workload.address
        port = ingress.port.number
        cluster_name = inbound_cluster(port)
        if not ingress.default_endpoint:
            warnings.append(
                f"{sidecar_obj and sidecar_obj.ref}: ingress port {port} has no defaultEndpoint;"
                " skipped"
            )
            continue
        if ingress.default_endpoint.startswith("unix://"):
            # the application listens on a unix socket: a pipe endpoint, no port
            app = EndpointIR(ingress.default_endpoint, 0, workload=workload.key)
        else:
            app_host, _, app_port = ingress.default_endpoint.rpartition(":")
            app_host = app_host.strip("[]")
            if index.mesh.options.local_mode and app_host in ("127.0.0.1", "0.0.0.0"):
                app_host = workload.address
            app = EndpointIR(app_host, int(app_port), workload=workload.key)
        pool = inbound_pool(sidecar_obj, port)
        clusters.append(_app_cluster(cluster_name, app, pool, sidecar_ref))
        tls = ingress_tls(ingress.tls, peer_authn.at(port))
        # after TLS termination an HTTPS port is served as HTTP (Istio's AfterTLSTermination)
        http = ingress.port.protocol in HTTP_PROTOCOLS or (
            tls is not None and ingress.port.protocol is Protocol.HTTPS
        )
        inbound = InboundIR(
            mtls=peer_authn.at(port),
            tcp=not http,
            authz=authz,
            provenance=peer_authn.sources,
            grpc=ingress.port.protocol in GRPC_PROTOCOLS,
            tls=tls,
        )
        listeners.append(
            ListenerIR(
                port_listener(port, bind),
                Direction.INBOUND,
                bind,
                port,
                inbound_destination=cluster_name,
                provenance=sidecar_ref + peer_authn.sources + authz_refs,
                inbound=inbound,
                captured=capture and ingress.bind is None,
            )
        )
    jwt = index.security.jwt_rules(workload)
    built = attach_jwt(tuple(listeners), jwt)
    if telemetry is not None:
        built = telemetry.attach(built)
        warnings += telemetry.warnings
    return LocalView(built, tuple(clusters), tuple(warnings))


def _app_cluster(
    name: str, app: EndpointIR, pool: InboundPool, provenance: tuple[str, ...]
) -> DestinationIR:
    """The inbound cluster to the application behind one port, with the port's pool."""
    return DestinationIR(
        name,
        Resolution.STATIC,
        LoadBalancing.ROUND_ROBIN,
        (app,),
        pool.connect_timeout_s,
        provenance=provenance,
        policy=pool.policy,
    )
