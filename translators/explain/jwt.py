"""What a sidecar's jwt_authn filter does with a described request, for `explain`: read
from the generated filter (providers, token locations, issuers, audiences), the token
taken from the request's headers or query as jwt_authn would look for it.

Explain has the request, not the IdP: the signature is not checked (a forged token would
be refused with 401 where explain lets its claims through — said in the note). Issuer,
audience and — at the instant the caller gives (`at`) — expiry are checked as Envoy
does, with its 60 s clock skew.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from envoy.config.listener.v3 import listener_components_pb2
from envoy.extensions.filters.http.jwt_authn.v3 import config_pb2 as jwt_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)

from translators.naming import JWT_AUTHN_FILTER

CLOCK_SKEW_S = 60  # Envoy's default clock_skew_seconds


@dataclass(frozen=True, slots=True)
class JwtOutcome:
    payload: Mapping[str, object] | None  # the claims RBAC sees (None: no valid token)
    rejected: bool  # jwt_authn answers `status` itself
    note: str
    status: int = 0


JWT_REJECTED = "jwt_authn rejects the token"


def rejected_status(reason: str) -> int | None:
    """The status jwt_authn answered, when an inbound step's reason is its rejection."""
    found = re.match(re.escape(JWT_REJECTED) + r" \((\d{3})\)", reason)
    return int(found.group(1)) if found else None


def jwt_filter(chain: listener_components_pb2.FilterChain) -> jwt_pb2.JwtAuthentication | None:
    for network_filter in chain.filters:
        if not network_filter.typed_config.Is(hcm_pb2.HttpConnectionManager.DESCRIPTOR):
            continue
        manager = hcm_pb2.HttpConnectionManager()
        network_filter.typed_config.Unpack(manager)
        for http_filter in manager.http_filters:
            if http_filter.name == JWT_AUTHN_FILTER:
                config = jwt_pb2.JwtAuthentication()
                http_filter.typed_config.Unpack(config)
                return config
    return None


def _tokens(provider: jwt_pb2.JwtProvider, headers: Mapping[str, str], path: str) -> list[str]:
    found = []
    lower = {k.lower(): v for k, v in headers.items()}
    locations = [(h.name, h.value_prefix) for h in provider.from_headers]
    params = list(provider.from_params)
    if not locations and not params and not provider.from_cookies:
        # Envoy's default locations: `Authorization: Bearer` and `?access_token=`
        locations, params = [("authorization", "Bearer ")], ["access_token"]
    for name, prefix in locations:
        value = lower.get(name.lower())
        if value is not None and value.startswith(prefix):
            found.append(value[len(prefix) :].strip())
    query = parse_qs(urlsplit(path).query)
    for param in params:
        found += query.get(param, [])
    return found


def _claims(token: str) -> dict[str, object] | None:
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        decoded = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, binascii.Error):
        return None
    return decoded if isinstance(decoded, dict) else None


def _problem(provider: jwt_pb2.JwtProvider, claims: Mapping[str, object], now: float | None) -> str:
    if provider.issuer and claims.get("iss") != provider.issuer:
        return f"issuer {claims.get('iss')!r} is not {provider.issuer!r}"
    audiences = claims.get("aud")
    listed = audiences if isinstance(audiences, list) else [audiences]
    if provider.audiences and not set(provider.audiences) & set(map(str, listed)):
        return f"audience {audiences!r} is not one of {', '.join(provider.audiences)}"
    expiry = claims.get("exp")
    if now is not None and isinstance(expiry, int | float) and expiry + CLOCK_SKEW_S < now:
        return "expired"
    return ""


@dataclass(frozen=True, slots=True)
class _Provider:
    state: str  # "ok", "missing" or "failed"
    claims: Mapping[str, object] | None = None
    problem: str = ""


def _provider_state(
    name: str,
    provider: jwt_pb2.JwtProvider,
    headers: Mapping[str, str],
    path: str,
    at: float | None,
) -> _Provider:
    tokens = _tokens(provider, headers, path)
    if not tokens:
        return _Provider("missing")
    problems = []
    for token in tokens:
        claims = _claims(token)
        problem = "not a JWT" if claims is None else _problem(provider, claims, at)
        if claims is not None and not problem:
            return _Provider("ok", claims)
        problems.append(f"{name}: {problem}")
    return _Provider("failed", problem="; ".join(problems))


def _satisfied(requirement: jwt_pb2.JwtRequirement, states: Mapping[str, _Provider]) -> bool:
    """Envoy's verdict on a requirement tree, for the shapes the translator builds
    (`allow_missing` as the alternative to its sibling providers)."""
    kind = requirement.WhichOneof("requires_type")
    if kind == "provider_name":
        return states[requirement.provider_name].state == "ok"
    if kind == "allow_missing_or_failed":
        return True
    if kind == "allow_missing":
        return all(s.state == "missing" for s in states.values())
    if kind == "requires_all":
        return all(_satisfied(r, states) for r in requirement.requires_all.requirements)
    if kind == "requires_any":
        children = requirement.requires_any.requirements
        siblings = [
            r.provider_name for r in children if r.WhichOneof("requires_type") == "provider_name"
        ]
        for child in children:
            if child.WhichOneof("requires_type") == "allow_missing":
                if all(states[n].state == "missing" for n in siblings):
                    return True
            elif _satisfied(child, states):
                return True
        return False
    return True  # no requirement: nothing is checked


def jwt_outcome(
    config: jwt_pb2.JwtAuthentication,
    headers: Mapping[str, str],
    path: str,
    at: float | None = None,
) -> JwtOutcome:
    """`at`: the request's instant (epoch seconds), for expiry; None: expiry not judged."""
    issuers = ", ".join(sorted({p.issuer or "(any)" for p in config.providers.values()}))
    states = {
        name: _provider_state(name, provider, headers, path, at)
        for name, provider in sorted(config.providers.items())
    }
    requirement = config.rules[0].requires if config.rules else jwt_pb2.JwtRequirement()
    verified = [(name, s.claims) for name, s in states.items() if s.state == "ok"]
    if _satisfied(requirement, states):
        if not verified:
            return JwtOutcome(
                None, False, f"no JWT (accepted: {issuers}): passes jwt_authn, RBAC decides"
            )
        name, claims = verified[0]
        assert claims is not None
        who = f"{claims.get('iss', '')}/{claims.get('sub', '')}"
        return JwtOutcome(
            claims,
            False,
            f"JWT of {who} for jwt_authn provider {name} (explain does not check signatures)",
        )
    problems = [s.problem for s in states.values() if s.state == "failed"]
    if not problems:  # every token it needed is missing: a rule says presence REQUIRED
        missing = ", ".join(n for n, s in states.items() if s.state == "missing")
        problems = [f"no token for {missing} (presence REQUIRED)"]
    # Envoy answers 403 for a valid token meant for another audience, else 401
    status = 403 if all(" audience " in p for p in problems) else 401
    return JwtOutcome(None, True, f"{JWT_REJECTED} ({status}): {'; '.join(problems)}", status)
