"""proxy-config tables over a real translation (the strict-mTLS example): every row names
the objects behind it, inbound and outbound alike."""

from __future__ import annotations

from pathlib import Path

from translators.mesh import MeshOptions
from xdscp.cache import SnapshotCache
from xdscp.debug.config_dump import TYPE_NAMES, snapshot_json
from xdscp.proxy_tables import RENDERERS
from xdscp.runtime import MeshRuntime
from xdscp.sources.files import DirectorySource

REPO = Path(__file__).resolve().parents[2]


def _tables(namespace: str, name: str) -> dict[str, str]:
    mesh = DirectorySource(
        REPO / "examples" / "strict-mtls", MeshOptions(local_mode=True), log_errors=False
    ).load()
    runtime = MeshRuntime(SnapshotCache())
    runtime.apply_now(mesh)
    workload = mesh.workload(namespace, name)
    assert workload is not None
    dumped = snapshot_json(runtime.snapshot_for(workload), list(TYPE_NAMES))
    return {word: RENDERERS[word](dumped[word]["resources"]) for word in TYPE_NAMES}


def test_callee_tables_show_the_inbound_chain_and_its_policies() -> None:
    tables = _tables("prod", "orders-v1")
    listener = tables["listeners"].splitlines()[1].split()
    assert listener[:5] == ["127.0.3.2_8080", "127.0.3.2", "8080", "inbound|8080|mtls", "ALL"]
    sources = listener[-1].split(",")
    assert "PeerAuthentication/prod/default" in sources
    assert "AuthorizationPolicy/prod/orders-readers" in sources
    inbound = next(r for r in tables["clusters"].splitlines() if " inbound " in r)
    assert inbound.split() == ["-", "8080", "-", "inbound", "STATIC", "Sidecar/prod/orders"]


def test_caller_tables_show_outbound_route_cluster_and_endpoint_with_sources() -> None:
    tables = _tables("prod", "frontend")
    route = next(r for r in tables["routes"].splitlines() if "orders.prod" in r)
    assert "outbound|8080||orders.prod.svc.cluster.local" in route
    assert route.split()[-1] == "ServiceEntry/prod/orders"
    endpoint = tables["endpoints"].splitlines()[1].split()
    assert endpoint[:4] == [
        "127.0.3.2:8080",
        "HEALTHY",
        "1",
        "outbound|8080||orders.prod.svc.cluster.local",
    ]
