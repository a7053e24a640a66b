"""The demo application each local workload runs: it answers with who it is, so a
caller can see where the mesh sent it (and, under mTLS, who called it), and the request
as it arrived (path, authority, headers), so header edits and rewrites are visible.

A few switches let tests make a backend misbehave, the way traffic-management features
need (timeouts, retries, outlier detection), without a second kind of app:

* `?status=<code>` answers with that status;
* `?delay=<seconds>` waits first (at most 10 s);
* `?fail=<version-or-workload>` answers 500 if it names this workload or its version,
  so one endpoint of a service can fail while the others work;
* a path starting with `/flaky` fails (503) every other request, counted per path;
* `GET /_seen` lists the last requests received (newest last): a mirror target shows
  its copies there.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter, deque

from aiohttp import web

MAX_DELAY_S = 10.0
SEEN = 200  # requests remembered for /_seen

# Trace context a sidecar's tracer adds (B3 for Zipkin, W3C for OpenTelemetry and Zipkin).
TRACE_HEADERS = ("traceparent", "tracestate", "x-b3-traceid", "x-b3-spanid", "x-b3-sampled")


def demo_app(workload: str, namespace: str, labels: dict[str, str]) -> web.Application:
    seen: deque[dict[str, str]] = deque(maxlen=SEEN)
    flaky: Counter[str] = Counter()
    version = labels.get("version", "")

    async def handle(request: web.Request) -> web.Response:
        if request.path == "/_seen":
            return web.json_response(list(seen))
        seen.append({"method": request.method, "path": request.path_qs, "host": request.host})
        query = request.query
        if "delay" in query:
            await asyncio.sleep(min(float(query["delay"]), MAX_DELAY_S))
        status = int(query.get("status", "200"))
        if query.get("fail") in (workload, version) and query.get("fail"):
            status = 500
        if request.path.startswith("/flaky"):
            flaky[request.path] += 1
            if flaky[request.path] % 2:
                status = 503
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
            "headers": {k.lower(): v for k, v in request.headers.items()},
        }
        return web.Response(
            text=json.dumps(body) + "\n", status=status, content_type="application/json"
        )

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
