"""The load-time RE2 check agrees with Envoy: every regex it accepts, Envoy accepts;
every regex it refuses, Envoy refuses too (so a refusal is never a false alarm and an
acceptance never becomes a NACK)."""

from __future__ import annotations

import pytest
from envoy.config.bootstrap.v3 import bootstrap_pb2
from envoy.config.route.v3 import route_components_pb2 as rc
from envoy.extensions.filters.http.router.v3 import router_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)

from tests.envoy_validate import bootstrap_json, find_envoy, validate_many
from tests.traffic.test_model import RE2_ACCEPTED, RE2_REFUSED
from translators.envoy.common import pack, socket_address

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(find_envoy() is None, reason="no envoy binary"),
]


def _bootstrap(patterns: list[str]) -> str:
    manager = hcm_pb2.HttpConnectionManager(
        stat_prefix="re2",
        http_filters=[
            hcm_pb2.HttpFilter(
                name="envoy.filters.http.router", typed_config=pack(router_pb2.Router())
            )
        ],
    )
    vhost = manager.route_config.virtual_hosts.add(name="re2", domains=["*"])
    for i, pattern in enumerate(patterns):
        vhost.routes.append(
            rc.Route(
                name=str(i),
                match=rc.RouteMatch(safe_regex={"regex": pattern}),
                direct_response=rc.DirectResponseAction(status=200),
            )
        )
    bootstrap = bootstrap_pb2.Bootstrap()
    listener = bootstrap.static_resources.listeners.add(
        name="re2", address=socket_address("127.0.0.1", 1)
    )
    listener.filter_chains.add().filters.add(
        name="envoy.filters.network.http_connection_manager", typed_config=pack(manager)
    )
    return bootstrap_json(bootstrap)


def test_envoy_agrees_with_the_re2_check() -> None:
    configs = {"accepted": _bootstrap(RE2_ACCEPTED)}
    configs.update({f"refused {p}": _bootstrap([p]) for p in RE2_REFUSED})
    verdicts = validate_many(configs)
    assert verdicts["accepted"].ok, verdicts["accepted"]
    wrongly_accepted = [name for name, v in verdicts.items() if name != "accepted" and v.ok]
    assert not wrongly_accepted, wrongly_accepted
