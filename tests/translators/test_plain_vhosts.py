"""The straight line `virtual_host_for` takes for the usual VirtualService (a first rule
without match blocks that only routes: translators/traffic/vhosts.py
`_plain_virtual_host`) builds exactly the virtual host of the general rule translation
(`general_virtual_host`), reading exactly what it reads (the piece's dependencies): on
every golden mesh's services as every caller sees them, and on random rules."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from benchmarks.meshgen import synthetic_mesh
from tests.golden.cases import GoldenCase, every_case, load_mesh
from translators.index import Dep, MeshIndex
from translators.ir import VirtualHostIR
from translators.mesh import MeshConfig, MeshOptions, Service, build_mesh
from translators.model.networking import HTTP_PROTOCOLS, HTTPRoute, VirtualServiceSpec
from translators.model.objects import MeshObject, Origin, parse_object
from translators.traffic.source import SourceIR
from translators.traffic.vhosts import (
    _plain_virtual_host,
    general_virtual_host,
    virtual_host_for,
)

Built = tuple[VirtualHostIR, frozenset[Dep]]


def _both(
    mesh: MeshConfig,
    service: Service,
    port: int,
    vs: MeshObject[VirtualServiceSpec] | None,
    same_namespace: bool,
    source: SourceIR,
) -> tuple[Built, Built]:
    """The virtual host by `virtual_host_for` and by the general path, each with what its
    lookups recorded (a fresh index each: the index caches per VirtualService)."""
    out: list[Built] = []
    for build in (virtual_host_for, general_virtual_host):
        read: set[Dep] = set()
        index = MeshIndex.of(mesh, read.add)
        read.clear()
        out.append((build(service, port, vs, same_namespace, index, source), frozenset(read)))
    return out[0], out[1]


def _callers(mesh: MeshConfig, index: MeshIndex) -> list[SourceIR]:
    """Every workload's namespace with the rules selecting it, and every namespace bare."""
    found = {SourceIR(w.namespace, (), index.selecting_rules(w)) for w in mesh.workloads.values()}
    found |= {SourceIR(s.namespace) for s in mesh.services.values()}
    return sorted(found, key=repr)


@pytest.mark.parametrize("case", every_case(), ids=lambda c: c.name)
def test_every_golden_service_as_every_caller_sees_it(case: GoldenCase) -> None:
    mesh = load_mesh(case)
    index = MeshIndex.of(mesh)
    for source in _callers(mesh, index):
        for service in mesh.services.values():
            vs, _ = index.virtual_service(service.hostname, source.namespace)
            if vs is None:
                continue
            for port in service.ports:
                if port.protocol not in HTTP_PROTOCOLS:
                    continue
                same = service.namespace == source.namespace
                fast, general = _both(mesh, service, port.number, vs, same, source)
                assert fast == general, (service.hostname, port.number, source)


def test_every_rule_field_is_judged_by_the_straight_line() -> None:
    """The straight line reads a rule's name, route and timeout and declines a rule with
    any other field that shapes a route: a field added to `HTTPRoute` must be judged
    there first (else the straight line would drop it silently), then listed here."""
    read = {"name", "route", "timeout"}
    declined = {
        "match",
        "redirect",
        "direct_response",
        "rewrite",
        "retries",
        "fault",
        "mirror",
        "mirrors",
        "cors_policy",
        "headers",
    }
    # never with a route (refused), with a mirror only, ignored by both paths
    moot = {"delegate", "mirror_percentage", "mirror_percent", "websocket_upgrade"}
    assert set(HTTPRoute.model_fields) == read | declined | moot


def test_the_usual_canary_takes_the_straight_line() -> None:
    """The benchmark's service (a 90/10 split over two subsets) is what the straight line
    is for: it must not fall back to the general path."""
    mesh = synthetic_mesh(1)
    index = MeshIndex.of(mesh)
    service = next(iter(mesh.services.values()))
    vs, _ = index.virtual_service(service.hostname, "default")
    assert vs is not None
    plain = _plain_virtual_host(service, 8080, vs, True, index, SourceIR("default"))
    assert plain is not None
    assert [(d.destination, d.weight) for d in plain.routes[0].destinations] == [
        (f"outbound|8080|v1|{service.hostname}", 90),
        (f"outbound|8080|v2|{service.hostname}", 10),
    ]


def _doc(kind: str, name: str, spec: dict[str, Any], namespace: str = "default") -> dict[str, Any]:
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": kind,
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def _service(name: str, ports: list[int]) -> dict[str, Any]:
    return _doc(
        "ServiceEntry",
        name,
        {
            "hosts": [f"{name}.default.svc.cluster.local"],
            "location": "MESH_INTERNAL",
            "resolution": "STATIC",
            "ports": [{"number": p, "name": f"http-{p}", "protocol": "HTTP"} for p in ports],
            "endpoints": [{"address": "10.0.0.1", "labels": {"version": "v1"}}],
        },
    )


def _mostly(usual: Any, *others: Any) -> st.SearchStrategy[Any]:
    """`usual` three times in four (the plain path's case), else one of `others`."""
    return st.sampled_from([usual, usual, usual, *others])


_DESTINATION = st.fixed_dictionaries(
    {
        "destination": st.fixed_dictionaries(
            {"host": st.sampled_from(["svc", "other", "other.default.svc.cluster.local", "gone"])},
            optional={
                "subset": st.sampled_from(["v1", "v2"]),
                "port": st.fixed_dictionaries({"number": st.sampled_from([80, 8080])}),
            },
        ),
        "weight": st.sampled_from([0, 10, 90, 100]),
    },
    optional={"headers": st.just({"request": {"set": {"x-a": "1"}}})},
)
# what a rule may carry besides its route, each a reason for the general path
_EXTRAS: dict[str, Any] = {
    "match": [{"uri": {"prefix": "/a"}}],
    "retries": {"attempts": 3},
    "timeout": "2s",
    "fault": {"abort": {"httpStatus": 503, "percentage": {"value": 10}}},
    "headers": {"request": {"set": {"x-b": "2"}}},
    "mirror": {"host": "other"},
    "mirrors": [{"destination": {"host": "other"}}],
    "corsPolicy": {"allowOrigins": [{"exact": "https://a"}]},
    "rewrite": {"uri": "/b"},
    "name": "named",
}
# a route and none, one or two of the extras (one alone is each one's own test)
_RULE = st.builds(
    lambda route, extras: {"route": route, **{key: _EXTRAS[key] for key in extras}},
    st.lists(_DESTINATION, min_size=1, max_size=3),
    st.lists(st.sampled_from(sorted(_EXTRAS)), max_size=2, unique=True),
)
_LOAD_BALANCER = _mostly(None, {"simple": "RANDOM"}, {"consistentHash": {"httpHeaderName": "u"}})


def _rule(host: str, top: dict[str, Any] | None, subset: dict[str, Any] | None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "host": host,
        "subsets": [
            {"name": "v1", "labels": {"version": "v1"}},
            {
                "name": "v2",
                "labels": {"version": "v2"},
                **({"trafficPolicy": {"loadBalancer": subset}} if subset else {}),
            },
        ],
    }
    if top:
        spec["trafficPolicy"] = {"loadBalancer": top}
    return spec


def _mesh_with(
    rules: list[dict[str, Any]], svc_rule: tuple[Any, Any], other_rule: tuple[Any, Any] | None
) -> MeshConfig | None:
    docs = [
        _service("svc", [8080]),
        _service("other", [80, 8080]),
        _doc("VirtualService", "svc", {"hosts": ["svc"], "http": rules}),
        _doc("DestinationRule", "svc", _rule("svc", *svc_rule)),
    ]
    if other_rule is not None:
        docs.append(_doc("DestinationRule", "other", _rule("other", *other_rule)))
    objects = []
    for doc in docs:
        parsed = parse_object(doc, Origin("property.yaml"))
        if not isinstance(parsed, MeshObject):
            return None  # (a rule Istio refuses: no routes to compare)
        objects.append(parsed)
    return build_mesh(objects, options=MeshOptions(local_mode=True))


def _check(mesh: MeshConfig, caller: str) -> None:
    service = mesh.services["svc.default.svc.cluster.local"]
    vs, _ = MeshIndex.of(mesh).virtual_service(service.hostname, caller)
    assert vs is not None
    fast, general = _both(mesh, service, 8080, vs, caller == "default", SourceIR(caller))
    assert fast == general


@pytest.mark.parametrize("extra", sorted(_EXTRAS))
def test_each_extra_alone_gives_the_general_paths_virtual_host(extra: str) -> None:
    """Each thing a rule may carry besides its route, alone on the usual split: what the
    straight line must either build as the general path does or leave to it."""
    route = [
        {"destination": {"host": "svc", "subset": "v1"}, "weight": 90},
        {"destination": {"host": "svc", "subset": "v2"}, "weight": 10},
    ]
    mesh = _mesh_with([{"route": route, extra: _EXTRAS[extra]}], (None, None), None)
    assert mesh is not None
    _check(mesh, "default")


@settings(max_examples=150, deadline=None)
@given(
    rules=st.lists(_RULE, min_size=1, max_size=2),
    svc_rule=st.tuples(_LOAD_BALANCER, _LOAD_BALANCER),
    other_rule=st.one_of(st.none(), st.tuples(_LOAD_BALANCER, _LOAD_BALANCER)),
    caller=_mostly("default", "elsewhere"),
)
def test_random_rules_take_the_general_paths_virtual_host(
    rules: list[dict[str, Any]],
    svc_rule: tuple[Any, Any],
    other_rule: tuple[Any, Any] | None,
    caller: str,
) -> None:
    mesh = _mesh_with(rules, svc_rule, other_rule)
    assume(mesh is not None)
    assert mesh is not None
    _check(mesh, caller)
