"""A failing extension is contained: the error names the extension, the function, the
proxy and the objects it was handling; the proxy keeps its last good config."""

from __future__ import annotations

from collections.abc import Iterable

import pytest
from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import base_pb2

from tests.extensions.fixtures import BACKEND, ExternalBackendSpec, backend_cluster, mesh
from translators.extensions import Extension, ExtensionError, ExtensionSet, Proxy
from translators.mesh import MeshConfig
from translators.naming import CLUSTER_TYPE
from translators.translate import MeshTranslator
from xdscp.cache import SnapshotCache
from xdscp.runtime import MeshRuntime

BROKEN = BACKEND.replace("address: 10.9.0.1", "address: boom")


def fragile_backends(mesh: MeshConfig, proxy: Proxy) -> Iterable[cluster_pb2.Cluster]:
    """Like the backend translator, but fails on an address it cannot handle."""
    for obj in proxy.selecting("ExternalBackend"):
        spec: ExternalBackendSpec = obj.spec
        if spec.address == "boom":
            raise RuntimeError(f"cannot resolve {spec.address}")
        yield backend_cluster(obj.name, spec)


def fragile() -> ExtensionSet:
    ext = Extension("external-backends")
    ext.add_kind("ExternalBackend", "extensions.example.io", ["v1"], ExternalBackendSpec)
    ext.add_translator(fragile_backends)
    return ExtensionSet((ext,))


def node(name: str) -> base_pb2.Node:
    built = base_pb2.Node(id=f"sidecar~10.0.0.1~{name}.default~default.svc.cluster.local")
    built.metadata.fields["NAMESPACE"].string_value = "default"
    built.metadata.fields["WORKLOAD_NAME"].string_value = name
    return built


def clusters(runtime: MeshRuntime, proxy: str) -> set[str]:
    snapshot = runtime.cache.get(proxy)
    assert snapshot is not None
    return set(snapshot.get(CLUSTER_TYPE).resources)


def test_error_names_extension_function_proxy_and_objects() -> None:
    built = mesh(BROKEN)
    workload = built.workload("default", "api-1")
    assert workload is not None
    with pytest.raises(ExtensionError) as caught:
        MeshTranslator(built, extensions=fragile()).translate(workload)
    error = caught.value
    assert (error.extension, error.part, error.proxy, error.objects) == (
        "external-backends",
        "translator 'fragile_backends'",
        "default/api-1",
        ("ExternalBackend/default/billing",),
    )
    assert str(error) == (
        "extension 'external-backends' translator 'fragile_backends' failed for proxy "
        "default/api-1 (objects: ExternalBackend/default/billing): "
        "RuntimeError: cannot resolve boom"
    )


def test_runtime_keeps_the_last_good_config_and_recovers() -> None:
    runtime = MeshRuntime(SnapshotCache(), extensions=fragile())
    runtime.apply_now(mesh(BACKEND))
    runtime.connect(node("api-1"), None)
    good = runtime.cache.get("default/api-1")
    assert "external|billing" in clusters(runtime, "default/api-1")

    runtime.apply_now(mesh(BROKEN))
    assert runtime.cache.get("default/api-1") is good  # untouched: last good config
    (error,) = runtime.config_status()["extension_errors"]
    assert error["proxy"] == "default/api-1" and error["objects"] == [
        "ExternalBackend/default/billing"
    ]
    # a proxy that has nothing yet gets the config without extensions
    runtime.connect(node("web"), None)
    runtime.connect(node("api-2"), None)
    assert "external|billing" not in clusters(runtime, "default/api-2")
    assert "outbound|8080||api.default.svc.cluster.local" in clusters(runtime, "default/api-2")
    assert {e["proxy"] for e in runtime.config_status()["extension_errors"]} == {
        "default/api-1",
        "default/api-2",
    }

    runtime.apply_now(mesh(BACKEND.replace("10.9.0.1", "10.9.0.2")))
    assert runtime.config_status()["extension_errors"] == []
    assert "external|billing" in clusters(runtime, "default/api-2")
    assert runtime.cache.get("default/api-1") is not good
    assert runtime.config_status()["extensions"] == ["external-backends"]


def test_disconnect_forgets_the_error() -> None:
    runtime = MeshRuntime(SnapshotCache(), extensions=fragile())
    runtime.apply_now(mesh(BROKEN))
    key = runtime.connect(node("api-1"), None)
    assert runtime.extension_errors
    runtime.disconnect(key)
    assert not runtime.extension_errors
