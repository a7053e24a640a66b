"""JwtRuleIR -> Envoy's `envoy.filters.http.jwt_authn` HTTP filter, as pilot builds it
(pilot/pkg/security/authn `convertToEnvoyJwtConfig`):

* one provider per rule, named `origins-<i>`, keys inline (`local_jwks`), the payload of
  a verified token in dynamic metadata under `payload` (RBAC and routes match there),
  `scope` / `permission` (and the rule's `spaceDelimitedClaims`) normalized to lists;
* inbound: a token, when present, must be valid — one rule: `{provider OR allow_missing}`;
  several: `ANY(P1, P2, .., ALL(ANY(P1, allow_missing), ANY(P2, allow_missing), ..))` —
  so an invalid token gets 401 and a missing one passes on to RBAC, which decides
  (`requestPrincipals: ["*"]` then answers 403); a `presence: REQUIRED` rule's provider
  is ANDed into every alternative; CORS preflights are not checked;
* outbound (xdscp: a sidecar routing on `@request.auth.claims`): nothing is rejected
  (`allow_missing_or_failed`); a valid token's payload is put in metadata, the token is
  forwarded untouched for the destination to enforce, and the route cache is cleared so
  the route is chosen on the claims.

`jwt_metadata` / `claim_value` are the matchers on that payload that RBAC principals and
claim routes share (a claim matches as a string or as a list holding the string).
"""

from __future__ import annotations

from collections.abc import Sequence

from envoy.config.core.v3 import base_pb2
from envoy.config.route.v3 import route_components_pb2 as rc
from envoy.extensions.filters.http.jwt_authn.v3 import config_pb2 as jwt_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm,
)
from envoy.type.matcher.v3 import metadata_pb2, string_pb2, value_pb2
from google.protobuf import empty_pb2

from translators.envoy.common import pack
from translators.ir import Direction, ListenerIR
from translators.ir.jwt import JwtRuleIR
from translators.naming import JWT_AUTHN_FILTER, JWT_PAYLOAD_METADATA_KEY, jwt_provider

# Istio treats these claims as space-delimited lists whatever the rule says.
DEFAULT_SPACE_DELIMITED_CLAIMS = ("permission", "scope")


def _provider(rule: JwtRuleIR, routing: bool, clear_route_cache: bool) -> jwt_pb2.JwtProvider:
    provider = jwt_pb2.JwtProvider(
        issuer=rule.issuer,
        audiences=list(rule.audiences),
        # outbound, the destination's sidecar needs the token to enforce it
        forward=rule.forward_original_token or routing,
        payload_in_metadata=JWT_PAYLOAD_METADATA_KEY,
        local_jwks=base_pb2.DataSource(inline_string=rule.jwks),
        from_params=list(rule.from_params),
        from_cookies=list(rule.from_cookies),
        clear_route_cache=clear_route_cache,
    )
    provider.normalize_payload_in_metadata.space_delimited_claims.extend(
        sorted({*DEFAULT_SPACE_DELIMITED_CLAIMS, *rule.space_delimited_claims})
    )
    for name, prefix in rule.from_headers:
        provider.from_headers.add(name=name, value_prefix=prefix)
    if not routing:
        provider.forward_payload_header = rule.output_payload_to_header
        for header, claim in rule.output_claim_to_headers:
            provider.claim_to_headers.add(header_name=header, claim_name=claim)
    return provider


def _named(name: str) -> jwt_pb2.JwtRequirement:
    return jwt_pb2.JwtRequirement(provider_name=name)


def _any(requirements: Sequence[jwt_pb2.JwtRequirement]) -> jwt_pb2.JwtRequirement:
    return jwt_pb2.JwtRequirement(
        requires_any=jwt_pb2.JwtRequirementOrList(requirements=list(requirements))
    )


def _all(requirements: Sequence[jwt_pb2.JwtRequirement]) -> jwt_pb2.JwtRequirement:
    if len(requirements) == 1:
        return requirements[0]
    return jwt_pb2.JwtRequirement(
        requires_all=jwt_pb2.JwtRequirementAndList(requirements=list(requirements))
    )


def _enforcing(names: Sequence[str], required: Sequence[str] = ()) -> jwt_pb2.JwtRequirement:
    """A present token must be valid for some provider; a missing one passes — unless
    its rule says `presence: REQUIRED`, whose provider must always be satisfied."""
    allow_missing = jwt_pb2.JwtRequirement(allow_missing=empty_pb2.Empty())
    must = [_named(n) for n in required]
    each = [_any([_named(n), allow_missing]) for n in names]
    if not each:
        return _all(must)
    if len(each) == 1 and not must:
        return each[0]
    # Istio's outer OR: providers sharing a token location fail the inner AND
    return _any([*(_all([*must, _named(n)]) for n in names), _all([*must, *each])])


def jwt_authentication(
    rules: Sequence[JwtRuleIR], direction: Direction, gateway: bool = False
) -> jwt_pb2.JwtAuthentication:
    """`gateway`: enforce as inbound and clear the route cache (a gateway routes on the
    claims it verified, as Istio's gateways do)."""
    routing = direction is Direction.OUTBOUND and not gateway
    config = jwt_pb2.JwtAuthentication(bypass_cors_preflight=True)
    names = [jwt_provider(i) for i in range(len(rules))]
    for name, rule in zip(names, rules, strict=True):
        config.providers[name].CopyFrom(_provider(rule, routing, routing or gateway))
    optional = [n for n, r in zip(names, rules, strict=True) if not r.required]
    required = [n for n, r in zip(names, rules, strict=True) if r.required]
    requirement = (
        jwt_pb2.JwtRequirement(allow_missing_or_failed=empty_pb2.Empty())
        if routing
        else _enforcing(optional, required)
    )
    config.rules.add(match=rc.RouteMatch(prefix="/"), requires=requirement)
    return config


def jwt_metadata(
    path: Sequence[str], value: value_pb2.ValueMatcher
) -> metadata_pb2.MetadataMatcher:
    """A matcher on the verified JWT payload (`path` = claim names, nested)."""
    return metadata_pb2.MetadataMatcher(
        filter=JWT_AUTHN_FILTER,
        path=[
            metadata_pb2.MetadataMatcher.PathSegment(key=k)
            for k in (JWT_PAYLOAD_METADATA_KEY, *path)
        ],
        value=value,
    )


def claim_value(matcher: string_pb2.StringMatcher) -> value_pb2.ValueMatcher:
    """A claim that is the string, or a list holding it (`aud`, `groups`, `scope`)."""
    return value_pb2.ValueMatcher(
        or_match=value_pb2.OrMatcher(
            value_matchers=[
                value_pb2.ValueMatcher(
                    list_match=value_pb2.ListMatcher(
                        one_of=value_pb2.ValueMatcher(string_match=matcher)
                    )
                ),
                value_pb2.ValueMatcher(string_match=matcher),
            ]
        )
    )


def gateway_jwt_filters(rules: Sequence[JwtRuleIR]) -> list[hcm.HttpFilter]:
    """A gateway's jwt_authn filter (none without rules): invalid tokens get 401, valid
    ones' claims are what its routes match on."""
    if not rules:
        return []
    config = jwt_authentication(rules, Direction.INBOUND, gateway=True)
    return [hcm.HttpFilter(name=JWT_AUTHN_FILTER, typed_config=pack(config))]


def jwt_authn_filters(ir: ListenerIR) -> list[hcm.HttpFilter]:
    """The jwt_authn filter of an HTTP listener whose workload has JWT rules (else none);
    it goes first, before RBAC, which matches on the payload it verified."""
    if not ir.jwt:
        return []
    config = jwt_authentication(ir.jwt, ir.direction)
    return [hcm.HttpFilter(name=JWT_AUTHN_FILTER, typed_config=pack(config))]
