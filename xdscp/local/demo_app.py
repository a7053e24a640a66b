"""The demo application each local workload runs: it answers with who it is, so a
caller can see where the mesh sent it (and, under mTLS, who called it)."""

from __future__ import annotations

import json

from aiohttp import web

# Trace context a sidecar's tracer adds (B3 for Zipkin, W3C for OpenTelemetry and Zipkin).
TRACE_HEADERS = ("traceparent", "tracestate", "x-b3-traceid", "x-b3-spanid", "x-b3-sampled")


def demo_app(workload: str, namespace: str, labels: dict[str, str]) -> web.Application:
    async def handle(request: web.Request) -> web.Response:
        body = {
            "workload": workload,
            "namespace": namespace,
            "version": labels.get("version", ""),
            "path": request.path_qs,
            "host": request.host,
            "caller": request.headers.get("x-forwarded-client-cert", ""),
            # what the mesh propagated: one request ID end to end, and the trace context
            "request_id": request.headers.get("x-request-id", ""),
            "trace": {h: request.headers[h] for h in TRACE_HEADERS if h in request.headers},
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
