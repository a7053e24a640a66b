"""Gateway kinds through the Kubernetes source: the fake API server serves Istio's
`gateways.networking.istio.io` and the Gateway API's `gateways.gateway.networking.k8s.io`
(one kind name, two groups, served at their real plural paths; GatewayClass cluster-scoped),
and the source watches and validates both."""

from __future__ import annotations

import textwrap

import yaml

from tests.gateway.test_model import GATEWAY_API, ISTIO_GATEWAY
from tests.kube.conftest import FAST
from tests.kube.fakeapi import FakeKube
from translators.mesh import MeshOptions
from translators.model.gateway_api import KUBERNETES_GATEWAY
from xdscp.kube.api import KubeApi
from xdscp.kube.resources import istio_types
from xdscp.sources.kubernetes import KubernetesSource


def test_gateway_api_resource_paths() -> None:
    types = {t.kind: t for t in istio_types()}
    gateway = types[KUBERNETES_GATEWAY]
    assert (gateway.group, gateway.plural) == ("gateway.networking.k8s.io", "gateways")
    assert types["Gateway"].collection_path("shop") == (
        "/apis/networking.istio.io/v1/namespaces/shop/gateways"
    )
    assert types["GatewayClass"].collection_path("shop") == (
        "/apis/gateway.networking.k8s.io/v1/gatewayclasses"
    )
    assert types["HTTPRoute"].plural == "httproutes"
    assert types["ReferenceGrant"].plural == "referencegrants"


async def test_source_reads_istio_and_gateway_api_gateways(kube: FakeKube, api: KubeApi) -> None:
    docs = [
        *yaml.safe_load_all(GATEWAY_API),
        yaml.safe_load(ISTIO_GATEWAY.format(version="v1beta1")),
    ]
    broken = yaml.safe_load(
        textwrap.dedent(
            """\
            apiVersion: gateway.networking.k8s.io/v1
            kind: HTTPRoute
            metadata: {name: broken, namespace: shop}
            spec: {rules: [{backendRefs: [{name: a}]}]}
            """
        )
    )
    kube.apply_all([*docs, broken])
    source = KubernetesSource(api, MeshOptions(), watch=FAST, log_errors=False)
    await source.start(sync_timeout=10)
    try:
        mesh = source.load()
    finally:
        await source.close()
    refs = sorted(o.ref for o in mesh.objects)
    assert refs == sorted(
        [
            "Gateway/shop/bookinfo-gateway",
            f"{KUBERNETES_GATEWAY}/infra/edge",
            "GRPCRoute/shop/echo",
            "GatewayClass/default/xdscp",
            "HTTPRoute/shop/reviews",
            "ReferenceGrant/infra/from-shop",
            "TCPRoute/infra/db",
            "TLSRoute/infra/secure",
        ]
    )
    (error,) = mesh.errors
    assert (error.kind, error.name, error.field) == (
        "HTTPRoute",
        "broken",
        "spec.rules[0].backendRefs[0]",
    )
    assert kube.get(KUBERNETES_GATEWAY, "infra", "edge") is not None
    assert kube.get("Gateway", "shop", "bookinfo-gateway") is not None
