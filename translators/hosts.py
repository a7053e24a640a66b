"""Istio host-name rules: short-name expansion and wildcard matching."""

from __future__ import annotations

from translators.naming import DEFAULT_DOMAIN_SUFFIX


def resolve_host(host: str, namespace: str, suffix: str = DEFAULT_DOMAIN_SUFFIX) -> str:
    """Expand a short name the way Istio does: `reviews` in `prod` is
    `reviews.prod.svc.cluster.local`. Names with a dot, and `*`, are taken as written."""
    if host == "*" or "." in host:
        return host
    return f"{host}.{namespace}.{suffix}"


def host_matches(pattern: str, host: str) -> bool:
    """Does `pattern` (possibly `*` or `*.suffix`) cover the concrete `host`?"""
    if pattern == "*":
        return True
    if pattern.startswith("*."):
        return host.endswith(pattern[1:])
    return pattern == host


def short_aliases(fqdn: str, suffix: str = DEFAULT_DOMAIN_SUFFIX) -> list[str]:
    """Every name a caller may use for a service: fqdn, then Kubernetes short forms —
    Istio's sidecar virtual host domains, without ports: the route configuration sets
    `ignore_port_in_host_matching`, so `name` also matches `name:port`."""
    names = [fqdn]
    tail = f".{suffix}"
    base = fqdn[: -len(tail)] if fqdn.endswith(tail) else ""  # name.namespace
    if "." in base:  # else not a Kubernetes service name (`*.svc.cluster.local`): none
        name = base.split(".", 1)[0]
        names += [f"{base}.svc", base]
        # `*.ns.svc.cluster.local`'s bare short name would be `*`: every authority (and
        # the catch-all's domain, which Envoy allows once), so it is left out
        if name != "*":
            names.append(name)
    return names
