"""`GET /debug/describe?workload=NS/NAME`: what applies to one workload, in the live mesh.

The same `translators.describe` the CLI runs on a directory (`xdscp describe -f DIR`),
here over the MeshConfig the control plane is serving right now.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiohttp import web

from translators.analysis import Analysis
from translators.describe import UnknownWorkload, describe_workload, find_workload
from translators.mesh import MeshConfig


def describe_routes(
    current_mesh: Callable[[], MeshConfig | None],
    analysis_of: Callable[[MeshConfig], Analysis | None] = lambda mesh: None,
) -> list[web.RouteDef]:
    """The route for `make_debug_app(extra_routes=...)`; `current_mesh` reads the live mesh,
    `analysis_of` the service's analysis of it if it has one (else it is computed here, off
    the event loop)."""

    async def handler(request: web.Request) -> web.Response:
        """`GET /debug/describe`: every object that applies to one workload (?workload=NS/NAME)"""
        mesh = current_mesh()
        if mesh is None:
            return web.json_response({"error": "no mesh configuration loaded yet"}, status=503)
        name = request.query.get("workload", "")
        if not name:
            return web.json_response({"workloads": sorted(mesh.workloads)})
        try:
            workload = find_workload(mesh, name)
        except UnknownWorkload as error:
            return web.json_response({"error": str(error)}, status=404)
        described = await asyncio.to_thread(describe_workload, mesh, workload, analysis_of(mesh))
        return web.json_response(described)

    return [web.get("/debug/describe", handler)]
