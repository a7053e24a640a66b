"""verify_svid accepts exactly valid SVIDs of the bundle's trust domain."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, ObjectIdentifier

from ca import (
    CAFileError,
    CertificateAuthority,
    SVIDVerificationError,
    TrustBundle,
    issue_server_certificate,
    issue_svid,
    new_intermediate_ca,
    new_root_ca,
    spiffe_id_of,
    verify_svid,
)
from tests.ca.conftest import NOW, REVIEWS, custom_leaf, load_chain, pem


def test_valid_svid_from_root(root: CertificateAuthority) -> None:
    svid = issue_svid(root, REVIEWS, now=NOW)
    assert verify_svid(svid.cert_chain_pem, root.trust_bundle(), now=NOW) == REVIEWS


def test_valid_svid_from_intermediate(intermediate: CertificateAuthority) -> None:
    svid = issue_svid(intermediate, REVIEWS, now=NOW)
    bundle = intermediate.trust_bundle()
    assert verify_svid(svid.cert_chain_pem.encode(), bundle, now=NOW) == REVIEWS


def test_leaf_only_needs_the_intermediates_from_elsewhere(
    intermediate: CertificateAuthority,
) -> None:
    leaf = load_chain(issue_svid(intermediate, REVIEWS, now=NOW).cert_chain_pem)[0]
    bundle = intermediate.trust_bundle()
    with pytest.raises(SVIDVerificationError, match="no issuer found"):
        verify_svid(pem(leaf), bundle, now=NOW)
    assert verify_svid(pem(leaf), bundle, now=NOW, intermediates=intermediate.chain) == REVIEWS


def test_chain_that_includes_the_root_is_fine(intermediate: CertificateAuthority) -> None:
    svid = issue_svid(intermediate, REVIEWS, now=NOW)
    with_root = svid.cert_chain_pem + pem(intermediate.roots[0])
    assert verify_svid(with_root, intermediate.trust_bundle(), now=NOW) == REVIEWS


def test_foreign_ca_is_rejected(
    root: CertificateAuthority, other_root: CertificateAuthority
) -> None:
    svid = issue_svid(other_root, REVIEWS, now=NOW)
    with pytest.raises(SVIDVerificationError, match="no issuer found"):
        verify_svid(svid.cert_chain_pem, root.trust_bundle(), now=NOW)


def test_impostor_ca_with_our_roots_name_is_rejected(root: CertificateAuthority) -> None:
    """Same issuer *name*, different key: only the signature decides."""
    impostor = new_root_ca(now=NOW)  # same default subject as `root`
    assert impostor.certificate.subject == root.certificate.subject
    svid = issue_svid(impostor, REVIEWS, now=NOW)
    with pytest.raises(SVIDVerificationError):
        verify_svid(svid.cert_chain_pem, root.trust_bundle(), now=NOW)


@pytest.mark.parametrize(
    ("offset", "message"),
    [(timedelta(hours=25), "expired"), (timedelta(minutes=-10), "not valid until")],
)
def test_validity_window(root: CertificateAuthority, offset: timedelta, message: str) -> None:
    svid = issue_svid(root, REVIEWS, now=NOW)
    with pytest.raises(SVIDVerificationError, match=message):
        verify_svid(svid.cert_chain_pem, root.trust_bundle(), now=NOW + offset)


def test_expired_intermediate_in_chain(root: CertificateAuthority) -> None:
    short = new_intermediate_ca(root, ttl=timedelta(hours=1), now=NOW)
    svid = issue_svid(short, REVIEWS, now=NOW)
    with pytest.raises(SVIDVerificationError, match="expired"):
        verify_svid(svid.cert_chain_pem, root.trust_bundle(), now=NOW + timedelta(hours=2))


def test_wrong_trust_domain(root: CertificateAuthority) -> None:
    svid = issue_svid(root, "spiffe://example.org/ns/default/sa/reviews", now=NOW)
    with pytest.raises(SVIDVerificationError, match=r"trust domain 'cluster\.local'"):
        verify_svid(svid.cert_chain_pem, root.trust_bundle(), now=NOW)
    bundle = root.trust_bundle("example.org")
    assert verify_svid(svid.cert_chain_pem, bundle, now=NOW).startswith("spiffe://example.org/")


@pytest.mark.parametrize(
    ("sans", "message"),
    [
        ((), "no subjectAltName"),
        ((x509.DNSName("reviews.default.svc"),), "exactly one URI SAN, found 0"),
        (
            (
                x509.UniformResourceIdentifier(REVIEWS),
                x509.UniformResourceIdentifier("spiffe://cluster.local/ns/default/sa/admin"),
            ),
            "exactly one URI SAN, found 2",
        ),
        ((x509.UniformResourceIdentifier("https://reviews"),), "must start with"),
        ((x509.UniformResourceIdentifier("spiffe://cluster.local/ns/../sa/x"),), "'..'"),
    ],
)
def test_san_rules(
    root: CertificateAuthority, sans: tuple[x509.GeneralName, ...], message: str
) -> None:
    leaf = custom_leaf(root, sans=sans)
    with pytest.raises(SVIDVerificationError, match=message):
        verify_svid(pem(leaf), root.trust_bundle(), now=NOW)


def test_other_san_types_alongside_one_uri_are_allowed(root: CertificateAuthority) -> None:
    leaf = custom_leaf(
        root, sans=(x509.DNSName("reviews.default.svc"), x509.UniformResourceIdentifier(REVIEWS))
    )
    assert verify_svid(pem(leaf), root.trust_bundle(), now=NOW) == REVIEWS


def test_ca_certificate_is_not_an_svid(root: CertificateAuthority) -> None:
    leaf = custom_leaf(root, ca=True, key_usage_cert_sign=True)
    with pytest.raises(SVIDVerificationError, match="must not be a CA"):
        verify_svid(pem(leaf), root.trust_bundle(), now=NOW)


def test_cert_sign_usage_is_not_an_svid(root: CertificateAuthority) -> None:
    leaf = custom_leaf(root, key_usage_cert_sign=True)
    with pytest.raises(SVIDVerificationError, match="keyCertSign"):
        verify_svid(pem(leaf), root.trust_bundle(), now=NOW)


def test_client_auth_usage(root: CertificateAuthority) -> None:
    server_only = custom_leaf(root, eku=(ExtendedKeyUsageOID.SERVER_AUTH,))
    bundle = root.trust_bundle()
    with pytest.raises(SVIDVerificationError, match="clientAuth"):
        verify_svid(pem(server_only), bundle, now=NOW)
    assert verify_svid(pem(server_only), bundle, now=NOW, require_client_auth=False) == REVIEWS
    no_eku = custom_leaf(root, eku=None)
    assert verify_svid(pem(no_eku), bundle, now=NOW) == REVIEWS


def test_unknown_critical_extension(root: CertificateAuthority) -> None:
    weird = x509.UnrecognizedExtension(ObjectIdentifier("1.3.6.1.4.1.99999.1"), b"\x05\x00")
    leaf = custom_leaf(root, extra=[(weird, True)])
    with pytest.raises(SVIDVerificationError, match=r"unsupported critical extensions"):
        verify_svid(pem(leaf), root.trust_bundle(), now=NOW)


def test_server_certificate_without_spiffe_id_is_no_svid(root: CertificateAuthority) -> None:
    cert = issue_server_certificate(root, ["xdscp.example"], now=NOW)
    with pytest.raises(SVIDVerificationError, match="found 0"):
        verify_svid(cert.cert_chain_pem, root.trust_bundle(), now=NOW)


@pytest.mark.parametrize("garbage", ["", "hello", "-----BEGIN CERTIFICATE-----\nAA\n"])
def test_garbage_input(root: CertificateAuthority, garbage: str) -> None:
    with pytest.raises(SVIDVerificationError):
        verify_svid(garbage, root.trust_bundle(), now=NOW)


def test_spiffe_id_of_does_not_verify(other_root: CertificateAuthority) -> None:
    leaf = load_chain(issue_svid(other_root, REVIEWS, now=NOW).cert_chain_pem)[0]
    assert spiffe_id_of(leaf) == REVIEWS


def test_trust_bundle(root: CertificateAuthority, other_root: CertificateAuthority) -> None:
    bundle = TrustBundle((root.certificate, other_root.certificate, root.certificate))
    assert bundle.roots == (root.certificate, other_root.certificate)
    assert bundle.trust_domain == "cluster.local"
    assert TrustBundle.from_pem(bundle.pem) == bundle
    assert len(bundle.fingerprints) == 2 and all(len(f) == 64 for f in bundle.fingerprints)
    with pytest.raises(ValueError, match="at least one"):
        TrustBundle(())
    with pytest.raises(CAFileError, match="not valid PEM"):
        TrustBundle.from_pem("nope")
    # Root rotation: an SVID from either root verifies against the combined bundle.
    for authority in (root, other_root):
        svid = issue_svid(authority, REVIEWS, now=NOW)
        assert verify_svid(svid.cert_chain_pem, bundle, now=NOW) == REVIEWS
