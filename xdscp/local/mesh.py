"""The local mesh behind `xdscp up`: one real Envoy sidecar and one demo app per
WorkloadEntry, each on its own loopback address, all fed by one control plane."""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
from aiohttp import web

from translators.ir import Direction
from translators.mesh import Workload
from translators.naming import ADMIN_PORT, STATS_PATH, STATS_PORT
from translators.translate import MeshTranslator
from xdscp.bootstrap import bootstrap_config
from xdscp.local.demo_app import start_demo_app
from xdscp.local.envoy_process import EnvoyProcess, start_envoy, wait_ready
from xdscp.service import ControlPlane

log = structlog.get_logger()

INJECT_ANNOTATION = "sidecar.istio.io/inject"


def wants_sidecar(workload: Workload) -> bool:
    return bool(workload.address) and workload.annotations.get(INJECT_ANNOTATION, "true") != "false"


@dataclass
class LocalWorkload:
    workload: Workload
    admin: str
    outbound: list[str]
    inbound: list[str]
    apps: list[str]
    envoy: EnvoyProcess | None = None

    def row(self) -> dict[str, Any]:
        return {
            "workload": self.workload.key,
            "address": self.workload.address,
            "labels": dict(self.workload.labels),
            "admin": self.admin,
            "call_through": self.outbound,
            "inbound": self.inbound,
            "apps": self.apps,
            "envoy_pid": self.envoy.pid if self.envoy else None,
            "stats": f"http://{self.workload.address}:{STATS_PORT}{STATS_PATH}",
            "access_log": str(self.envoy.access_log_path) if self.envoy else None,
        }


@dataclass
class LocalMesh:
    control_plane: ControlPlane
    run_dir: Path
    workloads: list[LocalWorkload] = field(default_factory=list)
    _apps: list[web.AppRunner] = field(default_factory=list)
    delta: bool = False  # sidecars use delta ADS (and so VHDS)

    async def start(self, ready_timeout: float = 30.0) -> None:
        mesh = self.control_plane.runtime.mesh
        if mesh is None:
            raise RuntimeError("control plane has no mesh loaded")
        translator = MeshTranslator(mesh)
        xds_host, xds_port = self.control_plane.xds_address
        try:
            for workload in mesh.workloads.values():
                if not wants_sidecar(workload):
                    continue
                view = translator.view(workload)
                inbound_clusters = {
                    c.name: c for c in view.destinations if c.name.startswith("inbound|")
                }
                local = LocalWorkload(
                    workload=workload,
                    admin=f"http://{workload.address}:{ADMIN_PORT}",
                    outbound=[
                        f"{li.address}:{li.port}"
                        for li in view.listeners
                        if li.direction is Direction.OUTBOUND
                    ],
                    inbound=[
                        f"{li.address}:{li.port}"
                        for li in view.listeners
                        if li.direction is Direction.INBOUND
                    ],
                    apps=[],
                )
                for cluster in inbound_clusters.values():
                    for endpoint in cluster.endpoints:
                        self._apps.append(
                            await start_demo_app(
                                workload.name,
                                workload.namespace,
                                dict(workload.labels),
                                endpoint.address,
                                endpoint.port,
                            )
                        )
                        local.apps.append(f"{endpoint.address}:{endpoint.port}")
                workdir = self.run_dir / f"{workload.namespace}.{workload.name}"
                credentials = None
                if not self.control_plane.insecure:
                    credentials = self.control_plane.identity.write_bootstrap_credentials(
                        workload, workdir
                    )
                bootstrap = bootstrap_config(
                    workload, xds_host, xds_port, credentials=credentials, delta=self.delta
                )
                local.envoy = start_envoy(workload.key, bootstrap, workdir, local.admin)
                self.workloads.append(local)
            await asyncio.gather(
                *(wait_ready(w.envoy, ready_timeout) for w in self.workloads if w.envoy)
            )
        except BaseException:
            await self.stop()
            raise

    def state(self) -> dict[str, Any]:
        host, port = self.control_plane.xds_address
        return {
            "xds": f"{host}:{port}",
            "debug": self.control_plane.debug_url,
            "workloads": [w.row() for w in self.workloads],
        }

    def write_state(self, path: Path) -> None:
        # Written aside and renamed into place: whoever waits for the file (a script, the
        # e2e harness) never reads it half-written.
        partial = path.with_name(f".{path.name}.partial")
        partial.write_text(json.dumps(self.state(), indent=2) + "\n")
        os.replace(partial, path)

    async def stop(self) -> None:
        for local in self.workloads:
            if local.envoy is not None:
                await asyncio.to_thread(local.envoy.stop)
        for runner in self._apps:
            await runner.cleanup()
        self._apps.clear()


def render_table(state: dict[str, Any]) -> str:
    rows = [("WORKLOAD", "ADDRESS", "LABELS", "CALL THROUGH", "INBOUND", "APP", "ENVOY ADMIN")]
    for w in state["workloads"]:
        rows.append(
            (
                w["workload"],
                w["address"],
                ",".join(f"{k}={v}" for k, v in sorted(w["labels"].items())),
                " ".join(w["call_through"]) or "-",
                " ".join(w["inbound"]) or "-",
                " ".join(w["apps"]) or "-",
                w["admin"],
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(r)).rstrip() for r in rows]
    return "\n".join(lines)
