"""The straight line `service_clusters` takes for the usual service (EDS, no traffic
policy, no locality: translators/view/clusters.py `_plain_clusters`) builds exactly the
IR of the general loop (`general_service_clusters`): on every golden mesh's services as
each namespace sees them, and on random services, rules and auto-mTLS states."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.golden.cases import all_cases, load_mesh
from translators.index import MeshIndex
from translators.mesh import Endpoint, Service
from translators.model.networking import Location, Protocol, Resolution, ServicePort
from translators.model.objects import MeshObject, Origin, parse_object
from translators.security.upstream import UpstreamPeers
from translators.view.clusters import general_service_clusters, service_clusters


@pytest.mark.parametrize("case", all_cases(), ids=lambda c: c.name)
def test_every_golden_service_as_every_namespace_sees_it(case: object) -> None:
    mesh = load_mesh(case)  # type: ignore[arg-type]
    index = MeshIndex.of(mesh, lambda dep: None)
    namespaces = {w.namespace for w in mesh.workloads.values()} | {
        s.namespace for s in mesh.services.values()
    }
    for service in mesh.services.values():
        peers = index.security.upstream_peers(service)
        for namespace in sorted(namespaces):
            dr = index.destination_rule(service.hostname, service.namespace, namespace)
            for given_peers in (peers, None):
                assert service_clusters(service, dr, given_peers) == general_service_clusters(
                    service, dr, given_peers
                ), (service.hostname, namespace)


def _mostly(usual: Any, *others: Any) -> st.SearchStrategy[Any]:
    """`usual` three times in four (the plain path's case), else one of `others`."""
    return st.sampled_from([usual, usual, usual, *others])


_LABELS = st.dictionaries(st.sampled_from(["app", "version"]), st.sampled_from(["a", "b"]))


def _rule(subsets: list[tuple[dict[str, str], bool]], top_policy: bool) -> MeshObject[Any]:
    policy = {"loadBalancer": {"simple": "RANDOM"}}
    spec: dict[str, Any] = {
        "host": "svc",
        "subsets": [
            {"name": f"s{i}", "labels": labels, **({"trafficPolicy": policy} if own else {})}
            for i, (labels, own) in enumerate(subsets)
        ],
    }
    if top_policy:
        spec["trafficPolicy"] = {"connectionPool": {"tcp": {"maxConnections": 5}}}
    doc = {
        "apiVersion": "networking.istio.io/v1",
        "kind": "DestinationRule",
        "metadata": {"name": "svc", "namespace": "default"},
        "spec": spec,
    }
    parsed = parse_object(doc, Origin("property.yaml"))
    assert isinstance(parsed, MeshObject)
    return parsed


@settings(max_examples=150, deadline=None)
@given(
    endpoints=st.lists(
        st.tuples(_LABELS, _mostly("", "r/z/s"), st.booleans(), _mostly(True, False)),
        max_size=4,
    ),
    ports=st.lists(
        st.tuples(st.sampled_from([80, 8080, 9090]), st.sampled_from(list(Protocol))),
        min_size=1,
        max_size=2,
        unique_by=lambda p: p[0],
    ),
    subsets=st.lists(st.tuples(_LABELS, _mostly(False, True)), max_size=3),
    rule=_mostly("plain", "none", "top-policy"),
    resolution=_mostly(Resolution.STATIC, *Resolution),
    location=_mostly(Location.MESH_INTERNAL, Location.MESH_EXTERNAL),
    with_peers=st.booleans(),
)
def test_random_services_take_the_general_loops_clusters(
    endpoints: list[tuple[dict[str, str], str, bool, bool]],
    ports: list[tuple[int, Protocol]],
    subsets: list[tuple[dict[str, str], bool]],
    rule: str,
    resolution: Resolution,
    location: Location,
    with_peers: bool,
) -> None:
    service_ports = tuple(
        ServicePort(number=number, protocol=protocol, name=f"p{number}")
        for number, protocol in ports
    )
    service = Service(
        "svc.default.svc.cluster.local",
        "default",
        service_ports,
        location,
        resolution,
        tuple(
            Endpoint(
                f"10.0.0.{i}",
                {"p80": 8000} if i % 2 else {},
                labels,
                "default",
                weight=1 + i,
                workload=f"default/w{i}" if named else "",
                locality=locality,
            )
            for i, (labels, locality, named, _) in enumerate(endpoints)
        ),
        "ServiceEntry/default/svc",
        "digest",
    )
    peers = None
    if with_peers:
        peers = UpstreamPeers(
            tuple(tuple(on for *_, on in endpoints) for _ in service_ports),
            ("spiffe://cluster.local/ns/default/sa/default",),
            ("PeerAuthentication/default/p",),
            ("spiffe://cluster.local/ns/default/sa/default",),
        )
    dr = None if rule == "none" else _rule(subsets, rule == "top-policy")
    assert service_clusters(service, dr, peers) == general_service_clusters(service, dr, peers)
