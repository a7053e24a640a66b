"""security.istio.io RequestAuthentication: which JWTs a workload accepts.

Validation is Istio's (pkg/config/validation `ValidateRequestAuthentication` /
`validateJwtRule`): at most one of selector / targetRef / targetRefs; per rule an
issuer or a jwksUri, non-empty audiences, a `jwksUri` that is an http(s) URL with a
host, inline `jwks` that parses as a JSON Web Key Set, non-empty token locations,
`outputClaimToHeaders` with a valid header name and a claim, a valid `timeout`.
"""

from __future__ import annotations

import json
import re
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from translators.model.base import IstioModel
from translators.model.checks import check_header_name
from translators.model.security import MatchLabelsSelector
from translators.model.traffic import PositiveDuration

# Istio's default when a rule sets no `timeout` (pilot's convertToEnvoyJwtConfig).
DEFAULT_JWKS_TIMEOUT_S = 5.0


def check_jwks_uri(uri: str) -> str:
    """Istio's `security.ParseJwksURI`: http or https, with a host (port optional)."""
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError as error:
        raise ValueError(f"jwksUri {uri!r}: {error}") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"jwksUri {uri!r}: scheme must be http or https")
    if not parts.hostname:
        raise ValueError(f"jwksUri {uri!r}: has no host")
    if port == 0:
        raise ValueError(f"jwksUri {uri!r}: port 0")
    return uri


OPENID_DISCOVERY_SUFFIX = "/.well-known/openid-configuration"


def discovery_url(issuer: str) -> str:
    """Istio's `resolveJwksURIUsingOpenID`: the issuer, without a trailing `/`, plus the
    OpenID discovery path."""
    return issuer.removesuffix("/") + OPENID_DISCOVERY_SUFFIX


def parse_jwks(text: str) -> dict[str, Any]:
    """A JSON Web Key Set (or one key, which Istio's parser also takes) as a dict with
    `keys`; ValueError naming what is wrong. An empty set parses (Istio accepts it, and
    Envoy verifies no token with it)."""
    try:
        found = json.loads(text)
    except ValueError as error:
        raise ValueError(f"not JSON ({error})") from None
    if not isinstance(found, dict):
        raise ValueError("not a JSON object")
    keys = found.get("keys") if "keys" in found else [found]
    if not isinstance(keys, list):
        raise ValueError("'keys' must be a list")
    for i, key in enumerate(keys):
        if not isinstance(key, dict) or not isinstance(key.get("kty"), str):
            raise ValueError(f"key {i} is not a JSON Web Key (no 'kty')")
    return {**found, "keys": keys} if "keys" in found else {"keys": keys}


_GROUP = re.compile(r"^$|^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_KIND = re.compile(r"^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$")
# Istio's CRD: the header a claim is copied to
_CLAIM_HEADER = re.compile(r"^[-_A-Za-z0-9]+$")


class TargetReference(IstioModel):
    """Istio's PolicyTargetReference, with its CRD's rules."""

    group: str = Field(default="", max_length=253)
    kind: str = Field(min_length=1, max_length=63)
    name: str = Field(min_length=1, max_length=253)
    namespace: str = ""

    @model_validator(mode="after")
    def _valid(self) -> TargetReference:
        if not _GROUP.match(self.group):
            raise ValueError(f"targetRef group {self.group!r} is not a valid API group")
        if not _KIND.match(self.kind):
            raise ValueError(f"targetRef kind {self.kind!r} is not a valid kind")
        if self.namespace:
            raise ValueError("targetRef: cross namespace referencing is not currently supported")
        return self


class JWTPresence(StrEnum):
    OPTIONAL = "OPTIONAL"
    REQUIRED = "REQUIRED"


class JWTHeader(IstioModel):
    name: str
    prefix: str = ""

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not value:
            raise ValueError("location header name must be non-empty string")
        return check_header_name(value)


class ClaimToHeader(IstioModel):
    header: str
    claim: str

    @model_validator(mode="after")
    def _both(self) -> ClaimToHeader:
        if not self.header or not self.claim:
            raise ValueError("outputClaimToHeaders header and claim value must be non-empty")
        if not _CLAIM_HEADER.match(self.header):
            raise ValueError(
                f"outputClaimToHeaders: {self.header!r} is not a valid header name "
                "(letters, digits, '-' and '_')"
            )
        return self


class JWTRule(IstioModel):
    issuer: str = ""
    audiences: list[str] = Field(default_factory=list)
    jwks_uri: str = ""
    jwks: str = ""
    from_headers: list[JWTHeader] = Field(default_factory=list)
    from_params: list[str] = Field(default_factory=list)
    from_cookies: list[str] = Field(default_factory=list)
    output_payload_to_header: str = ""
    forward_original_token: bool = False
    output_claim_to_headers: list[ClaimToHeader] = Field(default_factory=list)
    timeout: PositiveDuration | None = None
    space_delimited_claims: list[str] = Field(default_factory=list, max_length=64)
    # REQUIRED: a request without this rule's token is rejected (401)
    presence: JWTPresence = JWTPresence.OPTIONAL

    @model_validator(mode="before")
    @classmethod
    def _one_uri_spelling(cls, data: Any) -> Any:
        # Istio accepts `jwks_uri` as well as `jwksUri` (populate_by_name takes it here)
        if isinstance(data, dict) and "jwksUri" in data and "jwks_uri" in data:
            raise ValueError("only one of jwks or jwksUri can be set")
        return data

    @field_validator("audiences")
    @classmethod
    def _audiences(cls, values: list[str]) -> list[str]:
        if any(not v for v in values):
            raise ValueError("audience must be non-empty string")
        return values

    @field_validator("jwks_uri")
    @classmethod
    def _uri(cls, value: str) -> str:
        return check_jwks_uri(value) if value else value

    @field_validator("jwks")
    @classmethod
    def _jwks(cls, value: str) -> str:
        if value:
            try:
                parse_jwks(value)
            except ValueError as error:
                raise ValueError(f"jwks parse error: {error}") from None
        return value

    @field_validator("space_delimited_claims")
    @classmethod
    def _space_delimited(cls, values: list[str]) -> list[str]:
        if any(not v for v in values):
            raise ValueError("spaceDelimitedClaims must be non-empty strings")
        return values

    @field_validator("from_params")
    @classmethod
    def _params(cls, values: list[str]) -> list[str]:
        if any(not v for v in values):
            raise ValueError("location query must be non-empty string")
        return values

    @field_validator("from_cookies")
    @classmethod
    def _cookies(cls, values: list[str]) -> list[str]:
        if any(not v for v in values):
            raise ValueError("cookie name must be non-empty string")
        return values

    @field_validator("output_payload_to_header")
    @classmethod
    def _payload_header(cls, value: str) -> str:
        return check_header_name(value) if value else value

    @model_validator(mode="after")
    def _issuer_or_uri(self) -> JWTRule:
        if not self.issuer and not self.jwks_uri:
            raise ValueError("issuer or jwksUri must be non-empty string")
        if self.jwks and self.jwks_uri:
            raise ValueError("only one of jwks or jwksUri can be set")
        return self

    @property
    def keys_from(self) -> str:
        """Where the control plane fetches this rule's keys ("" when inline): `jwksUri`,
        else — as istiod does — the issuer's OpenID discovery document, which names it."""
        if self.jwks:
            return ""
        return self.jwks_uri or discovery_url(self.issuer)

    @property
    def discovered(self) -> bool:
        """The keys' URI comes from the issuer's OpenID discovery document."""
        return not self.jwks and not self.jwks_uri

    @property
    def timeout_s(self) -> float:
        return DEFAULT_JWKS_TIMEOUT_S if self.timeout is None else self.timeout


class RequestAuthenticationSpec(IstioModel):
    selector: MatchLabelsSelector | None = None
    target_ref: TargetReference | None = None
    target_refs: list[TargetReference] = Field(default_factory=list, max_length=16)
    jwt_rules: list[JWTRule] = Field(default_factory=list, max_length=4096)

    @model_validator(mode="after")
    def _one_target(self) -> RequestAuthenticationSpec:
        targets = [self.selector is not None, self.target_ref is not None, bool(self.target_refs)]
        if sum(targets) > 1:
            raise ValueError("only one of targetRefs or selector can be set")
        return self

    @property
    def has_selector(self) -> bool:
        return self.selector is not None and bool(self.selector.match_labels)

    @property
    def targets_gateway(self) -> bool:
        """targetRef(s) bind the policy to gateways / waypoints, not sidecars."""
        return self.target_ref is not None or bool(self.target_refs)
