"""Verifying a presented X.509 SVID and extracting its SPIFFE ID.

This is how the xDS server decides *who* a connecting proxy is: the TLS
layer has already checked possession of the key, and this checks, per the
SPIFFE X.509-SVID spec, that the certificate chains to the bundle's root,
is within its validity window, is a leaf (CA:FALSE, digitalSignature, no
keyCertSign/cRLSign), may be used as a TLS client, and names exactly one
well-formed SPIFFE ID in the bundle's trust domain.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from ca.bundle import TrustBundle
from ca.chain import ChainProblem, build_path
from ca.clock import as_utc
from ca.errors import InvalidSpiffeID, SVIDVerificationError
from ca.spiffe import parse_spiffe_id

__all__ = ["spiffe_id_of", "verify_svid"]


def verify_svid(
    chain_pem: str | bytes,
    bundle: TrustBundle,
    *,
    now: datetime | None = None,
    intermediates: Sequence[x509.Certificate] = (),
    require_client_auth: bool = True,
) -> str:
    """The SPIFFE ID of a valid SVID chain (leaf first), or SVIDVerificationError.

    `intermediates` are extra untrusted certificates for path building, for
    when the TLS stack hands over only the peer's leaf (pass the CA's
    `chain`). `require_client_auth` checks the EKU allows TLS client use, as
    needed when authenticating proxies.
    """
    when = as_utc(now)
    data = chain_pem.encode("ascii") if isinstance(chain_pem, str) else chain_pem
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise SVIDVerificationError(f"not a PEM certificate chain ({exc})") from exc
    leaf = certs[0]
    spiffe_id = spiffe_id_of(leaf, bundle.trust_domain)
    _check_leaf(leaf, require_client_auth=require_client_auth)
    try:
        build_path(leaf, [*certs[1:], *intermediates], bundle.roots, start_is_ca=False, now=when)
    except ChainProblem as exc:
        raise SVIDVerificationError(f"SVID for {spiffe_id} rejected: {exc}") from exc
    return spiffe_id


def spiffe_id_of(cert: x509.Certificate, trust_domain: str | None = None) -> str:
    """The single SPIFFE ID in `cert`'s URI SAN (optionally required to be in `trust_domain`).

    Does *not* verify the certificate; use `verify_svid` for that.
    """
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        raise SVIDVerificationError("certificate has no subjectAltName, so no SPIFFE ID") from None
    uris = san.get_values_for_type(x509.UniformResourceIdentifier)
    if len(uris) != 1:
        raise SVIDVerificationError(
            f"an SVID must have exactly one URI SAN, found {len(uris)}: {uris}"
        )
    try:
        parsed = parse_spiffe_id(uris[0])
    except InvalidSpiffeID as exc:
        raise SVIDVerificationError(exc.problem) from exc
    if trust_domain is not None and parsed.trust_domain != trust_domain:
        raise SVIDVerificationError(
            f"SPIFFE ID {uris[0]} is not in the trusted trust domain {trust_domain!r}"
        )
    return uris[0]


def _check_leaf(leaf: x509.Certificate, *, require_client_auth: bool) -> None:
    try:
        bc = leaf.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        pass
    else:
        if bc.ca:
            raise SVIDVerificationError("an SVID leaf must not be a CA certificate")
    try:
        ku = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        raise SVIDVerificationError("an SVID leaf must have a keyUsage extension") from None
    if not ku.digital_signature:
        raise SVIDVerificationError("an SVID leaf must have the digitalSignature key usage")
    if ku.key_cert_sign or ku.crl_sign:
        raise SVIDVerificationError("an SVID leaf must not have keyCertSign or cRLSign")
    if require_client_auth:
        try:
            eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        except x509.ExtensionNotFound:
            return  # no EKU: any usage (RFC 5280 §4.2.1.12)
        if ExtendedKeyUsageOID.CLIENT_AUTH not in eku:
            raise SVIDVerificationError(
                "certificate's extended key usage does not allow clientAuth"
            )
