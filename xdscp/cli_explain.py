"""`xdscp explain`: the whole path of one request as Envoy will take it.

By default it asks the running control plane (`GET /debug/explain` on `--server`), so
the answer is computed from exactly what the proxies were sent; `-f DIR` translates a
directory locally instead (no control plane needed)."""

from __future__ import annotations

import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from translators.explain import ExplainError, explain, parse_request
from translators.mesh import MeshOptions
from translators.translate import MeshTranslator
from xdscp.debug.auth import TOKEN_ENV, auth_headers, load_token
from xdscp.debug.worker import DEFAULT_TIMEOUT_S
from xdscp.debug_client import api_url, server_option, token_option
from xdscp.explain_text import render
from xdscp.sources.files import DirectorySource

# longer than the server's own bound, so its one-line 503 arrives rather than a timeout
ANSWER_TIMEOUT_S = DEFAULT_TIMEOUT_S + 10


def _fail(message: str) -> None:
    click.echo(f"xdscp explain: {message}", err=True)
    sys.exit(1)


def _from_server(
    server: str,
    token: str | None,
    source: str,
    url: str,
    method: str,
    headers: tuple[str, ...],
    sni: str | None,
) -> dict[str, Any]:
    query: list[tuple[str, str]] = [("from", source), ("url", url), ("method", method)]
    query += [("header", h) for h in headers]
    if sni:
        query.append(("sni", sni))
    # api_url: a bare HOST:PORT works here as in proxy-status and describe
    address = f"{api_url(server, '/debug/explain')}?{urllib.parse.urlencode(query)}"
    try:
        asked = urllib.request.Request(address, headers=auth_headers(token))
        with urllib.request.urlopen(asked, timeout=ANSWER_TIMEOUT_S) as response:
            found: dict[str, Any] = json.load(response)
            return found
    except urllib.error.HTTPError as exc:
        try:
            message = str(json.load(exc).get("error", exc.reason))
        except ValueError:
            message = f"{exc.code} {exc.reason}"
        if exc.code == 401:
            message += f" (pass --debug-token-file FILE or set ${TOKEN_ENV})"
        _fail(str(message))
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, TimeoutError):
            _fail(
                f"the control plane at {server} did not answer within {ANSWER_TIMEOUT_S:g} s;"
                " try again (it keeps translating the proxies asked about)"
            )
        _fail(
            f"cannot reach the control plane at {server} ({reason}):"
            " start `xdscp serve`/`xdscp up`, pass --server URL, or explain a directory with -f DIR"
        )
    raise AssertionError("unreachable")


def _offline(
    directory: Path,
    source: str,
    url: str,
    method: str,
    headers: tuple[str, ...],
    sni: str | None,
) -> dict[str, Any]:
    mesh = DirectorySource(directory, MeshOptions(local_mode=True), log_errors=False).load()
    for error in mesh.errors:
        click.echo(f"warning: left out: {error}", err=True)
    try:
        return explain(
            MeshTranslator(mesh),
            # a JWT's expiry is judged as of now (the translators read no clock)
            replace(parse_request(source, url, method, headers, sni), at=time.time()),
        ).to_json()
    except ExplainError as exc:
        _fail(str(exc))
    raise AssertionError("unreachable")


@click.command("explain")
@click.argument("url")
@click.option(
    "--from", "source", required=True, help="The calling workload, NAMESPACE/NAME or a unique NAME."
)
@click.option("-X", "--request", "method", default="GET", show_default=True, help="HTTP method.")
@click.option(
    "-H", "--header", "headers", multiple=True, help="Request header 'name: value' (repeatable)."
)
@click.option("--sni", help="tcp:// only: the TLS server name the application sends.")
@server_option
@token_option
@click.option(
    "-f",
    "directory",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Explain from this directory of mesh YAML (translated locally) instead of --server.",
)
@click.option(
    "-o", "output", type=click.Choice(["text", "json"]), default="text", show_default=True
)
def explain_command(
    url: str,
    source: str,
    method: str,
    headers: tuple[str, ...],
    sni: str | None,
    server: str,
    debug_token_file: Path | None,
    directory: Path | None,
    output: str,
) -> None:
    """The path of one request (URL: http://host[:port]/path?query or tcp://host:port) as
    Envoy will take it: listener, route and why earlier rules did not match, policies,
    weighted clusters, endpoints, mTLS, and the callee's PeerAuthentication and
    AuthorizationPolicy verdict."""
    try:
        parse_request(source, url, method, headers, sni)  # a typo fails before any I/O
    except ExplainError as exc:
        _fail(str(exc))
    if directory is not None:
        found = _offline(directory, source, url, method, headers, sni)
    else:
        token = load_token(debug_token_file)
        found = _from_server(server, token, source, url, method, headers, sni)
    if output == "json":
        click.echo(json.dumps(found, indent=2))
    else:
        click.echo(render(found), nl=False)
