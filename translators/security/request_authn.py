"""Which RequestAuthentication JWT rules apply to a workload, as IR (Istio's semantics).

Istio (RequestAuthentication reference and pilot/pkg/security/authn): policies of the
root namespace apply mesh-wide, others to their namespace, narrowed by `selector`;
every applicable policy's rules are merged (sorted by issuer) into one jwt_authn
filter. A request with an invalid token is rejected (401); one without a token passes
and is left to AuthorizationPolicy (`requestPrincipals`). `targetRef(s)` bind a policy
to gateways and waypoints, which sidecars are not.

A `jwksUri`'s keys come from `MeshConfig.jwks` (fetched by the control plane, as
Istio's istiod does by default). While they were never fetched, the rule carries a key
no token verifies with: its tokens are rejected rather than let through unverified.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import replace

from translators.ir import Direction, ListenerIR
from translators.ir.jwt import JwtRuleIR
from translators.model.objects import MeshObject, age_order
from translators.model.request_authn import JWTPresence, JWTRule, RequestAuthenticationSpec

# A public key whose private half was discarded: the JWKS of a `jwksUri` that could not be
# fetched (Istio's `FakeJwks`): Envoy accepts the config, no signature ever verifies.
UNREACHABLE_JWKS = json.dumps(
    {
        "keys": [
            {
                "kty": "RSA",
                "kid": "xdscp-jwks-unavailable",
                "alg": "RS256",
                "e": "AQAB",
                "n": (
                    "kgfzfnTTxUyYVurlXg6ZVA14IXq4yFeBSTBqONje8CjOHYSUINv4a9DYOMXJqTfqoSsXin19"
                    "QdXEaFC7WUBPpcGz2PLWUcjVDwP0FI41NRO2-VA3EuMfDiTKRUGSjxox9RsV1vDFGnjQ1nlO"
                    "7KYaAllI7JmYgm2wpDA0jy-RADNjPDfE2ZmyzLdgNih7mgyhAuAaahiE3tYoJgL5eYpt2UOk"
                    "AQER3mUwWoIUG7lhgj90C53iF_ujX4hq8XiTC13BrE78AMsxxXHOnU-EEcKjdm-tMBwT9l4Q"
                    "xeycGLxGLcxxp1YlZPnD-L2smgT2VYe1ED7-1xCUnX5R4MJd5JDZZw"
                ),
            }
        ]
    },
    separators=(",", ":"),
)


def rule_ir(rule: JWTRule, ref: str, jwks: Mapping[str, str]) -> JwtRuleIR:
    resolved = True
    if rule.jwks:
        keys = rule.jwks
    elif rule.keys_from in jwks:
        keys = jwks[rule.keys_from]
    else:
        keys, resolved = UNREACHABLE_JWKS, False
    return JwtRuleIR(
        issuer=rule.issuer,
        jwks=keys,
        audiences=tuple(rule.audiences),
        jwks_uri=rule.keys_from,
        jwks_resolved=resolved,
        from_headers=tuple((h.name, h.prefix) for h in rule.from_headers),
        from_params=tuple(rule.from_params),
        from_cookies=tuple(rule.from_cookies),
        output_payload_to_header=rule.output_payload_to_header,
        output_claim_to_headers=tuple((c.header, c.claim) for c in rule.output_claim_to_headers),
        forward_original_token=rule.forward_original_token,
        space_delimited_claims=tuple(rule.space_delimited_claims),
        required=rule.presence is JWTPresence.REQUIRED,
        provenance=(ref,),
    )


class RequestAuthentications:
    """RequestAuthentication lookups for one MeshConfig."""

    def __init__(
        self,
        policies: Iterable[MeshObject[RequestAuthenticationSpec]],
        root_namespace: str,
        jwks: Mapping[str, str],
    ) -> None:
        self.root_namespace = root_namespace
        self._jwks = jwks
        self._by_namespace: dict[str, list[MeshObject[RequestAuthenticationSpec]]] = {}
        for policy in sorted(policies, key=age_order):
            if not policy.spec.targets_gateway:
                self._by_namespace.setdefault(policy.namespace, []).append(policy)
        self._cache: dict[tuple[str, tuple[tuple[str, str], ...]], tuple[JwtRuleIR, ...]] = {}

    def policies_for(
        self, namespace: str, labels: Mapping[str, str]
    ) -> list[MeshObject[RequestAuthenticationSpec]]:
        scopes = [self.root_namespace]
        if namespace != self.root_namespace:
            scopes.append(namespace)
        found = []
        for scope in scopes:
            for policy in self._by_namespace.get(scope, ()):
                selector = policy.spec.selector
                if not policy.spec.has_selector or (
                    selector is not None and selector.matches(labels)
                ):
                    found.append(policy)
        return found

    def for_workload(self, namespace: str, labels: Mapping[str, str]) -> tuple[JwtRuleIR, ...]:
        """The workload's JWT rules, sorted by issuer as pilot sorts them (stable)."""
        key = (namespace, tuple(sorted(labels.items())))
        found = self._cache.get(key)
        if found is None:
            rules = [
                rule_ir(rule, policy.ref, self._jwks)
                for policy in self.policies_for(namespace, labels)
                for rule in policy.spec.jwt_rules
            ]
            found = self._cache[key] = tuple(sorted(rules, key=lambda r: r.issuer))
        return found


def _http(listener: ListenerIR) -> bool:
    if listener.capture_fallback or listener.tcp_chains:
        return False
    if listener.direction is Direction.INBOUND:
        return listener.inbound is not None and not listener.inbound.tcp
    return bool(listener.route_config)


def attach_jwt(
    listeners: tuple[ListenerIR, ...], rules: tuple[JwtRuleIR, ...]
) -> tuple[ListenerIR, ...]:
    """The workload's HTTP listeners with its JWT rules (and their provenance)."""
    if not rules:
        return listeners
    refs = tuple(dict.fromkeys(ref for rule in rules for ref in rule.provenance))
    return tuple(
        replace(li, jwt=rules, provenance=li.provenance + refs) if _http(li) else li
        for li in listeners
    )
