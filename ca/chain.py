"""X.509 path building and the checks shared by loading CA material and verifying SVIDs.

Deliberately small: chains here are a leaf plus at most a few intermediates,
built by this CA or by an operator's PKI for it. It does RFC 5280's parts that
matter for that (issuer name + signature, CA flag, keyCertSign, pathLen,
validity, unknown critical extensions) and rejects what it does not
understand (e.g. name constraints) instead of ignoring it. It relies only on
`Certificate.verify_directly_issued_by`, available in every supported
`cryptography`, rather than `cryptography.x509.verification`, whose client
verifier imposes Web PKI rules (and is missing in older releases).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import ExtensionOID

__all__ = [
    "ChainExpired",
    "ChainProblem",
    "build_path",
    "ca_problem",
    "describe",
    "is_self_signed",
    "issued_by",
    "unknown_critical_extensions",
    "validity_problem",
]

MAX_CHAIN_DEPTH = 8

# Critical extensions this module (or the leaf checks built on it) enforces.
_UNDERSTOOD = frozenset(
    {
        ExtensionOID.BASIC_CONSTRAINTS,
        ExtensionOID.KEY_USAGE,
        ExtensionOID.EXTENDED_KEY_USAGE,
        ExtensionOID.SUBJECT_ALTERNATIVE_NAME,
        ExtensionOID.SUBJECT_KEY_IDENTIFIER,
        ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
    }
)


class ChainProblem(Exception):
    """Why a path could not be built; callers re-raise it as their own typed error."""


class ChainExpired(ChainProblem):
    """The path exists but a certificate on it is outside its validity window."""


def describe(cert: x509.Certificate) -> str:
    """A short human name for a certificate, for error messages."""
    subject = cert.subject.rfc4514_string() or "<empty subject>"
    return f"'{subject}' (serial {cert.serial_number:x})"


def issued_by(child: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Whether `issuer`'s name and key signed `child`."""
    try:
        child.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def is_self_signed(cert: x509.Certificate) -> bool:
    return issued_by(cert, cert)


def validity_problem(cert: x509.Certificate, now: datetime) -> str | None:
    """Why `cert` is not valid at `now`, or None."""
    if now < cert.not_valid_before_utc:
        return f"not valid until {cert.not_valid_before_utc.isoformat()}"
    if now > cert.not_valid_after_utc:
        return f"expired at {cert.not_valid_after_utc.isoformat()}"
    return None


def ca_problem(cert: x509.Certificate) -> str | None:
    """Why `cert` may not sign certificates, or None."""
    try:
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return "not a CA certificate (no basicConstraints extension)"
    if not bc.ca:
        return "not a CA certificate (basicConstraints CA:FALSE)"
    try:
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return None
    if not ku.key_cert_sign:
        return "CA certificate lacks the keyCertSign key usage"
    return None


def unknown_critical_extensions(cert: x509.Certificate) -> list[str]:
    """Critical extensions of `cert` that nothing here enforces (RFC 5280 §4.2: reject)."""
    return [
        ext.oid.dotted_string
        for ext in cert.extensions
        if ext.critical and ext.oid not in _UNDERSTOOD
    ]


def _path_length(cert: x509.Certificate) -> int | None:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length
    except x509.ExtensionNotFound:
        return None


def build_path(
    start: x509.Certificate,
    candidates: Sequence[x509.Certificate],
    anchors: Sequence[x509.Certificate],
    *,
    start_is_ca: bool,
    now: datetime,
) -> tuple[list[x509.Certificate], x509.Certificate]:
    """The path from `start` to one of `anchors` through `candidates`.

    Returns `(path, anchor)` where `path` begins with `start` and stops just
    below the anchor (so it is exactly what to serve after a leaf when `start`
    is a signing CA). Every issuer on the way must be a valid CA respecting
    pathLen; every certificate, anchor included, must be valid at `now`.
    Candidates not on the path (duplicates, a copy of the root) are ignored.
    Raises ChainProblem (ChainExpired when only validity is wrong).
    """
    path = [start]
    while True:
        current = path[-1]
        anchor = next((a for a in anchors if issued_by(current, a)), None)
        if anchor is not None:
            full = [*path, anchor]
            break
        if len(path) >= MAX_CHAIN_DEPTH:
            raise ChainProblem(f"chain longer than {MAX_CHAIN_DEPTH} certificates")
        nxt = next(
            (
                c
                for c in candidates
                if c not in path and not is_self_signed(c) and issued_by(current, c)
            ),
            None,
        )
        if nxt is None:
            raise ChainProblem(
                f"no issuer found for {describe(current)}: its issuer "
                f"'{current.issuer.rfc4514_string()}' is neither a trusted root nor in the chain"
            )
        path.append(nxt)

    for index, cert in enumerate(full):
        if problem := validity_problem(cert, now):
            raise ChainExpired(f"{describe(cert)} {problem}")
        if unknown := unknown_critical_extensions(cert):
            raise ChainProblem(f"{describe(cert)} has unsupported critical extensions {unknown}")
        if index == 0:
            continue
        if problem := ca_problem(cert):
            raise ChainProblem(f"issuer {describe(cert)} is {problem}")
        below = index if start_is_ca else index - 1  # intermediate CAs beneath this one
        limit = _path_length(cert)
        if limit is not None and below > limit:
            raise ChainProblem(
                f"{describe(cert)} allows {limit} intermediate CA(s) below it, chain has {below}"
            )
    return path, anchor
