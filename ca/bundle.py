"""The trust bundle: the root certificate(s) peers of one trust domain accept.

It travels to Envoy as the `ROOTCA` SDS secret (`validation_context.trusted_ca`)
and is what the xDS server checks proxies' client certificates against. It
holds several roots so a root rotation can overlap old and new.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from ca.errors import CAFileError
from ca.pemfiles import certificates_pem
from ca.spiffe import DEFAULT_TRUST_DOMAIN, validate_trust_domain

__all__ = ["TrustBundle"]


@dataclass(frozen=True)
class TrustBundle:
    """Root certificates trusted for SVIDs of `trust_domain`."""

    roots: tuple[x509.Certificate, ...]
    trust_domain: str = DEFAULT_TRUST_DOMAIN
    pem: str = field(init=False, repr=False, compare=False)
    """The roots as concatenated PEM, ready for Envoy's `trusted_ca.inline_string`."""

    def __post_init__(self) -> None:
        if not self.roots:
            raise ValueError("a trust bundle needs at least one root certificate")
        validate_trust_domain(self.trust_domain)
        object.__setattr__(self, "roots", tuple(dict.fromkeys(self.roots)))  # dedupe, keep order
        object.__setattr__(self, "pem", certificates_pem(self.roots))

    @classmethod
    def from_pem(cls, pem: str | bytes, trust_domain: str = DEFAULT_TRUST_DOMAIN) -> TrustBundle:
        """A bundle from concatenated PEM certificates (e.g. a `root-cert.pem`'s content)."""
        data = pem.encode("ascii") if isinstance(pem, str) else pem
        try:
            roots = x509.load_pem_x509_certificates(data)
        except ValueError as exc:
            raise CAFileError(f"trust bundle is not valid PEM certificates ({exc})") from exc
        return cls(tuple(roots), trust_domain)

    @property
    def fingerprints(self) -> tuple[str, ...]:
        """SHA-256 fingerprints (hex) of the roots: a stable way to log which roots are trusted."""
        return tuple(root.fingerprint(hashes.SHA256()).hex() for root in self.roots)
