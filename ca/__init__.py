"""Certificate authority: root/intermediate, SPIFFE SVIDs, rotation.

A pure library (no service code, no I/O beyond the CA directory it is
pointed at). The usual flow::

    authority = load_or_create_root_ca(Path("/var/lib/xdscp/ca"))   # or load_cacerts(...)
    issuer = IdentityIssuer(authority, ttl=timedelta(hours=24))
    svid = issuer.svid_for("default", "reviews")       # -> SDS secret "default"
    bundle = issuer.trust_bundle                        # -> SDS secret "ROOTCA"
    peer = verify_svid(client_chain_pem, bundle)        # authenticate a proxy

Importing `ca` is cheap: the names below load their module (and cryptography) on
first use (PEP 562), so `ca.spiffe`, which the translators use for SPIFFE naming,
costs only itself.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ca.authority import CertificateAuthority
    from ca.bundle import TrustBundle
    from ca.cacerts import (
        CA_CERT_FILE,
        CA_KEY_FILE,
        CACERTS_FILES,
        CERT_CHAIN_FILE,
        load_cacerts,
        new_intermediate_ca,
        write_cacerts,
    )
    from ca.clock import Clock, utc_now
    from ca.errors import (
        CAChainError,
        CAError,
        CAExpired,
        CAFileError,
        CAKeyMismatch,
        InvalidSpiffeID,
        SVIDVerificationError,
    )
    from ca.keys import KeyType, PrivateKey
    from ca.root import (
        ROOT_CERT_FILE,
        ROOT_KEY_FILE,
        create_root_ca,
        load_or_create_root_ca,
        load_root_ca,
        new_root_ca,
    )
    from ca.rotation import IdentityIssuer, Rotatable, due_for_rotation, next_rotation
    from ca.spiffe import SpiffeID, parse_spiffe_id
    from ca.svid import (
        DEFAULT_ROTATE_FRACTION,
        DEFAULT_SVID_TTL,
        SVID,
        IssuedCertificate,
        ServerCertificate,
        issue_server_certificate,
        issue_svid,
    )
    from ca.verify import spiffe_id_of, verify_svid

# Public name -> the module defining it, imported on first attribute access.
_LAZY: dict[str, str] = {
    "CACERTS_FILES": "ca.cacerts",
    "CAChainError": "ca.errors",
    "CAError": "ca.errors",
    "CAExpired": "ca.errors",
    "CAFileError": "ca.errors",
    "CAKeyMismatch": "ca.errors",
    "CA_CERT_FILE": "ca.cacerts",
    "CA_KEY_FILE": "ca.cacerts",
    "CERT_CHAIN_FILE": "ca.cacerts",
    "CertificateAuthority": "ca.authority",
    "Clock": "ca.clock",
    "DEFAULT_ROTATE_FRACTION": "ca.svid",
    "DEFAULT_SVID_TTL": "ca.svid",
    "IdentityIssuer": "ca.rotation",
    "InvalidSpiffeID": "ca.errors",
    "IssuedCertificate": "ca.svid",
    "KeyType": "ca.keys",
    "PrivateKey": "ca.keys",
    "ROOT_CERT_FILE": "ca.root",
    "ROOT_KEY_FILE": "ca.root",
    "Rotatable": "ca.rotation",
    "SVID": "ca.svid",
    "SVIDVerificationError": "ca.errors",
    "ServerCertificate": "ca.svid",
    "SpiffeID": "ca.spiffe",
    "TrustBundle": "ca.bundle",
    "create_root_ca": "ca.root",
    "due_for_rotation": "ca.rotation",
    "issue_server_certificate": "ca.svid",
    "issue_svid": "ca.svid",
    "load_cacerts": "ca.cacerts",
    "load_or_create_root_ca": "ca.root",
    "load_root_ca": "ca.root",
    "new_intermediate_ca": "ca.cacerts",
    "new_root_ca": "ca.root",
    "next_rotation": "ca.rotation",
    "parse_spiffe_id": "ca.spiffe",
    "spiffe_id_of": "ca.verify",
    "utc_now": "ca.clock",
    "verify_svid": "ca.verify",
    "write_cacerts": "ca.cacerts",
}

__all__ = [
    "CACERTS_FILES",
    "CA_CERT_FILE",
    "CA_KEY_FILE",
    "CERT_CHAIN_FILE",
    "DEFAULT_ROTATE_FRACTION",
    "DEFAULT_SVID_TTL",
    "ROOT_CERT_FILE",
    "ROOT_KEY_FILE",
    "SVID",
    "CAChainError",
    "CAError",
    "CAExpired",
    "CAFileError",
    "CAKeyMismatch",
    "CertificateAuthority",
    "Clock",
    "IdentityIssuer",
    "InvalidSpiffeID",
    "IssuedCertificate",
    "KeyType",
    "PrivateKey",
    "Rotatable",
    "SVIDVerificationError",
    "ServerCertificate",
    "SpiffeID",
    "TrustBundle",
    "create_root_ca",
    "due_for_rotation",
    "issue_server_certificate",
    "issue_svid",
    "load_cacerts",
    "load_or_create_root_ca",
    "load_root_ca",
    "new_intermediate_ca",
    "new_root_ca",
    "next_rotation",
    "parse_spiffe_id",
    "spiffe_id_of",
    "utc_now",
    "verify_svid",
    "write_cacerts",
]


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
