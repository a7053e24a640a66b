"""Which proxies a change cannot affect, so that their translation is not redone.

A proxy's translation is its outbound view (shared by its scope: namespace, Sidecar, the
labels VirtualService `sourceLabels` test) and the resources made from it, plus its own
part: listeners and inbound clusters (Sidecar, PeerAuthentication, AuthorizationPolicy,
RequestAuthentication and their fetched keys, Telemetry, the services selecting it),
whether it is a gateway, and extensions (EnvoyFilters included). The outbound pieces
record every dependency they read (translators/memo.py); the own part reads no
VirtualService. So after a change of VirtualServices alone — no other object, service,
workload, fetched key or auto-mTLS state — a sidecar proxy without extensions whose
outbound pieces and own part all carry over (none read the change) translates exactly as
before: it is not translated again, and its pieces are carried over as if it had been.

Anything else (another kind changed, a gateway, extensions in play) is translated as
usual: the rule is narrow on purpose, and `tests/operability/test_runtime_skip.py`
holds it to "skipping gives the snapshot re-translating gives" over random edits.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from translators.mesh import Workload
    from translators.translate import MeshTranslator

# what a change of VirtualServices alone touches (translators/memo.py: `mesh_changes`)
_VIRTUAL_SERVICE_DEPS = frozenset({"object", "kind", "objects", "vs-host", "vs-wildcards"})


def translates_as(translator: MeshTranslator, previous: MeshTranslator, workload: Workload) -> bool:
    """True when `workload`'s translation by `translator` is the one `previous` (the
    generation `translator` was made from) gave (see the module doc). The answers that do
    not depend on the proxy are worked out once per generation, and per scope."""
    if translator.parent is None or translator.parent() is not previous:
        return False
    answers = translator.skip_answers
    if None not in answers:
        answers[None] = _only_virtual_services(translator, previous)
    if not answers[None]:
        return False
    if translator.is_gateway(workload):
        return False
    view_key, _ = translator._outbound_view(workload)
    found = answers.get(view_key)
    if found is None:
        found = answers[view_key] = _scope_unchanged(translator, view_key)
    # and its own part, carried too: a generation drops the pieces it did not use, so
    # without it the next change that does reach this proxy would build its listeners
    # and inbound clusters again from nothing (187 against 26 us per proxy at 100
    # services, after one VirtualService edit no proxy could see)
    return found and translator.own_part_unchanged(workload)


def _only_virtual_services(translator: MeshTranslator, previous: MeshTranslator) -> bool:
    """Whether VirtualServices alone changed, in a mesh without extensions."""
    changes = translator.changes
    if changes.everything or not changes.objects:
        return False
    for old, new in changes.objects:
        changed = new if new is not None else old
        if changed is None or changed.kind != "VirtualService":
            return False
    if any(dep[0] not in _VIRTUAL_SERVICE_DEPS for dep in changes.deps):
        return False
    mesh, before = translator.mesh, previous.mesh
    if (
        mesh.jwks != before.jwks
        or mesh.jwks_errors != before.jwks_errors
        or mesh.errors != before.errors
    ):
        return False
    return not (translator.extensions.extensions or translator.has_envoy_filters())


def _scope_unchanged(translator: MeshTranslator, view_key: Hashable) -> bool:
    """Whether the outbound view under `view_key` and the resources made from it carry
    over from the previous generation (then they are carried)."""
    memo = translator.pieces
    found, view = memo.unchanged(view_key)
    if not found:
        return False
    return (
        memo.unchanged(("outbound-route-resources", view_key))[0]
        and memo.unchanged(("outbound-cluster-resources", view.clusters_key))[0]
    )
