"""The root is created once, persisted safely, and never silently replaced."""

from __future__ import annotations

import os
import stat
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from ca import (
    ROOT_CERT_FILE,
    ROOT_KEY_FILE,
    CAChainError,
    CAError,
    CAExpired,
    CAFileError,
    CAKeyMismatch,
    CertificateAuthority,
    KeyType,
    create_root_ca,
    load_or_create_root_ca,
    load_root_ca,
    new_root_ca,
)
from ca.keys import generate_private_key, private_key_pem
from tests.ca.conftest import NOW, pem


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_create_then_reload_gives_the_same_root(tmp_path: Path) -> None:
    directory = tmp_path / "ca"
    created = load_or_create_root_ca(directory, now=NOW)
    reloaded = load_or_create_root_ca(directory, now=NOW + timedelta(days=1))
    again = load_root_ca(directory, now=NOW)

    assert reloaded.certificate.serial_number == created.certificate.serial_number
    assert reloaded.fingerprint == created.fingerprint == again.fingerprint
    assert reloaded.trust_bundle().pem == created.trust_bundle().pem
    assert reloaded.chain == ()
    assert reloaded.roots == (created.certificate,)
    assert reloaded.source == directory / ROOT_CERT_FILE


def test_files_and_directory_are_private(tmp_path: Path) -> None:
    directory = tmp_path / "nested" / "ca"
    old_umask = os.umask(0)  # even a permissive umask must not widen the key's mode
    try:
        create_root_ca(directory, now=NOW)
    finally:
        os.umask(old_umask)
    assert _mode(directory) == 0o700
    assert _mode(directory / ROOT_KEY_FILE) == 0o600
    assert _mode(directory / ROOT_CERT_FILE) == 0o644
    assert sorted(p.name for p in directory.iterdir()) == [ROOT_CERT_FILE, ROOT_KEY_FILE]


def test_existing_directory_is_tightened(tmp_path: Path) -> None:
    directory = tmp_path / "ca"
    directory.mkdir(mode=0o755)
    create_root_ca(directory, now=NOW)
    assert _mode(directory) == 0o700


def test_root_certificate_shape(root: CertificateAuthority) -> None:
    cert = root.certificate
    assert isinstance(root.private_key, ec.EllipticCurvePrivateKey)
    assert root.private_key.curve.name == "secp256r1"
    bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert bc.ca
    assert cert.subject == cert.issuer
    cert.verify_directly_issued_by(cert)
    assert cert.not_valid_after_utc - NOW == timedelta(days=3650)


def test_rsa_root(tmp_path: Path) -> None:
    created = create_root_ca(tmp_path / "ca", key_type=KeyType.RSA_2048, now=NOW)
    loaded = load_root_ca(tmp_path / "ca", now=NOW)
    assert isinstance(loaded.private_key, rsa.RSAPrivateKey)
    assert loaded.private_key.key_size == 2048
    assert loaded.fingerprint == created.fingerprint


def test_create_refuses_to_overwrite(tmp_path: Path) -> None:
    directory = tmp_path / "ca"
    first = create_root_ca(directory, now=NOW)
    with pytest.raises(CAFileError, match="already exists") as info:
        create_root_ca(directory, now=NOW)
    assert info.value.path is not None and info.value.path.parent == directory
    assert load_root_ca(directory, now=NOW).fingerprint == first.fingerprint


def test_load_of_empty_directory_does_not_create(tmp_path: Path) -> None:
    with pytest.raises(CAFileError, match="missing") as info:
        load_root_ca(tmp_path, now=NOW)
    assert info.value.path == tmp_path / ROOT_CERT_FILE
    assert list(tmp_path.iterdir()) == []


def test_missing_key_with_present_cert_is_an_error_not_a_new_root(tmp_path: Path) -> None:
    directory = tmp_path / "ca"
    create_root_ca(directory, now=NOW)
    cert_before = (directory / ROOT_CERT_FILE).read_bytes()
    (directory / ROOT_KEY_FILE).unlink()

    with pytest.raises(CAFileError, match="refusing to generate") as info:
        load_or_create_root_ca(directory, now=NOW)
    assert info.value.path == directory / ROOT_KEY_FILE
    assert str(directory / ROOT_KEY_FILE) in str(info.value)
    assert (directory / ROOT_CERT_FILE).read_bytes() == cert_before
    assert not (directory / ROOT_KEY_FILE).exists()


def test_missing_cert_with_present_key_is_an_error(tmp_path: Path) -> None:
    directory = tmp_path / "ca"
    create_root_ca(directory, now=NOW)
    (directory / ROOT_CERT_FILE).unlink()
    with pytest.raises(CAFileError, match="missing") as info:
        load_or_create_root_ca(directory, now=NOW)
    assert info.value.path == directory / ROOT_CERT_FILE


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (ROOT_CERT_FILE, "", "empty"),
        (ROOT_CERT_FILE, "hello\n", "expected a PEM certificate"),
        (
            ROOT_CERT_FILE,
            "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n",
            "corrupt PEM certificate",
        ),
        (ROOT_KEY_FILE, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "PEM"),
        (ROOT_KEY_FILE, "junk", "expected a PEM private key"),
    ],
)
def test_corrupt_files(tmp_path: Path, name: str, content: str, message: str) -> None:
    directory = tmp_path / "ca"
    create_root_ca(directory, now=NOW)
    (directory / name).write_text(content)
    with pytest.raises(CAFileError, match=message) as info:
        load_or_create_root_ca(directory, now=NOW)
    assert info.value.path == directory / name
    assert (directory / name).read_text() == content  # left alone for the operator


def test_files_swapped(tmp_path: Path) -> None:
    directory = tmp_path / "ca"
    create_root_ca(directory, now=NOW)
    cert, key = (directory / ROOT_CERT_FILE).read_text(), (directory / ROOT_KEY_FILE).read_text()
    (directory / ROOT_CERT_FILE).write_text(key)
    (directory / ROOT_KEY_FILE).write_text(cert)
    with pytest.raises(CAFileError, match="found a private key") as info:
        load_root_ca(directory, now=NOW)
    assert info.value.path == directory / ROOT_CERT_FILE


def test_encrypted_key_is_reported(tmp_path: Path) -> None:
    directory = tmp_path / "ca"
    created = create_root_ca(directory, now=NOW)
    encrypted = created.private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret"),
    )
    (directory / ROOT_KEY_FILE).write_bytes(encrypted)
    with pytest.raises(CAFileError, match="encrypted"):
        load_root_ca(directory, now=NOW)


def test_mismatched_key(tmp_path: Path) -> None:
    directory = tmp_path / "ca"
    create_root_ca(directory, now=NOW)
    (directory / ROOT_KEY_FILE).write_text(private_key_pem(generate_private_key()))
    with pytest.raises(CAKeyMismatch, match="does not match") as info:
        load_or_create_root_ca(directory, now=NOW)
    assert info.value.path == directory / ROOT_KEY_FILE


def test_expired_root(tmp_path: Path) -> None:
    directory = tmp_path / "ca"
    create_root_ca(directory, ttl=timedelta(days=1), now=NOW)
    with pytest.raises(CAExpired, match="expired at") as info:
        load_or_create_root_ca(directory, now=NOW + timedelta(days=2))
    assert info.value.path == directory / ROOT_CERT_FILE
    assert load_root_ca(directory, now=NOW).certificate  # still fine when it was valid


def test_not_yet_valid_root(tmp_path: Path) -> None:
    directory = tmp_path / "ca"
    create_root_ca(directory, now=NOW)
    with pytest.raises(CAExpired, match="not valid until"):
        load_root_ca(directory, now=NOW - timedelta(days=1))


def test_intermediate_in_root_directory_is_rejected(
    tmp_path: Path, intermediate: CertificateAuthority
) -> None:
    directory = tmp_path / "ca"
    directory.mkdir()
    (directory / ROOT_CERT_FILE).write_text(pem(intermediate.certificate))
    (directory / ROOT_KEY_FILE).write_text(private_key_pem(intermediate.private_key))
    with pytest.raises(CAChainError, match="not self-signed") as info:
        load_root_ca(directory, now=NOW)
    assert info.value.path == directory / ROOT_CERT_FILE


def test_refuses_to_create_next_to_a_cacerts_ca(tmp_path: Path) -> None:
    (tmp_path / "ca-key.pem").write_text("x")
    with pytest.raises(CAFileError, match="load_cacerts") as info:
        load_or_create_root_ca(tmp_path, now=NOW)
    assert info.value.path == tmp_path
    assert not (tmp_path / ROOT_KEY_FILE).exists()


def test_errors_share_a_base_and_carry_path(tmp_path: Path) -> None:
    with pytest.raises(CAError) as info:
        load_root_ca(tmp_path, now=NOW)
    assert str(info.value) == f"{tmp_path / ROOT_CERT_FILE}: {info.value.problem}"


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        new_root_ca(now=NOW.replace(tzinfo=None))
