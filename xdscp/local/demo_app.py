"""The demo application each local workload runs: it answers with who it is, so a
caller can see where the mesh sent it (and, under mTLS, who called it)."""

from __future__ import annotations

import json

from aiohttp import web


def demo_app(workload: str, namespace: str, labels: dict[str, str]) -> web.Application:
    async def handle(request: web.Request) -> web.Response:
        body = {
            "workload": workload,
            "namespace": namespace,
            "version": labels.get("version", ""),
            "path": request.path_qs,
            "host": request.host,
            "caller": request.headers.get("x-forwarded-client-cert", ""),
        }
        return web.Response(text=json.dumps(body) + "\n", content_type="application/json")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


async def start_demo_app(
    workload: str, namespace: str, labels: dict[str, str], host: str, port: int
) -> web.AppRunner:
    runner = web.AppRunner(demo_app(workload, namespace, labels), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port, reuse_address=True).start()
    return runner
