"""Translators and patches merge into a proxy's resources while sharing survives:
untouched groups stay the same objects, equal outputs are one object across proxies
and generations."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy_data_plane.envoy.config.cluster.v3 import Cluster as BpCluster

from tests.envoy_validate import find_envoy, validate_resources
from tests.extensions.fixtures import BACKEND, backend_extension, mesh, rename_stat_prefixes
from translators.extensions import Extension, ExtensionError, ExtensionSet, Proxy, Resource
from translators.mesh import MeshConfig, Workload
from translators.naming import CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE
from translators.translate import MeshTranslator, ProxyResources


def proxies(built: MeshConfig) -> tuple[Workload, Workload, Workload]:
    found = [built.workload("default", n) for n in ("api-1", "api-2", "web")]
    assert all(found)
    return found[0], found[1], found[2]  # type: ignore[return-value]


def translate_all(
    built: MeshConfig, *extensions: Extension, previous: MeshTranslator | None = None
) -> tuple[MeshTranslator, list[ProxyResources]]:
    translator = MeshTranslator(built, previous, ExtensionSet(extensions))
    return translator, [translator.translate(w) for w in proxies(built)]


def test_translator_output_is_merged_and_shared_between_equal_proxies() -> None:
    built = mesh(BACKEND)
    _, (api1, api2, web) = translate_all(built, backend_extension())
    for result in (api1, api2):
        (added,) = [r for r in result.of_type(CLUSTER_TYPE) if r.name == "external|billing"]
        assert added.provenance == ("Extension/external-backends",)
        cluster = added.message
        assert isinstance(cluster, cluster_pb2.Cluster)
        assert (
            cluster.load_assignment.endpoints[0]
            .lb_endpoints[0]
            .endpoint.address.socket_address.port_value
            == 443
        )
    assert "external|billing" not in {r.name for r in web.of_type(CLUSTER_TYPE)}
    # the same content for two proxies: one group object, so it is serialized once
    extra1 = api1.groups[CLUSTER_TYPE][-1]
    extra2 = api2.groups[CLUSTER_TYPE][-1]
    assert extra1 is extra2
    # the generated groups are untouched: the same objects as without the extension
    translator = MeshTranslator(built, extensions=ExtensionSet((backend_extension(),)))
    api, _, web_workload = proxies(built)
    extended, plain = translator.translate(api), translator.translate(api, extensions=False)
    for type_url, groups in plain.groups.items():
        assert all(a is b for a, b in zip(extended.groups[type_url], groups, strict=False))
    assert (
        translator.translate(web_workload).groups
        == translator.translate(web_workload, extensions=False).groups
    )


def test_translator_output_survives_a_generation() -> None:
    built = mesh(BACKEND)
    first, (api1, _, _) = translate_all(built, backend_extension())
    _, (again, _, _) = translate_all(built, backend_extension(), previous=first)
    assert again.groups[CLUSTER_TYPE][-1] is api1.groups[CLUSTER_TYPE][-1]


def test_betterproto_messages_are_converted_once_at_the_edge() -> None:
    ext = Extension("bp")

    def add(mesh: MeshConfig, proxy: Proxy) -> list[BpCluster]:
        return [BpCluster(name="bp-cluster")]

    ext.add_translator(add)
    _, (api1, _, _) = translate_all(mesh(), ext)
    (added,) = [r for r in api1.of_type(CLUSTER_TYPE) if r.name == "bp-cluster"]
    assert type(added.message) is cluster_pb2.Cluster


def test_translator_may_not_shadow_generated_names() -> None:
    ext = Extension("shadow")

    def add(mesh: MeshConfig, proxy: Proxy) -> list[cluster_pb2.Cluster]:
        return [cluster_pb2.Cluster(name="BlackHoleCluster")]

    ext.add_translator(add)
    with pytest.raises(ExtensionError, match="names already in use: \\['BlackHoleCluster'\\]"):
        translate_all(mesh(), ext)


def test_patch_returning_none_changes_nothing() -> None:
    ext = Extension("noop")
    calls: list[str] = []

    def noop(proxy: Proxy, resources: Sequence[Resource]) -> None:
        calls.append(proxy.key)
        return None

    ext.add_patch(ROUTE_TYPE, noop)
    built = mesh()
    _, with_ext = translate_all(built, ext)
    _, plain = translate_all(built)
    assert calls == ["default/api-1", "default/api-2", "default/web"]
    for a, b in zip(with_ext, plain, strict=True):
        assert [r.message for r in a.resources] == [r.message for r in b.resources]


def test_patch_keeps_untouched_groups_and_interns_changed_resources() -> None:
    ext = Extension("alt-stat-names")
    ext.add_patch(CLUSTER_TYPE, rename_stat_prefixes)
    built = mesh()
    translator, (api1, api2, web) = translate_all(built, ext)
    plain1 = translator.translate(proxies(built)[0], extensions=False)
    # outbound clusters changed: a new group, but one shared by all three proxies
    assert api1.groups[CLUSTER_TYPE][0] is api2.groups[CLUSTER_TYPE][0]
    assert api1.groups[CLUSTER_TYPE][0] is web.groups[CLUSTER_TYPE][0]
    assert api1.groups[CLUSTER_TYPE][0] is not plain1.groups[CLUSTER_TYPE][0]
    # groups without an outbound cluster (the inbound one) and other types: same objects
    assert api1.groups[CLUSTER_TYPE][1] is plain1.groups[CLUSTER_TYPE][1]
    for type_url in (ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE):
        assert api1.groups[type_url] == plain1.groups[type_url]
    changed = {r.name: r.message for r in api1.of_type(CLUSTER_TYPE)}
    outbound = changed["outbound|8080||api.default.svc.cluster.local"]
    assert isinstance(outbound, cluster_pb2.Cluster)
    assert outbound.alt_stat_name == "outbound|8080||api_default_svc_cluster_local"

    def named(result: ProxyResources, name: str) -> object:
        return next(r for r in result.of_type(CLUSTER_TYPE) if r.name == name)

    # looked at by name only: the generated resource itself, not a copy
    assert named(api1, "BlackHoleCluster") is named(plain1, "BlackHoleCluster")
    # the next generation hands back the same patched objects
    _, (again, _, _) = translate_all(built, ext, previous=translator)
    assert again.groups[CLUSTER_TYPE][0] is api1.groups[CLUSTER_TYPE][0]


def test_patch_can_remove_and_add_resources() -> None:
    ext = Extension("swap")

    def swap(proxy: Proxy, clusters: Sequence[Resource]) -> list[Resource | cluster_pb2.Cluster]:
        kept: list[Resource | cluster_pb2.Cluster] = [
            c for c in clusters if c.name != "BlackHoleCluster"
        ]
        return [*kept, cluster_pb2.Cluster(name="added", type=cluster_pb2.Cluster.STATIC)]

    ext.add_patch(CLUSTER_TYPE, swap)
    _, (api1, _, _) = translate_all(mesh(), ext)
    names = [r.name for r in api1.of_type(CLUSTER_TYPE)]
    assert "BlackHoleCluster" not in names and names[-1] == "added"


def test_touched_but_unchanged_resources_stay_shared() -> None:
    ext = Extension("reader")

    def read(proxy: Proxy, listeners: Sequence[Resource]) -> list[Resource]:
        for resource in listeners:
            message = resource.message
            assert isinstance(message, listener_pb2.Listener)
            message.name = message.name  # a no-op edit
        return list(listeners)

    ext.add_patch(LISTENER_TYPE, read)
    built = mesh()
    _, (api1, _, _) = translate_all(built, ext)
    plain = MeshTranslator(built)
    first = plain.translate(proxies(built)[0])
    assert [r.message for r in api1.of_type(LISTENER_TYPE)] == [
        r.message for r in first.of_type(LISTENER_TYPE)
    ]
    # and a patch's copy is private: the generated listener was not modified through it
    assert all(g for g in api1.groups[LISTENER_TYPE])


def test_patch_of_the_wrong_type_or_duplicate_names_is_an_error() -> None:
    ext = Extension("wrong")

    def wrong(proxy: Proxy, listeners: Sequence[Resource]) -> list[cluster_pb2.Cluster]:
        return [cluster_pb2.Cluster(name="c")]

    ext.add_patch(LISTENER_TYPE, wrong)
    with pytest.raises(
        ExtensionError, match=r"expected type\.googleapis\.com/envoy\.config\.listener"
    ):
        translate_all(mesh(), ext)
    dup = Extension("dup")

    def twice(proxy: Proxy, clusters: Sequence[Resource]) -> list[Resource]:
        return [*clusters, clusters[0]]

    dup.add_patch(CLUSTER_TYPE, twice)
    with pytest.raises(ExtensionError, match="two resources named"):
        translate_all(mesh(), dup)


def test_envoy_accepts_extended_resources() -> None:
    if find_envoy() is None:
        pytest.skip("no envoy binary")
    ext = Extension("alt-stat-names")
    ext.add_patch(CLUSTER_TYPE, rename_stat_prefixes)
    _, results = translate_all(mesh(BACKEND), backend_extension(), ext)
    for result in results:
        verdict = validate_resources(result.resources)
        assert verdict.ok, verdict
