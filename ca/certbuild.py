"""Shared pieces of building certificates: serials, key identifiers, signing.

Every certificate the CA makes goes through here so that the properties peers
rely on (unpredictable serials, AKI/SKI linkage, the right digest) are decided
once.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from ca.keys import PrivateKey, signature_hash

__all__ = ["DEFAULT_CLOCK_SKEW", "authority_key_identifier", "random_serial", "sign"]

DEFAULT_CLOCK_SKEW = timedelta(minutes=5)
"""How far notBefore is backdated so hosts with slightly slow clocks accept a fresh cert."""

SERIAL_BITS = 128


def random_serial() -> int:
    """A random positive 128-bit serial.

    Random (not sequential) serials are what CA/B and RFC 5280 practice require
    to defeat chosen-prefix attacks, and they need no state across restarts.
    """
    while True:
        serial = secrets.randbits(SERIAL_BITS)
        if serial:
            return serial


def authority_key_identifier(issuer: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    """AKI pointing at `issuer`: copies its SKI when present so path builders can match."""
    try:
        ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    except x509.ExtensionNotFound:
        public_key = issuer.public_key()
        if not isinstance(public_key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
            raise TypeError(f"unsupported issuer key type {type(public_key).__name__}") from None
        return x509.AuthorityKeyIdentifier.from_issuer_public_key(public_key)
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


def sign(builder: x509.CertificateBuilder, issuer_key: PrivateKey) -> x509.Certificate:
    """Sign with the digest matching the issuer key's strength."""
    return builder.sign(issuer_key, signature_hash(issuer_key))


# What a CA certificate may do (root or intermediate): sign certificates and CRLs.
CA_KEY_USAGE = x509.KeyUsage(
    digital_signature=True,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=True,
    crl_sign=True,
    encipher_only=False,
    decipher_only=False,
)
