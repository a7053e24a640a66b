"""The Kubernetes source is a `ConfigSource` and feeds the same incremental update as
the file source: one changed object is one entry of the mesh's delta, and the registry
is not rebuilt for it; the result equals a mesh built from scratch."""

from __future__ import annotations

import inspect
from pathlib import Path

from tests.kube.conftest import FAST
from tests.kube.fakeapi import FakeKube
from tests.kube.helpers import running, vs_with_weights, weights
from tests.kube.meshes import cluster_docs, endpoint_slice
from tests.sources.test_incremental import canonical, rebuilt
from translators.mesh import MeshOptions
from xdscp.kube.api import KubeApi
from xdscp.sources.files import DirectorySource
from xdscp.sources.kubernetes import KubernetesSource
from xdscp.sources.protocol import ConfigSource

MEMBERS = ("health", "load", "run", "unavailable", "blame")


def test_both_sources_are_config_sources(api: KubeApi, tmp_path: Path) -> None:
    # mypy checks the assignments; the members are checked at run time too
    sources: list[ConfigSource] = [DirectorySource(tmp_path), KubernetesSource(api)]
    for source in sources:
        assert all(hasattr(source, member) for member in MEMBERS)
        assert inspect.iscoroutinefunction(source.run)
        assert source.unavailable() == ""


async def test_one_changed_object_is_one_changed_ref(kube: FakeKube, api: KubeApi) -> None:
    kube.apply_all(cluster_docs())
    source = KubernetesSource(api, MeshOptions(), watch=FAST)
    async with running(source) as updates:
        first = updates.last
        assert first is not None and weights(first) == [90, 10]
        kube.apply(vs_with_weights(50, 50))
        mesh = await updates.until(lambda m: weights(m) == [50, 50])
        assert mesh.delta is not None
        assert {key[0] for key in mesh.delta.objects} == {"VirtualService"}
        assert len(mesh.delta.objects) == 1
        assert mesh.services is first.services  # the registry was reused as it was
        assert canonical(mesh) == canonical(rebuilt(mesh))
        # a platform change (a pod's endpoint gone) rebuilds the registry: the delta
        # names the service whose endpoints changed, and no object
        kube.apply(endpoint_slice(["order-v1"]))
        mesh = await updates.until(lambda m: m.delta is not None and bool(m.delta.services))
        assert mesh.delta is not None and not mesh.delta.objects
        assert all("order" in host for host in mesh.delta.services)
