"""Issuing leaf certificates: workload SVIDs and the control plane's own server cert.

Stock Envoy cannot produce a CSR, so the CA generates the key pair itself, one
fresh key per issuance (a rotation never reuses a key). The certificate
follows the SPIFFE X.509-SVID profile the way Istio does: empty subject with a
critical SAN holding exactly one `spiffe://` URI, CA:FALSE, keyUsage
digitalSignature (+ keyEncipherment only for RSA keys: RFC 8813 forbids it on
EC keys), EKU serverAuth + clientAuth (a sidecar is both), AKI/SKI, and a
random 128-bit serial.

Validity is backdated by a small clock-skew allowance and never exceeds the
signing CA's own validity. `rotate_at` is measured from the moment of issuance
(not from the backdated notBefore) so the skew allowance can never make a
short-lived certificate due for rotation the instant it is issued.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TypedDict

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from ca.authority import CertificateAuthority
from ca.certbuild import DEFAULT_CLOCK_SKEW, authority_key_identifier, random_serial, sign
from ca.clock import as_utc
from ca.errors import CAExpired
from ca.keys import KeyType, generate_private_key, private_key_pem
from ca.pemfiles import certificates_pem
from ca.spiffe import parse_spiffe_id

__all__ = [
    "DEFAULT_ROTATE_FRACTION",
    "DEFAULT_SERVER_CERT_TTL",
    "DEFAULT_SVID_TTL",
    "SVID",
    "IssuedCertificate",
    "ServerCertificate",
    "issue_server_certificate",
    "issue_svid",
]

DEFAULT_SVID_TTL = timedelta(hours=24)
DEFAULT_SERVER_CERT_TTL = timedelta(days=30)
DEFAULT_ROTATE_FRACTION = 0.5

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True, kw_only=True)
class IssuedCertificate:
    """A freshly issued key pair and certificate chain, in the PEM forms Envoy reads."""

    cert_chain_pem: str = field(repr=False)
    """Leaf first, then the CA chain up to but excluding the root (Envoy `certificate_chain`)."""
    key_pem: str = field(repr=False)
    """The leaf's PKCS#8 private key (Envoy `private_key`); never log it."""
    serial: int
    not_before: datetime
    not_after: datetime
    issued_at: datetime
    """When it was issued (`not_before` is backdated for clock skew)."""
    rotate_at: datetime
    """When to replace it: `issued_at` + rotate fraction x remaining lifetime."""

    def is_due(self, now: datetime) -> bool:
        """Whether it should be replaced at `now`."""
        return as_utc(now) >= self.rotate_at

    def is_expired(self, now: datetime) -> bool:
        return as_utc(now) > self.not_after


@dataclass(frozen=True, kw_only=True)
class SVID(IssuedCertificate):
    """A workload's X.509 SVID: what becomes its `default` SDS secret."""

    spiffe_id: str


@dataclass(frozen=True, kw_only=True)
class ServerCertificate(IssuedCertificate):
    """The control plane's own serving certificate (TLS on the xDS port)."""

    dns_names: tuple[str, ...]
    ip_addresses: tuple[IPAddress, ...]
    spiffe_id: str | None


def issue_svid(
    authority: CertificateAuthority,
    spiffe_id: str,
    *,
    ttl: timedelta = DEFAULT_SVID_TTL,
    rotate_fraction: float = DEFAULT_ROTATE_FRACTION,
    key_type: KeyType = KeyType.EC_P256,
    clock_skew: timedelta = DEFAULT_CLOCK_SKEW,
    now: datetime | None = None,
) -> SVID:
    """Issue an SVID for `spiffe_id` (validated) with a freshly generated key.

    Raises InvalidSpiffeID, CAExpired (the signing CA is not valid at `now`)
    or ValueError (non-positive ttl, fraction outside (0, 1)).
    """
    parse_spiffe_id(spiffe_id)
    fields = _issue_leaf(
        authority,
        [x509.UniformResourceIdentifier(spiffe_id)],
        ttl=ttl,
        rotate_fraction=rotate_fraction,
        key_type=key_type,
        clock_skew=clock_skew,
        now=now,
    )
    return SVID(spiffe_id=spiffe_id, **fields)


def issue_server_certificate(
    authority: CertificateAuthority,
    dns_names: Iterable[str],
    *,
    ip_addresses: Iterable[str | IPAddress] = (),
    spiffe_id: str | None = None,
    ttl: timedelta = DEFAULT_SERVER_CERT_TTL,
    rotate_fraction: float = DEFAULT_ROTATE_FRACTION,
    key_type: KeyType = KeyType.EC_P256,
    clock_skew: timedelta = DEFAULT_CLOCK_SKEW,
    now: datetime | None = None,
) -> ServerCertificate:
    """Issue the control plane's serving certificate.

    Proxies verify the xDS server against the same trust bundle as their
    peers, so the control plane's certificate comes from the mesh CA too; the
    DNS/IP SANs are what clients check the hostname against, and the optional
    SPIFFE ID lets peers authorise the control plane like any workload.
    """
    dns = tuple(dns_names)
    ips = tuple(ipaddress.ip_address(ip) if isinstance(ip, str) else ip for ip in ip_addresses)
    if not dns and not ips:
        raise ValueError("a server certificate needs at least one DNS name or IP address")
    sans: list[x509.GeneralName] = [x509.DNSName(name) for name in dns]
    sans += [x509.IPAddress(ip) for ip in ips]
    if spiffe_id is not None:
        parse_spiffe_id(spiffe_id)
        sans.append(x509.UniformResourceIdentifier(spiffe_id))
    fields = _issue_leaf(
        authority,
        sans,
        ttl=ttl,
        rotate_fraction=rotate_fraction,
        key_type=key_type,
        clock_skew=clock_skew,
        now=now,
    )
    return ServerCertificate(dns_names=dns, ip_addresses=ips, spiffe_id=spiffe_id, **fields)


class _LeafFields(TypedDict):
    cert_chain_pem: str
    key_pem: str
    serial: int
    not_before: datetime
    not_after: datetime
    issued_at: datetime
    rotate_at: datetime


def _issue_leaf(
    authority: CertificateAuthority,
    sans: list[x509.GeneralName],
    *,
    ttl: timedelta,
    rotate_fraction: float,
    key_type: KeyType,
    clock_skew: timedelta,
    now: datetime | None,
) -> _LeafFields:
    if ttl <= timedelta(0):
        raise ValueError(f"ttl must be positive, got {ttl}")
    if not 0.0 < rotate_fraction < 1.0:
        raise ValueError(f"rotate_fraction must be in (0, 1), got {rotate_fraction}")
    if clock_skew < timedelta(0):
        raise ValueError(f"clock_skew must not be negative, got {clock_skew}")
    issued_at = as_utc(now)
    authority.check_usable(issued_at)
    not_before = max(issued_at - clock_skew, authority.not_before)
    not_after = min(issued_at + ttl, authority.not_after)
    if not_after <= issued_at:
        raise CAExpired("signing CA expires now; cannot issue", path=authority.source)

    key = generate_private_key(key_type)
    serial = random_serial()
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([]))
        .issuer_name(authority.certificate.subject)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=isinstance(key, rsa.RSAPrivateKey),
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        # Empty subject: RFC 5280 §4.2.1.6 requires the SAN to be critical.
        .add_extension(x509.SubjectAlternativeName(sans), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(authority_key_identifier(authority.certificate), critical=False)
    )
    leaf = sign(builder, authority.private_key)
    # Rotation is measured on the certificate's real remaining life (it may be clamped).
    return {
        "cert_chain_pem": certificates_pem([leaf, *authority.chain]),
        "key_pem": private_key_pem(key),
        "serial": serial,
        "not_before": leaf.not_valid_before_utc,
        "not_after": leaf.not_valid_after_utc,
        "issued_at": issued_at,
        "rotate_at": issued_at + (leaf.not_valid_after_utc - issued_at) * rotate_fraction,
    }
