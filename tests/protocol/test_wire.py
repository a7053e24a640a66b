"""Hand-assembled responses must parse as the equivalent protobuf messages."""

from __future__ import annotations

from envoy.config.core.v3 import base_pb2
from envoy.service.discovery.v3 import discovery_pb2
from google.protobuf import any_pb2

from xdscp.cache import CLUSTER_TYPE, ENDPOINT_TYPE, ROUTE_TYPE, TypeSnapshot
from xdscp.server.identity import spiffe_id_from_auth_context
from xdscp.server.stream import names_in_error
from xdscp.server.wire import (
    SotwResponses,
    control_plane_message,
    delta_resource_field,
    delta_response,
    empty_cla,
    nonce_field,
    sotw_body,
)

from .resources import cla, eds_cluster, route_config


def _any(type_url: str, body: bytes) -> any_pb2.Any:
    return any_pb2.Any(type_url=type_url, value=body)


def test_prepared_response_parses_with_its_nonce() -> None:
    ts = TypeSnapshot.of(CLUSTER_TYPE, [eds_cluster("a")])
    prepared = SotwResponses("cp").prepare(ts, None)
    parsed = discovery_pb2.DiscoveryResponse.FromString(prepared.response)
    assert parsed.nonce == prepared.nonce and parsed.version_info == ts.version
    assert parsed.control_plane.identifier == "cp" and len(parsed.resources) == 1


def test_sotw_bytes_parse_as_equivalent_discovery_response() -> None:
    resources = [eds_cluster("a"), eds_cluster("b")]
    body = sotw_body(CLUSTER_TYPE, "v1", resources, control_plane_message("cp-1"))
    parsed = discovery_pb2.DiscoveryResponse.FromString(body + nonce_field("n-7"))
    expected = discovery_pb2.DiscoveryResponse(
        version_info="v1",
        resources=[_any(CLUSTER_TYPE, r.body) for r in resources],
        type_url=CLUSTER_TYPE,
        nonce="n-7",
        control_plane=base_pb2.ControlPlane(identifier="cp-1"),
    )
    assert parsed == expected
    # Byte-identical too, since fields are emitted in field-number order except the nonce.
    assert discovery_pb2.DiscoveryResponse.FromString(expected.SerializeToString()) == parsed
    # the nonce joined in (what the server sends) is the same bytes as appended
    with_nonce = sotw_body(CLUSTER_TYPE, "v1", resources, control_plane_message("cp-1"), "n-7")
    assert with_nonce == body + nonce_field("n-7")


def test_delta_bytes_parse_as_equivalent_delta_response() -> None:
    a = eds_cluster("a")
    data = delta_response(
        CLUSTER_TYPE,
        "sys-1",
        [delta_resource_field(a)],
        ["gone"],
        "n-1",
        control_plane_message("x"),
    )
    parsed = discovery_pb2.DeltaDiscoveryResponse.FromString(data)
    expected = discovery_pb2.DeltaDiscoveryResponse(
        system_version_info="sys-1",
        resources=[
            discovery_pb2.Resource(name="a", version=a.version, resource=_any(CLUSTER_TYPE, a.body))
        ],
        type_url=CLUSTER_TYPE,
        removed_resources=["gone"],
        nonce="n-1",
        control_plane=base_pb2.ControlPlane(identifier="x"),
    )
    assert parsed == expected


def test_bodies_are_shared_by_content_and_subset_versions_are_stable() -> None:
    bodies = SotwResponses()
    one = TypeSnapshot.of(ENDPOINT_TYPE, [cla("a"), cla("b")])
    two = TypeSnapshot.of(ENDPOINT_TYPE, [cla("b"), cla("a")])  # same content, other object
    first = bodies.prepare(one, frozenset({"a"}))
    again = bodies.prepare(two, frozenset({"a"}))
    assert again is first and again.response is first.response
    assert bodies.prepare(one, frozenset({"a", "b"})).version != first.version
    # A change to a resource outside the subset keeps the subset's version.
    three = TypeSnapshot.of(ENDPOINT_TYPE, [cla("a"), cla("b", [1])])
    assert bodies.prepare(three, frozenset({"a"})).version == first.version
    # Full state uses the TypeSnapshot version.
    routes = TypeSnapshot.of(ROUTE_TYPE, [route_config("80", "a")])
    assert bodies.prepare(routes, None).version == routes.version


def test_body_cache_is_bounded() -> None:
    bodies = SotwResponses(max_entries=2)
    for port in range(5):
        bodies.prepare(TypeSnapshot.of(ENDPOINT_TYPE, [cla("a", [port])]), frozenset({"a"}))
    assert len(bodies) == 2


def test_empty_cla_is_a_valid_assignment() -> None:
    from envoy.config.endpoint.v3 import endpoint_pb2

    msg = endpoint_pb2.ClusterLoadAssignment.FromString(empty_cla("ghost").body)
    assert msg == endpoint_pb2.ClusterLoadAssignment(cluster_name="ghost")


def test_nack_blames_whole_names_only() -> None:
    error = "Error adding/updating cluster(s) outbound|80||b.ns.svc.cluster.local, bad: invalid"
    assert names_in_error("outbound|80||b.ns.svc.cluster.local", error)
    assert names_in_error("bad", error)
    assert not names_in_error("b", error)
    assert not names_in_error("80", error)


def test_spiffe_id_from_auth_context() -> None:
    sid = b"spiffe://cluster.local/ns/default/sa/web"
    assert spiffe_id_from_auth_context({"peer_spiffe_id": [sid]}) == sid.decode()
    sans = {"x509_subject_alternative_name": [b"web.default.svc", sid]}
    assert spiffe_id_from_auth_context(sans) == sid.decode()
    two = {"x509_subject_alternative_name": [sid, b"spiffe://cluster.local/ns/x/sa/y"]}
    assert spiffe_id_from_auth_context(two) is None
    assert spiffe_id_from_auth_context({"transport_security_type": [b"insecure"]}) is None


def test_a_large_response_is_kept_only_while_a_stream_holds_it() -> None:
    """A multi-MB response (a 10,000-service route configuration: a new one per edit)
    is shared by every stream that holds it, and freed once none does, instead of
    sitting in the LRU for no one; small responses stay in the LRU."""
    import weakref

    from envoy.config.route.v3 import route_pb2

    from xdscp.cache import make_resource

    config = route_pb2.RouteConfiguration(name="r" * 3_000_000)
    big = TypeSnapshot.of(ROUTE_TYPE, [make_resource(ROUTE_TYPE, "r", config)])
    bodies = SotwResponses()
    held = bodies.prepare(big, None)
    assert bodies.prepare(big, None) is held and (bodies.hits, bodies.misses) == (1, 1)
    assert len(bodies) == 1
    gone = weakref.ref(held)
    del held
    assert gone() is None and len(bodies) == 0  # freed with its last holder
    assert bodies.prepare(big, None).response  # built again when asked again
    small = bodies.prepare(TypeSnapshot.of(CLUSTER_TYPE, [eds_cluster("a")]), None)
    del small
    assert len(bodies) == 1  # kept for later streams


def test_type_snapshot_versions_hash_each_name_and_version_in_name_order() -> None:
    """The C-speed text of a TypeSnapshot's version is `name\\0version\\0` per resource
    in name order, as it always was (versions are compared with what proxies hold)."""
    import hashlib

    resources = [eds_cluster(n, timeout_s=i + 1) for i, n in enumerate(("b", "a", "c"))]
    text = "".join(f"{r.name}\0{r.version}\0" for r in sorted(resources, key=lambda r: r.name))
    expected = hashlib.blake2b(text.encode(), digest_size=8).hexdigest()
    assert TypeSnapshot.of(CLUSTER_TYPE, resources).version == expected
    empty = hashlib.blake2b(b"", digest_size=8).hexdigest()
    assert TypeSnapshot.of(CLUSTER_TYPE, []).version == empty
