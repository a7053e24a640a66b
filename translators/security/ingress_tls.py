"""Sidecar `ingress[].tls` (Istio's ServerTLSSettings on a sidecar's inbound port).

Istio's pilot applies it (buildInboundListeners, with ENABLE_TLS_ON_SIDECAR_INGRESS)
only where the port's PeerAuthentication mode is DISABLE — mesh mTLS and the user's TLS
would compete for the same handshake otherwise — and then treats the port's protocol as
after termination (HTTPS is served as HTTP). SIMPLE presents `serverCertificate` /
`privateKey`; MUTUAL also requires a client certificate signed by `caCertificates`;
OPTIONAL_MUTUAL verifies one if sent. Other modes terminate nothing.
"""

from __future__ import annotations

from typing import Any

from translators.ir import InboundMTLS, InboundTLSIR

_TERMINATING = ("SIMPLE", "MUTUAL", "OPTIONAL_MUTUAL")


def ingress_tls(settings: dict[str, Any] | None, mtls: InboundMTLS) -> InboundTLSIR | None:
    """The TLS the sidecar terminates on the port, None when Istio would not."""
    if not settings or mtls is not InboundMTLS.DISABLE:
        return None
    mode = str(settings.get("mode") or "PASSTHROUGH")
    certificate = str(settings.get("serverCertificate") or "")
    key = str(settings.get("privateKey") or "")
    if mode not in _TERMINATING or not certificate or not key:
        return None
    if mode == "MUTUAL" and not settings.get("caCertificates"):
        return None
    versions = {
        field: "" if str(settings.get(field) or "TLS_AUTO") == "TLS_AUTO" else str(settings[field])
        for field in ("minProtocolVersion", "maxProtocolVersion")
    }
    return InboundTLSIR(
        certificate_file=certificate,
        key_file=key,
        ca_file=str(settings.get("caCertificates") or ""),
        require_client_certificate=mode == "MUTUAL",
        min_version=versions["minProtocolVersion"],
        max_version=versions["maxProtocolVersion"],
        cipher_suites=tuple(str(c) for c in settings.get("cipherSuites") or ()),
    )


def not_applied_reason(settings: dict[str, Any], mtls: InboundMTLS) -> str:
    """Why `ingress_tls` gives None for set `settings` ("" when it does not)."""
    if mtls is not InboundMTLS.DISABLE:
        return (
            f"the port's mTLS mode is {mtls.value}: Istio terminates a sidecar's ingress tls "
            "only where PeerAuthentication disables mesh mTLS"
        )
    mode = str(settings.get("mode") or "PASSTHROUGH")
    if mode not in _TERMINATING:
        return f"mode {mode} terminates no TLS"
    if not settings.get("serverCertificate") or not settings.get("privateKey"):
        return "serverCertificate and privateKey are needed to terminate TLS"
    if mode == "MUTUAL" and not settings.get("caCertificates"):
        return "MUTUAL needs caCertificates to verify client certificates"
    return ""
