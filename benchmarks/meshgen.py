"""Synthetic meshes for benchmarks: N services, each with two workloads (v1, v2), a
90/10 VirtualService and a two-subset DestinationRule — the canary, N times."""

from __future__ import annotations

from typing import Any

from translators.mesh import MeshConfig, MeshOptions, build_mesh
from translators.model.objects import MeshObject, Origin, parse_object


def service_docs(i: int) -> list[dict[str, Any]]:
    name = f"svc-{i}"
    base = 10 + i // 250
    return [
        {
            "apiVersion": "networking.istio.io/v1beta1",
            "kind": "ServiceEntry",
            "metadata": {"name": name},
            "spec": {
                "hosts": [name],
                "location": "MESH_INTERNAL",
                "resolution": "STATIC",
                "ports": [{"number": 8080, "name": "http", "protocol": "HTTP"}],
                "workloadSelector": {"labels": {"app": name}},
            },
        },
        *(
            {
                "apiVersion": "networking.istio.io/v1beta1",
                "kind": "WorkloadEntry",
                "metadata": {"name": f"{name}-{v}"},
                "spec": {
                    "address": f"127.{base}.{(i % 250)}.{1 + n}",
                    "labels": {"app": name, "version": v},
                },
            }
            for n, v in enumerate(("v1", "v2"))
        ),
        virtual_service(i, 90),
        {
            "apiVersion": "networking.istio.io/v1alpha3",
            "kind": "DestinationRule",
            "metadata": {"name": name},
            "spec": {
                "host": name,
                "subsets": [
                    {"name": "v1", "labels": {"version": "v1"}},
                    {"name": "v2", "labels": {"version": "v2"}},
                ],
            },
        },
    ]


def virtual_service(i: int, v1_weight: int) -> dict[str, Any]:
    name = f"svc-{i}"
    return {
        "apiVersion": "networking.istio.io/v1alpha3",
        "kind": "VirtualService",
        "metadata": {"name": name},
        "spec": {
            "hosts": [name],
            "http": [
                {
                    "route": [
                        {"destination": {"host": name, "subset": "v1"}, "weight": v1_weight},
                        {"destination": {"host": name, "subset": "v2"}, "weight": 100 - v1_weight},
                    ]
                }
            ],
        },
    }


CLIENT = {
    "apiVersion": "networking.istio.io/v1beta1",
    "kind": "WorkloadEntry",
    "metadata": {"name": "client"},
    "spec": {"address": "127.9.0.1", "labels": {"app": "client"}},
}


def parse(doc: dict[str, Any]) -> MeshObject[Any]:
    parsed = parse_object(doc, Origin("bench"))
    assert not isinstance(parsed, list), parsed
    return parsed


def mesh_objects(services: int) -> list[MeshObject[Any]]:
    return [parse(d) for i in range(services) for d in service_docs(i)] + [parse(CLIENT)]


def synthetic_mesh(services: int) -> MeshConfig:
    return build_mesh(mesh_objects(services), options=MeshOptions(local_mode=True))
