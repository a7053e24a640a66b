"""The callee's side of a hop: the inbound listener of the endpoint's workload, the
filter chain the connection lands on (its PeerAuthentication mode) and the RBAC filters
that allow or deny it — read from the callee's generated Listener with the evaluator
in translators/behaviour/rbac.py."""

from __future__ import annotations

from dataclasses import replace

from envoy.config.listener.v3 import listener_pb2
from envoy.config.rbac.v3 import rbac_pb2

from translators.behaviour.paths import chain_manager, envoy_path
from translators.behaviour.rbac import (
    ALLOWED,
    DENIED,
    REFUSED,
    Call,
    inbound_listener,
    listener_verdict,
    matching_policies,
    permission_matches,
    principal_matches,
    rbac_configs,
    select_chain,
)
from translators.explain.jwt import jwt_filter, jwt_outcome
from translators.explain.model import InboundStep, RbacMatch, RbacStep
from translators.explain.provenance import sources_of
from translators.naming import object_ref, parse_rbac_policy_name
from translators.translate import ProxyResources


def _peer_authentication(listener: listener_pb2.Listener) -> str:
    """The effective mode, as the translator shaped the chains: STRICT is one mutual-TLS
    chain, PERMISSIVE a TLS and a plaintext chain, DISABLE plaintext only."""
    tls = [c.HasField("transport_socket") for c in listener.filter_chains]
    if all(tls):
        return "STRICT"
    return "PERMISSIVE" if any(tls) else "DISABLE"


def _matches(names: list[str]) -> tuple[RbacMatch, ...]:
    found = []
    for name in names:
        parsed = parse_rbac_policy_name(name)
        if parsed is None:
            found.append(RbacMatch(name, "", ""))
        else:
            namespace, policy, rule = parsed
            found.append(
                RbacMatch(
                    name, object_ref("AuthorizationPolicy", namespace, policy), f"rules[{rule}]"
                )
            )
    return tuple(found)


def _rbac_step(
    rules: rbac_pb2.RBAC | None, shadow: rbac_pb2.RBAC | None, call: Call, http: bool
) -> RbacStep:
    dry_run = _matches(matching_policies(shadow, call, http)) if shadow is not None else ()
    if rules is None:
        action = rbac_pb2.RBAC.Action.Name(shadow.action) if shadow is not None else "ALLOW"
        return RbacStep(action, (), ALLOWED, dry_run)
    matched = _matches(matching_policies(rules, call, http))
    if rules.action == rbac_pb2.RBAC.ALLOW:
        verdict = ALLOWED if matched else DENIED
    elif rules.action == rbac_pb2.RBAC.DENY:
        verdict = DENIED if matched else ALLOWED
    else:
        verdict = ALLOWED
    policies = tuple(sorted({m.object or m.policy for m in _matches(list(rules.policies))}))
    return RbacStep(
        rbac_pb2.RBAC.Action.Name(rules.action),
        matched,
        verdict,
        dry_run,
        policies,
        _missed(rules, call, http),
    )


def _missed(rules: rbac_pb2.RBAC, call: Call, http: bool) -> tuple[str, ...]:
    """For each rule that did not match: which half failed. Principals carry a rule's
    `from` (and identity `when` conditions), permissions its `to` (and request ones)."""
    found = []
    for name in sorted(rules.policies):
        policy = rules.policies[name]
        parts = []
        if not any(principal_matches(p, call, http) for p in policy.principals):
            who = call.peer or "a plaintext caller"
            parts.append(f"the source (from) does not match {who}")
        if not any(permission_matches(p, call, http) for p in policy.permissions):
            parts.append(f"the operation (to) does not match {call.method} {call.path}")
        if parts:
            (match,) = _matches([name])
            label = f"{match.object} {match.rule}" if match.object else name
            found.append(f"{label}: {' and '.join(parts)}")
    return tuple(found)


def inbound_step(
    workload: str, resources: ProxyResources, call: Call, at: float | None = None
) -> InboundStep | None:
    """What `workload`'s sidecar does with `call`; None when it has no inbound listener on
    the port (the hop then reaches the application without a sidecar in between)."""
    try:
        listener = inbound_listener(resources, call.port)
    except LookupError:
        return None
    mode = _peer_authentication(listener)
    authn_sources = tuple(
        sorted(
            {
                s
                for c in listener.filter_chains
                for s in sources_of(c.metadata)
                if s.startswith("PeerAuthentication/")
            }
        )
    )
    peer = call.peer or ""
    try:
        chain = select_chain(listener, call)
    except LookupError:
        wanted = "mutual TLS" if mode == "STRICT" else "plaintext"
        return InboundStep(
            workload,
            listener.name,
            "",
            mode,
            authn_sources,
            peer,
            (),
            REFUSED,
            f"{'plaintext' if not call.uses_tls else 'TLS'} connection, but the port takes"
            f" {wanted} only: the connection is reset (caller sees 503)",
        )
    # the callee's sidecar normalises the path as the caller's did (the same flags, and
    # normalising twice changes nothing), so a path the caller sent is never rejected here
    normalised = envoy_path(chain_manager(chain), call.path)
    if normalised is not None:
        call = replace(call, path=normalised)
    jwt_note = ""
    jwt_config = jwt_filter(chain)
    if jwt_config is not None:  # RequestAuthentication: jwt_authn runs before RBAC
        outcome = jwt_outcome(jwt_config, call.headers, call.path, at)
        if outcome.rejected:
            return InboundStep(
                workload, listener.name, chain.name, mode, authn_sources, peer, (), DENIED,
                outcome.note,
            )  # fmt: skip
        jwt_note, call = outcome.note, replace(call, jwt=outcome.payload)
    verdict = listener_verdict(listener, call)
    http, configs = rbac_configs(chain)
    steps_list: list[RbacStep] = []
    for config in configs:
        step = _rbac_step(
            config.rules if config.HasField("rules") else None,
            config.shadow_rules if config.HasField("shadow_rules") else None,
            call,
            http,
        )
        if any(s.verdict == DENIED for s in steps_list):
            step = replace(step, reached=False)  # Envoy stops at the first denial
        steps_list.append(step)
    steps = tuple(steps_list)
    if verdict == REFUSED:
        reason = "mutual TLS required, the caller sent no client certificate"
    elif verdict == DENIED:
        denying = next(s for s in steps if s.verdict == DENIED)
        if denying.action == "DENY":
            reason = "denied by " + ", ".join(f"{m.object} {m.rule}" for m in denying.matched)
        else:
            reason = (
                f"no rule of {', '.join(denying.policies)} matches"
                " (where ALLOW policies apply, what none allows is denied)"
            )
        if not http:
            # Istio fails closed on TCP: the generated filter already reflects it
            reason += (
                "; on a TCP port HTTP-only values (paths, methods, hosts, headers) cannot be"
                " checked: a DENY rule ignores them, an ALLOW rule using them is dropped"
            )
    elif any(s.matched for s in steps if s.action == "ALLOW"):
        allowing = next(s for s in steps if s.action == "ALLOW" and s.matched)
        reason = "allowed by " + ", ".join(f"{m.object} {m.rule}" for m in allowing.matched)
    else:
        reason = "no AuthorizationPolicy denies it" if steps else "no AuthorizationPolicy applies"
    if jwt_note:
        reason = f"{jwt_note}; {reason}"
    return InboundStep(
        workload, listener.name, chain.name, mode, authn_sources, peer, steps, verdict, reason
    )
