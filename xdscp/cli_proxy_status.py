"""`xdscp proxy-status`: every connected proxy, per xDS type SYNCED / STALE / NACK."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from xdscp.cache import PUSH_ORDER, SHORT_TYPE_NAMES
from xdscp.debug_client import (
    age,
    api_url,
    debug_token,
    dump,
    get_json,
    output_option,
    server_option,
    source_warning,
    table,
    token_option,
)

# The columns: the short names /debug/proxies keys its types by, in push order.
TYPES = tuple(SHORT_TYPE_NAMES[t] for t in PUSH_ORDER)


@click.command("proxy-status")
@click.argument("workload", required=False, default="")
@server_option
@token_option
@output_option("table", "json", "yaml")
def proxy_status(workload: str, server: str, debug_token_file: Path | None, output: str) -> None:
    """Every connected proxy: workload, SPIFFE identity, and per xDS type whether it runs
    what was sent (SYNCED), has not answered yet (STALE) or rejected it (NACK), with the
    version and how long ago; then each NACK's message and the objects behind it.
    A first line says so when the config source is down (edits are not reaching proxies)."""
    token = debug_token(debug_token_file)
    proxies: dict[str, Any] = get_json(api_url(server, "/debug/proxies", proxy=workload), token)
    if output != "table":
        click.echo(dump(proxies, output))
        return
    warning = source_warning(server, token)
    if warning:
        click.echo(warning)
    if not proxies:
        click.echo(f"no connected proxies{f' named {workload}' if workload else ''}")
        return
    click.echo(render_status(proxies))
    nacks = render_nacks(proxies)
    if nacks:
        click.echo("")
        click.echo(nacks)


def _cell(status: dict[str, Any] | None) -> str:
    if status is None:
        return "-"
    version = status["version_acked"] if status.get("state") == "NACK" else status["version_sent"]
    return f"{status.get('state', '?')} {version[:8] or '-'} {age(status.get('age_seconds'))}"


def render_status(proxies: dict[str, Any]) -> str:
    rows = []
    for key, proxy in sorted(proxies.items()):
        types = proxy["types"]
        rows.append([key, proxy.get("peer_identity") or "-"] + [_cell(types.get(t)) for t in TYPES])
    return table(["WORKLOAD", "IDENTITY", *TYPES], rows)


def render_nacks(proxies: dict[str, Any]) -> str:
    """One block per rejected type: what Envoy said, which resources and which objects."""
    lines = []
    for key, proxy in sorted(proxies.items()):
        for type_name, status in proxy["types"].items():
            nack = status.get("last_nack")
            if status["state"] != "NACK" or not nack:
                continue
            lines.append(f"NACK {key} {type_name} (version {nack['version'][:8]}, {nack['time']})")
            lines.append(f"  error:     {' '.join(nack['error'].split())}")
            if nack["resources"]:
                lines.append(f"  resources: {', '.join(nack['resources'])}")
            lines.append(f"  sources:   {', '.join(nack['provenance']) or '-'}")
    return "\n".join(lines)
