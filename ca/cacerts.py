"""A plugged-in intermediate CA in Istio's `cacerts` layout.

Production meshes rarely let the control plane own the root: the
organisation's PKI issues an intermediate, and the operator mounts it as
Istio does (`kubectl create secret generic cacerts ...`):

=================  ==========================================================
`ca-cert.pem`      the intermediate that signs workload certificates
`ca-key.pem`       its private key
`root-cert.pem`    the root(s) peers trust (becomes the trust bundle)
`cert-chain.pem`   ca-cert's chain to the root; Istio's tooling writes
                   ca-cert + intermediates + root, but any order and with or
                   without those two ends is accepted
=================  ==========================================================

Everything is checked at load time, because a wrong chain would otherwise
surface only as TLS failures across the mesh: the key matches, ca-cert is a CA,
it chains to a self-signed root through cert-chain, and all are valid now.
The chain served to Envoy after a leaf is the *computed* path, root excluded,
not whatever order cert-chain.pem happens to have.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import NameOID

from ca.authority import CertificateAuthority
from ca.certbuild import (
    CA_KEY_USAGE,
    DEFAULT_CLOCK_SKEW,
    authority_key_identifier,
    random_serial,
    sign,
)
from ca.chain import (
    ChainExpired,
    ChainProblem,
    build_path,
    ca_problem,
    describe,
    is_self_signed,
    issued_by,
    validity_problem,
)
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
    "CACERTS_FILES",
    "CA_CERT_FILE",
    "CA_KEY_FILE",
    "CERT_CHAIN_FILE",
    "DEFAULT_INTERMEDIATE_TTL",
    "ROOT_CERT_FILE",
    "load_cacerts",
    "new_intermediate_ca",
    "write_cacerts",
]

CA_CERT_FILE = "ca-cert.pem"
CA_KEY_FILE = "ca-key.pem"
ROOT_CERT_FILE = "root-cert.pem"
CERT_CHAIN_FILE = "cert-chain.pem"
CACERTS_FILES = (CA_CERT_FILE, CA_KEY_FILE, ROOT_CERT_FILE, CERT_CHAIN_FILE)
DEFAULT_INTERMEDIATE_TTL = timedelta(days=365)


def load_cacerts(directory: Path, *, now: datetime | None = None) -> CertificateAuthority:
    """Load and validate a `cacerts` directory.

    Raises CAFileError (missing/corrupt file), CAKeyMismatch (ca-key vs
    ca-cert), CAChainError (not a CA, root not self-signed, no path to a root)
    or CAExpired (any certificate involved is outside its validity window).
    """
    directory = Path(directory)
    now = as_utc(now)
    paths = {name: directory / name for name in CACERTS_FILES}
    for path in paths.values():
        if not path.exists():
            raise CAFileError(
                f"file is missing (a cacerts directory needs {', '.join(CACERTS_FILES)})",
                path=path,
            )

    (ca_cert,) = read_certificates(paths[CA_CERT_FILE], exactly_one=True)
    ca_key = read_private_key(paths[CA_KEY_FILE])
    roots = tuple(read_certificates(paths[ROOT_CERT_FILE]))
    chain_certs = read_certificates(paths[CERT_CHAIN_FILE])

    if not key_matches_certificate(ca_key, ca_cert):
        raise CAKeyMismatch(
            f"private key does not match the certificate in {paths[CA_CERT_FILE]}",
            path=paths[CA_KEY_FILE],
        )
    if problem := ca_problem(ca_cert):
        raise CAChainError(
            f"cannot sign workload certificates: {problem}", path=paths[CA_CERT_FILE]
        )
    if problem := validity_problem(ca_cert, now):
        raise CAExpired(f"CA certificate {problem}", path=paths[CA_CERT_FILE])
    for root in roots:
        if not is_self_signed(root) or ca_problem(root):
            raise CAChainError(
                f"{describe(root)} is not a self-signed CA certificate; Envoy only accepts "
                "self-signed roots as trust anchors",
                path=paths[ROOT_CERT_FILE],
            )
        if problem := validity_problem(root, now):
            raise CAExpired(f"root {describe(root)} {problem}", path=paths[ROOT_CERT_FILE])

    if ca_cert in roots:  # the operator plugged in a root as the signing CA
        chain: tuple[x509.Certificate, ...] = ()
    else:
        try:
            signing_path, _anchor = build_path(
                ca_cert, chain_certs, roots, start_is_ca=True, now=now
            )
        except ChainExpired as exc:
            raise CAExpired(str(exc), path=paths[CERT_CHAIN_FILE]) from exc
        except ChainProblem as exc:
            raise CAChainError(
                f"{CA_CERT_FILE} does not chain to {ROOT_CERT_FILE} through this file: {exc}",
                path=paths[CERT_CHAIN_FILE],
            ) from exc
        chain = tuple(signing_path)
    return CertificateAuthority(
        certificate=ca_cert,
        private_key=ca_key,
        chain=chain,
        roots=roots,
        source=paths[CA_CERT_FILE],
    )


def new_intermediate_ca(
    parent: CertificateAuthority,
    *,
    common_name: str = "xdscp intermediate CA",
    organization: str = DEFAULT_TRUST_DOMAIN,
    ttl: timedelta = DEFAULT_INTERMEDIATE_TTL,
    key_type: KeyType = KeyType.EC_P256,
    path_length: int | None = 0,
    now: datetime | None = None,
) -> CertificateAuthority:
    """An intermediate CA signed by `parent`, in memory (save it with `write_cacerts`).

    Its lifetime is clamped to the parent's: a CA certificate outliving its
    issuer would only produce chains that stop verifying early.
    """
    if ttl <= timedelta(0):
        raise ValueError(f"intermediate ttl must be positive, got {ttl}")
    now = as_utc(now)
    parent.check_usable(now)
    key = generate_private_key(key_type)
    builder = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
                    x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                ]
            )
        )
        .issuer_name(parent.certificate.subject)
        .public_key(key.public_key())
        .serial_number(random_serial())
        .not_valid_before(max(now - DEFAULT_CLOCK_SKEW, parent.not_before))
        .not_valid_after(min(now + ttl, parent.not_after))
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(CA_KEY_USAGE, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(authority_key_identifier(parent.certificate), critical=False)
    )
    cert = sign(builder, parent.private_key)
    return CertificateAuthority(
        certificate=cert,
        private_key=key,
        chain=(cert, *parent.chain),
        roots=parent.roots,
    )


def write_cacerts(authority: CertificateAuthority, directory: Path) -> None:
    """Persist `authority` in the `cacerts` layout (no-clobber; key 0600, directory 0700).

    cert-chain.pem follows Istio's tooling: the signing cert, intermediates,
    then the root it chains to.
    """
    directory = Path(directory)
    for name in CACERTS_FILES:
        if (directory / name).exists():
            raise CAFileError(
                "already exists; refusing to overwrite CA material", path=directory / name
            )
    top = authority.chain[-1] if authority.chain else authority.certificate
    anchor = next((r for r in authority.roots if issued_by(top, r)), None)
    if anchor is None:
        raise CAChainError(f"{describe(top)} is not issued by any of the authority's roots")
    cert_chain = [*authority.chain, anchor] if authority.chain else [anchor]
    ensure_private_directory(directory)
    write_new_file(
        directory / CA_KEY_FILE, private_key_pem(authority.private_key), mode=KEY_FILE_MODE
    )
    write_new_file(
        directory / CA_CERT_FILE, certificates_pem([authority.certificate]), mode=CERT_FILE_MODE
    )
    write_new_file(
        directory / ROOT_CERT_FILE, certificates_pem(authority.roots), mode=CERT_FILE_MODE
    )
    write_new_file(directory / CERT_CHAIN_FILE, certificates_pem(cert_chain), mode=CERT_FILE_MODE)
