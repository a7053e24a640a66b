"""Kubernetes mode watches EnvoyFilter (its CRD is generated like the others): created,
changed and deleted in the API server, it reaches the mesh and the sidecars' resources;
an invalid one (an unknown `@type`) is rejected alone, keeping the last good version."""

from __future__ import annotations

from typing import Any

from tests.kube.conftest import FAST
from tests.kube.fakeapi import FakeKube
from tests.kube.helpers import running
from tests.kube.meshes import cluster_docs
from translators.envoyfilter.select import envoy_filters_for
from translators.mesh import MeshConfig, MeshOptions
from xdscp.kube.api import KubeApi
from xdscp.sources.kubernetes import KubernetesSource


def envoy_filter(timeout: str, type_url: str = "") -> dict[str, Any]:
    value: dict[str, Any] = {"connect_timeout": timeout}
    if type_url:
        value["typed_extension_protocol_options"] = {"x": {"@type": type_url}}
    return {
        "apiVersion": "networking.istio.io/v1alpha3",
        "kind": "EnvoyFilter",
        "metadata": {"name": "timeouts", "namespace": "default"},
        "spec": {
            "configPatches": [
                {"applyTo": "CLUSTER", "patch": {"operation": "MERGE", "value": value}}
            ]
        },
    }


def timeouts(mesh: MeshConfig) -> set[str]:
    found = set()
    for obj in mesh.of_kind("EnvoyFilter"):
        for patch in obj.spec.config_patches:
            found.add(patch.patch.value["connect_timeout"])
    return found


async def test_envoy_filter_is_watched(kube: FakeKube, api: KubeApi) -> None:
    kube.apply_all(cluster_docs())
    source = KubernetesSource(api, MeshOptions(), watch=FAST)
    async with running(source) as updates:
        kube.apply(envoy_filter("3s"))
        mesh = await updates.until(lambda m: bool(timeouts(m)))
        assert timeouts(mesh) == {"3s"}
        applied = [w for w in mesh.workloads.values() if w.namespace == "default"]
        assert applied
        assert all(
            envoy_filters_for(mesh, w)[0]["filter"] == "EnvoyFilter/default/timeouts"
            for w in applied
        )
        kube.apply(envoy_filter("4s"))
        await updates.until(lambda m: timeouts(m) == {"4s"})
        kube.apply(envoy_filter("5s", "type.googleapis.com/no.such.v3.Type"))
        mesh = await updates.until(lambda m: any(e.kind == "EnvoyFilter" for e in m.errors))
        (error,) = [e for e in mesh.errors if e.kind == "EnvoyFilter"]
        assert "no.such.v3.Type" in error.message and "patch.value" in error.field
        assert timeouts(mesh) == {"4s"}  # the last good version stays
        kube.delete("EnvoyFilter", "default", "timeouts")
        await updates.until(lambda m: not timeouts(m))
    assert "EnvoyFilter" in source.reflectors
