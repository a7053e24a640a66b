"""A self-signed root CA, created once and kept in a directory for good.

The root is the mesh's trust anchor: every sidecar's `ROOTCA` secret pins it,
so a control plane that quietly made a new one on restart would break every
connection in the mesh. Hence the API makes the caller choose between
`create_root_ca` (refuses if anything is there), `load_root_ca` (refuses if
anything is wrong) and `load_or_create_root_ca` (creates only into an empty
place); and loading never falls back to generating.

Directory layout: `root-cert.pem` (0644) and `root-key.pem` (0600), directory 0700.
The certificate file has the same name and meaning as in the `cacerts` layout.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import NameOID

from ca.authority import CertificateAuthority
from ca.cacerts import CA_CERT_FILE, CA_KEY_FILE, CERT_CHAIN_FILE, ROOT_CERT_FILE
from ca.certbuild import CA_KEY_USAGE, DEFAULT_CLOCK_SKEW, random_serial, sign
from ca.chain import ca_problem, is_self_signed, validity_problem
from ca.clock import as_utc
from ca.errors import CAChainError, CAExpired, CAFileError, CAKeyMismatch
from ca.keys import KeyType, generate_private_key, key_matches_certificate, private_key_pem
from ca.pemfiles import (
    CERT_FILE_MODE,
    KEY_FILE_MODE,
    certificates_pem,
    ensure_private_directory,
    read_certificates,
    read_private_key,
    write_new_file,
)
from ca.spiffe import DEFAULT_TRUST_DOMAIN

__all__ = [
    "DEFAULT_ROOT_TTL",
    "ROOT_CERT_FILE",
    "ROOT_KEY_FILE",
    "create_root_ca",
    "load_or_create_root_ca",
    "load_root_ca",
    "new_root_ca",
]

ROOT_KEY_FILE = "root-key.pem"
DEFAULT_ROOT_TTL = timedelta(days=10 * 365)
DEFAULT_ROOT_COMMON_NAME = "xdscp root CA"

# Files that mark a directory as a plugged-in Istio `cacerts` CA, not a root directory.
_CACERTS_MARKERS = (CA_CERT_FILE, CA_KEY_FILE, CERT_CHAIN_FILE)


def new_root_ca(
    *,
    key_type: KeyType = KeyType.EC_P256,
    organization: str = DEFAULT_TRUST_DOMAIN,
    common_name: str = DEFAULT_ROOT_COMMON_NAME,
    ttl: timedelta = DEFAULT_ROOT_TTL,
    now: datetime | None = None,
) -> CertificateAuthority:
    """A new self-signed root, in memory only (tests, or before `create_root_ca` saves it)."""
    if ttl <= timedelta(0):
        raise ValueError(f"root ttl must be positive, got {ttl}")
    now = as_utc(now)
    key = generate_private_key(key_type)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(random_serial())
        .not_valid_before(now - DEFAULT_CLOCK_SKEW)
        .not_valid_after(now + ttl)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(CA_KEY_USAGE, critical=True)
        .add_extension(ski, critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
    )
    cert = sign(builder, key)
    return CertificateAuthority(certificate=cert, private_key=key, chain=(), roots=(cert,))


def create_root_ca(
    directory: Path,
    *,
    key_type: KeyType = KeyType.EC_P256,
    organization: str = DEFAULT_TRUST_DOMAIN,
    common_name: str = DEFAULT_ROOT_COMMON_NAME,
    ttl: timedelta = DEFAULT_ROOT_TTL,
    now: datetime | None = None,
) -> CertificateAuthority:
    """Generate a root and persist it in `directory`; refuse if any root file exists.

    The key is written before the certificate, each atomically and without
    overwriting: an interrupted run leaves at worst a lone key, which
    `load_root_ca` reports instead of replacing.
    """
    directory = Path(directory)
    _refuse_cacerts_layout(directory)
    for name in (ROOT_CERT_FILE, ROOT_KEY_FILE):
        if (directory / name).exists():
            raise CAFileError(
                "already exists; refusing to create a new root over it", path=directory / name
            )
    authority = new_root_ca(
        key_type=key_type, organization=organization, common_name=common_name, ttl=ttl, now=now
    )
    ensure_private_directory(directory)
    write_new_file(
        directory / ROOT_KEY_FILE, private_key_pem(authority.private_key), mode=KEY_FILE_MODE
    )
    write_new_file(
        directory / ROOT_CERT_FILE, certificates_pem([authority.certificate]), mode=CERT_FILE_MODE
    )
    return CertificateAuthority(
        certificate=authority.certificate,
        private_key=authority.private_key,
        chain=(),
        roots=authority.roots,
        source=directory / ROOT_CERT_FILE,
    )


def load_root_ca(directory: Path, *, now: datetime | None = None) -> CertificateAuthority:
    """Load and validate the root in `directory`.

    Raises CAFileError (missing/corrupt file), CAKeyMismatch, CAChainError
    (not a self-signed CA) or CAExpired; never generates anything.
    """
    directory = Path(directory)
    now = as_utc(now)
    cert_path, key_path = directory / ROOT_CERT_FILE, directory / ROOT_KEY_FILE
    if not cert_path.exists() and key_path.exists():
        raise CAFileError(
            f"file is missing but {ROOT_KEY_FILE} exists; refusing to guess, restore the "
            "certificate or remove the key deliberately",
            path=cert_path,
        )
    if cert_path.exists() and not key_path.exists():
        raise CAFileError(
            f"file is missing but {ROOT_CERT_FILE} exists; refusing to generate a new root "
            "(that would invalidate every issued identity)",
            path=key_path,
        )
    (cert,) = read_certificates(cert_path, exactly_one=True)
    key = read_private_key(key_path)
    if not key_matches_certificate(key, cert):
        raise CAKeyMismatch(
            f"private key does not match the certificate in {cert_path}", path=key_path
        )
    if problem := ca_problem(cert):
        raise CAChainError(problem, path=cert_path)
    if not is_self_signed(cert):
        raise CAChainError(
            "root certificate is not self-signed (for an intermediate, use the cacerts layout)",
            path=cert_path,
        )
    if problem := validity_problem(cert, now):
        raise CAExpired(f"root certificate {problem}", path=cert_path)
    return CertificateAuthority(
        certificate=cert, private_key=key, chain=(), roots=(cert,), source=cert_path
    )


def load_or_create_root_ca(
    directory: Path,
    *,
    key_type: KeyType = KeyType.EC_P256,
    organization: str = DEFAULT_TRUST_DOMAIN,
    common_name: str = DEFAULT_ROOT_COMMON_NAME,
    ttl: timedelta = DEFAULT_ROOT_TTL,
    now: datetime | None = None,
) -> CertificateAuthority:
    """Load the root in `directory`, creating it only if neither root file exists.

    A partial or broken directory is an error, not a reason to start over.
    Creation options are ignored when a root is loaded.
    """
    directory = Path(directory)
    _refuse_cacerts_layout(directory)
    if (directory / ROOT_CERT_FILE).exists() or (directory / ROOT_KEY_FILE).exists():
        return load_root_ca(directory, now=now)
    return create_root_ca(
        directory,
        key_type=key_type,
        organization=organization,
        common_name=common_name,
        ttl=ttl,
        now=now,
    )


def _refuse_cacerts_layout(directory: Path) -> None:
    present = [name for name in _CACERTS_MARKERS if (directory / name).exists()]
    if present:
        raise CAFileError(
            f"holds a plugged-in CA ({', '.join(present)}); load it with load_cacerts "
            "instead of creating a self-signed root next to it",
            path=directory,
        )
