"""`CertificateAuthority`: the one shape every signer has, however it was obtained.

A self-signed root created here and an operator's plugged-in intermediate
differ only in where they come from; once loaded, issuing code needs the same
four things: the signing certificate and key, the chain to serve after a leaf,
and the roots peers trust. Keeping that in one immutable value means issuing
never has to know which mode the CA runs in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from ca.bundle import TrustBundle
from ca.chain import describe, validity_problem
from ca.errors import CAExpired
from ca.keys import PrivateKey
from ca.pemfiles import certificates_pem
from ca.spiffe import DEFAULT_TRUST_DOMAIN

__all__ = ["CertificateAuthority"]


@dataclass(frozen=True)
class CertificateAuthority:
    """A loaded, validated signing CA.

    `chain` is exactly what follows a leaf in Envoy's `certificate_chain`: the
    signing certificate and any intermediates above it, up to but excluding
    the root (empty when the signer *is* the root). The root travels
    separately, in the trust bundle.
    """

    certificate: x509.Certificate
    private_key: PrivateKey = field(repr=False)
    chain: tuple[x509.Certificate, ...]
    roots: tuple[x509.Certificate, ...]
    source: Path | None = None
    """Where the signing certificate was loaded from (for error messages); None if in memory."""

    def trust_bundle(self, trust_domain: str = DEFAULT_TRUST_DOMAIN) -> TrustBundle:
        """The bundle peers of `trust_domain` must trust to accept this CA's SVIDs."""
        return TrustBundle(self.roots, trust_domain)

    @property
    def chain_pem(self) -> str:
        """`chain` as PEM (what to append to a leaf)."""
        return certificates_pem(self.chain)

    @property
    def fingerprint(self) -> str:
        """SHA-256 (hex) of the signing certificate: how logs and tests identify this CA."""
        return self.certificate.fingerprint(hashes.SHA256()).hex()

    @property
    def not_after(self) -> datetime:
        """When the first certificate of the signing path expires: no SVID may outlive it."""
        return min(c.not_valid_after_utc for c in (self.certificate, *self.chain))

    @property
    def not_before(self) -> datetime:
        """When the signing path became valid: no SVID may predate it."""
        return max(c.not_valid_before_utc for c in (self.certificate, *self.chain))

    def check_usable(self, now: datetime) -> None:
        """Raise CAExpired if the signing path is not valid at `now`."""
        for cert in (self.certificate, *self.chain):
            if problem := validity_problem(cert, now):
                raise CAExpired(f"signing CA {describe(cert)} {problem}", path=self.source)
