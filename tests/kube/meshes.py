"""One mesh written twice: as a Kubernetes cluster would hold it (Service, EndpointSlice,
Pods + the Istio objects of examples/canary) and as the file-mode equivalent
(ServiceEntry + WorkloadEntries + the same Istio objects)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
CANARY = ROOT / "examples" / "canary"

PODS = {
    # name: (ip, service account, labels)
    "client": ("10.244.0.10", "client", {"app": "client"}),
    "order-v1": ("10.244.0.11", "order-service", {"app": "order-service", "version": "v1"}),
    "order-v2": ("10.244.0.12", "order-service", {"app": "order-service", "version": "v2"}),
}


def load_docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def istio_docs() -> list[dict[str, Any]]:
    return load_docs(CANARY / "routing.yaml") + load_docs(CANARY / "sidecars.yaml")


def pod(name: str, namespace: str = "default", ip: str | None = None) -> dict[str, Any]:
    address, account, labels = PODS[name]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        # as `xdscp inject` leaves it: the translators give it mesh mTLS (auto-mTLS)
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": dict(labels),
            "annotations": {"xdscp.io/injected": "true"},
        },
        "spec": {
            "serviceAccountName": account,
            "containers": [
                {"name": "app", "image": "demo", "ports": [{"name": "http", "containerPort": 8080}]}
            ],
        },
        "status": {"phase": "Running", "podIP": ip or address},
    }


def service(name: str = "order-service", namespace: str = "default") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "selector": {"app": name},
            "ports": [{"name": "http", "port": 8080, "targetPort": 8080, "protocol": "TCP"}],
        },
    }


def endpoint_slice(
    pods: list[str], name: str = "order-service-x7k2p", ready: bool = True
) -> dict[str, Any]:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": name,
            "namespace": "default",
            "labels": {"kubernetes.io/service-name": "order-service"},
        },
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": [
            {
                "addresses": [PODS[p][0]],
                "conditions": {"ready": ready},
                "targetRef": {"kind": "Pod", "name": p, "namespace": "default"},
            }
            for p in pods
        ],
    }


def namespace(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def cluster_docs() -> list[dict[str, Any]]:
    return [
        namespace("default"),
        service(),
        *(pod(n) for n in PODS),
        endpoint_slice(["order-v1", "order-v2"]),
        *istio_docs(),
    ]


def file_mode_docs() -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = [
        {
            "apiVersion": "networking.istio.io/v1beta1",
            "kind": "ServiceEntry",
            "metadata": {"name": "order-service", "namespace": "default"},
            "spec": {
                "hosts": ["order-service"],
                "location": "MESH_INTERNAL",
                "resolution": "STATIC",
                "ports": [{"number": 8080, "name": "http", "protocol": "HTTP"}],
                "workloadSelector": {"labels": {"app": "order-service"}},
            },
        }
    ]
    for name, (address, account, labels) in PODS.items():
        entries.append(
            {
                "apiVersion": "networking.istio.io/v1beta1",
                "kind": "WorkloadEntry",
                "metadata": {"name": name, "namespace": "default"},
                "spec": {"address": address, "serviceAccount": account, "labels": labels},
            }
        )
    return istio_docs() + entries
