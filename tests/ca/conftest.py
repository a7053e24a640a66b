"""Shared CA fixtures: in-memory roots/intermediates built once, a controllable clock."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from ca import CertificateAuthority, new_intermediate_ca, new_root_ca
from ca.certbuild import authority_key_identifier, random_serial, sign
from ca.keys import generate_private_key

# A fixed "now" makes validity arithmetic exact; certificates are built around it.
NOW = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)
REVIEWS = "spiffe://cluster.local/ns/default/sa/reviews"


@dataclass
class FakeClock:
    """An injectable clock that only moves when told to."""

    now: datetime = NOW

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="session")
def root() -> CertificateAuthority:
    return new_root_ca(now=NOW)


@pytest.fixture(scope="session")
def other_root() -> CertificateAuthority:
    return new_root_ca(common_name="some other mesh", now=NOW)


@pytest.fixture(scope="session")
def intermediate(root: CertificateAuthority) -> CertificateAuthority:
    return new_intermediate_ca(root, now=NOW)


def pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def load_chain(chain_pem: str) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(chain_pem.encode())


def custom_leaf(
    issuer: CertificateAuthority,
    *,
    sans: Sequence[x509.GeneralName] = (x509.UniformResourceIdentifier(REVIEWS),),
    ca: bool = False,
    key_usage_cert_sign: bool = False,
    eku: Sequence[x509.ObjectIdentifier] | None = (
        ExtendedKeyUsageOID.SERVER_AUTH,
        ExtendedKeyUsageOID.CLIENT_AUTH,
    ),
    extra: Sequence[tuple[x509.ExtensionType, bool]] = (),
    not_before: datetime = NOW - timedelta(minutes=1),
    not_after: datetime = NOW + timedelta(hours=1),
) -> x509.Certificate:
    """A leaf with hand-picked flaws, for verifier tests the issuing API cannot produce."""
    key = generate_private_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([]))
        .issuer_name(issuer.certificate.subject)
        .public_key(key.public_key())
        .serial_number(random_serial())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=key_usage_cert_sign,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(authority_key_identifier(issuer.certificate), critical=False)
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(sans)), critical=True)
    if eku is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
    for ext, critical in extra:
        builder = builder.add_extension(ext, critical=critical)
    return sign(builder, issuer.private_key)
