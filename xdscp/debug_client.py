"""What the operator commands (`proxy-status`, `proxy-config`, `describe`) share: reading
the control plane's debug API with one-line errors, and printing tables and JSON/YAML."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click
import yaml

from xdscp.debug.auth import TOKEN_ENV, auth_headers, load_token
from xdscp.errors import UserError

DEFAULT_SERVER = "http://127.0.0.1:15014"
TIMEOUT_SECONDS = 5.0

server_option = click.option(
    "--server",
    default=DEFAULT_SERVER,
    show_default=True,
    metavar="URL",
    help="The control plane's debug API (`xdscp serve --debug`).",
)
token_option = click.option(
    "--debug-token-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help=f"Bearer token of the debug port (or ${TOKEN_ENV}), when it asks for one.",
)


def debug_token(token_file: Path | None) -> str | None:
    """The token from `--debug-token-file`, else $XDSCP_DEBUG_TOKEN, else None."""
    try:
        return load_token(token_file)
    except UserError as error:
        raise click.ClickException(str(error)) from None


def output_option(*choices: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option(
        "-o",
        "--output",
        "output",
        type=click.Choice(choices),
        default=choices[0],
        show_default=True,
        help="Output format.",
    )


def get_json(url: str, token: str | None = None, timeout: float = TIMEOUT_SECONDS) -> Any:
    """GET a JSON document (with the debug token, if any); any failure is a
    ClickException (one line, exit 1)."""
    try:
        request = urllib.request.Request(url, headers=auth_headers(token))
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        hint = ""
        if error.code == 401:
            hint = f" (pass --debug-token-file FILE or set ${TOKEN_ENV})"
        raise click.ClickException(f"{url}: {_server_error(error)}{hint}") from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise click.ClickException(
            f"cannot reach {url} ({reason}); is the control plane running? "
            "(give its debug address with --server)"
        ) from None
    except ValueError:
        raise click.ClickException(
            f"{url} did not answer JSON; is this xdscp's debug API?"
        ) from None


def readiness(server: str, token: str | None = None) -> dict[str, Any]:
    """`GET /ready`: whether the control plane's config source is alive and loaded.
    A 503 is an answer here (the body says why), not a failure; a server without the
    endpoint or an unreadable answer gives `{}` (nothing to say)."""
    url = api_url(server, "/ready")
    try:
        request = urllib.request.Request(url, headers=auth_headers(token))
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            body = json.loads(response.read())
    except urllib.error.HTTPError as error:
        try:
            body = json.loads(error.read())
        except ValueError:
            return {}
    except (urllib.error.URLError, OSError, ValueError):
        return {}
    return body if isinstance(body, dict) and "ready" in body else {}


def source_warning(server: str, token: str | None = None) -> str:
    """One line when the config source is dead, stuck or never loaded (proxies then keep
    running the last good config and edits are not reaching them), or degraded: ready
    and serving, but some Kubernetes watches failing."""
    ready = readiness(server, token)
    if not ready:
        return ""
    generation = ready.get("generation", "?")
    if ready.get("ready", True):
        # ready but with a reason: degraded (some Kubernetes watches failing), still serving
        reason = ready.get("reason")
        if not reason:
            return ""
        return (
            f"CONFIG SOURCE DEGRADED: {reason}; proxies are served the last good config "
            f"(generation {generation}) and changes to the failing types do not reach them"
        )
    return (
        f"CONFIG SOURCE DOWN: {ready.get('reason') or 'not ready'}; proxies keep the last "
        f"good config (generation {generation}) and edits do not reach them"
    )


def _server_error(error: urllib.error.HTTPError) -> str:
    try:
        body = json.loads(error.read())
    except ValueError:
        return f"HTTP {error.code}"
    if isinstance(body, dict) and "error" in body:
        return str(body["error"])
    return f"HTTP {error.code}"


def api_url(server: str, path: str, **query: str) -> str:
    base = server if "://" in server else f"http://{server}"
    encoded = urllib.parse.urlencode({k: v for k, v in query.items() if v})
    return f"{base.rstrip('/')}{path}" + (f"?{encoded}" if encoded else "")


def dump(data: Any, output: str) -> str:
    if output == "yaml":
        return yaml.safe_dump(data, sort_keys=False).rstrip()
    return json.dumps(data, indent=2)


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns, two spaces apart, like istioctl and kubectl."""
    all_rows = [tuple(header), *(tuple(r) for r in rows)]
    widths = [max(len(r[i]) for r in all_rows) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(r)).rstrip() for r in all_rows
    )


def age(seconds: float | None) -> str:
    """`3s`, `4m12s`, `2h5m`: how long ago, short enough for a table cell."""
    if seconds is None:
        return "-"
    whole = int(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60}s"
    return f"{whole // 3600}h{whole % 3600 // 60}m"
