"""`xdscp proxy-config TYPE WORKLOAD`: what the control plane sent one proxy, and with
`--envoy-admin` how that differs from what its Envoy actually runs."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from xdscp.debug.config_dump import TYPE_NAMES
from xdscp.debug_client import (
    api_url,
    debug_token,
    dump,
    get_json,
    output_option,
    server_option,
    table,
    token_option,
)
from xdscp.envoy_diff import compare, envoy_resources
from xdscp.proxy_tables import RENDERERS

CHOICES = [*TYPE_NAMES, "all"]


@click.command("proxy-config")
@click.argument("resource_type", metavar="{" + "|".join(CHOICES) + "}", type=click.Choice(CHOICES))
@click.argument("workload")
@server_option
@token_option
@output_option("table", "json", "yaml")
@click.option(
    "--envoy-admin",
    metavar="URL",
    help="Envoy's admin address: print how what it runs differs from what was sent "
    "(nothing when in sync; exit 1 when they differ).",
)
def proxy_config(
    resource_type: str,
    workload: str,
    server: str,
    debug_token_file: Path | None,
    output: str,
    envoy_admin: str | None,
) -> None:
    """What the control plane sent WORKLOAD (NAMESPACE/NAME, or a unique NAME): listeners,
    routes, clusters, endpoints or secrets, each row naming its source objects. Secrets
    show certificates (serial, SPIFFE ID, validity, rotation), never key material."""
    words = list(TYPE_NAMES) if resource_type == "all" else [resource_type]
    token = debug_token(debug_token_file)
    proxy = resolve_proxy(server, workload, token)
    query = {"proxy": proxy, "types": ",".join(words)}
    config = get_json(api_url(server, "/debug/config_dump", **query), token)
    types: dict[str, Any] = config["types"]
    if envoy_admin is not None:
        _print_difference(types, envoy_admin, output)
        return
    if output != "table":
        click.echo(dump(types if resource_type == "all" else types[resource_type], output))
        return
    for number, word in enumerate(words):
        if len(words) > 1:
            click.echo(f"{'' if number == 0 else chr(10)}{word.upper()}")
        click.echo(RENDERERS[word](types[word]["resources"]))


def resolve_proxy(server: str, workload: str, token: str | None) -> str:
    """A connected proxy's key from NAMESPACE/NAME or a NAME unique among them."""
    known: list[str] = get_json(api_url(server, "/debug/config_dump"), token)["proxies"]
    if workload in known:
        return workload
    matches = [k for k in known if k.rpartition("/")[2] == workload]
    if len(matches) == 1:
        return matches[0]
    hint = ", ".join(matches if matches else known) or "none"
    what = "is ambiguous" if matches else "is not a connected proxy"
    raise click.ClickException(f"{workload!r} {what} (connected: {hint})")


def _print_difference(types: dict[str, Any], envoy_admin: str, output: str) -> None:
    admin = envoy_admin if "://" in envoy_admin else f"http://{envoy_admin}"
    running = envoy_resources(get_json(f"{admin.rstrip('/')}/config_dump?include_eds"))
    differences = compare(types, running)
    if output != "table":
        click.echo(dump([d.to_json() for d in differences], output))
    elif differences:
        rows = [
            [d.type, d.name, d.change, ",".join(d.sources) or "-", d.detail or "-"]
            for d in differences
        ]
        click.echo(table(["TYPE", "NAME", "DIFFERENCE", "SOURCES", "DETAIL"], rows))
    if differences:
        sys.exit(1)
