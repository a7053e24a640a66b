"""Gateway API status written to Kubernetes (the fake API server, the real client, the
real StatusWriter): the Gateway's and listeners' conditions, a route's per-parent
conditions next to another controller's entry (kept as it was), reasons that change
with the mesh, and a steady mesh writing nothing."""

from __future__ import annotations

import asyncio
import contextlib
import copy
from collections.abc import AsyncIterator
from typing import Any

import yaml

from tests.kube.conftest import FAST
from tests.kube.fakeapi import FakeKube
from tests.kube.helpers import eventually
from tests.kube.meshes import cluster_docs, pod
from translators.gateway.attach import CONTROLLER_NAME, GATEWAY_NAME_LABEL
from translators.mesh import MeshConfig, MeshOptions
from translators.model.gateway_api import KUBERNETES_GATEWAY
from xdscp.kube.api import KubeApi
from xdscp.kube.status import StatusWriter
from xdscp.sources.kubernetes import KubernetesSource

OBJECTS = """\
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: xdscp}
spec: {controllerName: xdscp.io/gateway-controller}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: edge, namespace: default}
spec:
  gatewayClassName: xdscp
  listeners:
  - {name: http, port: 80, protocol: HTTP}
  - {name: dns, port: 53, protocol: UDP}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: orders, namespace: default}
spec:
  parentRefs: [{name: edge, sectionName: http}, {name: elsewhere, group: example.com, kind: Mesh}]
  rules: [{backendRefs: [{name: order-service, port: 8080}]}]
"""
OTHER_PARENT = {
    "parentRef": {"group": "example.com", "kind": "Mesh", "name": "elsewhere"},
    "controllerName": "example.com/mesh",
    "conditions": [
        {
            "type": "Accepted",
            "status": "True",
            "reason": "Accepted",
            "message": "theirs",
            "lastTransitionTime": "2024-01-01T00:00:00Z",
        }
    ],
}


def status(kube: FakeKube, kind: str, name: str) -> dict[str, Any]:
    obj = kube.get(kind, "default", name) or {}
    found: dict[str, Any] = obj.get("status") or {}
    return found


def conditions(entries: list[dict[str, Any]]) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in entries}


@contextlib.asynccontextmanager
async def running(kube: FakeKube, api: KubeApi) -> AsyncIterator[StatusWriter]:
    source = KubernetesSource(api, MeshOptions(), watch=FAST, log_errors=False)
    writer = StatusWriter(
        api, source, lambda: True, settle=0.02, namespace_labels=source.namespace_labels
    )

    async def on_update(mesh: MeshConfig) -> None:
        writer.mesh_updated(mesh)

    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(source.run(on_update, stop)),
        asyncio.create_task(writer.run(stop)),
    ]
    try:
        yield writer
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 10)


async def test_gateway_and_route_status_in_the_spec_shape(kube: FakeKube, api: KubeApi) -> None:
    proxy = pod("client", ip="10.244.0.50")
    proxy["metadata"]["name"] = "edge-proxy"
    proxy["metadata"]["labels"] = {GATEWAY_NAME_LABEL: "edge"}
    kube.apply_all([*cluster_docs(), proxy, *yaml.safe_load_all(OBJECTS)])
    route = kube.get("HTTPRoute", "default", "orders")
    assert route is not None
    route["status"] = {"parents": [OTHER_PARENT]}  # another controller wrote its entry
    kube.objects[("gateway.networking.k8s.io", "httproutes")][("default", "orders")] = route
    async with running(kube, api) as writer:
        await eventually(
            lambda: any(
                p.get("controllerName") == CONTROLLER_NAME
                for p in status(kube, "HTTPRoute", "orders").get("parents") or []
            )
        )
        await eventually(lambda: "listeners" in status(kube, KUBERNETES_GATEWAY, "edge"))
        await eventually(lambda: "conditions" in status(kube, "GatewayClass", "xdscp"))
        gateway = status(kube, KUBERNETES_GATEWAY, "edge")
        assert conditions(gateway["conditions"]) == {
            "Accepted": ("True", "ListenersNotValid"),
            "Programmed": ("True", "Programmed"),
        }
        assert gateway["addresses"] == [{"type": "IPAddress", "value": "10.244.0.50"}]
        listeners = {lst["name"]: lst for lst in gateway["listeners"]}
        assert listeners["http"]["attachedRoutes"] == 1
        assert listeners["http"]["supportedKinds"] == [
            {"group": "gateway.networking.k8s.io", "kind": "HTTPRoute"},
            {"group": "gateway.networking.k8s.io", "kind": "GRPCRoute"},
        ]
        assert conditions(listeners["dns"]["conditions"])["Accepted"] == (
            "False",
            "UnsupportedProtocol",
        )
        assert all(c["observedGeneration"] == 1 for c in gateway["conditions"])
        parents = status(kube, "HTTPRoute", "orders")["parents"]
        assert parents[0] == OTHER_PARENT  # untouched
        ours = parents[1]
        assert ours["controllerName"] == CONTROLLER_NAME
        assert ours["parentRef"] == {
            "group": "gateway.networking.k8s.io",
            "kind": "Gateway",
            "name": "edge",
            "sectionName": "http",
        }
        assert conditions(ours["conditions"]) == {
            "Accepted": ("True", "Accepted"),
            "ResolvedRefs": ("True", "ResolvedRefs"),
        }
        assert conditions(status(kube, "GatewayClass", "xdscp")["conditions"]) == {
            "Accepted": ("True", "Accepted")
        }
        # steady: nothing is rewritten
        await asyncio.sleep(0.3)
        writes, version = writer.writes, kube.rv
        writer.poke()
        await asyncio.sleep(0.3)
        assert (writer.writes, kube.rv) == (writes, version)

        # the backend goes away: ResolvedRefs turns False with the spec's reason
        broken = copy.deepcopy(
            next(d for d in yaml.safe_load_all(OBJECTS) if d["kind"] == "HTTPRoute")
        )
        broken["spec"]["rules"][0]["backendRefs"][0]["name"] = "ratings"
        kube.apply(broken)

        def resolved() -> tuple[str, str]:
            entry = status(kube, "HTTPRoute", "orders")["parents"][-1]
            return conditions(entry["conditions"])["ResolvedRefs"]

        await eventually(lambda: resolved() == ("False", "BackendNotFound"))
        assert status(kube, "HTTPRoute", "orders")["parents"][0] == OTHER_PARENT

        # a route the model refuses says so on its parent (UnsupportedValue)
        broken["spec"]["rules"][0]["filters"] = [{"type": "CORS", "cors": {}}]
        kube.apply(broken)

        def accepted() -> tuple[str, str]:
            entry = status(kube, "HTTPRoute", "orders")["parents"][-1]
            return conditions(entry["conditions"])["Accepted"]

        await eventually(lambda: accepted() == ("False", "UnsupportedValue"))
        message = status(kube, "HTTPRoute", "orders")["parents"][-1]["conditions"][0]["message"]
        assert "CORS: filter not supported by xdscp" in message


MESH_ROUTE = """\
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: order-mesh, namespace: default}
spec:
  parentRefs: [{group: "", kind: Service, name: order-service, port: 8080}]
  rules: [{backendRefs: [{name: order-service, port: 8080}]}]
"""


async def test_a_gamma_route_gets_status_per_service_parent(kube: FakeKube, api: KubeApi) -> None:
    route = yaml.safe_load(MESH_ROUTE)
    kube.apply_all([*cluster_docs(), route])
    async with running(kube, api):

        def ours() -> dict[str, Any]:
            parents = status(kube, "HTTPRoute", "order-mesh").get("parents") or []
            return next((p for p in parents if p.get("controllerName") == CONTROLLER_NAME), {})

        await eventually(lambda: bool(ours()))
        assert ours()["parentRef"] == {
            "group": "",
            "kind": "Service",
            "name": "order-service",
            "port": 8080,
        }
        assert conditions(ours()["conditions"]) == {
            "Accepted": ("True", "Accepted"),
            "ResolvedRefs": ("True", "ResolvedRefs"),
        }
        route["spec"]["rules"][0]["backendRefs"][0]["name"] = "missing"
        route["spec"]["parentRefs"][0]["port"] = 9999
        kube.apply(route)
        await eventually(
            lambda: (
                conditions(ours()["conditions"])
                == {
                    "Accepted": ("False", "NoMatchingParent"),
                    "ResolvedRefs": ("False", "BackendNotFound"),
                }
            )
        )
