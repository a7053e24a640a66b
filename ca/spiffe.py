"""SPIFFE IDs: the one place they are named, parsed and validated.

Building (`spiffe_id`, the trust domain default) lives here, beside parsing, so the
CA and the translators share one definition without the CA importing the
translators: this module needs only the standard library and `ca.errors`, and
`translators.naming` re-exports its names (every generated name still comes from
`translators.naming` for its callers). Importing it loads no cryptography.

The CA must refuse to put a malformed ID into a certificate (peers would
reject it, or worse, match it unexpectedly), and the verifier must refuse to
extract one, so both go through the same strict reading of the SPIFFE ID
spec: lowercase trust domain of `[a-z0-9.-_]`, a non-empty path of segments
of `[A-Za-z0-9.-_]`, no `.`/`..` segments, no query, fragment, port or user info.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from ca.errors import InvalidSpiffeID

__all__ = [
    "DEFAULT_TRUST_DOMAIN",
    "SPIFFE_PREFIX",
    "SpiffeID",
    "parse_spiffe_id",
    "spiffe_id",
    "validate_trust_domain",
]

DEFAULT_TRUST_DOMAIN: Final = "cluster.local"
SPIFFE_PREFIX: Final = "spiffe://"
_SCHEME = SPIFFE_PREFIX
_TRUST_DOMAIN = re.compile(r"[a-z0-9._-]+")
_SEGMENT = re.compile(r"[A-Za-z0-9._-]+")
_MAX_LENGTH = 2048
_MAX_TRUST_DOMAIN_LENGTH = 255


@dataclass(frozen=True, slots=True)
class SpiffeID:
    """A validated SPIFFE ID of a workload (it always has a path)."""

    trust_domain: str
    path: str  # begins with "/"

    def __str__(self) -> str:
        return f"{_SCHEME}{self.trust_domain}{self.path}"


def spiffe_id(
    namespace: str, service_account: str, trust_domain: str = DEFAULT_TRUST_DOMAIN
) -> str:
    """Istio's workload identity: `spiffe://<trust-domain>/ns/<namespace>/sa/<account>`."""
    return f"{SPIFFE_PREFIX}{trust_domain}/ns/{namespace}/sa/{service_account}"


def parse_spiffe_id(value: str) -> SpiffeID:
    """Validate a workload SPIFFE ID; raise InvalidSpiffeID saying what is wrong."""

    def bad(reason: str) -> InvalidSpiffeID:
        return InvalidSpiffeID(f"invalid SPIFFE ID {value!r}: {reason}")

    if len(value.encode()) > _MAX_LENGTH:
        raise bad(f"longer than {_MAX_LENGTH} bytes")
    if not value.startswith(_SCHEME):
        raise bad(f"must start with {_SCHEME!r}")
    rest = value[len(_SCHEME) :]
    trust_domain, slash, path = rest.partition("/")
    if reason := _trust_domain_problem(trust_domain):
        raise bad(reason)
    if not slash or not path:
        raise bad("a workload SPIFFE ID needs a path (the bare trust domain ID is not an SVID)")
    for segment in path.split("/"):
        if not segment:
            raise bad("empty path segment (double or trailing '/')")
        if segment in (".", ".."):
            raise bad("path segments '.' and '..' are not allowed")
        if not _SEGMENT.fullmatch(segment):
            raise bad(
                f"path segment {segment!r} may only contain letters, digits, '.', '-' and '_'"
            )
    return SpiffeID(trust_domain=trust_domain, path="/" + path)


def validate_trust_domain(trust_domain: str) -> str:
    """Return `trust_domain` if it is a valid SPIFFE trust domain name, else raise."""
    if reason := _trust_domain_problem(trust_domain):
        raise InvalidSpiffeID(f"invalid trust domain {trust_domain!r}: {reason}")
    return trust_domain


def _trust_domain_problem(trust_domain: str) -> str | None:
    if not trust_domain:
        return "missing trust domain"
    if len(trust_domain) > _MAX_TRUST_DOMAIN_LENGTH:
        return f"trust domain longer than {_MAX_TRUST_DOMAIN_LENGTH} characters"
    if not _TRUST_DOMAIN.fullmatch(trust_domain):
        return "trust domain may only contain lowercase letters, digits, '.', '-' and '_'"
    return None
