"""Test meshes for the analysis: one healthy base mesh (a bookinfo-like shop in namespace
`shop`, a client in `web`) and, per mistake, the edit that makes it, with the exact
messages it must produce. Written as dicts so a case is a small edit of the base."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

Doc = dict[str, Any]
NET = "networking.istio.io/v1beta1"
SEC = "security.istio.io/v1beta1"


def _obj(kind: str, name: str, namespace: str, spec: Doc, api: str = NET) -> Doc:
    return {
        "apiVersion": api,
        "kind": kind,
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def service(name: str, namespace: str, ports: list[Doc] | None = None, **extra: Any) -> Doc:
    spec: Doc = {
        "hosts": [name],
        "location": "MESH_INTERNAL",
        "resolution": "STATIC",
        "ports": ports or [{"number": 9080, "name": "http", "protocol": "HTTP"}],
        "workloadSelector": {"labels": {"app": name}},
    }
    spec.update(extra)
    return _obj("ServiceEntry", name, namespace, spec)


def workload(name: str, namespace: str, address: str, sa: str, **labels: str) -> Doc:
    return _obj(
        "WorkloadEntry",
        name,
        namespace,
        {"address": address, "serviceAccount": sa, "labels": labels},
    )


def base() -> list[Doc]:
    """Healthy: analyzes clean. reviews v1/v2 (90/10) and ratings in `shop`, a frontend in
    `web` calling them, STRICT mTLS in `shop`, an AuthorizationPolicy on ratings."""
    return [
        service("reviews", "shop"),
        service("ratings", "shop"),
        workload("reviews-v1", "shop", "127.0.8.1", "reviews", app="reviews", version="v1"),
        workload("reviews-v2", "shop", "127.0.8.2", "reviews", app="reviews", version="v2"),
        workload("ratings-v1", "shop", "127.0.8.3", "ratings", app="ratings", version="v1"),
        workload("frontend", "web", "127.0.8.4", "frontend", app="frontend"),
        _obj(
            "DestinationRule",
            "reviews",
            "shop",
            {
                "host": "reviews",
                "subsets": [
                    {"name": "v1", "labels": {"version": "v1"}},
                    {"name": "v2", "labels": {"version": "v2"}},
                ],
            },
        ),
        _obj(
            "VirtualService",
            "reviews",
            "shop",
            {
                "hosts": ["reviews"],
                "http": [
                    {
                        "match": [{"headers": {"end-user": {"exact": "jason"}}}],
                        "route": [{"destination": {"host": "reviews", "subset": "v2"}}],
                    },
                    {
                        "route": [
                            {"destination": {"host": "reviews", "subset": "v1"}, "weight": 90},
                            {"destination": {"host": "reviews", "subset": "v2"}, "weight": 10},
                        ]
                    },
                ],
            },
        ),
        _obj("PeerAuthentication", "default", "shop", {"mtls": {"mode": "STRICT"}}, SEC),
        _obj(
            "AuthorizationPolicy",
            "ratings",
            "shop",
            {
                "selector": {"matchLabels": {"app": "ratings"}},
                "rules": [
                    {
                        "from": [
                            {"source": {"principals": ["cluster.local/ns/shop/sa/reviews"]}},
                            {"source": {"namespaces": ["web"]}},
                        ]
                    }
                ],
            },
            SEC,
        ),
        _obj(
            "Sidecar",
            "frontend",
            "web",
            {
                "workloadSelector": {"labels": {"app": "frontend"}},
                "egress": [
                    {
                        "port": {"number": 9080, "protocol": "HTTP", "name": "http"},
                        "hosts": ["shop/*"],
                    }
                ],
            },
        ),
    ]


def find(docs: list[Doc], kind: str, name: str, namespace: str = "shop") -> Doc:
    for doc in docs:
        meta = doc["metadata"]
        if doc["kind"] == kind and meta["name"] == name and meta["namespace"] == namespace:
            return doc
    raise KeyError(f"{kind}/{namespace}/{name}")


def vs_reviews(docs: list[Doc]) -> Doc:
    return find(docs, "VirtualService", "reviews")


def write_mesh(directory: Path, docs: list[Doc]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "mesh.yaml").write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return directory


# (code, object ref, field) a case must produce — exactly these, nothing else
Expected = tuple[str, str, str]


@dataclass(frozen=True)
class Case:
    name: str
    edit: Callable[[list[Doc]], None]
    expected: tuple[Expected, ...]
    extra: tuple[Doc, ...] = field(default=())

    def docs(self) -> list[Doc]:
        docs = copy.deepcopy(base())
        self.edit(docs)
        return docs + copy.deepcopy(list(self.extra))


def obj(kind: str, name: str, namespace: str, spec: Doc, api: str = NET) -> Doc:
    return _obj(kind, name, namespace, spec, api)
