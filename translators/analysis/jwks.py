"""Run-time findings about RequestAuthentication keys: a `jwksUri` the control plane could
not fetch. Only the running control plane knows (it fetches; `xdscp analyze` on files
does not), so these come from `MeshConfig.jwks_errors`, which the service fills.

Pure: the mesh in, messages out, each naming the RequestAuthentication and the rule's
`jwksUri` field.
"""

from __future__ import annotations

from collections.abc import Iterator

from translators.analysis.message import Message, MessageType, Severity
from translators.mesh import MeshConfig

JWKS_UNAVAILABLE = MessageType(
    "XDS0703",
    "JwksUnavailable",
    Severity.ERROR,
    "the keys of a RequestAuthentication jwksUri could not be fetched: every token of "
    "its issuer is rejected (401)",
)
JWKS_REFRESH_FAILING = MessageType(
    "XDS0704",
    "JwksRefreshFailing",
    Severity.WARNING,
    "refreshing the keys of a RequestAuthentication jwksUri fails: the last good keys "
    "stay in use (tokens signed with new keys are rejected)",
)
JWKS_MESSAGE_TYPES = (JWKS_UNAVAILABLE, JWKS_REFRESH_FAILING)


def jwks_messages(mesh: MeshConfig | None) -> list[Message]:
    return [] if mesh is None else list(_messages(mesh))


def _messages(mesh: MeshConfig) -> Iterator[Message]:
    for policy in mesh.of_kind("RequestAuthentication"):
        for i, rule in enumerate(policy.spec.jwt_rules):
            source = rule.keys_from
            error = mesh.jwks_errors.get(source) if source else None
            if error is None:
                continue
            field = f"spec.jwtRules[{i}].{'issuer' if rule.discovered else 'jwksUri'}"
            if source in mesh.jwks:
                yield JWKS_REFRESH_FAILING.at(
                    policy,
                    field,
                    f"{source}: {error}; issuer {rule.issuer!r} keeps its last good keys",
                    "make the URI reachable from the control plane",
                )
            else:
                yield JWKS_UNAVAILABLE.at(
                    policy,
                    field,
                    f"{source}: {error}; tokens of issuer {rule.issuer!r} are rejected",
                    "make the URI reachable from the control plane, or give the keys inline (jwks)",
                )
