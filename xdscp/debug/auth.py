"""Who may read the debug port.

The debug port shows the whole mesh (every proxy, every object, every NACK), so it
is only open without a credential on a loopback address. Anywhere else it needs a
bearer token, given as a file (`--debug-token-file`, the form a Kubernetes Secret
mounts) or in `XDSCP_DEBUG_TOKEN`. Clients send ``Authorization: Bearer <token>``;
a browser may send it as the password of HTTP Basic (any user name), so the
dashboard stays usable through `kubectl port-forward`.

Health paths (`PUBLIC_PATHS`) stay open for kubelet probes: they answer a bare
status, never mesh state.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web
from aiohttp.typedefs import Middleware

from xdscp.errors import UserError

__all__ = [
    "PUBLIC_PATHS",
    "TOKEN_ENV",
    "auth_headers",
    "check_exposure",
    "is_loopback",
    "load_token",
    "token_middleware",
]

TOKEN_ENV = "XDSCP_DEBUG_TOKEN"
MIN_TOKEN_LENGTH = 16
# Probes must keep working with a token configured, and answer nothing about the mesh.
PUBLIC_PATHS = frozenset({"/healthz", "/ready"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def is_loopback(host: str) -> bool:
    """True only for addresses no other machine can reach: 127.0.0.0/8, ::1, localhost.
    An empty host, 0.0.0.0, :: or any other name binds (or may resolve) elsewhere."""
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def load_token(token_file: Path | None, environ: dict[str, str] | None = None) -> str | None:
    """The debug token from `token_file`, else from $XDSCP_DEBUG_TOKEN, else None."""
    env = os.environ if environ is None else environ
    if token_file is not None:
        try:
            token = token_file.read_text().strip()
        except OSError as exc:
            raise UserError(
                f"cannot read debug token file {token_file}: {exc.strerror or exc}",
                "check --debug-token-file",
            ) from None
        except UnicodeDecodeError:
            raise UserError(
                f"debug token file {token_file} is not text", "write the token as text"
            ) from None
        source = f"debug token file {token_file}"
    else:
        token = env.get(TOKEN_ENV, "").strip()
        if not token:
            return None
        source = f"${TOKEN_ENV}"
    if len(token) < MIN_TOKEN_LENGTH or any(c.isspace() for c in token):
        raise UserError(
            f"{source} must hold one word of at least {MIN_TOKEN_LENGTH} characters",
            "generate one with `openssl rand -hex 32`",
        )
    return token


def check_exposure(listen: str, token: str | None) -> None:
    """Refuse to serve the debug port on a non-loopback address without a token."""
    host = listen.rpartition(":")[0] if ":" in listen else listen
    if token is None and not is_loopback(host):
        raise UserError(
            f"--debug {listen} would show the whole mesh to the network without a token",
            f"pass --debug-token-file FILE or set {TOKEN_ENV}, or bind --debug to 127.0.0.1",
        )


def _presented_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2]
    return None


def token_middleware(token: str) -> Middleware:
    """An aiohttp middleware letting through only requests that carry `token`."""
    expected = token.encode()

    @web.middleware
    async def require_token(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in PUBLIC_PATHS:
            return await handler(request)
        presented = _presented_token(request)
        if presented is None or not hmac.compare_digest(presented.encode(), expected):
            response = web.json_response(
                {
                    "error": "this debug endpoint needs 'Authorization: Bearer <token>' "
                    f"(xdscp commands send ${TOKEN_ENV})"
                },
                status=401,
            )
            response.headers.add("WWW-Authenticate", 'Bearer realm="xdscp"')
            response.headers.add("WWW-Authenticate", 'Basic realm="xdscp debug"')
            return response
        return await handler(request)

    return require_token


def auth_headers(token: str | None = None) -> dict[str, str]:
    """Headers a debug-API client (explain, proxy-status, proxy-config, ...) sends:
    `token`, else $XDSCP_DEBUG_TOKEN, else none (a loopback server needs none)."""
    token = token or os.environ.get(TOKEN_ENV, "").strip()
    return {"Authorization": f"Bearer {token}"} if token else {}
