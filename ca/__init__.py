"""Certificate authority: root/intermediate, SPIFFE SVIDs, rotation.

A pure library (no service code, no I/O beyond the CA directory it is
pointed at). The usual flow::

    authority = load_or_create_root_ca(Path("/var/lib/xdscp/ca"))   # or load_cacerts(...)
    issuer = IdentityIssuer(authority, ttl=timedelta(hours=24))
    svid = issuer.svid_for("default", "reviews")       # -> SDS secret "default"
    bundle = issuer.trust_bundle                        # -> SDS secret "ROOTCA"
    peer = verify_svid(client_chain_pem, bundle)        # authenticate a proxy
"""

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
