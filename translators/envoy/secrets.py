"""PEM material -> SDS Secret resources (`default` and `ROOTCA`, Istio's names)."""

from __future__ import annotations

from envoy.config.core.v3 import base_pb2
from envoy.extensions.transport_sockets.tls.v3 import common_pb2, secret_pb2

from translators.naming import ROOT_CA_SECRET, WORKLOAD_SECRET


def workload_secret(
    cert_chain_pem: str, key_pem: str, name: str = WORKLOAD_SECRET
) -> secret_pb2.Secret:
    return secret_pb2.Secret(
        name=name,
        tls_certificate=common_pb2.TlsCertificate(
            certificate_chain=base_pb2.DataSource(inline_bytes=cert_chain_pem.encode()),
            private_key=base_pb2.DataSource(inline_bytes=key_pem.encode()),
        ),
    )


def root_secret(
    bundle_pem: str, name: str = ROOT_CA_SECRET, crl_pem: str | None = None
) -> secret_pb2.Secret:
    """A validation context: the CA bundle and (a credential's `ca.crl`) revoked certs."""
    secret = secret_pb2.Secret(
        name=name,
        validation_context=common_pb2.CertificateValidationContext(
            trusted_ca=base_pb2.DataSource(inline_bytes=bundle_pem.encode())
        ),
    )
    if crl_pem is not None:
        secret.validation_context.crl.inline_bytes = crl_pem.encode()
    return secret
