"""VirtualService delegation (Istio's `http[].delegate`): a root VirtualService's rule
hands its requests to the http rules of a delegate VirtualService (one without hosts).

A pure step on the model objects, done before indexing so every reader (sidecar routes,
gateways, explain, analysis) sees the merged rules. Istio's semantics
(pilot/pkg/model/virtualservice.go, mergeVirtualServicesIfNeeded):

* the delegate is looked up by name and namespace (the root's namespace when none is
  given); it must be visible to the root's namespace through its `exportTo`;
* a missing or invisible delegate drops only that root rule (reported by the analysis);
* each delegate rule is merged with the root rule: every delegate match block must be a
  subset of some root block (a uri prefix within the root's prefix, an equal exact, no
  regex on either side, equal method/scheme/authority/port, no header contradicting the
  root's); otherwise that delegate rule does not take effect. Merged blocks carry the
  union of both sides' conditions;
* root rule fields (rewrite, timeout, retries, fault, mirror, CORS, headers) fill in what
  the delegate rule leaves unset; names join as `root-delegate`;
* one level only: a delegate's rules never delegate again (validation refuses it).

The delegate's destination hosts are resolved in the delegate's namespace before they
move into the root (as Istio resolves short names before merging)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from translators.hosts import resolve_host
from translators.model.base import StringMatch
from translators.model.networking import (
    Delegate,
    HTTPMatchRequest,
    HTTPRoute,
    VirtualServiceSpec,
)
from translators.model.objects import MeshObject
from translators.model.traffic import Destination

DelegateKey = tuple[str, str]  # (namespace, name)

# root rule fields a delegate rule inherits when it leaves them unset
_INHERITED = (
    "rewrite",
    "timeout",
    "retries",
    "fault",
    "mirror",
    "mirror_percent",
    "mirror_percentage",
    "cors_policy",
    "headers",
)


@dataclass(frozen=True, slots=True, eq=False)
class DelegatedVirtualService(MeshObject[VirtualServiceSpec]):
    """A root VirtualService with its delegations merged in: `delegates` names the
    delegate VirtualServices it read (provenance, NACK blame, memo inputs)."""

    delegates: tuple[str, ...] = field(default=())


def delegate_key(root_namespace: str, delegate: Delegate) -> DelegateKey:
    return (delegate.namespace or root_namespace, delegate.name)


def exported_to(export_to: list[str], owner_namespace: str, namespace: str) -> bool:
    if not export_to or "*" in export_to:
        return True
    if "~" in export_to:
        return False
    return namespace in export_to or ("." in export_to and owner_namespace == namespace)


def delegate_table(
    objects: Iterable[MeshObject[Any]],
) -> dict[DelegateKey, MeshObject[VirtualServiceSpec]]:
    """Every delegate VirtualService (no hosts) by (namespace, name)."""
    return {
        (o.namespace, o.name): o
        for o in objects
        if o.kind == "VirtualService" and o.spec.is_delegate
    }


def visible_delegate(
    root: MeshObject[VirtualServiceSpec],
    delegate: Delegate,
    table: Mapping[DelegateKey, MeshObject[VirtualServiceSpec]],
) -> MeshObject[VirtualServiceSpec] | None:
    found = table.get(delegate_key(root.namespace, delegate))
    if found is None or not exported_to(found.spec.export_to, found.namespace, root.namespace):
        return None
    return found


def _string_conflict(root: StringMatch | None, leaf: StringMatch | None) -> bool:
    """Is `leaf` not within `root`? (no condition on either side: within)"""
    if root is None or leaf is None:
        return False
    if root.regex is not None or leaf.regex is not None:
        return True
    if root.exact is not None:
        return leaf.exact != root.exact
    assert root.prefix is not None
    inner = leaf.prefix if leaf.prefix is not None else leaf.exact
    return inner is None or not inner.startswith(root.prefix)


def _match_conflict(root: HTTPMatchRequest, leaf: HTTPMatchRequest) -> bool:
    for name in ("uri", "scheme", "method", "authority"):
        if _string_conflict(getattr(root, name), getattr(leaf, name)):
            return True
    for key, value in leaf.headers.items():
        if _string_conflict(root.headers.get(key), value):
            return True
    for key, value in leaf.without_headers.items():
        if _string_conflict(root.headers.get(key), value):
            return True
    for key, value in leaf.query_params.items():
        if _string_conflict(root.query_params.get(key), value):
            return True
    if root.ignore_uri_case != leaf.ignore_uri_case:
        return True
    return bool(root.port and leaf.port and root.port != leaf.port)


def _joined(root: str | None, leaf: str | None) -> str | None:
    if not leaf:
        return root
    return f"{root}-{leaf}" if root else leaf


def _merged_match(root: HTTPMatchRequest, leaf: HTTPMatchRequest) -> HTTPMatchRequest:
    return leaf.model_copy(
        update={
            "name": _joined(root.name, leaf.name),
            "uri": leaf.uri or root.uri,
            "scheme": leaf.scheme or root.scheme,
            "method": leaf.method or root.method,
            "authority": leaf.authority or root.authority,
            "headers": {**root.headers, **leaf.headers},
            "without_headers": {**root.without_headers, **leaf.without_headers},
            "query_params": {**root.query_params, **leaf.query_params},
            "port": leaf.port or root.port,
            # sourceLabels, sourceNamespace, gateways: the root's (the delegate has none
            # that apply; Istio ignores them there)
            "source_labels": root.source_labels,
            "source_namespace": root.source_namespace,
            "gateways": root.gateways,
        }
    )


def merge_matches(
    root: list[HTTPMatchRequest], leaf: list[HTTPMatchRequest]
) -> list[HTTPMatchRequest] | None:
    """The merged match blocks, or None when some delegate block is within no root block."""
    if not root:
        return leaf
    if not leaf:
        return root
    out: list[HTTPMatchRequest] = []
    for sub in leaf:
        within = [r for r in root if not _match_conflict(r, sub)]
        if not within:
            return None
        out += [_merged_match(r, sub) for r in within]
    return out


def _resolved(dest: Destination, namespace: str, suffix: str) -> Destination:
    return dest.model_copy(update={"host": resolve_host(dest.host, namespace, suffix)})


def _with_resolved_hosts(rule: HTTPRoute, namespace: str, suffix: str) -> HTTPRoute:
    return rule.model_copy(
        update={
            "route": [
                d.model_copy(update={"destination": _resolved(d.destination, namespace, suffix)})
                for d in rule.route
            ],
            "mirror": rule.mirror and _resolved(rule.mirror, namespace, suffix),
            "mirrors": [
                m.model_copy(update={"destination": _resolved(m.destination, namespace, suffix)})
                for m in rule.mirrors
            ],
        }
    )


def merge_rule(root: HTTPRoute, leaf: HTTPRoute) -> HTTPRoute | None:
    """One delegate rule under one root rule, or None if its matches leave the root's."""
    matches = merge_matches(root.match, leaf.match)
    if matches is None:
        return None
    update: dict[str, Any] = {"match": matches, "name": _joined(root.name, leaf.name)}
    for name in _INHERITED:
        if getattr(leaf, name) is None:
            update[name] = getattr(root, name)
    return leaf.model_copy(update=update)


def merge_root(
    root: MeshObject[VirtualServiceSpec],
    table: Mapping[DelegateKey, MeshObject[VirtualServiceSpec]],
    suffix: str,
) -> DelegatedVirtualService:
    """`root` with each delegating rule replaced by its delegate's merged rules (a missing
    or invisible delegate drops the rule)."""
    rules: list[HTTPRoute] = []
    used: list[MeshObject[VirtualServiceSpec]] = []
    for rule in root.spec.http:
        if rule.delegate is None:
            rules.append(rule)
            continue
        found = visible_delegate(root, rule.delegate, table)
        if found is None:
            continue
        used.append(found)
        root_rule = rule.model_copy(update={"delegate": None})
        for leaf in found.spec.http:
            if found.namespace != root.namespace:
                leaf = _with_resolved_hosts(leaf, found.namespace, suffix)
            merged = merge_rule(root_rule, leaf)
            if merged is not None:
                rules.append(merged)
    # a spec built without validation: a root whose delegates all vanished has no rules,
    # which is what Istio serves then (nothing for those rules)
    spec = root.spec.model_copy(update={"http": rules})
    content = "\0".join([root.digest, *(f"{d.ref}={d.digest}" for d in used)])
    return DelegatedVirtualService(
        kind=root.kind,
        api_version=root.api_version,
        meta=root.meta,
        spec=spec,
        origin=root.origin,
        digest=hashlib.sha256(content.encode()).hexdigest(),
        first_seen=root.first_seen,
        delegates=tuple(dict.fromkeys(d.ref for d in used)),
    )


def with_delegation(objects: Iterable[MeshObject[Any]], suffix: str) -> list[MeshObject[Any]]:
    """`objects` with every delegating root VirtualService merged (others as they are)."""
    objects = list(objects)
    if not any(o.kind == "VirtualService" and o.spec.delegates for o in objects):
        return objects
    table = delegate_table(objects)
    return [
        merge_root(o, table, suffix) if o.kind == "VirtualService" and o.spec.delegates else o
        for o in objects
    ]


ObjectPair = tuple[MeshObject[Any] | None, MeshObject[Any] | None]


def _delegation_related(obj: MeshObject[Any] | None) -> bool:
    return (
        obj is not None
        and obj.kind == "VirtualService"
        and (obj.spec.is_delegate or obj.spec.delegates)
    )


def merged_changes(
    old_objects: Iterable[MeshObject[Any]],
    new_objects: Iterable[MeshObject[Any]],
    changed: list[ObjectPair],
    suffix: str,
) -> list[ObjectPair]:
    """`changed` (old, new version of each changed object) as the merged roots see it:
    a root appears in its merged versions, and a changed delegate also changes every root
    that delegates to it (so the index and the memo treat the delegate as an input of its
    roots). Unrelated changes are returned as they are, without a scan."""
    if not any(_delegation_related(o) for pair in changed for o in pair):
        return changed
    old_list, new_list = list(old_objects), list(new_objects)
    old_table, new_table = delegate_table(old_list), delegate_table(new_list)
    changed_delegates = {
        (o.namespace, o.name)
        for pair in changed
        for o in pair
        if o is not None and o.kind == "VirtualService" and o.spec.is_delegate
    }
    pairs: dict[tuple[str, str, str], list[MeshObject[Any] | None]] = {}
    for old, new in changed:
        key = (old or new).key  # type: ignore[union-attr]
        pairs[key] = [old, new]

    def delegates_to_changed(obj: MeshObject[Any]) -> bool:
        return any(
            rule.delegate is not None
            and delegate_key(obj.namespace, rule.delegate) in changed_delegates
            for rule in obj.spec.http
        )

    if changed_delegates:
        for side, listed in ((0, old_list), (1, new_list)):
            for obj in listed:
                if (
                    obj.kind == "VirtualService"
                    and obj.spec.delegates
                    and delegates_to_changed(obj)
                ):
                    entry = pairs.setdefault(obj.key, [None, None])
                    if entry[side] is None:
                        entry[side] = obj
    # an unchanged root delegating to a changed delegate is found on both sides (the same
    # object); a changed root is already in `changed`
    return [
        (_merged(old, old_table, suffix), _merged(new, new_table, suffix))
        for old, new in pairs.values()
    ]


def _merged(
    obj: MeshObject[Any] | None,
    table: Mapping[DelegateKey, MeshObject[VirtualServiceSpec]],
    suffix: str,
) -> MeshObject[Any] | None:
    if obj is not None and obj.kind == "VirtualService" and obj.spec.delegates:
        return merge_root(obj, table, suffix)
    return obj


def provenance_of(vs: MeshObject[Any]) -> tuple[str, ...]:
    """The objects a VirtualService's routes come from: itself and, for a merged root,
    its delegates (so NACK blame and proxy-config name both)."""
    if type(vs) is MeshObject:  # (not a merged root: no `getattr` miss, 20,000 times)
        return (vs.ref,)
    return (vs.ref, *getattr(vs, "delegates", ()))
