"""Issued SVIDs and server certificates have exactly the fields peers rely on."""

from __future__ import annotations

import ipaddress
from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID
from cryptography.x509.verification import PolicyBuilder, Store

from ca import (
    CAExpired,
    CertificateAuthority,
    InvalidSpiffeID,
    KeyType,
    issue_server_certificate,
    issue_svid,
    new_intermediate_ca,
)
from ca.keys import key_matches_certificate, load_private_key_pem
from tests.ca.conftest import NOW, REVIEWS, load_chain


def _ext(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> x509.Extension[x509.ExtensionType]:
    return cert.extensions.get_extension_for_oid(oid)


@pytest.mark.parametrize("signer", ["root", "intermediate"])
def test_svid_fields(
    signer: str, root: CertificateAuthority, intermediate: CertificateAuthority
) -> None:
    authority = root if signer == "root" else intermediate
    svid = issue_svid(authority, REVIEWS, now=NOW)
    leaf, *rest = load_chain(svid.cert_chain_pem)

    assert rest == list(authority.chain)
    assert svid.spiffe_id == REVIEWS
    assert leaf.subject == x509.Name([])
    assert leaf.issuer == authority.certificate.subject
    leaf.verify_directly_issued_by(authority.certificate)

    san = _ext(leaf, ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
    assert san.critical  # empty subject
    assert isinstance(san.value, x509.SubjectAlternativeName)
    assert list(san.value) == [x509.UniformResourceIdentifier(REVIEWS)]

    bc = _ext(leaf, ExtensionOID.BASIC_CONSTRAINTS)
    assert bc.critical and isinstance(bc.value, x509.BasicConstraints) and not bc.value.ca

    ku = _ext(leaf, ExtensionOID.KEY_USAGE)
    assert ku.critical and isinstance(ku.value, x509.KeyUsage)
    assert ku.value.digital_signature
    assert not ku.value.key_encipherment  # EC key: RFC 8813
    assert not ku.value.key_cert_sign and not ku.value.crl_sign

    eku = _ext(leaf, ExtensionOID.EXTENDED_KEY_USAGE).value
    assert isinstance(eku, x509.ExtendedKeyUsage)
    assert set(eku) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}

    ski = _ext(leaf, ExtensionOID.SUBJECT_KEY_IDENTIFIER).value
    assert ski == x509.SubjectKeyIdentifier.from_public_key(leaf.public_key())
    aki = _ext(leaf, ExtensionOID.AUTHORITY_KEY_IDENTIFIER).value
    issuer_ski = _ext(authority.certificate, ExtensionOID.SUBJECT_KEY_IDENTIFIER).value
    assert isinstance(aki, x509.AuthorityKeyIdentifier)
    assert isinstance(issuer_ski, x509.SubjectKeyIdentifier)
    assert aki.key_identifier == issuer_ski.digest

    key = load_private_key_pem(svid.key_pem.encode())
    assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"
    assert key_matches_certificate(key, leaf)
    assert leaf.serial_number == svid.serial


def test_validity_ttl_backdate_and_rotation_time(root: CertificateAuthority) -> None:
    svid = issue_svid(root, REVIEWS, now=NOW)
    leaf = load_chain(svid.cert_chain_pem)[0]
    assert svid.issued_at == NOW
    assert svid.not_after == leaf.not_valid_after_utc == NOW + timedelta(hours=24)
    assert svid.not_before == leaf.not_valid_before_utc == NOW - timedelta(minutes=5)
    assert svid.rotate_at == NOW + timedelta(hours=12)
    assert not svid.is_due(NOW + timedelta(hours=11, minutes=59))
    assert svid.is_due(NOW + timedelta(hours=12))
    assert not svid.is_expired(NOW + timedelta(hours=24))
    assert svid.is_expired(NOW + timedelta(hours=24, seconds=1))


def test_short_ttl_and_custom_fraction(root: CertificateAuthority) -> None:
    svid = issue_svid(
        root,
        REVIEWS,
        ttl=timedelta(seconds=10),
        rotate_fraction=0.8,
        clock_skew=timedelta(seconds=2),
        now=NOW,
    )
    assert svid.not_before == NOW - timedelta(seconds=2)
    assert svid.not_after == NOW + timedelta(seconds=10)
    assert svid.rotate_at == NOW + timedelta(seconds=8)
    assert not svid.is_due(NOW)  # the skew allowance never makes a new SVID due at once


def test_ttl_is_clamped_to_the_signing_ca(root: CertificateAuthority) -> None:
    short = new_intermediate_ca(root, ttl=timedelta(hours=2), now=NOW)
    svid = issue_svid(short, REVIEWS, ttl=timedelta(hours=24), now=NOW)
    assert svid.not_after == short.not_after == NOW + timedelta(hours=2)
    assert svid.rotate_at == NOW + timedelta(hours=1)
    # ...and notBefore never predates the CA either.
    assert svid.not_before == short.not_before


def test_serials_and_keys_are_fresh_and_random(root: CertificateAuthority) -> None:
    svids = [issue_svid(root, REVIEWS, now=NOW) for _ in range(32)]
    serials = {s.serial for s in svids}
    assert len(serials) == len(svids)
    assert len({s.key_pem for s in svids}) == len(svids)
    assert all(0 < s < 2**128 for s in serials)
    # 32 random 128-bit serials: the top byte cannot plausibly be zero for all of them.
    assert max(serials).bit_length() > 120


def test_rsa_leaf(root: CertificateAuthority) -> None:
    svid = issue_svid(root, REVIEWS, key_type=KeyType.RSA_2048, now=NOW)
    leaf = load_chain(svid.cert_chain_pem)[0]
    key = load_private_key_pem(svid.key_pem.encode())
    assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == 2048
    ku = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ku.digital_signature and ku.key_encipherment


@pytest.mark.parametrize(
    "bad",
    [
        "spiffe://cluster.local",
        "https://cluster.local/ns/a/sa/b",
        "spiffe://Cluster.Local/ns/a/sa/b",
        "spiffe://cluster.local/ns//sa/b",
        "spiffe://cluster.local/ns/a/sa/b?x=1",
    ],
)
def test_invalid_spiffe_id_is_refused(root: CertificateAuthority, bad: str) -> None:
    with pytest.raises(InvalidSpiffeID):
        issue_svid(root, bad, now=NOW)


def test_expired_ca_cannot_issue(root: CertificateAuthority) -> None:
    with pytest.raises(CAExpired, match="expired"):
        issue_svid(root, REVIEWS, now=NOW + timedelta(days=3651))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"ttl": timedelta(0)},
        {"rotate_fraction": 0.0},
        {"rotate_fraction": 1.0},
        {"clock_skew": timedelta(seconds=-1)},
    ],
)
def test_bad_parameters(root: CertificateAuthority, kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        issue_svid(root, REVIEWS, now=NOW, **kwargs)  # type: ignore[arg-type]


def test_server_certificate(intermediate: CertificateAuthority) -> None:
    cert = issue_server_certificate(
        intermediate,
        ["xdscp.istio-system.svc", "localhost"],
        ip_addresses=["127.0.0.1"],
        spiffe_id="spiffe://cluster.local/ns/istio-system/sa/xdscp",
        now=NOW,
    )
    leaf = load_chain(cert.cert_chain_pem)[0]
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert san.critical
    assert san.value.get_values_for_type(x509.DNSName) == ["xdscp.istio-system.svc", "localhost"]
    assert san.value.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    assert san.value.get_values_for_type(x509.UniformResourceIdentifier) == [
        "spiffe://cluster.local/ns/istio-system/sa/xdscp"
    ]
    assert cert.not_after - cert.issued_at == timedelta(days=30)
    assert cert.ip_addresses == (ipaddress.ip_address("127.0.0.1"),)


def test_server_certificate_needs_a_name(root: CertificateAuthority) -> None:
    with pytest.raises(ValueError, match="DNS name or IP"):
        issue_server_certificate(root, [], now=NOW)


@pytest.mark.skipif(
    not hasattr(PolicyBuilder, "build_client_verifier"),
    reason="needs cryptography's x509 client verification (cryptography >= 43)",
)
@pytest.mark.parametrize("key_type", [KeyType.EC_P256, KeyType.RSA_2048])
def test_independent_web_pki_verifier_accepts_chains(
    intermediate: CertificateAuthority, key_type: KeyType
) -> None:
    """cryptography's strict (CA/B-profile) verifier agrees our chains are well formed."""
    store = Store(list(intermediate.roots))
    policy = PolicyBuilder().store(store).time(NOW)

    svid = issue_svid(intermediate, REVIEWS, key_type=key_type, now=NOW)
    leaf, *chain = load_chain(svid.cert_chain_pem)
    verified = policy.build_client_verifier().verify(leaf, chain)
    assert verified.subjects == [x509.UniformResourceIdentifier(REVIEWS)]
    assert verified.chain[-1] == intermediate.roots[0]

    server = issue_server_certificate(intermediate, ["xdscp.istio-system.svc"], now=NOW)
    leaf, *chain = load_chain(server.cert_chain_pem)
    server_verifier = policy.build_server_verifier(x509.DNSName("xdscp.istio-system.svc"))
    assert server_verifier.verify(leaf, chain)[0] == leaf
