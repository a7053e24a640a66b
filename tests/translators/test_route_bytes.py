"""The byte assembly of routes and virtual hosts (translators/envoy/route_bytes.py) gives
exactly the deterministic serialization of the messages `build_virtual_host` builds —
on every virtual host of every golden case, and on routes the goldens lack."""

from __future__ import annotations

import pytest

from tests.golden.cases import all_cases, translate_case
from translators.envoy.route_bytes import route_bytes, virtual_host_bytes
from translators.envoy.routes import build_virtual_host
from translators.envoy.traffic import build_route
from translators.ir import (
    HashPolicyIR,
    HeaderOpsIR,
    HeaderValueIR,
    MatchKind,
    MirrorIR,
    RetryIR,
    RewriteIR,
    RouteIR,
    RouteMatchIR,
    StringMatchIR,
    VirtualHostIR,
    WeightedDestinationIR,
)

CLUSTER = "outbound|8080||reviews.default.svc.cluster.local"
V1 = "outbound|8080|v1|reviews.default.svc.cluster.local"
V2 = "outbound|8080|v2|reviews.default.svc.cluster.local"


def built(vhost: VirtualHostIR) -> bytes:
    encoded: bytes = build_virtual_host(vhost).SerializeToString(deterministic=True)
    return encoded


@pytest.mark.parametrize("case", all_cases(), ids=lambda c: c.name)
def test_every_golden_virtual_host_assembles_to_the_built_bytes(case: object) -> None:
    _, results = translate_case(case)  # type: ignore[arg-type]
    vhosts = [v for r in results for rc in r.view.route_tables for v in rc.virtual_hosts]
    for vhost in vhosts:
        assert virtual_host_bytes(vhost) == built(vhost), vhost.name


ROUTES = [
    RouteIR("default", RouteMatchIR(), (WeightedDestinationIR(CLUSTER, 100),), ("a/b/c",)),
    RouteIR("", RouteMatchIR(), (WeightedDestinationIR("PassthroughCluster", 100),)),
    RouteIR(
        "split",
        RouteMatchIR(StringMatchIR(MatchKind.EXACT, "/exact")),
        (
            WeightedDestinationIR(V1, 90),
            WeightedDestinationIR(V2, 10),
            WeightedDestinationIR(CLUSTER, 0),
        ),
        ("VirtualService/default/reviews", "ServiceEntry/default/reviews"),
        timeout_s=2.5,
        retries=RetryIR(3, "5xx,reset", (503,), per_try_timeout_s=0.5, backoff_s=0.1),
        rewrite=RewriteIR(prefix="/v2", authority="other"),
        mirrors=(MirrorIR(V2, 12.5),),
        stat_prefix="stats",
    ),
    RouteIR(
        "hashed",
        RouteMatchIR(StringMatchIR(MatchKind.REGEX, "/r.*"), ignore_case=True),
        (WeightedDestinationIR(V1, 100),),
        hash_policies=(HashPolicyIR(header="x-user"), HashPolicyIR(source_ip=True)),
        retries=RetryIR(0, ""),
        rewrite=RewriteIR(regex="^/a", substitution="/b"),
    ),
    RouteIR(
        "hashed-split",
        RouteMatchIR(),
        (WeightedDestinationIR(V1, 50), WeightedDestinationIR(V2, 50)),
        hash_policies=(HashPolicyIR(cookie="c", cookie_path="/", cookie_ttl_s=3.0),),
    ),
    # not covered by the fast path: built as messages, still equal
    RouteIR(
        "headers",
        RouteMatchIR(),
        (WeightedDestinationIR(V1, 100, HeaderOpsIR(request_add=(HeaderValueIR("x", "1"),))),),
    ),
]


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.name or "unnamed")
def test_routes_the_goldens_lack_assemble_to_the_built_bytes(route: RouteIR) -> None:
    for vhost_name in ("reviews.default.svc.cluster.local:8080", "allow_any"):
        expected = build_route(route, vhost_name).SerializeToString(deterministic=True)
        assert route_bytes(route, vhost_name) == expected
    vhost = VirtualHostIR("v:80", ("v", "v.default", ""), tuple(ROUTES), ("x/y/z",))
    assert virtual_host_bytes(vhost) == built(vhost)
