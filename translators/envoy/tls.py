"""TLS transport sockets: the mesh's mutual TLS (certificates over SDS) and DestinationRule
TLS origination (certificates from files).

Mesh certificates are never inline: every context names Istio's SDS secrets
`default` (the workload's key and chain) and `ROOTCA` (the trust bundle), fetched over
ADS from the control plane. A listener or cluster whose secret has not arrived stays
warming, so a sidecar without its identity never serves or sends unauthenticated.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from envoy.config.core.v3 import base_pb2
from envoy.extensions.transport_sockets.raw_buffer.v3 import raw_buffer_pb2
from envoy.extensions.transport_sockets.tls.v3 import common_pb2, secret_pb2, tls_pb2
from envoy.type.matcher.v3 import string_pb2

from translators.envoy.common import ads, pack
from translators.ir import UpstreamTLSIR, UpstreamTLSMode
from translators.naming import (
    ROOT_CA_SECRET,
    SPIFFE_PREFIX,
    TLS_TRANSPORT_SOCKET,
    WORKLOAD_SECRET,
    credential_ca_secret,
    credential_secret,
)

RAW_BUFFER_SOCKET = "envoy.transport_sockets.raw_buffer"
# What the inbound side negotiates for HTTP (Envoy's codec then follows ALPN).
HTTP_ALPN = ("h2", "http/1.1")
_SAN = common_pb2.SubjectAltNameMatcher


def sds_secret(name: str) -> secret_pb2.SdsSecretConfig:
    return secret_pb2.SdsSecretConfig(name=name, sds_config=ads())


def _tls_params() -> common_pb2.TlsParameters:
    return common_pb2.TlsParameters(tls_minimum_protocol_version=common_pb2.TlsParameters.TLSv1_2)


def _mesh_common_context(alpn: tuple[str, ...] = ()) -> tls_pb2.CommonTlsContext:
    """The workload's SVID (`default`) and the mesh root (`ROOTCA`), both over SDS."""
    return tls_pb2.CommonTlsContext(
        tls_params=_tls_params(),
        alpn_protocols=list(alpn),
        tls_certificate_sds_secret_configs=[sds_secret(WORKLOAD_SECRET)],
        validation_context_sds_secret_config=sds_secret(ROOT_CA_SECRET),
    )


def transport_socket(
    context: tls_pb2.UpstreamTlsContext | tls_pb2.DownstreamTlsContext,
) -> base_pb2.TransportSocket:
    return base_pb2.TransportSocket(name=TLS_TRANSPORT_SOCKET, typed_config=pack(context))


@lru_cache(maxsize=1)
def raw_buffer_socket() -> base_pb2.TransportSocket:
    """Shared and cached: copy it, never mutate it."""
    return base_pb2.TransportSocket(
        name=RAW_BUFFER_SOCKET, typed_config=pack(raw_buffer_pb2.RawBuffer())
    )


@lru_cache(maxsize=4)
def downstream_mtls_socket(http: bool) -> base_pb2.TransportSocket:
    """Server side of mesh mTLS: a client certificate chained to the mesh root is
    required (no certificate, or one from another CA, fails the handshake). Which
    identity may call is AuthorizationPolicy's business, not the handshake's.
    Shared and cached: copy it, never mutate it."""
    context = tls_pb2.DownstreamTlsContext(
        common_tls_context=_mesh_common_context(HTTP_ALPN if http else ()),
        require_client_certificate={"value": True},
    )
    return transport_socket(context)


def _san_matcher(name: str) -> common_pb2.SubjectAltNameMatcher:
    if name.startswith(SPIFFE_PREFIX) or "://" in name:
        san_type = _SAN.URI
    else:
        try:
            ipaddress.ip_address(name)
            san_type = _SAN.IP_ADDRESS
        except ValueError:
            san_type = _SAN.DNS
    return common_pb2.SubjectAltNameMatcher(
        san_type=san_type, matcher=string_pb2.StringMatcher(exact=name)
    )


def _credential_context(
    ir: UpstreamTLSIR, sans: list[common_pb2.SubjectAltNameMatcher]
) -> tls_pb2.UpstreamTlsContext:
    """Istio's ApplyCustomSDSToClientCommonTLSContext: the credential's CA (and, MUTUAL,
    its certificate and key) over SDS; the names given, else the SNI, are checked."""
    namespace, _, name = ir.credential.partition("/")
    common = tls_pb2.CommonTlsContext(tls_params=_tls_params())
    if ir.mode is UpstreamTLSMode.MUTUAL:
        common.tls_certificate_sds_secret_configs.append(
            sds_secret(credential_secret(namespace, name))
        )
    combined = common.combined_validation_context
    combined.default_validation_context.match_typed_subject_alt_names.extend(sans)
    combined.validation_context_sds_secret_config.CopyFrom(
        sds_secret(credential_ca_secret(namespace, name))
    )
    context = tls_pb2.UpstreamTlsContext(common_tls_context=common, sni=ir.sni)
    if not sans and ir.sni:
        context.auto_sni_san_validation = True
    return context


def upstream_tls_context(ir: UpstreamTLSIR) -> tls_pb2.UpstreamTlsContext:
    """Client side: ISTIO_MUTUAL presents the workload's SVID and checks the server's
    SPIFFE ID; SIMPLE / MUTUAL verify the server with files (or the system roots)."""
    sans = [_san_matcher(n) for n in ir.subject_alt_names]
    if ir.mode is UpstreamTLSMode.ISTIO_MUTUAL:
        common = tls_pb2.CommonTlsContext(
            tls_params=_tls_params(),
            tls_certificate_sds_secret_configs=[sds_secret(WORKLOAD_SECRET)],
        )
        combined = common.combined_validation_context
        combined.default_validation_context.match_typed_subject_alt_names.extend(sans)
        combined.validation_context_sds_secret_config.CopyFrom(sds_secret(ROOT_CA_SECRET))
        return tls_pb2.UpstreamTlsContext(common_tls_context=common, sni=ir.sni)
    if ir.credential:
        return _credential_context(ir, sans)
    common = tls_pb2.CommonTlsContext(tls_params=_tls_params())
    if ir.mode is UpstreamTLSMode.MUTUAL and ir.client_certificate:
        common.tls_certificates.add(
            certificate_chain=base_pb2.DataSource(filename=ir.client_certificate),
            private_key=base_pb2.DataSource(filename=ir.private_key),
        )
    context = tls_pb2.UpstreamTlsContext(common_tls_context=common, sni=ir.sni)
    if ir.insecure_skip_verify:
        return context
    validation = context.common_tls_context.validation_context
    if not ir.ca_certificates:
        # Chain verification only: Envoy checks no names against the system roots.
        validation.system_root_certs.SetInParent()
        return context
    validation.trusted_ca.filename = ir.ca_certificates
    if ir.ca_crl:
        validation.crl.filename = ir.ca_crl
    if sans:
        validation.match_typed_subject_alt_names.extend(sans)
    elif ir.sni:
        # No names given: the server's certificate must match the SNI sent (Istio's
        # VERIFY_CERTIFICATE_AT_CLIENT behaviour).
        context.auto_sni_san_validation = True
    return context
