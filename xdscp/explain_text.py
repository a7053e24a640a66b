"""The terminal rendering of an explanation: numbered steps, indented details.

It reads the JSON form (`Explanation.to_json`, what `/debug/explain` serves), so the
CLI prints the same text whether the answer came from a running control plane or
from a local translation of a directory."""

from __future__ import annotations

from typing import Any

Json = dict[str, Any]


def _share(value: float) -> str:
    return f"{value:g}%"


def _header(found: Json) -> list[str]:
    what = f"{found['method']} {found['url']}" if found["protocol"] == "http" else found["url"]
    lines = [f"{what}  from {found['source']} ({found['identity']})"]
    for name, value in found["headers"].items():
        lines.append(f"  {name}: {value}")
    return lines


def _listener(step: int, listener: Json) -> list[str]:
    kind = (
        f"HTTP, route config {listener['route_config']!r}"
        if listener["protocol"] == "http"
        else f"TCP, filter chain {listener['filter_chain']!r}"
    )
    lines = [f"{step}. Outbound listener {listener['name']} on {listener['address']} ({kind})"]
    if listener["sources"]:
        lines.append(f"     from {', '.join(listener['sources'])}")
    return lines


def _skipped_rule(skipped: Json) -> str:
    rule = str(skipped["rule"] or skipped["route"])
    if skipped.get("delegate"):
        # another object than the chosen route's may be behind it: name both
        rule = f"{skipped['object']} {rule} -> {skipped['delegate']} {skipped['delegate_rule']}"
    return rule


def _route(step: int, route: Json, found: Json) -> list[str]:
    lines = [
        f"{step}. Virtual host {route['virtual_host']} (domain {route['domain']!r})",
        f"{step + 1}. Route {route['name']!r}: {route['object']} {route['rule']}".rstrip(),
    ]
    if route.get("delegate"):
        lines.append(f"     delegated to {route['delegate']} {route['delegate_rule']}".rstrip())
    for skipped in route["skipped"]:
        why = "; ".join(skipped["failed"]) or "?"
        lines.append(f"     skipped {_skipped_rule(skipped)} ({skipped['route']!r}): {why}")
    if route["action"] == "redirect":
        lines.append(f"     redirect {route['status']} to {route['location']}")
    elif route["action"] == "direct_response":
        lines.append(f"     direct response {route['status']}")
    fault = route["fault"]
    if fault and fault["abort_status"] is not None:
        lines.append(
            f"     fault: abort {fault['abort_status']} for {_share(fault['abort_percent'])}"
            " of requests"
        )
    if fault and fault["delay"]:
        lines.append(f"     fault: delay {fault['delay']} for {_share(fault['delay_percent'])}")
    if route["action"] == "route":
        lines.append(
            f"     timeout: {route['timeout'] or 'none'}    retries: {route['retries'] or 'none'}"
        )
        for mirror in route["mirrors"]:
            lines.append(f"     mirror: {mirror}")
        sent = (route["upstream_authority"], route["upstream_path"])
        if sent != (found["authority"], found["path"]):
            lines.append(f"     rewritten: the callee gets {sent[0]} {sent[1]}")
        if route["hash_policy"]:
            lines.append(f"     consistent hash on {', '.join(route['hash_policy'])}")
    return lines


def _inbound(inbound: Json | None) -> list[str]:
    pad = "            "
    if inbound is None:
        return [f"{pad}no sidecar inbound listener: the application receives it directly"]
    authn = ", ".join(inbound["peer_authentication_sources"]) or "mesh default: no object"
    lines = [
        f"{pad}callee {inbound['workload']}: listener {inbound['listener']},"
        f" filter chain {inbound['filter_chain'] or '(none)'}",
        f"{pad}PeerAuthentication {inbound['peer_authentication']} ({authn})",
        f"{pad}peer identity: {inbound['peer'] or 'none (plaintext)'}",
    ]
    for rbac in inbound["rbac"]:
        matched = (
            ", ".join(f"{m['object']} {m['rule']} [{m['policy']}]" for m in rbac["matched"])
            or "no rule"
        )
        policies = ", ".join(rbac.get("policies", [])) or "dry-run only"
        if not rbac.get("reached", True):
            lines.append(f"{pad}RBAC {rbac['action']} ({policies}): not reached")
            continue
        lines.append(
            f"{pad}RBAC {rbac['action']} ({policies}): {matched} matches -> {rbac['verdict']}"
        )
        if rbac["action"] == "ALLOW" and rbac["verdict"] == "denied":
            for missed in rbac.get("missed", []):
                lines.append(f"{pad}  {missed}")
        for dry in rbac["dry_run"]:
            lines.append(f"{pad}  dry-run {dry['object']} {dry['rule']} matches (not enforced)")
    lines.append(f"{pad}=> {inbound['verdict'].upper()}: {inbound['reason']}")
    return lines


def _destinations(step: int, destinations: list[Json]) -> list[str]:
    lines = [f"{step}. Destinations"]
    for i, destination in enumerate(destinations, start=1):
        subset = f"subset {destination['subset']}" if destination["subset"] else "no subset"
        lines.append(
            f"   {step}.{i} {_share(destination['share'])} -> {destination['cluster']} ({subset})"
        )
        if destination["sources"]:
            lines.append(f"         from {', '.join(destination['sources'])}")
        tls = destination["tls"]
        if tls["mode"] == "-":
            lines.append(f"         the proxy has no such cluster: {tls['reason']}")
            continue
        sni = f", SNI {tls['sni']}" if tls["sni"] else ""
        decided = f"decided by {tls['decided_by']}: " if tls["decided_by"] else ""
        lines.append(f"         {tls['mode']}{sni} — {decided}{tls['reason']}")
        if not destination["endpoints"]:
            lines.append("         no endpoints")
        for endpoint in destination["endpoints"]:
            owner = endpoint["workload"] or "(not a mesh workload)"
            lines.append(
                f"         endpoint {endpoint['address']}:{endpoint['port']} {owner}"
                f" weight {endpoint['weight']}, {endpoint['tls']}"
            )
            lines.extend(_inbound(endpoint["inbound"]))
    return lines


_RESULTS = {
    "forwarded": "forwarded",
    "fault_abort": "fault abort",
    "denied": "denied",
    "refused": "refused",
    "no_endpoints": "no endpoints",
    "redirect": "redirect",
    "direct_response": "direct response",
    "passthrough": "passthrough",
    "blackhole": "blackhole",
    "no_cluster": "no such cluster",
}


def _outcomes(step: int, outcomes: list[Json]) -> list[str]:
    lines = [f"{step}. Outcome"]
    for outcome in outcomes:
        status = str(outcome["status"]) if outcome["status"] else "app"
        where = "to" if outcome["result"] == "forwarded" else "at"
        target = f" {where} {outcome['cluster']}" if outcome["cluster"] else ""
        detail = f" — {outcome['detail']}" if outcome["detail"] else ""
        lines.append(
            f"   {_share(outcome['share']):>7}  {status:<4} "
            f"{_RESULTS.get(outcome['result'], outcome['result'])}{target}{detail}"
        )
    return lines


def render(found: Json) -> str:
    lines = [*_header(found), "", *_listener(1, found["listener"])]
    step = 2
    if found["route"] is not None:
        lines += _route(step, found["route"], found)
        step += 2
    if found["destinations"]:
        lines += _destinations(step, found["destinations"])
        step += 1
    lines += _outcomes(step, found["outcomes"])
    lines += [f"note: {note}" for note in found["notes"]]
    return "\n".join(lines) + "\n"
