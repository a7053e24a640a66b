"""The debug HTTP server: what each proxy runs, what it rejected, and metrics.

Kept apart from the xDS port on purpose: it is plaintext, for operators and
Prometheus, and must never be reachable by proxies as a config channel.
Components that are not the xDS server (config errors of the sources, the CA)
add their own endpoints through `extra_routes`, so this module does not need
to know them.

Conventions every endpoint gets for free:

* `GET /debug` lists every path with the first line of its handler's docstring
  (a leading "`GET /path`: " is dropped), so give each handler a docstring.
* JSON answers are pretty-printed (indent 2) for `curl` in a terminal, whatever
  `json.dumps` the handler used.
* With a token (`xdscp.debug.auth`) everything but the health paths needs it;
  `GET /healthz` is always open and says nothing about the mesh.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable

import structlog
from aiohttp import web
from aiohttp.typedefs import Middleware
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from xdscp.debug.auth import Handler, check_exposure, token_middleware
from xdscp.errors import AddressUnavailable
from xdscp.server.status import StatusBook

_log = structlog.get_logger(__name__)

STATUS_KEY = web.AppKey("xdscp_status", StatusBook)
REGISTRY_KEY = web.AppKey("xdscp_registry", CollectorRegistry)


async def _proxies(request: web.Request) -> web.Response:
    """`GET /debug/proxies[?proxy=<key>]`: per proxy and type, sent/acked versions and NACKs."""
    status = request.app[STATUS_KEY]
    return web.json_response(status.snapshot_json(request.query.get("proxy")))


async def _nacks(request: web.Request) -> web.Response:
    """`GET /debug/nacks`: only the proxies/types currently running older config."""
    status = request.app[STATUS_KEY]
    return web.json_response(
        [{"proxy": n.proxy, "node_id": n.node_id, **n.to_json()} for n in status.nacks()]
    )


async def _metrics(request: web.Request) -> web.Response:
    """`GET /metrics`: Prometheus metrics (xDS pushes, NACKs, proxies, push-to-ACK time)."""
    body = generate_latest(request.app[REGISTRY_KEY])
    response = web.Response(body=body)
    # CONTENT_TYPE_LATEST carries a charset parameter, which aiohttp refuses in
    # `content_type=`; set the header verbatim.
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response


async def _healthz(request: web.Request) -> web.Response:
    """`GET /healthz`: liveness, "ok" while the process serves; open even with a token."""
    return web.Response(text="ok\n")


# For handlers without a docstring of their own (closures made by other components).
_DESCRIPTIONS = {
    "/": "the dashboard: mesh graph, proxy sync state, NACKs, analysis, explain form",
    "/ready": "readiness: 200 once config is loaded and the sources are healthy",
    "/debug/analysis": "analysis messages of the current config (?object=Kind/ns/name)",
    "/debug/explain": "the path of one request (?from=NS/NAME&url=URL[&method=&header=])",
}


def _describe(path: str, handler: object) -> str:
    doc = (getattr(handler, "__doc__", None) or "").strip()
    line = doc.splitlines()[0].strip() if doc else ""
    if line.startswith("`") and "`:" in line:
        line = line.split("`:", 1)[1].strip()
    elif line.startswith("`") and line.endswith("`"):  # only a usage line
        line = ""
    return line or _DESCRIPTIONS.get(path, "")


async def _index(request: web.Request) -> web.Response:
    """`GET /debug`: this list of endpoints, one line each."""
    endpoints: dict[str, str] = {}
    for route in request.app.router.routes():
        if route.resource is None or route.method not in ("GET", "*"):
            continue
        path = route.resource.canonical
        endpoints[path] = endpoints.get(path) or _describe(path, route.handler)
    return web.json_response(
        [{"path": path, "description": endpoints[path]} for path in sorted(endpoints)]
    )


# Above this, an answer is for a program, not a terminal: not worth parsing it twice.
_PRETTY_MAX_BYTES = 8 * 1024 * 1024


@web.middleware
async def _pretty_json(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Indent JSON answers, so `curl` output reads in a terminal."""
    response = await handler(request)
    if (
        isinstance(response, web.Response)
        and response.content_type == "application/json"
        and isinstance(response.body, bytes)
        and len(response.body) <= _PRETTY_MAX_BYTES
        and not response.body.startswith((b"{\n", b"[\n"))
    ):
        try:
            value = json.loads(response.body)
        except ValueError:
            return response
        response.body = (json.dumps(value, indent=2) + "\n").encode()
    return response


def make_debug_app(
    status: StatusBook,
    registry: CollectorRegistry,
    extra_routes: Iterable[web.AbstractRouteDef] = (),
    token: str | None = None,
) -> web.Application:
    """The aiohttp app (without a listener), for embedding or aiohttp's test client.

    `extra_routes` takes `web.get(path, handler)` definitions or a
    `web.RouteTableDef`; handlers reach the book and registry through
    `request.app[STATUS_KEY]` / `request.app[REGISTRY_KEY]`. With `token`, every
    path except the health paths needs it (`xdscp.debug.auth`).
    """
    middlewares: list[Middleware] = [_pretty_json]
    if token is not None:
        middlewares.insert(0, token_middleware(token))
    app = web.Application(middlewares=middlewares)
    app[STATUS_KEY] = status
    app[REGISTRY_KEY] = registry
    app.add_routes(
        [
            web.get("/healthz", _healthz),
            web.get("/debug", _index),
            web.get("/debug/proxies", _proxies),
            web.get("/debug/nacks", _nacks),
            web.get("/metrics", _metrics),
        ]
    )
    app.add_routes(list(extra_routes))
    return app


async def start_debug_server(
    status: StatusBook,
    registry: CollectorRegistry,
    listen: str = "127.0.0.1:15014",
    extra_routes: Iterable[web.AbstractRouteDef] = (),
    token: str | None = None,
) -> tuple[web.AppRunner, int]:
    """Serve the debug app on `listen` ("host:port", port 0 = ephemeral).

    Refuses (`UserError`) a non-loopback `listen` without `token`. Returns the runner
    (call `await runner.cleanup()` to stop) and the bound port.
    """
    check_exposure(listen, token)
    host, _, port_text = listen.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    runner = web.AppRunner(
        make_debug_app(status, registry, extra_routes, token=token), access_log=None
    )
    await runner.setup()
    site = web.TCPSite(runner, host, int(port_text))
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise AddressUnavailable("the debug endpoint", listen, reason, "--debug") from exc
    except BaseException:
        await runner.cleanup()
        raise
    port = _bound_port(runner, int(port_text))
    _log.info("debug.server_started", listen=f"{host}:{port}")
    return runner, port


def _bound_port(runner: web.AppRunner, requested: int) -> int:
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            return int(address[1])
    return requested
