"""`xdscp describe WORKLOAD`: every object that applies to one workload, and how."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from translators.describe import UnknownWorkload, describe_workload, find_workload
from translators.mesh import MeshOptions
from xdscp.debug_client import (
    DEFAULT_SERVER,
    api_url,
    debug_token,
    dump,
    get_json,
    output_option,
    token_option,
)
from xdscp.sources.files import DirectorySource


@click.command("describe")
@click.argument("workload")
@click.option(
    "--server",
    metavar="URL",
    help=f"The running control plane's debug API (default {DEFAULT_SERVER}).",
)
@click.option(
    "-f",
    "--filename",
    "directory",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Describe from a directory of mesh YAML instead of a running control plane.",
)
@token_option
@output_option("text", "json", "yaml")
def describe(
    workload: str,
    server: str | None,
    directory: Path | None,
    debug_token_file: Path | None,
    output: str,
) -> None:
    """The services WORKLOAD (NAMESPACE/NAME or a unique NAME) serves and their ports, the
    VirtualServices and DestinationRules (with its subset) for them, its PeerAuthentication
    mode per port, the AuthorizationPolicies and Sidecar that apply to it."""
    if server is not None and directory is not None:
        raise click.UsageError("give --server or -f DIR, not both")
    if directory is not None:
        mesh = DirectorySource(directory, MeshOptions(local_mode=True), log_errors=False).load()
        try:
            described = describe_workload(mesh, find_workload(mesh, workload))
        except UnknownWorkload as error:
            raise click.ClickException(f"{error} in {directory}") from None
    else:
        url = api_url(server or DEFAULT_SERVER, "/debug/describe", workload=workload)
        described = get_json(url, debug_token(debug_token_file))
    click.echo(dump(described, output) if output != "text" else render(described))


def render(d: dict[str, Any]) -> str:
    lines = [
        f"Workload:    {d['workload']}  ({d['source']})",
        f"Address:     {d['address']}",
        f"Identity:    {d['identity']}",
        f"Labels:      {', '.join(f'{k}={v}' for k, v in sorted(d['labels'].items())) or '-'}",
        f"Sidecar:     {d['sidecar'] or '- (mesh defaults)'}",
        "",
        "Services:" if d["services"] else "Services:    - (serves no service)",
    ]
    for service in d["services"]:
        lines.append(f"  {service['host']}  ({service['source']})")
        for p in service["ports"]:
            lines.append(
                f"    port {p['port']}/{p['protocol']} ({p['name']}) -> {p['target_port']}"
            )
    peer = d["peer_authentication"]
    lines += [
        "",
        f"PeerAuthentication: {peer['mode']}  ({', '.join(peer['sources']) or 'mesh default'})",
    ]
    for port, mode in peer["ports"].items():
        lines.append(f"  port {port}: {mode}")
    lines.append("")
    lines.append("DestinationRules:" if d["destination_rules"] else "DestinationRules: -")
    for rule in d["destination_rules"]:
        subsets = ", ".join(rule["workload_subsets"]) or "none of " + (
            ", ".join(rule["subsets"]) or "(no subsets)"
        )
        tls = f", TLS {rule['tls_mode']}" if rule["tls_mode"] else ""
        merged = "".join(f" + {ref}" for ref in rule["merged_from"])
        lines.append(f"  {rule['rule']}{merged}  host {rule['host']}: subset {subsets}{tls}")
    client_rules = d.get("client_destination_rules", [])
    if client_rules:
        lines.append("DestinationRules as a client (workloadSelector selects this workload):")
    for rule in client_rules:
        merged = "".join(f" + {ref}" for ref in rule["merged_from"])
        selector = ", ".join(f"{k}={v}" for k, v in sorted(rule["selector"].items()))
        subsets = ", ".join(rule["subsets"]) or "(no subsets)"
        lines.append(
            f"  {rule['rule']}{merged}  host {rule['host']} ({selector}): subsets {subsets}"
        )
    lines.append("")
    lines.append("VirtualServices:" if d["virtual_services"] else "VirtualServices: -")
    for vs in d["virtual_services"]:
        shadow = f"  SHADOWED by {vs['shadowed_by']} (ignored)" if vs["shadowed_by"] else ""
        lines.append(f"  {vs['virtual_service']}  host {vs['host']}{shadow}")
        for route in vs["routes_here"]:
            subset = f" subset {route['subset']}" if route["subset"] else ""
            lines.append(f"    {route['rule']}: {route['weight_percent']}% here{subset}")
        if not vs["routes_here"]:
            lines.append("    no rule routes to this workload")
    lines.append("")
    rules = d.get("request_authentication", [])
    lines.append("RequestAuthentication:" if rules else "RequestAuthentication: - (no JWT)")
    for rule in rules:
        audiences = f", audiences {', '.join(rule['audiences'])}" if rule["audiences"] else ""
        lines.append(f"  {rule['policy']}  issuer {rule['issuer'] or '(any)'}{audiences}")
        where = "" if rule["jwks"] == "inline" else f" from {rule['jwks']}"
        lines.append(f"    keys{where}: {rule['keys']}")
        lines.append(f"    token from {', '.join(rule['token_from'])}")
    lines.append("")
    envoy_filters = d.get("envoy_filters", [])
    lines.append("EnvoyFilters:" if envoy_filters else "EnvoyFilters: -")
    for ef in envoy_filters:
        lines.append(f"  {ef['filter']}  priority {ef['priority']}: {', '.join(ef['patches'])}")
    lines.append("")
    policies = d["authorization_policies"]
    lines.append("AuthorizationPolicies:" if policies else "AuthorizationPolicies: - (allow all)")
    for policy in policies:
        dry = " (dry run)" if policy["dry_run"] else ""
        lines.append(f"  {policy['policy']}  {policy['action']}, {policy['rules']} rule(s){dry}")
    lines.append("")
    messages = d.get("analysis", [])
    lines.append("Analysis:" if messages else "Analysis: no messages")
    for m in messages:
        where = f" {m['field']}" if m.get("field") else ""
        lines.append(f"  {m['code']} {m['severity']} {m['object']}{where}: {m['message']}")
        if m.get("hint"):
            lines.append(f"    fix: {m['hint']}")
    return "\n".join(lines)
