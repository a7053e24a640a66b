"""Plugged-in intermediates (Istio `cacerts`): validated at load, served chain computed."""

from __future__ import annotations

import stat
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509

from ca import (
    CA_CERT_FILE,
    CA_KEY_FILE,
    CACERTS_FILES,
    CERT_CHAIN_FILE,
    ROOT_CERT_FILE,
    CAChainError,
    CAExpired,
    CAFileError,
    CAKeyMismatch,
    CertificateAuthority,
    create_root_ca,
    issue_svid,
    load_cacerts,
    load_or_create_root_ca,
    new_intermediate_ca,
    verify_svid,
    write_cacerts,
)
from ca.certbuild import random_serial, sign
from ca.keys import generate_private_key, private_key_pem
from ca.pemfiles import certificates_pem
from tests.ca.conftest import NOW, REVIEWS, load_chain, pem


@pytest.fixture
def cacerts_dir(tmp_path: Path, intermediate: CertificateAuthority) -> Path:
    directory = tmp_path / "cacerts"
    write_cacerts(intermediate, directory)
    return directory


def test_round_trip_with_persisted_root(tmp_path: Path) -> None:
    root = create_root_ca(tmp_path / "root", now=NOW)
    write_cacerts(new_intermediate_ca(root, now=NOW), tmp_path / "cacerts")

    loaded = load_cacerts(tmp_path / "cacerts", now=NOW)

    assert loaded.roots == root.roots
    assert loaded.chain == (loaded.certificate,)
    assert loaded.source == tmp_path / "cacerts" / CA_CERT_FILE
    assert stat.S_IMODE((tmp_path / "cacerts" / CA_KEY_FILE).stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "cacerts").stat().st_mode) == 0o700
    # Istio's tooling convention: cert-chain.pem = ca-cert + root.
    assert load_chain((tmp_path / "cacerts" / CERT_CHAIN_FILE).read_text()) == [
        loaded.certificate,
        root.certificate,
    ]


def test_svid_chain_is_leaf_plus_intermediate_without_root(
    cacerts_dir: Path, root: CertificateAuthority
) -> None:
    authority = load_cacerts(cacerts_dir, now=NOW)
    svid = issue_svid(authority, REVIEWS, now=NOW)
    certs = load_chain(svid.cert_chain_pem)
    assert len(certs) == 2
    assert certs[1] == authority.certificate
    assert root.certificate not in certs
    certs[0].verify_directly_issued_by(certs[1])
    certs[1].verify_directly_issued_by(root.certificate)
    assert authority.trust_bundle().roots == (root.certificate,)
    assert verify_svid(svid.cert_chain_pem, authority.trust_bundle(), now=NOW) == REVIEWS


def test_two_level_intermediates(tmp_path: Path, root: CertificateAuthority) -> None:
    level1 = new_intermediate_ca(root, common_name="policy CA", path_length=1, now=NOW)
    level2 = new_intermediate_ca(level1, common_name="issuing CA", now=NOW)
    write_cacerts(level2, tmp_path / "cacerts")

    loaded = load_cacerts(tmp_path / "cacerts", now=NOW)
    assert loaded.chain == (level2.certificate, level1.certificate)
    svid = issue_svid(loaded, REVIEWS, now=NOW)
    assert load_chain(svid.cert_chain_pem)[1:] == [level2.certificate, level1.certificate]
    assert verify_svid(svid.cert_chain_pem, loaded.trust_bundle(), now=NOW) == REVIEWS


@pytest.mark.parametrize(
    "layout",
    ["intermediates-only", "root-first", "reversed", "with-duplicates", "with-unrelated"],
)
def test_cert_chain_variants_are_normalised(
    tmp_path: Path, root: CertificateAuthority, other_root: CertificateAuthority, layout: str
) -> None:
    level1 = new_intermediate_ca(root, path_length=1, now=NOW)
    level2 = new_intermediate_ca(level1, now=NOW)
    directory = tmp_path / "cacerts"
    write_cacerts(level2, directory)
    c2, c1, r = level2.certificate, level1.certificate, root.certificate
    variants = {
        "intermediates-only": [c1],
        "root-first": [r, c2, c1],
        "reversed": [r, c1, c2],
        "with-duplicates": [c2, c2, c1, c1, r],
        "with-unrelated": [other_root.certificate, c2, c1, r],
    }
    (directory / CERT_CHAIN_FILE).write_text(certificates_pem(variants[layout]))

    assert load_cacerts(directory, now=NOW).chain == (c2, c1)


def test_plugging_in_a_root_as_signing_ca(tmp_path: Path, root: CertificateAuthority) -> None:
    write_cacerts(root, tmp_path / "cacerts")
    loaded = load_cacerts(tmp_path / "cacerts", now=NOW)
    assert loaded.chain == ()
    svid = issue_svid(loaded, REVIEWS, now=NOW)
    assert len(load_chain(svid.cert_chain_pem)) == 1


@pytest.mark.parametrize("missing", CACERTS_FILES)
def test_missing_file(cacerts_dir: Path, missing: str) -> None:
    (cacerts_dir / missing).unlink()
    with pytest.raises(CAFileError, match="missing") as info:
        load_cacerts(cacerts_dir, now=NOW)
    assert info.value.path == cacerts_dir / missing


def test_corrupt_file(cacerts_dir: Path) -> None:
    (cacerts_dir / ROOT_CERT_FILE).write_text(
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    )
    with pytest.raises(CAFileError, match="corrupt") as info:
        load_cacerts(cacerts_dir, now=NOW)
    assert info.value.path == cacerts_dir / ROOT_CERT_FILE


def test_key_does_not_match_ca_cert(cacerts_dir: Path) -> None:
    (cacerts_dir / CA_KEY_FILE).write_text(private_key_pem(generate_private_key()))
    with pytest.raises(CAKeyMismatch) as info:
        load_cacerts(cacerts_dir, now=NOW)
    assert info.value.path == cacerts_dir / CA_KEY_FILE
    assert CA_CERT_FILE in info.value.problem


def test_ca_cert_that_is_not_a_ca(cacerts_dir: Path, intermediate: CertificateAuthority) -> None:
    # A CA:FALSE cert with a known key, so the key check passes and the CA check fires.
    leaf_key = generate_private_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([]))
        .issuer_name(intermediate.certificate.subject)
        .public_key(leaf_key.public_key())
        .serial_number(random_serial())
        .not_valid_before(NOW - timedelta(hours=1))
        .not_valid_after(NOW + timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    )
    (cacerts_dir / CA_CERT_FILE).write_text(pem(sign(builder, intermediate.private_key)))
    (cacerts_dir / CA_KEY_FILE).write_text(private_key_pem(leaf_key))
    with pytest.raises(CAChainError, match="CA:FALSE") as info:
        load_cacerts(cacerts_dir, now=NOW)
    assert info.value.path == cacerts_dir / CA_CERT_FILE


def test_chain_to_a_different_root(cacerts_dir: Path, other_root: CertificateAuthority) -> None:
    (cacerts_dir / ROOT_CERT_FILE).write_text(pem(other_root.certificate))
    with pytest.raises(CAChainError, match="does not chain") as info:
        load_cacerts(cacerts_dir, now=NOW)
    assert info.value.path == cacerts_dir / CERT_CHAIN_FILE


def test_missing_link_in_cert_chain(tmp_path: Path, root: CertificateAuthority) -> None:
    level1 = new_intermediate_ca(root, path_length=1, now=NOW)
    level2 = new_intermediate_ca(level1, now=NOW)
    write_cacerts(level2, tmp_path)
    (tmp_path / CERT_CHAIN_FILE).write_text(pem(level2.certificate) + pem(root.certificate))
    with pytest.raises(CAChainError, match="no issuer found") as info:
        load_cacerts(tmp_path, now=NOW)
    assert info.value.path == tmp_path / CERT_CHAIN_FILE


def test_non_self_signed_cert_in_root_file(
    cacerts_dir: Path, intermediate: CertificateAuthority
) -> None:
    (cacerts_dir / ROOT_CERT_FILE).write_text(pem(intermediate.certificate))
    with pytest.raises(CAChainError, match="not a self-signed") as info:
        load_cacerts(cacerts_dir, now=NOW)
    assert info.value.path == cacerts_dir / ROOT_CERT_FILE


def test_path_length_violation(tmp_path: Path, root: CertificateAuthority) -> None:
    level1 = new_intermediate_ca(root, path_length=0, now=NOW)
    level2 = new_intermediate_ca(level1, now=NOW)
    write_cacerts(level2, tmp_path)
    with pytest.raises(CAChainError, match="allows 0 intermediate"):
        load_cacerts(tmp_path, now=NOW)


def test_expired_intermediate(tmp_path: Path, root: CertificateAuthority) -> None:
    write_cacerts(new_intermediate_ca(root, ttl=timedelta(days=1), now=NOW), tmp_path)
    with pytest.raises(CAExpired, match="expired") as info:
        load_cacerts(tmp_path, now=NOW + timedelta(days=2))
    assert info.value.path == tmp_path / CA_CERT_FILE


def test_intermediate_lifetime_is_clamped_to_parent(root: CertificateAuthority) -> None:
    child = new_intermediate_ca(root, ttl=timedelta(days=365 * 50), now=NOW)
    assert child.certificate.not_valid_after_utc == root.certificate.not_valid_after_utc


def test_write_refuses_to_overwrite(cacerts_dir: Path, intermediate: CertificateAuthority) -> None:
    with pytest.raises(CAFileError, match="already exists"):
        write_cacerts(intermediate, cacerts_dir)


def test_root_loader_refuses_cacerts_directory(cacerts_dir: Path) -> None:
    with pytest.raises(CAFileError, match="load_cacerts"):
        load_or_create_root_ca(cacerts_dir, now=NOW)
