"""The authenticated identity of the peer of a gRPC stream.

With mTLS, gRPC's auth context carries the client certificate's SANs. The
proxy's identity is its SPIFFE ID (a `spiffe://` URI SAN); the resolver checks
it against what the Node claims, so a proxy only ever receives config and
secrets for the identity it proved.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

# gRPC core auth-context property names (grpc_security_constants.h).
_SPIFFE_PROPERTY = "peer_spiffe_id"
_URI_PROPERTIES = ("peer_uri", "x509_subject_alternative_name")
_SPIFFE_PREFIX = b"spiffe://"


def spiffe_id_from_auth_context(auth: Mapping[str, Iterable[bytes]]) -> str | None:
    """The single SPIFFE ID among the peer's SANs, or None (plaintext, no/ambiguous SPIFFE SAN).

    A certificate with two different SPIFFE IDs is treated as having none: an
    SVID has exactly one, and picking one would let a crafted cert choose.
    """
    found: set[bytes] = set()
    for value in auth.get(_SPIFFE_PROPERTY, ()):
        found.add(value)
    if not found:
        for prop in _URI_PROPERTIES:
            found.update(v for v in auth.get(prop, ()) if v.startswith(_SPIFFE_PREFIX))
    if len(found) != 1:
        return None
    return found.pop().decode("utf-8", errors="strict")
