"""The push benchmark's mesh: `benchmarks.meshgen`'s canary mesh of N services, but with
many client WorkloadEntries (`client-0` … `client-{M-1}`) instead of one, so that every
simulated ADS client is its own proxy with its own snapshot. And "the change": one
VirtualService's weights going from 90/10 to 50/50.

Both server processes and the driver build the mesh from the same two integers, so no
configuration has to cross a process boundary.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from benchmarks.meshgen import CLIENT, mesh_objects, parse, virtual_service
from benchmarks.serve_process import replace_file, route_file, route_text, write_mesh
from translators.mesh import MeshConfig, MeshOptions, build_mesh
from translators.model.objects import MeshObject

NAMESPACE = "default"
CHANGED_WEIGHT = 50  # v1 weight of the changed VirtualService (was 90)


def client_name(i: int) -> str:
    return f"client-{i}"


def client_entry(i: int) -> dict[str, Any]:
    """A client workload at its own 127.x address (config only: nothing binds it)."""
    return {
        "apiVersion": "networking.istio.io/v1beta1",
        "kind": "WorkloadEntry",
        "metadata": {"name": client_name(i)},
        "spec": {
            "address": f"127.{100 + i // 62_500}.{i // 250 % 250}.{1 + i % 250}",
            "labels": {"app": "client"},
        },
    }


def changed_service(services: int) -> int:
    """Index of the VirtualService that changes (one in the middle)."""
    return services // 2


def push_objects(services: int, clients: int, changed: bool = False) -> list[MeshObject[Any]]:
    """The objects of the benchmark mesh; `changed` applies the one VirtualService edit."""
    client_key = parse(CLIENT).key
    objects = [o for o in mesh_objects(services) if o.key != client_key]
    objects += [parse(client_entry(i)) for i in range(clients)]
    if changed:
        edited = parse(virtual_service(changed_service(services), CHANGED_WEIGHT))
        objects = [edited if o.key == edited.key else o for o in objects]
    return objects


def write_push_mesh(config: Path, services: int, clients: int) -> None:
    """The same mesh as YAML files, laid out as `benchmarks.serve_process` keeps it (one
    file per service, one per VirtualService), with the clients in `client.yaml`."""
    write_mesh(config, services)
    dumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    entries = [client_entry(i) for i in range(clients)]
    replace_file(config / "client.yaml", yaml.dump_all(entries, Dumper=dumper, sort_keys=False))


def rewrite_changed_route(config: Path, services: int, changed: bool) -> None:
    """The one VirtualService edit, as a user makes it: its file replaced by a rename."""
    i = changed_service(services)
    replace_file(route_file(config, i), route_text(i, CHANGED_WEIGHT if changed else 90))


def push_mesh(services: int, clients: int, changed: bool = False) -> MeshConfig:
    return build_mesh(
        push_objects(services, clients, changed), options=MeshOptions(local_mode=True)
    )
