"""Gateway IR -> Envoy listeners: one listener per port, one filter chain per server
(matched by SNI when it names hosts), TLS terminated with certificates over SDS (or
files), HTTP by RDS (virtual hosts matched on the Host without its port), TCP by
tcp_proxy."""

from __future__ import annotations

from envoy.config.core.v3 import base_pb2
from envoy.config.listener.v3 import listener_components_pb2, listener_pb2
from envoy.extensions.filters.http.router.v3 import router_pb2
from envoy.extensions.filters.listener.tls_inspector.v3 import tls_inspector_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm,
)
from envoy.extensions.filters.network.sni_cluster.v3 import sni_cluster_pb2
from envoy.extensions.filters.network.tcp_proxy.v3 import tcp_proxy_pb2
from envoy.extensions.transport_sockets.tls.v3 import common_pb2, tls_pb2
from envoy.type.matcher.v3 import string_pb2

from translators.envoy.common import WEBSOCKET_UPGRADE, ads, pack, provenance, socket_address
from translators.envoy.jwt import gateway_jwt_filters
from translators.envoy.rbac import http_rbac_filters, network_rbac_filters
from translators.envoy.tls import HTTP_ALPN, sds_secret, transport_socket
from translators.envoy.traffic import tcp_filter_chain, tcp_proxy
from translators.gateway.ir import (
    DownstreamTLSIR,
    DownstreamTLSMode,
    GatewayChainIR,
    GatewayListenerIR,
)
from translators.naming import (
    BLACKHOLE_CLUSTER,
    ROOT_CA_SECRET,
    WORKLOAD_SECRET,
    listener_stat_prefix,
)

HCM_FILTER = "envoy.filters.network.http_connection_manager"
SNI_CLUSTER_FILTER = "envoy.filters.network.sni_cluster"
TCP_PROXY_FILTER = "envoy.filters.network.tcp_proxy"
TLS_INSPECTOR_FILTER = "envoy.filters.listener.tls_inspector"
_VERSIONS = {
    "TLSV1_0": common_pb2.TlsParameters.TLSv1_0,
    "TLSV1_1": common_pb2.TlsParameters.TLSv1_1,
    "TLSV1_2": common_pb2.TlsParameters.TLSv1_2,
    "TLSV1_3": common_pb2.TlsParameters.TLSv1_3,
}


def _file(path: str) -> base_pb2.DataSource:
    return base_pb2.DataSource(filename=path)


def downstream_tls(ir: DownstreamTLSIR) -> tls_pb2.DownstreamTlsContext:
    params = common_pb2.TlsParameters(cipher_suites=list(ir.cipher_suites))
    if ir.min_version in _VERSIONS:
        params.tls_minimum_protocol_version = _VERSIONS[ir.min_version]
    if ir.max_version in _VERSIONS:
        params.tls_maximum_protocol_version = _VERSIONS[ir.max_version]
    common = tls_pb2.CommonTlsContext(
        tls_params=params, alpn_protocols=list(HTTP_ALPN if ir.http else ())
    )
    mutual = ir.mode is not DownstreamTLSMode.SIMPLE
    if ir.mode is DownstreamTLSMode.ISTIO_MUTUAL:
        common.tls_certificate_sds_secret_configs.append(sds_secret(WORKLOAD_SECRET))
        common.validation_context_sds_secret_config.CopyFrom(sds_secret(ROOT_CA_SECRET))
    elif ir.certificate_secret:
        common.tls_certificate_sds_secret_configs.append(sds_secret(ir.certificate_secret))
        if mutual:
            common.validation_context_sds_secret_config.CopyFrom(sds_secret(ir.ca_secret))
    else:
        common.tls_certificates.add(
            certificate_chain=_file(ir.certificate_file), private_key=_file(ir.key_file)
        )
        if mutual:
            common.validation_context.trusted_ca.CopyFrom(_file(ir.ca_file))
    if mutual and ir.subject_alt_names:
        context = (
            common.validation_context
            if common.HasField("validation_context")
            else common.combined_validation_context.default_validation_context
        )
        if common.HasField("validation_context_sds_secret_config"):
            sds = common.validation_context_sds_secret_config
            common.combined_validation_context.validation_context_sds_secret_config.CopyFrom(sds)
            common.ClearField("validation_context_sds_secret_config")
            context = common.combined_validation_context.default_validation_context
        for name in ir.subject_alt_names:
            context.match_typed_subject_alt_names.add(
                san_type=common_pb2.SubjectAltNameMatcher.DNS,
                matcher=string_pb2.StringMatcher(exact=name),
            )
    return tls_pb2.DownstreamTlsContext(
        common_tls_context=common, require_client_certificate={"value": mutual}
    )


def _http_manager(
    chain: GatewayChainIR, stat_prefix: str, ir: GatewayListenerIR
) -> hcm.HttpConnectionManager:
    manager = hcm.HttpConnectionManager(
        stat_prefix=stat_prefix,
        normalize_path={"value": True},
        # the edge: the caller's address is the connection's. `Host: a.com:8443` matches
        # the virtual host `a.com` by the route configuration's
        # ignore_port_in_host_matching and reaches the upstream unchanged, as on Istio's
        # gateways (which dropped ISTIO_GATEWAY_STRIP_HOST_PORT for it)
        use_remote_address={"value": True},
        http_filters=[
            *gateway_jwt_filters(ir.jwt),
            # after jwt_authn, so `requestPrincipals` see the verified token
            *http_rbac_filters(ir.authz),
            hcm.HttpFilter(
                name="envoy.filters.http.router", typed_config=pack(router_pb2.Router())
            ),
        ],
    )
    manager.upgrade_configs.add(upgrade_type=WEBSOCKET_UPGRADE)  # as on Istio's gateways
    manager.rds.config_source.CopyFrom(ads())
    manager.rds.route_config_name = chain.route_config
    return manager


def _chain(
    chain: GatewayChainIR, stat_prefix: str, ir: GatewayListenerIR
) -> listener_components_pb2.FilterChain:
    if chain.auto_passthrough:
        # the SNI names the cluster (sni_cluster sets it for tcp_proxy); the chain's
        # server_names admit only names of existing SNI-DNAT clusters
        out = listener_components_pb2.FilterChain(
            name=chain.name,
            filters=[
                listener_components_pb2.Filter(
                    name=SNI_CLUSTER_FILTER, typed_config=pack(sni_cluster_pb2.SniCluster())
                ),
                listener_components_pb2.Filter(
                    name=TCP_PROXY_FILTER,
                    typed_config=pack(
                        tcp_proxy_pb2.TcpProxy(stat_prefix=stat_prefix, cluster=BLACKHOLE_CLUSTER)
                    ),
                ),
            ],
        )
    elif chain.tcp is not None:
        out = tcp_filter_chain(chain.tcp, tcp_proxy(chain.tcp, stat_prefix))
        out.name = chain.name
    else:
        out = listener_components_pb2.FilterChain(
            name=chain.name,
            filters=[
                listener_components_pb2.Filter(
                    name=HCM_FILTER, typed_config=pack(_http_manager(chain, stat_prefix, ir))
                )
            ],
        )
    if chain.tcp is not None or chain.auto_passthrough:
        # TCP (TLS terminated or passed through): the network RBAC first, as on a
        # sidecar's inbound TCP port; HTTP-only rules there allow nothing / deny all
        filters = [*network_rbac_filters(ir.authz), *out.filters]
        del out.filters[:]
        out.filters.extend(filters)
    out.filter_chain_match.ClearField("server_names")
    out.filter_chain_match.server_names.extend(chain.server_names)
    if chain.tls is not None:
        out.transport_socket.CopyFrom(transport_socket(downstream_tls(chain.tls)))
    if chain.provenance:
        out.metadata.CopyFrom(provenance(chain.provenance))
    return out


def build_gateway_listener(ir: GatewayListenerIR) -> listener_pb2.Listener:
    stat_prefix = listener_stat_prefix("gateway", ir.address, ir.port)
    listener = listener_pb2.Listener(
        name=ir.name,
        address=socket_address(ir.address, ir.port),
        # Istio marks gateway listeners outbound too: the gateway calls into the mesh
        traffic_direction=base_pb2.OUTBOUND,
        filter_chains=[_chain(c, stat_prefix, ir) for c in ir.chains],
    )
    if any(c.server_names or c.tls is not None for c in ir.chains):
        listener.listener_filters.add(
            name=TLS_INSPECTOR_FILTER, typed_config=pack(tls_inspector_pb2.TlsInspector())
        )
    if ir.provenance:
        listener.metadata.CopyFrom(provenance(ir.provenance))
    return listener
