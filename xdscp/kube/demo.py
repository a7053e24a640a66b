"""The demo workload of the kind examples (`python -m xdscp.kube.demo`).

`serve` answers like the local demo app (name, namespace, version, caller), so a
caller sees where the mesh sent it; `call` sends N requests and prints how many
reached each version — the smoke check's split — or why none got through.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import sys
import urllib.error
import urllib.request

from aiohttp import web

from xdscp.local.demo_app import demo_app


async def _serve(host: str, port: int) -> None:
    labels = {"version": os.environ.get("VERSION", "")}
    app = demo_app(os.environ.get("POD_NAME", "demo"), os.environ.get("POD_NAMESPACE", ""), labels)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    print(f"demo app on {host}:{port}", file=sys.stderr)
    await asyncio.Event().wait()


def _call(url: str, host: str, count: int, timeout: float) -> int:
    versions: collections.Counter[str] = collections.Counter()
    failures: collections.Counter[str] = collections.Counter()
    for _ in range(count):
        request = urllib.request.Request(url, headers={"Host": host} if host else {})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                body = json.loads(response.read())
                versions[body.get("version") or body.get("workload") or "?"] += 1
        except urllib.error.HTTPError as exc:
            failures[f"HTTP {exc.code}"] += 1
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            failures[type(reason).__name__ if not isinstance(reason, str) else reason] += 1
    for version, n in sorted(versions.items()):
        print(f"{version}: {n}/{count} ({100 * n / count:.0f}%)")
    for failure, n in sorted(failures.items()):
        print(f"refused/failed ({failure}): {n}/{count}")
    return 0 if versions else 1


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="demo")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=18080)
    call = sub.add_parser("call")
    call.add_argument("url")
    call.add_argument("--host-header", default="")
    call.add_argument("--count", type=int, default=100)
    call.add_argument("--timeout", type=float, default=3.0)
    args = parser.parse_args(argv)
    if args.command == "serve":
        asyncio.run(_serve(args.host, args.port))
    else:
        sys.exit(_call(args.url, args.host_header, args.count, args.timeout))


if __name__ == "__main__":
    main()
