"""IR of a RequestAuthentication JWT rule, as one proxy's listeners carry it (no protobuf).

The JWKS is already resolved: inline from the rule, or fetched from its `jwksUri` by the
control plane (the translator never does I/O; it reads what `MeshConfig.jwks` holds).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class JwtRuleIR:
    issuer: str
    jwks: str  # a JSON Web Key Set, inline
    audiences: tuple[str, ...] = ()
    jwks_uri: str = ""  # where `jwks` came from ("" when written inline)
    # False: the URI's keys were never fetched; `jwks` then holds a key no token verifies
    # with, so every token of this issuer is rejected (Istio's behaviour), not accepted.
    jwks_resolved: bool = True
    from_headers: tuple[tuple[str, str], ...] = ()  # (header, value prefix)
    from_params: tuple[str, ...] = ()
    from_cookies: tuple[str, ...] = ()
    output_payload_to_header: str = ""
    output_claim_to_headers: tuple[tuple[str, str], ...] = ()  # (header, claim)
    forward_original_token: bool = False
    space_delimited_claims: tuple[str, ...] = ()
    required: bool = False  # `presence: REQUIRED`: a request without its token gets 401
    provenance: tuple[str, ...] = ()
