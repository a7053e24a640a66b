"""The behaviour evaluator agrees with real Envoy.

Each route of a RouteConfiguration is turned into a direct response naming its virtual
host and route, served by a real Envoy on a loopback port; every request of the
behaviour tables is sent to it and Envoy's answer compared with `translators.behaviour`'s.
"""

from __future__ import annotations

import http.client
import socket
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from envoy.config.bootstrap.v3 import bootstrap_pb2
from envoy.config.core.v3 import address_pb2
from envoy.config.listener.v3 import listener_components_pb2
from envoy.config.route.v3 import route_pb2
from envoy.extensions.filters.http.router.v3 import router_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)

from tests.envoy_run import static_envoy
from tests.envoy_validate import find_envoy
from tests.golden.cases import case_named, translate_case
from tests.translators.test_behaviour import DOMAIN_TABLE, DOMAINS, ROUTE_TABLE
from translators.behaviour.routing import Request, route, route_config_for_port

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(find_envoy() is None, reason="no envoy binary"),
]

START_TIMEOUT_S = 15.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def answering(config: route_pb2.RouteConfiguration) -> route_pb2.RouteConfiguration:
    """A copy of `config` whose every route answers `<virtual host>|<route>`."""
    out = route_pb2.RouteConfiguration()
    out.CopyFrom(config)
    for vhost in out.virtual_hosts:
        for candidate in vhost.routes:
            candidate.ClearField("route")
            candidate.direct_response.status = 200
            candidate.direct_response.body.inline_string = f"{vhost.name}|{candidate.name}"
    return out


@contextmanager
def envoy_serving(config: route_pb2.RouteConfiguration) -> Iterator[int]:
    port = _free_port()
    manager = hcm_pb2.HttpConnectionManager(
        stat_prefix="behaviour",
        normalize_path={"value": True},
        route_config=config,
        http_filters=[hcm_pb2.HttpFilter(name="envoy.filters.http.router")],
    )
    manager.http_filters[0].typed_config.Pack(router_pb2.Router())
    bootstrap = bootstrap_pb2.Bootstrap()
    listener = bootstrap.static_resources.listeners.add(
        name="behaviour",
        address=address_pb2.Address(
            socket_address=address_pb2.SocketAddress(address="127.0.0.1", port_value=port)
        ),
    )
    chain = listener.filter_chains.add()
    chain.filters.append(listener_components_pb2.Filter(name="envoy.filters.network.hcm"))
    chain.filters[0].typed_config.Pack(manager)
    with static_envoy(bootstrap, "127.0.0.1", port, prefix="behaviour-"):
        yield port


def ask(port: int, request: Request) -> str | None:
    """Envoy's `<virtual host>|<route>` for `request`, or None for its 404."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", request.path, headers={"Host": request.host, **request.headers})
        response = conn.getresponse()
        body = response.read().decode()
    finally:
        conn.close()
    if response.status == 404:
        return None
    assert response.status == 200, (response.status, body)
    return body


def expected(config: route_pb2.RouteConfiguration, request: Request) -> str | None:
    decision = route(config, request)
    return f"{decision.virtual_host}|{decision.route}" if decision else None


def assert_agree(config: route_pb2.RouteConfiguration, requests: list[Request]) -> None:
    with envoy_serving(answering(config)) as port:
        answers = [(r, ask(port, r), expected(config, r)) for r in requests]
    disagreements = [f"{r}: envoy {e!r}, evaluator {o!r}" for r, e, o in answers if e != o]
    assert not disagreements, "\n".join(disagreements)
    assert any(e is not None for _, e, _ in answers), "envoy routed nothing: test is void"


def test_evaluator_agrees_with_envoy_on_routes() -> None:
    _, (productpage,) = translate_case(case_named("route-matches"))
    config = route_config_for_port(productpage.resources, 9080)
    requests = [Request("reviews", path, headers) for path, headers, _, _ in ROUTE_TABLE]
    requests += [Request(h) for h in ("REVIEWS:9080", "reviews:9081", "ratings", "reviews.default")]
    assert_agree(config, requests)


def test_evaluator_agrees_with_envoy_on_domains() -> None:
    assert_agree(DOMAINS, [Request(host) for host, _ in DOMAIN_TABLE] + [Request("other.org")])


def test_evaluator_agrees_with_envoy_on_the_canary_and_collisions() -> None:
    for case, proxy, port, hosts in [
        ("canary", "default/client", 8080, ["order-service", "order-service:8080", "nope"]),
        ("domain-collision", "default/client", 80, ["foo.bar", "foo.bar:80", "foo.bar.svc"]),
    ]:
        results = {r.proxy: r for r in translate_case(case_named(case))[1]}
        config = route_config_for_port(results[proxy].resources, port)
        assert_agree(config, [Request(h) for h in hosts])
