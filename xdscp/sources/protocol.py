"""What the control plane needs from a config source, and nothing more.

The file source (`DirectorySource`) and the Kubernetes source (`KubernetesSource`, as
`xdscp serve --kubernetes` wraps it) both implement it: the plane loads once before
serving, runs the watcher, reads its health for `/ready` and metrics, and asks it to
blame the object that breaks a proxy's translation. Each mesh a source hands over is
built from the previous one with `MeshConfig.delta` saying what changed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from translators.extensions import ExtensionSet
from translators.mesh import MeshConfig
from translators.model.objects import MeshObject
from xdscp.sources.health import SourceHealth

OnUpdate = Callable[[MeshConfig], Awaitable[None]]


class ConfigSource(Protocol):
    @property
    def health(self) -> SourceHealth:
        """Alive and keeping up? (`/ready`, `xdscp_config_source_up`)."""
        ...

    def load(self) -> MeshConfig:
        """The whole mesh now (before serving, and after a rejection by `blame`)."""
        ...

    async def run(
        self, on_update: OnUpdate, stop: asyncio.Event | None = None, initial: bool = True
    ) -> None:
        """Hand `on_update` the mesh (unless `initial` is False: the caller loaded it),
        then one mesh per settled batch of changes, until `stop`."""
        ...

    def unavailable(self) -> str:
        """Why the source cannot be read at all right now ("" when it can)."""
        ...

    def blame(
        self, mesh: MeshConfig, workload_key: str, extensions: ExtensionSet | None = None
    ) -> list[MeshObject[Any]]:
        """The objects of `mesh` that make `workload_key`'s translation fail, rejected
        from now on (their last good versions stay); empty when none is to blame."""
        ...
