"""Kubernetes mode watches RequestAuthentication (its CRD is generated like the others):
created, changed and deleted in the API server, it reaches the mesh and the sidecars'
JWT rules; an invalid one is rejected alone."""

from __future__ import annotations

from typing import Any

from tests.kube.conftest import FAST
from tests.kube.fakeapi import FakeKube
from tests.kube.helpers import running
from tests.kube.meshes import cluster_docs
from translators.index import MeshIndex
from translators.mesh import MeshConfig, MeshOptions
from xdscp.kube.api import KubeApi
from xdscp.sources.kubernetes import KubernetesSource

JWKS = '{"keys": [{"kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA"}]}'


def request_authentication(issuer: str, version: str = "v1") -> dict[str, Any]:
    return {
        "apiVersion": f"security.istio.io/{version}",
        "kind": "RequestAuthentication",
        "metadata": {"name": "jwt", "namespace": "default"},
        "spec": {"jwtRules": [{"issuer": issuer, "jwks": JWKS}]},
    }


def issuers(mesh: MeshConfig) -> list[str]:
    index = MeshIndex.of(mesh)
    return [rule.issuer for w in mesh.workloads.values() for rule in index.security.jwt_rules(w)]


async def test_request_authentication_is_watched(kube: FakeKube, api: KubeApi) -> None:
    kube.apply_all(cluster_docs())
    source = KubernetesSource(api, MeshOptions(), watch=FAST)
    async with running(source) as updates:
        kube.apply(request_authentication("https://idp/", "v1beta1"))
        mesh = await updates.until(lambda m: bool(issuers(m)))
        assert set(issuers(mesh)) == {"https://idp/"}
        assert len(issuers(mesh)) == len(mesh.workloads)  # namespace-wide: every workload
        kube.apply(request_authentication("https://other/"))
        await updates.until(lambda m: set(issuers(m)) == {"https://other/"})
        bad = request_authentication("")  # Istio: issuer or jwksUri required
        kube.apply(bad)
        mesh = await updates.until(
            lambda m: any(e.kind == "RequestAuthentication" for e in m.errors)
        )
        assert set(issuers(mesh)) == {"https://other/"}  # the last good version stays
        kube.delete("RequestAuthentication", "default", "jwt")
        await updates.until(lambda m: not issuers(m))
    assert "RequestAuthentication" in source.reflectors
