"""ListenerIR -> envoy.config.listener.v3.Listener: HTTP connection manager (or tcp_proxy
for opaque inbound TCP), and on inbound ports the mTLS filter chains and RBAC."""

from __future__ import annotations

from envoy.config.listener.v3 import listener_components_pb2, listener_pb2
from envoy.config.route.v3 import route_components_pb2 as rc
from envoy.config.route.v3 import route_pb2
from envoy.extensions.filters.http.router.v3 import router_pb2
from envoy.extensions.filters.listener.original_dst.v3 import original_dst_pb2
from envoy.extensions.filters.listener.tls_inspector.v3 import tls_inspector_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm,
)
from envoy.extensions.filters.network.tcp_proxy.v3 import tcp_proxy_pb2
from envoy.extensions.transport_sockets.tls.v3 import tls_pb2

from translators.envoy.common import (
    WEBSOCKET_UPGRADE,
    ads,
    duration,
    pack,
    provenance,
    socket_address,
)
from translators.envoy.jwt import jwt_authn_filters
from translators.envoy.rbac import http_rbac_filters, network_rbac_filters
from translators.envoy.tls import downstream_mtls_socket, transport_socket
from translators.envoy.traffic import outbound_http_filters, tcp_filter_chain, tcp_proxy
from translators.gateway.envoy import downstream_tls
from translators.gateway.ir import DownstreamTLSIR, DownstreamTLSMode
from translators.ir import Direction, InboundIR, InboundMTLS, InboundTLSIR, ListenerIR
from translators.naming import (
    inbound_filter_chain,
    inbound_route_config,
    inbound_tls_filter_chain,
    listener_stat_prefix,
)
from translators.telemetry.envoy import apply_http, apply_tcp

HCM_FILTER = "envoy.filters.network.http_connection_manager"
TCP_PROXY_FILTER = "envoy.filters.network.tcp_proxy"
ORIGINAL_DST_FILTER = "envoy.filters.listener.original_dst"
TLS_INSPECTOR_FILTER = "envoy.filters.listener.tls_inspector"
INBOUND_RETRY_ON = "reset-before-request"
INBOUND_RETRIES = 2


def _inbound_routes(ir: ListenerIR) -> route_pb2.RouteConfiguration:
    """Inbound traffic all goes to the local app; inline, since it never changes alone."""
    route = rc.Route(
        name="default",
        match=rc.RouteMatch(prefix="/"),
        route=rc.RouteAction(
            cluster=ir.inbound_destination,
            timeout=duration(0),
            # Istio's BuildDefaultHTTPInboundRoute: no stream limit, `grpc-timeout` honoured
            max_stream_duration=rc.RouteAction.MaxStreamDuration(
                max_stream_duration=duration(0), grpc_timeout_header_max=duration(0)
            ),
        ),
    )
    if ir.inbound is not None and not ir.inbound.grpc:
        # Istio's default inbound retry (ConvertInboundPolicy): a request the app never
        # saw (the connection reset before it was sent) is tried again, twice; never on
        # gRPC ports, where that condition breaks streaming
        route.route.retry_policy.CopyFrom(
            rc.RetryPolicy(retry_on=INBOUND_RETRY_ON, num_retries={"value": INBOUND_RETRIES})
        )
    vhost = rc.VirtualHost(name=f"inbound|http|{ir.port}", domains=["*"], routes=[route])
    return route_pb2.RouteConfiguration(
        name=inbound_route_config(ir.port),
        virtual_hosts=[vhost],
        validate_clusters={"value": False},
    )


def _http_manager(ir: ListenerIR) -> hcm.HttpConnectionManager:
    manager = hcm.HttpConnectionManager(
        stat_prefix=listener_stat_prefix(ir.direction.value, ir.address, ir.port),
        normalize_path={"value": True},
        http_filters=[
            *jwt_authn_filters(ir),
            *(http_rbac_filters(ir.inbound.authz) if ir.inbound else ()),
            *(outbound_http_filters(ir) if ir.direction is Direction.OUTBOUND else ()),
            hcm.HttpFilter(
                name="envoy.filters.http.router", typed_config=pack(router_pb2.Router())
            ),
        ],
    )
    # Istio's buildHTTPConnectionManager: WebSocket upgrades allowed on every HTTP listener
    manager.upgrade_configs.add(upgrade_type=WEBSOCKET_UPGRADE)
    if ir.direction is Direction.OUTBOUND:
        manager.rds.config_source.CopyFrom(ads())
        manager.rds.route_config_name = ir.route_table
    else:
        manager.route_config.CopyFrom(_inbound_routes(ir))
        # The app learns the caller's SPIFFE ID from x-forwarded-client-cert; whatever a
        # caller sent in that header is dropped (on plaintext too: SANITIZE).
        manager.forward_client_cert_details = hcm.HttpConnectionManager.SANITIZE_SET
        manager.set_current_client_cert_details.uri = True
    if ir.telemetry is not None:
        apply_http(manager, ir.telemetry)
    return manager


def _network_filters(ir: ListenerIR) -> list[listener_components_pb2.Filter]:
    if ir.inbound is not None and ir.inbound.tcp:
        proxy = tcp_proxy_pb2.TcpProxy(
            stat_prefix=listener_stat_prefix(ir.direction.value, ir.address, ir.port),
            cluster=ir.inbound_destination,
        )
        if ir.telemetry is not None:
            apply_tcp(proxy, ir.telemetry)
        return [
            *network_rbac_filters(ir.inbound.authz),
            listener_components_pb2.Filter(name=TCP_PROXY_FILTER, typed_config=pack(proxy)),
        ]
    return [listener_components_pb2.Filter(name=HCM_FILTER, typed_config=pack(_http_manager(ir)))]


def _inbound_chains(
    ir: ListenerIR, inbound: InboundIR, filters: list[listener_components_pb2.Filter]
) -> list[listener_components_pb2.FilterChain]:
    """STRICT: one mutual-TLS chain, so a plaintext or foreign-CA client never gets past
    the handshake; PERMISSIVE: that chain for TLS and a plaintext one for the rest,
    told apart by the tls_inspector; DISABLE: plaintext only."""
    refs = [*inbound.provenance, *(r for p in inbound.authz for r in p.provenance)]

    def chain(tls: bool, match: str = "") -> listener_components_pb2.FilterChain:
        built = listener_components_pb2.FilterChain(
            name=inbound_filter_chain(ir.port, tls), filters=filters
        )
        if match:
            built.filter_chain_match.transport_protocol = match
        if tls:
            built.transport_socket.CopyFrom(downstream_mtls_socket(http=not inbound.tcp))
        if refs:
            built.metadata.CopyFrom(provenance(refs))
        return built

    if inbound.tls is not None:  # the user's TLS (mesh mTLS is DISABLE on this port)
        terminated = chain(tls=False)
        terminated.name = inbound_tls_filter_chain(ir.port)
        terminated.transport_socket.CopyFrom(
            transport_socket(_user_tls_context(inbound.tls, http=not inbound.tcp))
        )
        return [terminated]
    if inbound.mtls is InboundMTLS.STRICT:
        return [chain(tls=True)]
    if inbound.mtls is InboundMTLS.PERMISSIVE:
        return [chain(tls=True, match="tls"), chain(tls=False, match="raw_buffer")]
    return [chain(tls=False)]


def _user_tls_context(tls: InboundTLSIR, http: bool) -> tls_pb2.DownstreamTlsContext:
    """Istio's BuildListenerTLSContext for files: the gateway's builder, whose MUTUAL is
    verify-and-require; OPTIONAL_MUTUAL verifies without requiring."""
    context = downstream_tls(
        DownstreamTLSIR(
            DownstreamTLSMode.MUTUAL if tls.ca_file else DownstreamTLSMode.SIMPLE,
            certificate_file=tls.certificate_file,
            key_file=tls.key_file,
            ca_file=tls.ca_file,
            min_version=tls.min_version,
            max_version=tls.max_version,
            cipher_suites=tls.cipher_suites,
            http=http,
        )
    )
    context.require_client_certificate.value = tls.require_client_certificate
    return context


def _outbound_tcp_chains(ir: ListenerIR) -> list[listener_components_pb2.FilterChain]:
    """An outbound TCP/TLS port: one tcp_proxy chain per destination (by SNI for TLS)."""
    chains = []
    for chain in ir.tcp_routes:
        proxy = tcp_proxy(chain, f"{ir.direction.value}_{ir.address}_{ir.port}")
        if ir.telemetry is not None:
            apply_tcp(proxy, ir.telemetry)
        chains.append(tcp_filter_chain(chain, proxy))
    return chains


def _capture_listener(ir: ListenerIR) -> listener_pb2.Listener:
    """virtualOutbound / virtualInbound: iptables redirects every connection here; Envoy
    hands it to the per-port listener for its original destination (use_original_dst),
    and whatever no port listener takes goes to the fallback (passthrough or blackhole)."""
    listener = listener_pb2.Listener(
        name=ir.name,
        address=socket_address(ir.address, ir.port),
        traffic_direction=1 if ir.direction is Direction.INBOUND else 2,
        use_original_dst={"value": True},
    )
    listener.listener_filters.add(
        name=ORIGINAL_DST_FILTER, typed_config=pack(original_dst_pb2.OriginalDst())
    )
    proxy = tcp_proxy_pb2.TcpProxy(stat_prefix=ir.capture_fallback, cluster=ir.capture_fallback)
    listener.filter_chains.add(
        name=ir.capture_fallback,
        filters=[listener_components_pb2.Filter(name=TCP_PROXY_FILTER, typed_config=pack(proxy))],
    )
    if ir.provenance:
        listener.metadata.CopyFrom(provenance(ir.provenance))
    return listener


def build_listener(ir: ListenerIR) -> listener_pb2.Listener:
    if ir.capture_fallback:
        return _capture_listener(ir)
    listener = listener_pb2.Listener(
        name=ir.name,
        address=socket_address(ir.address, ir.port),
        traffic_direction=1 if ir.direction is Direction.INBOUND else 2,
    )
    if ir.captured:
        listener.bind_to_port.value = False
    if ir.tcp_routes:
        listener.filter_chains.extend(_outbound_tcp_chains(ir))
        if any(c.server_names for c in ir.tcp_routes):
            listener.listener_filters.add(
                name=TLS_INSPECTOR_FILTER, typed_config=pack(tls_inspector_pb2.TlsInspector())
            )
        if ir.provenance:
            listener.metadata.CopyFrom(provenance(ir.provenance))
        return listener
    filters = _network_filters(ir)
    if ir.inbound is None:
        listener.filter_chains.add(filters=filters)
    else:
        listener.filter_chains.extend(_inbound_chains(ir, ir.inbound, filters))
        if ir.inbound.mtls is InboundMTLS.PERMISSIVE:
            listener.listener_filters.add(
                name=TLS_INSPECTOR_FILTER, typed_config=pack(tls_inspector_pb2.TlsInspector())
            )
            if ir.inbound.tcp:
                # A server-first protocol (MySQL, SMTP) never sends a ClientHello: after
                # the inspector's timeout it is plaintext, which PERMISSIVE accepts.
                listener.continue_on_listener_filters_timeout = True
    if ir.provenance:
        listener.metadata.CopyFrom(provenance(ir.provenance))
    return listener
