"""Run-time findings from sidecar counters: parsing Envoy's Prometheus text, traffic on
the graph's edges, the protocol-error window, and the messages naming the objects
that declared a port HTTP."""

from __future__ import annotations

from tests.e2e.harness import REPO
from translators.analysis.runtime import ProtocolErrors, protocol_error_messages
from translators.mesh import MeshOptions
from translators.translate import MeshTranslator
from xdscp.dashboard.graph import mesh_graph
from xdscp.dashboard.protocol_errors import ProtocolErrorTracker
from xdscp.dashboard.scrape import SidecarStats, parse_stats
from xdscp.dashboard.traffic import active_calls, edge_traffic
from xdscp.sources.files import DirectorySource

HOST = "order-service.default.svc.cluster.local"
V1 = f"outbound|8080|v1|{HOST}"
V2 = f"outbound|8080|v2|{HOST}"
EGRESS = "outbound_127.0.1.1_8080"  # the client's egress HTTP listener (its stat prefix)
MESH = DirectorySource(REPO / "examples" / "canary", MeshOptions(local_mode=True)).load()
TRANSLATOR = MeshTranslator(MESH)
VIEWS = {key: TRANSLATOR.view(w) for key, w in MESH.workloads.items()}

# as Envoy 1.40 writes it with xdscp's tag extractors (xdscp/stats.py)
CLIENT_STATS = f"""\
# TYPE envoy_cluster_upstream_rq_total counter
envoy_cluster_upstream_rq_total{{envoy_cluster_name="{V1}"}} 16
envoy_cluster_upstream_rq_total{{envoy_cluster_name="{V2}"}} 4
# TYPE envoy_cluster_upstream_rq_xx counter
envoy_cluster_upstream_rq_xx{{envoy_response_code_class="5",envoy_cluster_name="{V2}"}} 3
envoy_cluster_upstream_rq_xx{{envoy_response_code_class="2",envoy_cluster_name="{V1}"}} 16
# TYPE envoy_http_downstream_cx_protocol_error counter
envoy_http_downstream_cx_protocol_error{{envoy_http_conn_manager_prefix="{EGRESS}"}} 2
"""


def test_parse_stats_reads_envoy_names_exactly() -> None:
    stats = parse_stats("default/client", CLIENT_STATS, 10.0)
    assert stats.requests == {V1: 16.0, V2: 4.0}
    assert stats.errors_5xx == {V2: 3.0}
    assert stats.downstream_protocol_errors == {"outbound_127.0.1.1_8080": 2.0}
    assert stats.upstream_protocol_errors == {}


def test_edge_traffic_counts_and_rates() -> None:
    graph = mesh_graph(MESH, VIEWS)
    before = parse_stats("default/client", CLIENT_STATS.replace("} 16", "} 6"), 10.0)
    latest = {
        "default/client": parse_stats("default/client", CLIENT_STATS, 12.0),
        "default/order-v1": SidecarStats("default/order-v1", 12.0, {"inbound|8080||": 16.0}),
        "default/order-v2": SidecarStats("default/order-v2", 12.0, error="timed out"),
    }
    previous = {"default/client": before}
    assert active_calls(graph, latest) == {("default/client", HOST)}
    traffic = edge_traffic(graph, graph.calls().values(), latest, previous.get)
    call = traffic[f"workload:default/client->service:{HOST}"]
    assert call == {"requests": 20, "errors_5xx": 3, "rps": 5.0}  # (20 - 10) / 2 s
    served = traffic[f"service:{HOST}->workload:default/order-v1"]
    assert served == {"requests": 16, "errors_5xx": 0, "rps": None}
    assert f"service:{HOST}->workload:default/order-v2" not in traffic  # not scraped


def test_tracker_reports_growth_within_the_window_only() -> None:
    tracker = ProtocolErrorTracker(window=60.0)
    prefix = "outbound_127.0.1.1_8080"
    tracker.observe([SidecarStats("default/client", 100.0, downstream_protocol_errors={prefix: 0})])
    assert tracker.active(100.0) == []
    tracker.observe([SidecarStats("default/client", 110.0, downstream_protocol_errors={prefix: 2})])
    assert tracker.active(110.0) == [ProtocolErrors("default/client", 2, stat_prefix=prefix)]
    # no further growth: still reported inside the window, gone after it
    tracker.observe([SidecarStats("default/client", 150.0, downstream_protocol_errors={prefix: 2})])
    assert tracker.active(165.0) != []
    assert tracker.active(171.0) == []
    # a failed scrape changes nothing; a counter already non-zero when first seen counts
    tracker.observe([SidecarStats("default/order-v1", 200.0, error="timed out")])
    upstream = {"inbound|8080||": 1.0}
    tracker.observe([SidecarStats("default/order-v1", 200.0, upstream_protocol_errors=upstream)])
    assert tracker.active(200.0) == [
        ProtocolErrors("default/order-v1", 1, cluster="inbound|8080||")
    ]


def test_tls_on_the_client_egress_port_names_its_sidecar() -> None:
    found = ProtocolErrors("default/client", 3, stat_prefix="outbound_127.0.1.1_8080")
    (message,) = protocol_error_messages(MESH, VIEWS, [found])
    assert (message.code, message.ref) == ("XDS0701", "Sidecar/default/client")
    assert message.field == "spec.egress[0].port"
    assert message.origin is not None and message.origin.source.endswith("sidecars.yaml")
    assert "3 connection(s)" in message.text and "double encryption" in message.text
    assert message.related == ("WorkloadEntry/default/client",)


def test_an_app_serving_tls_behind_an_http_port() -> None:
    found = ProtocolErrors("default/order-v1", 1, cluster="inbound|8080||")
    (message,) = protocol_error_messages(MESH, VIEWS, [found])
    assert (message.code, message.ref) == ("XDS0702", "Sidecar/default/order-service")
    assert message.field == "spec.ingress[0].port"
    assert "serves TLS" in message.text


def test_a_destination_answering_tls_on_an_http_service_port() -> None:
    found = ProtocolErrors("default/client", 1, cluster=V1)
    (message,) = protocol_error_messages(MESH, VIEWS, [found])
    assert (message.code, message.ref) == ("XDS0702", "ServiceEntry/default/order-service")
    assert message.field == "spec.ports[0]"
    assert f"{HOST}:8080" in message.text


def test_unknown_ports_workloads_and_zero_counts_say_nothing() -> None:
    assert (
        protocol_error_messages(
            MESH,
            VIEWS,
            [
                ProtocolErrors("default/client", 1, stat_prefix="outbound_127.0.1.1_9999"),
                ProtocolErrors("default/nobody", 1, stat_prefix="outbound_127.0.1.1_8080"),
                ProtocolErrors("default/client", 0, stat_prefix="outbound_127.0.1.1_8080"),
            ],
        )
        == []
    )
