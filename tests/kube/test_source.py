"""KubernetesSource against the fake API server, through the real kubernetes-asyncio client:
list + watch, bookmarks, 410 Gone, dropped connections, paging, versions, and the
resulting MeshConfig compared with the file-mode equivalent of the same mesh."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from tests.kube.conftest import FAST
from tests.kube.fakeapi import FakeKube
from tests.kube.helpers import envoy_meaning, eventually, running, vs_with_weights, weights
from tests.kube.meshes import PODS, cluster_docs, endpoint_slice, file_mode_docs, pod
from translators.mesh import MeshConfig, MeshOptions, build_mesh
from translators.model.objects import MeshObject, Origin, parse_object
from xdscp.kube.api import KubeApi
from xdscp.kube.errors import Forbidden
from xdscp.kube.resources import POD, ResourceType
from xdscp.sources.kubernetes import KubernetesSource, _parse_raw, origin_of

OPTIONS = MeshOptions()


def file_mesh() -> MeshConfig:
    objects = []
    for index, doc in enumerate(file_mode_docs()):
        parsed = parse_object(doc, Origin("file.yaml", index))
        assert isinstance(parsed, MeshObject), parsed
        objects.append(parsed)
    return build_mesh(objects, (), OPTIONS)


def endpoints(mesh: MeshConfig, host: str = "order-service.default.svc.cluster.local") -> list[str]:
    return [e.address for e in mesh.services[host].endpoints]


async def test_client_authenticates_with_the_kubeconfig_token(
    kube: FakeKube, api: KubeApi, tmp_path: Path
) -> None:
    kube.apply(pod("client"))
    page = await api.list_page(POD)
    assert [i["metadata"]["name"] for i in page["items"]] == ["client"]
    intruder = await KubeApi.connect(kube.kubeconfig(tmp_path / "bad", token="wrong"))
    try:
        with pytest.raises(Forbidden):
            await intruder.list_page(POD)
    finally:
        await intruder.close()


async def test_cluster_mesh_means_the_same_as_the_file_mode_mesh(
    kube: FakeKube, api: KubeApi
) -> None:
    kube.apply_all(cluster_docs())
    source = KubernetesSource(api, OPTIONS, watch=FAST)
    await source.start(sync_timeout=10)
    try:
        mesh = source.load()
    finally:
        await source.close()
    expected = file_mesh()
    assert mesh.errors == ()
    assert sorted(mesh.workloads) == sorted(expected.workloads)
    for key, workload in mesh.workloads.items():
        other = expected.workloads[key]
        assert (workload.address, dict(workload.labels), workload.service_account) == (
            other.address,
            dict(other.labels),
            other.service_account,
        )
    assert sorted(mesh.services) == sorted(expected.services)
    service, other_service = (
        m.services["order-service.default.svc.cluster.local"] for m in (mesh, expected)
    )
    assert service.source == "Service/default/order-service"
    assert service.ports == other_service.ports
    assert [
        (e.address, dict(e.labels), e.service_account, e.workload) for e in service.endpoints
    ] == [
        (e.address, dict(e.labels), e.service_account, e.workload) for e in other_service.endpoints
    ]
    # the Istio objects come from the cluster, named by their Kubernetes origin
    assert sorted(o.ref for o in mesh.objects) == sorted(
        o.ref for o in expected.objects if o.kind not in ("ServiceEntry", "WorkloadEntry")
    )
    assert {str(o.origin) for o in mesh.of_kind("VirtualService")} == {
        "k8s:VirtualService/default/order-service-routing"
    }
    # what every sidecar receives is the same, resource for resource
    for key in PODS:
        workload = mesh.workloads[f"default/{key}"]
        assert envoy_meaning(mesh, workload) == envoy_meaning(
            expected, expected.workloads[f"default/{key}"]
        ), key


async def test_changes_are_watched_and_debounced(kube: FakeKube, api: KubeApi) -> None:
    kube.apply_all(cluster_docs())
    source = KubernetesSource(api, OPTIONS, watch=FAST)
    async with running(source) as updates:
        assert weights(updates.last or file_mesh()) == [90, 10]
        kube.apply(vs_with_weights(50, 50))
        mesh = await updates.until(lambda m: weights(m) == [50, 50])
        assert endpoints(mesh) == ["10.244.0.11", "10.244.0.12"]
        # a pod going unready leaves the endpoints; a burst of changes is one rebuild
        before = updates.count
        kube.apply(endpoint_slice(["order-v1"]))
        for weight in range(60, 80):
            kube.apply(vs_with_weights(weight, 100 - weight))
        mesh = await updates.until(lambda m: weights(m) == [79, 21])
        assert endpoints(mesh) == ["10.244.0.11"]
        assert updates.count - before <= 3
        # a deleted pod is no longer a workload; its endpoint went with its slice entry
        kube.delete("Pod", "default", "order-v2")
        mesh = await updates.until(lambda m: "default/order-v2" not in m.workloads)
    reflector = source.reflectors["VirtualService"]
    assert reflector.stats.lists == 1 and reflector.stats.gone == 0


async def test_bad_object_is_rejected_alone_and_keeps_its_last_good_version(
    kube: FakeKube, api: KubeApi
) -> None:
    kube.apply_all(cluster_docs())
    source = KubernetesSource(api, OPTIONS, watch=FAST)
    async with running(source) as updates:
        broken = vs_with_weights(50, 50)
        broken["spec"]["http"][0]["route"][0]["weight"] = -1
        kube.apply(broken)
        mesh = await updates.until(lambda m: bool(m.errors))
        (error,) = mesh.errors
        assert error.origin.source == "k8s:VirtualService/default/order-service-routing"
        assert error.field.startswith("spec.http[0].route[0].weight")
        assert weights(mesh) == [90, 10]  # still the last good version
        assert len(mesh.objects) == 4 and endpoints(mesh)  # the rest keeps working
        kube.apply(vs_with_weights(70, 30))
        mesh = await updates.until(lambda m: not m.errors)
        assert weights(mesh) == [70, 30]


async def test_bookmarks_let_a_watch_resume_after_compaction_without_relisting(
    kube: FakeKube, api: KubeApi
) -> None:
    kube.apply_all(cluster_docs())
    kube.bookmark_interval = 0.05
    source = KubernetesSource(api, OPTIONS, watch=FAST)
    async with running(source) as updates:
        kube.apply(vs_with_weights(50, 50))  # moves the global version past the pods'
        await updates.until(lambda m: weights(m) == [50, 50])
        pods = source.reflectors["Pod"]
        await eventually(lambda: pods.resource_version == str(kube.rv))  # via bookmarks
        kube.compact()
        assert kube.drop_watches() > 0
        kube.apply(pod("order-v2", ip="10.244.0.99"))
        mesh = await updates.until(
            lambda m: m.workloads["default/order-v2"].address == "10.244.0.99"
        )
        assert pods.stats.bookmarks > 0
        assert pods.stats.gone == 0 and pods.stats.lists == 1
        assert kube.list_count("pods") == 1
        assert mesh.errors == ()


async def test_410_gone_as_error_event_relists_and_drops_deleted_objects(
    kube: FakeKube, api: KubeApi
) -> None:
    kube.apply_all(cluster_docs())
    source = KubernetesSource(api, OPTIONS, watch=FAST)
    async with running(source) as updates:
        pods = source.reflectors["Pod"]
        kube.apply(vs_with_weights(50, 50))
        await updates.until(lambda m: weights(m) == [50, 50])
        # pods' version is now older than the compaction point; while disconnected, a
        # pod is deleted (its DELETED event is compacted away) and another changes
        kube.compact()
        kube.drop_watches()
        kube.delete("Pod", "default", "client")
        kube.apply(pod("order-v1", ip="10.244.0.77"))
        kube.compact()
        mesh = await updates.until(
            lambda m: (
                "default/client" not in m.workloads
                and m.workloads["default/order-v1"].address == "10.244.0.77"
            )
        )
        assert pods.stats.gone >= 1 and pods.stats.lists >= 2
        assert sorted(mesh.workloads) == ["default/order-v1", "default/order-v2"]
        assert {k for k in pods.store} == {"default/order-v1", "default/order-v2"}


async def test_410_gone_as_http_status_relists(kube: FakeKube, api: KubeApi) -> None:
    kube.apply_all(cluster_docs())
    kube.gone_as_http = True
    source = KubernetesSource(api, OPTIONS, watch=FAST)
    async with running(source) as updates:
        kube.apply(vs_with_weights(50, 50))
        await updates.until(lambda m: weights(m) == [50, 50])
        kube.compact()
        kube.drop_watches()
        kube.delete("Pod", "default", "client")
        await updates.until(lambda m: "default/client" not in m.workloads)
        assert source.reflectors["Pod"].stats.gone >= 1


async def test_dropped_connections_lose_and_duplicate_nothing(kube: FakeKube, api: KubeApi) -> None:
    kube.apply_all(cluster_docs())
    source = KubernetesSource(api, OPTIONS, watch=FAST)
    changes: list[str] = []
    async with running(source) as updates:
        pods = source.reflectors["Pod"]
        original = pods.on_change

        def counted(rtype: ResourceType) -> None:
            changes.append(rtype.kind)
            original(rtype)

        pods.on_change = counted
        # the watch fails to reconnect twice (server errors), meanwhile pods change
        kube.fail("GET", "/pods", 503, times=2, watch=True)
        kube.drop_watches()
        for i in range(5):
            kube.apply(pod("client", ip=f"10.244.1.{i}"))
        mesh = await updates.until(lambda m: m.workloads["default/client"].address == "10.244.1.4")
        assert pods.stats.lists == 1 and pods.stats.gone == 0 and pods.stats.failures >= 2
        # every change arrived exactly once, from the version the stream broke at
        assert changes == ["Pod"] * 5
        assert {k: v["metadata"]["resourceVersion"] for k, v in pods.store.items()} == {
            f"default/{o['metadata']['name']}": o["metadata"]["resourceVersion"]
            for o in kube.all("Pod")
        }
        # a re-delivered event is recognised and changes nothing
        kube.duplicate_next_event = True
        kube.apply(pod("client", ip="10.244.2.1"))
        await eventually(lambda: pods.stats.duplicates == 1)
        assert changes == ["Pod"] * 6
        assert mesh.errors == ()


async def test_paged_list_and_expired_continue_token(kube: FakeKube, api: KubeApi) -> None:
    kube.apply_all(cluster_docs())
    for i in range(7):
        kube.apply(
            {
                **pod("client", ip=f"10.244.3.{i}"),
                "metadata": {"name": f"c{i}", "labels": {"app": "client"}},
            }
        )
    settings = dataclasses.replace(FAST, page_size=3)
    # the first continue request finds its token expired: the list starts over
    kube.fail("GET", "/pods", 410, times=1, reason="Expired", watch=False, query_has="continue")
    source = KubernetesSource(api, OPTIONS, watch=settings)
    await source.start(sync_timeout=10)
    try:
        mesh = source.load()
        assert len([k for k in mesh.workloads if k[len("default/c") :].isdigit()]) == 7
        # first page, expired continue, then the full list again in pages of 3
        assert kube.list_count("pods") == 2 + 4
        assert source.reflectors["Pod"].stats.gone == 1
    finally:
        await source.close()


async def test_each_kind_is_watched_in_the_groups_preferred_version(
    kube: FakeKube, api: KubeApi
) -> None:
    kube.preferred["networking.istio.io"] = "v1beta1"
    kube.apply_all(cluster_docs())  # written as v1alpha3 (routing) and v1beta1 (sidecars)
    source = KubernetesSource(api, OPTIONS, watch=FAST)
    await source.start(sync_timeout=10)
    try:
        assert source.reflectors["VirtualService"].rtype.version == "v1beta1"
        mesh = source.load()
        assert {o.api_version for o in mesh.objects} == {"networking.istio.io/v1beta1"}

        def watched() -> set[str]:
            return {p for m, p, q in kube.requests if q.get("watch") == "true"}

        await eventually(lambda: len(watched()) == len(source.reflectors))
        assert "/apis/networking.istio.io/v1beta1/virtualservices" in watched()
        # EnvoyFilter is served by Istio only as v1alpha3: every other kind follows the preference
        others = {p for p in watched() if not p.endswith("/envoyfilters")}
        assert not any("/v1alpha3/" in p or "networking.istio.io/v1/" in p for p in others)
    finally:
        await source.close()


async def test_missing_crds_are_an_empty_synced_state_until_installed(
    kube: FakeKube, api: KubeApi
) -> None:
    kube.apply_all([d for d in cluster_docs() if "istio.io" not in d["apiVersion"]])
    saved = {k: v for k, v in kube.types.items() if "istio.io" in k[0]}
    kube.remove_group("networking.istio.io")
    kube.remove_group("security.istio.io")
    source = KubernetesSource(api, OPTIONS, watch=FAST)
    async with running(source) as updates:
        assert updates.last is not None and updates.last.objects == ()
        kube.types.update(saved)  # the CRDs get installed
        kube.apply(vs_with_weights(50, 50))
        await updates.until(lambda m: bool(m.of_kind("VirtualService")))


def test_an_object_that_cannot_even_be_read_is_an_error_not_an_exception() -> None:
    """Whatever the API server hands over, the rebuild goes on (the config loop must not
    die on one object): a metadata that is not a mapping becomes that object's error."""
    raw = {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService", "metadata": [1]}
    result = _parse_raw(raw, origin_of("VirtualService", "default", "x"))
    assert isinstance(result, list)
    (error,) = result
    assert error.kind == "VirtualService"
    assert "cannot be read (AttributeError" in error.message
