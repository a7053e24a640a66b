"""The path normalisation explain models (translators/behaviour/paths.py) is real Envoy's:
a static Envoy whose only route answers with the :path it routed on (`%REQ(:PATH)%` in a
response header) gets each path raw over a socket, with the normalisation flags of a
generated sidecar listener and with `merge_slashes` added; its answer (or its 400) must
be what `envoy_path` says."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from envoy.config.bootstrap.v3 import bootstrap_pb2
from envoy.config.core.v3 import address_pb2, base_pb2
from envoy.config.listener.v3 import listener_components_pb2
from envoy.config.route.v3 import route_components_pb2 as rc
from envoy.config.route.v3 import route_pb2
from envoy.extensions.filters.http.router.v3 import router_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)

from tests.e2e.harness import free_port
from tests.envoy_run import static_envoy
from tests.envoy_validate import find_envoy
from tests.explain.test_explain import translator_of
from translators.behaviour.paths import envoy_path, listener_manager
from translators.explain.outbound import outbound_listener

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(find_envoy() is None, reason="no envoy binary"),
]

STRICT = Path(__file__).resolve().parents[2] / "examples" / "strict-mtls"
PATHS = [
    "/a/../b", "//b", "/a//b/", "/a/./b", "/a/b/..", "/a/b/.", "/..", "/../a",
    "/a/%2e%2e/b", "/a/%2E%2E/b", "/a/.%2e/b", "/a/%2e/b", "/%2e%2e/a", "/%61%62c",
    "/a%41", "/a%7e", "/a%2a", "/a%2fb", "/a%2Fb", "/a%5cb", "/a%20b", "/a%zzb", "/a%2",
    "/a\\b", "/a\\..\\b", '/a"b', "/a{b}", "/a|b", "/a^b", "/a`b", "/a<b>", "/a[b]",
    "/a@b:c!$&'()*+,;=", "/~user", "/a/...", "/a/.../b", "/a;b/../c", "/a//../b",
    "/a/b/../../../c", "/a?x=/../y", "/a/..?x=1", "//a//b//?q=//", "/A/B", "/a b", "/a%00b",
]  # fmt: skip


def _generated_manager() -> hcm_pb2.HttpConnectionManager:
    """The HttpConnectionManager of a real sidecar's outbound HTTP listener."""
    translator = translator_of(STRICT)
    frontend = translator.mesh.workload("prod", "frontend")
    assert frontend is not None
    listener, _ = outbound_listener(translator.translate(frontend), frontend, 8080)
    manager = listener_manager(listener)
    assert manager is not None and manager.normalize_path.value
    return manager


def _echoing(flags: hcm_pb2.HttpConnectionManager, port: int) -> bootstrap_pb2.Bootstrap:
    """A listener with `flags`' path settings whose one route answers 200 with the path."""
    route = rc.Route(
        match=rc.RouteMatch(prefix=""), direct_response=rc.DirectResponseAction(status=200)
    )
    route.response_headers_to_add.add(
        header=base_pb2.HeaderValue(key="x-path", value="%REQ(:PATH)%")
    )
    manager = hcm_pb2.HttpConnectionManager(
        stat_prefix="paths",
        normalize_path=flags.normalize_path,
        merge_slashes=flags.merge_slashes,
        path_with_escaped_slashes_action=flags.path_with_escaped_slashes_action,
        route_config=route_pb2.RouteConfiguration(
            virtual_hosts=[rc.VirtualHost(name="all", domains=["*"], routes=[route])]
        ),
        http_filters=[hcm_pb2.HttpFilter(name="envoy.filters.http.router")],
    )
    manager.http_filters[0].typed_config.Pack(router_pb2.Router())
    bootstrap = bootstrap_pb2.Bootstrap()
    listener = bootstrap.static_resources.listeners.add(
        name="paths",
        address=address_pb2.Address(
            socket_address=address_pb2.SocketAddress(address="127.0.0.1", port_value=port)
        ),
    )
    chain = listener.filter_chains.add()
    chain.filters.append(listener_components_pb2.Filter(name="envoy.filters.network.hcm"))
    chain.filters[0].typed_config.Pack(manager)
    return bootstrap


def _envoys_path(port: int, path: str) -> str | None:
    """The path Envoy routed on, None if it answered 400."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        data = b""
        # read the head only (Envoy would hold a closing connection open for its
        # delayed-close second)
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            assert chunk, data
            data += chunk
    head = data.decode("latin-1").partition("\r\n\r\n")[0].split("\r\n")
    status = head[0].split()[1]
    if status == "400":
        return None
    assert status == "200", head
    headers = dict(line.split(": ", 1) for line in head[1:])
    return headers["x-path"]


@pytest.mark.parametrize("merge_slashes", [False, True], ids=["generated", "merge_slashes"])
def test_envoy_sees_the_path_explain_evaluates(merge_slashes: bool) -> None:
    flags = _generated_manager()
    flags.merge_slashes = flags.merge_slashes or merge_slashes
    port = free_port()
    with static_envoy(_echoing(flags, port), "127.0.0.1", port, prefix="paths-"):
        differences = [
            (path, seen, predicted)
            for path in PATHS
            if (seen := _envoys_path(port, path)) != (predicted := envoy_path(flags, path))
        ]
    assert not differences, differences
