"""AuthorizationPolicy sources that can never match: a principal, service account or
namespace no workload of the mesh has. An ALLOW rule naming only such sources allows
nobody (403 for the intended caller); a DENY rule denies nobody."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator
from typing import Any

from translators.analysis import codes
from translators.analysis.context import AnalysisContext
from translators.analysis.message import Message
from translators.model.objects import MeshObject


def wildcard_matches(pattern: str, value: str) -> bool:
    """Istio's string match for authorization values: `*` alone, a `*` prefix or suffix,
    else exact."""
    if pattern == "*":
        return True
    if pattern.startswith("*"):
        return value.endswith(pattern[1:])
    if pattern.endswith("*"):
        return value.startswith(pattern[:-1])
    return pattern == value


def _any(pattern: str, values: Iterable[str]) -> bool:
    return any(wildcard_matches(pattern, v) for v in values)


def _principal(
    policy: MeshObject[Any], field: str, value: str, ctx: AnalysisContext
) -> Iterator[Message]:
    if _any(value, ctx.identities):
        return
    close = difflib.get_close_matches(value, sorted(ctx.identities), n=1, cutoff=0.8)
    yield codes.AUTHZ_PRINCIPAL_MATCHES_NOTHING.at(
        policy,
        field,
        f"principal {value!r} is no workload's identity "
        f"(<trust-domain>/ns/<namespace>/sa/<service-account>)"
        + (f"; did you mean {close[0]!r}?" if close else ""),
        "name the caller's service account as its workload runs it",
    )


def _namespace(
    policy: MeshObject[Any], field: str, value: str, ctx: AnalysisContext
) -> Iterator[Message]:
    if _any(value, ctx.namespaces):
        return
    yield codes.AUTHZ_NAMESPACE_MATCHES_NOTHING.at(
        policy,
        field,
        f"namespace {value!r} has no workload: this source never matches",
        "fix the namespace name",
    )


def check_sources(ctx: AnalysisContext, policy: MeshObject[Any]) -> Iterable[Message]:
    """Per AuthorizationPolicy; reads the workloads and services (identities, namespaces)."""
    trust = ctx.mesh.options.trust_domain
    for r, rule in enumerate(policy.spec.rules):
        for f, source_from in enumerate(rule.from_ or []):
            source = source_from.source
            base = f"spec.rules[{r}].from[{f}].source"
            for k, value in enumerate(source.principals):
                yield from _principal(policy, f"{base}.principals[{k}]", value, ctx)
            for k, account in enumerate(source.service_accounts):
                namespace, _, name = account.rpartition("/")
                principal = f"{trust}/ns/{namespace or policy.namespace}/sa/{name}"
                yield from _principal(policy, f"{base}.serviceAccounts[{k}]", principal, ctx)
            for k, value in enumerate(source.namespaces):
                yield from _namespace(policy, f"{base}.namespaces[{k}]", value, ctx)
        for c, condition in enumerate(rule.when or []):
            for k, value in enumerate(condition.values):
                field = f"spec.rules[{r}].when[{c}].values[{k}]"
                if condition.key == "source.principal":
                    yield from _principal(policy, field, value, ctx)
                elif condition.key == "source.namespace":
                    yield from _namespace(policy, field, value, ctx)
