"""Which VirtualService rule a generated route came from, in the terms a user wrote.

Routes are named by the rule (translators/traffic/http.py: the rule's name, else
`<namespace>.<name>.<i>`, plus `.<match name or j>` when the rule has several match
blocks). For a root VirtualService with delegations the translator numbers the *merged*
rules (translators/model/delegation.py), which are neither the root's nor the
delegate's: this module walks the merge the same way, with the same functions, and
maps a merged rule back to the root rule (`http[i]`) and the delegate rule
(`VirtualService/ns/name` `http[j]`) it was built from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from translators.mesh import MeshConfig
from translators.model.delegation import (
    delegate_table,
    merge_matches,
    merge_rule,
    visible_delegate,
)
from translators.model.networking import HTTPMatchRequest, HTTPRoute, VirtualServiceSpec
from translators.model.objects import MeshObject


@dataclass(frozen=True, slots=True)
class RuleRef:
    """A route's rule: `rule` of the VirtualService (`http[i]`, `.match[j]` with several
    match blocks); for a delegated rule also the delegate and its rule."""

    rule: str = ""
    delegate: str = ""  # VirtualService/ns/name of the delegate ("" when not delegated)
    delegate_rule: str = ""  # its `http[j]` (`.match[k]`), with the rule's name if it has one


@dataclass(frozen=True, slots=True)
class _Origin:
    rule: HTTPRoute  # the merged rule, as the translator numbers it
    root_index: int
    delegate: MeshObject[VirtualServiceSpec] | None = None
    delegate_index: int = -1
    # per merged match block: (root match index, delegate match index), -1 for none
    matches: tuple[tuple[int, int], ...] = ()


def _match_pairs(
    root: list[HTTPMatchRequest], leaf: list[HTTPMatchRequest]
) -> tuple[tuple[int, int], ...]:
    """The merged blocks' origins, in merge_matches' order (each delegate block, crossed
    with the root blocks it lies within)."""
    if not root:
        return tuple((-1, k) for k in range(len(leaf)))
    if not leaf:
        return tuple((j, -1) for j in range(len(root)))
    pairs: list[tuple[int, int]] = []
    for k, sub in enumerate(leaf):
        for j, block in enumerate(root):
            if merge_matches([block], [sub]) is not None:
                pairs.append((j, k))
    return tuple(pairs)


def _origins(mesh: MeshConfig, root: MeshObject[VirtualServiceSpec]) -> list[_Origin]:
    """The rules the translator routes for `root`, each with where it came from."""
    if not root.spec.delegates:
        return [_Origin(rule, i) for i, rule in enumerate(root.spec.http)]
    table = delegate_table(mesh.objects)
    found: list[_Origin] = []
    for i, rule in enumerate(root.spec.http):
        if rule.delegate is None:
            found.append(_Origin(rule, i))
            continue
        delegate = visible_delegate(root, rule.delegate, table)
        if delegate is None:
            continue
        root_rule = rule.model_copy(update={"delegate": None})
        for k, leaf in enumerate(delegate.spec.http):
            merged = merge_rule(root_rule, leaf)
            if merged is not None:
                pairs = _match_pairs(root_rule.match, leaf.match)
                found.append(_Origin(merged, i, delegate, k, pairs))
    return found


def _named(index: str, name: str | None) -> str:
    return f"{index} {name!r}" if name else index


def rule_ref(mesh: MeshConfig, vs: MeshObject[Any], route_name: str) -> RuleRef:
    """The rule of `vs` (the VirtualService as written) that produced the route named
    `route_name`; an empty RuleRef when none did."""
    for k, origin in enumerate(_origins(mesh, vs)):
        rule = origin.rule
        base = rule.name or f"{vs.namespace}.{vs.name}.{k}"
        match = -1
        if route_name != base:
            if not (route_name.startswith(base + ".") and len(rule.match) > 1):
                continue
            suffix = route_name[len(base) + 1 :]
            names = [m.name for m in rule.match]
            match = (
                names.index(suffix) if suffix in names else int(suffix) if suffix.isdigit() else -1
            )
            if not 0 <= match < len(rule.match):
                continue
        if origin.delegate is None:
            tail = f".match[{match}]" if match >= 0 else ""
            return RuleRef(f"http[{origin.root_index}]{tail}")
        root_match, leaf_match = origin.matches[match] if match >= 0 else (-1, -1)
        root_rule = vs.spec.http[origin.root_index]
        leaf = origin.delegate.spec.http[origin.delegate_index]
        root_tail = f".match[{root_match}]" if root_match >= 0 and len(root_rule.match) > 1 else ""
        leaf_tail = f".match[{leaf_match}]" if leaf_match >= 0 and len(leaf.match) > 1 else ""
        return RuleRef(
            f"http[{origin.root_index}]{root_tail}",
            origin.delegate.ref,
            _named(f"http[{origin.delegate_index}]{leaf_tail}", leaf.name),
        )
    return RuleRef()
