"""`GET /debug/explain`: `xdscp explain` over the running control plane's own translation
(the resources its proxies receive), for the CLI's default mode and the dashboard's
explain form.

Query: `from=NAMESPACE/NAME` (the calling workload), `url=http://host[:port]/path?q` or
`tcp://host:port`, optional `method=GET`, `header=name:value` (repeatable), `sni=`
(TCP). Answers 200 with the explanation as JSON:

    {"source", "identity", "protocol", "method", "url", "authority", "path", "headers",
     "listener": {"name", "address", "protocol", "filter_chain", "route_config", "sources"},
     "route": null | {"virtual_host", "domain", "name", "object", "rule", "action",
                      "skipped": [{"route", "object", "rule", "failed": [str],
                                   "delegate", "delegate_rule"}],
                      "status", "location", "timeout", "retries", "fault", "mirrors",
                      "hash_policy", "upstream_path", "upstream_authority",
                      "delegate", "delegate_rule"},
     "destinations": [{"cluster", "weight", "share", "service", "port", "subset", "sources",
                       "tls": {"mode", "decided_by", "reason", "sni"},
                       "endpoints": [{"address", "port", "weight", "workload", "tls",
                                      "inbound": null | {"workload", "listener",
                                        "filter_chain", "peer_authentication",
                                        "peer_authentication_sources", "peer", "verdict",
                                        "reason", "rbac": [{"action", "verdict",
                                        "matched": [{"policy", "object", "rule"}],
                                        "dry_run": [...], "policies": [str],
                                        "missed": [str], "reached"}]}}]}],
     "outcomes": [{"result", "share", "status", "status_class", "cluster", "detail"}],
     "notes": [str]}

A route from a delegate VirtualService names the root in `object` and its rule in
`rule` (`http[i]`), the delegate in `delegate` (`VirtualService/ns/name`) and its rule
in `delegate_rule` (`http[j]`, with the rule's name); both are "" otherwise.
`share`s are percents; `outcomes` are every way the request can end (fault aborts,
each weighted cluster, authorization denials), their shares summing to 100.
A question it cannot answer (unknown workload or host, bad URL) is 400 with
`{"error": "<one line>"}`; before the first configuration is loaded, 503.
The explanation runs off the event loop (xdscp/debug/worker.py), so xDS pushes
go on meanwhile; one that takes longer than the worker's bound (20 s) is 503 with
`{"error": ...}` saying so (its work goes on, so asking again is quicker).
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from dataclasses import replace

from aiohttp import web

from translators.explain import ExplainError, explain, parse_request
from translators.translate import MeshTranslator
from xdscp.debug.worker import DebugWorker, WorkerTimeout

_pretty = functools.partial(json.dumps, indent=2)


def explain_routes(
    translator: Callable[[], MeshTranslator | None], worker: DebugWorker | None = None
) -> list[web.RouteDef]:
    """The route, reading the current generation's translator on every request; the
    explanation itself runs on `worker`'s thread, off the event loop."""
    worker = worker or DebugWorker()

    async def handler(request: web.Request) -> web.Response:
        """`GET /debug/explain`: the path of one request as Envoy will take it
        (?from=NS/NAME&url=URL[&method=&header=k:v&sni=])."""
        current = translator()
        if current is None:
            return web.json_response(
                {"error": "no mesh configuration loaded yet"}, status=503, dumps=_pretty
            )
        query = request.query
        try:
            if "from" not in query or "url" not in query:
                raise ExplainError("expected ?from=NAMESPACE/NAME&url=http://host:port/path")
            asked = parse_request(
                query["from"],
                query["url"],
                query.get("method", "GET"),
                query.getall("header", []),
                query.get("sni") or None,
            )
            asked = replace(asked, at=time.time())  # a JWT's expiry, judged as of now
            answer = await worker.run(current, functools.partial(explain, request=asked))
        except ExplainError as exc:
            return web.json_response({"error": str(exc)}, status=400, dumps=_pretty)
        except WorkerTimeout as exc:
            return web.json_response({"error": str(exc)}, status=503, dumps=_pretty)
        return web.json_response(answer.to_json(), dumps=_pretty)

    return [web.get("/debug/explain", handler)]
