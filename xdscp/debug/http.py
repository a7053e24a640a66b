"""The debug HTTP server: what each proxy runs, what it rejected, and metrics.

Kept apart from the xDS port on purpose: it is plaintext, for operators and
Prometheus, and must never be reachable by proxies as a config channel.
Components that are not the xDS server (config errors of the sources, the CA)
add their own endpoints through `extra_routes`, so this module does not need
to know them.
"""

from __future__ import annotations

from collections.abc import Iterable

import structlog
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

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
    body = generate_latest(request.app[REGISTRY_KEY])
    response = web.Response(body=body)
    # CONTENT_TYPE_LATEST carries a charset parameter, which aiohttp refuses in
    # `content_type=`; set the header verbatim.
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response


async def _index(request: web.Request) -> web.Response:
    paths = sorted(
        {r.resource.canonical for r in request.app.router.routes() if r.resource is not None}
    )
    return web.json_response(paths)


def make_debug_app(
    status: StatusBook,
    registry: CollectorRegistry,
    extra_routes: Iterable[web.AbstractRouteDef] = (),
) -> web.Application:
    """The aiohttp app (without a listener), for embedding or aiohttp's test client.

    `extra_routes` takes `web.get(path, handler)` definitions or a
    `web.RouteTableDef`; handlers reach the book and registry through
    `request.app[STATUS_KEY]` / `request.app[REGISTRY_KEY]`.
    """
    app = web.Application()
    app[STATUS_KEY] = status
    app[REGISTRY_KEY] = registry
    app.add_routes(
        [
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
) -> tuple[web.AppRunner, int]:
    """Serve the debug app on `listen` ("host:port", port 0 = ephemeral).

    Returns the runner (call `await runner.cleanup()` to stop) and the bound port.
    """
    host, _, port_text = listen.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    runner = web.AppRunner(make_debug_app(status, registry, extra_routes), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, int(port_text))
    try:
        await site.start()
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
