"""VirtualService matches on JWT claims (`@request.auth.claims...`) where no sidecar can
see a claim: only a workload a RequestAuthentication applies to verifies tokens (on its
outbound side too, for routing), so without any such workload the match never matches
and its rule is dead."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from translators.analysis import codes
from translators.analysis.context import AnalysisContext
from translators.analysis.message import Message
from translators.model.objects import MeshObject
from translators.naming import routing_claim


def check_claim_routes(ctx: AnalysisContext, vs: MeshObject[Any]) -> Iterable[Message]:
    """Per VirtualService; reads the workloads and what verifies tokens."""
    found = [
        (f"spec.http[{r}].match[{m}].{part}", name)
        for r, route in enumerate(vs.spec.http)
        for m, match in enumerate(route.match or [])
        for part, headers in (("headers", match.headers), ("withoutHeaders", match.without_headers))
        for name in headers
        if routing_claim(name) is not None
    ]
    if not found or ctx.verifies_tokens:
        return
    for field, name in found:
        yield codes.CLAIM_ROUTE_NEVER_VERIFIED.at(
            vs,
            f"{field}[{name}]",
            f"{name!r}: no RequestAuthentication applies to any workload, so no sidecar "
            "verifies a token and this match never matches",
            "add a RequestAuthentication for the calling workloads (their sidecar routes)",
        )
