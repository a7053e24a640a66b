"""Values Envoy would refuse, or that do not fit the protobuf field they become, are
refused at load with the field named — never passed on to a translator that raises or a
proxy that NACKs (issue 11 item 4; issue 9: integers above 2^32-1)."""

from __future__ import annotations

import ipaddress
import itertools
import json
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner
from envoy.config.cluster.v3 import cluster_pb2

from tests.envoy_validate import validate_resources
from translators.mesh import MeshOptions, build_mesh
from translators.model.checks import is_ip
from translators.model.envoy_commands import (
    ARGUMENT_COMMANDS,
    BARE_COMMANDS,
    OPTIONAL_ARGUMENT_COMMANDS,
)
from translators.translate import MeshTranslator
from xdscp.cli import main
from xdscp.sources.documents import parse_text


def refusal(text: str) -> tuple[str, str]:
    """(field, message) of the one error `text` (one document) yields."""
    result = parse_text(textwrap.dedent(text), "mesh.yaml")
    assert not result.objects, [o.ref for o in result.objects]
    assert len(result.errors) == 1, [str(e) for e in result.errors]
    return result.errors[0].field, result.errors[0].message


def accepted(text: str) -> None:
    result = parse_text(textwrap.dedent(text), "mesh.yaml")
    assert not result.errors, [str(e) for e in result.errors]


VS = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: r}
spec:
  hosts: [%s]
  http:
  - route:
    - destination: {host: a}
      weight: %s
    - destination: {host: b}
      weight: 1
"""


def test_route_weight_above_2_to_the_40_is_refused_with_its_field() -> None:
    field, message = refusal(VS % ("a", 2**40))
    assert field == "spec.http[0].route[0].weight"
    assert "2147483647" in message


def test_route_weights_whose_sum_overflows_uint32_are_refused() -> None:
    three = VS % ("a", 2**31 - 1) + "      weight: 1\n"
    text = three.replace(
        "    - destination: {host: b}\n      weight: 1\n",
        "    - destination: {host: b}\n      weight: 2147483647\n"
        "    - destination: {host: c}\n      weight: 2147483647\n",
    )
    result = parse_text(text.removesuffix("      weight: 1\n"), "mesh.yaml")
    assert [e.field for e in result.errors] == ["spec.http[0].route"]
    assert "more than 4294967295" in result.errors[0].message


DR_POOL = """\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: d}
spec:
  host: a
  trafficPolicy:
    connectionPool:
      %s
"""


@pytest.mark.parametrize(
    ("pool", "field"),
    [
        ("tcp: {maxConnections: 4294967296}", "tcp.maxConnections"),
        ("http: {http1MaxPendingRequests: 2147483648}", "http.http1MaxPendingRequests"),
        ("http: {maxRetries: -1}", "http.maxRetries"),
        ("tcp: {tcpKeepalive: {probes: 4294967296}}", "tcp.tcpKeepalive.probes"),
        ("tcp: {connectTimeout: 1.5ms}", "tcp.connectTimeout"),
        ("tcp: {connectTimeout: 99999999999999h}", "tcp.connectTimeout"),
    ],
)
def test_connection_pool_limits(pool: str, field: str) -> None:
    got, _ = refusal(DR_POOL % pool)
    assert got == f"spec.trafficPolicy.connectionPool.{field}"


def test_load_balancer_sizes_envoy_refuses() -> None:
    lb = DR_POOL.replace("connectionPool:", "loadBalancer:")
    got, message = refusal(lb % "consistentHash: {useSourceIp: true, maglev: {tableSize: 65536}}")
    assert got == "spec.trafficPolicy.loadBalancer.consistentHash.maglev.tableSize"
    assert "prime" in message
    got, _ = refusal(
        lb % "consistentHash: {useSourceIp: true, ringHash: {minimumRingSize: 9000000}}"
    )
    assert got == "spec.trafficPolicy.loadBalancer.consistentHash.ringHash.minimumRingSize"
    accepted(lb % "consistentHash: {useSourceIp: true, maglev: {tableSize: 65537}}")


WE = """\
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: w}
spec:
  address: %s
  labels: {app: a}
"""


@pytest.mark.parametrize("address", ['""', "a..example.com", "'unix://relative'", "'-a.com'"])
def test_workload_entry_address_must_be_an_address(address: str) -> None:
    field, _ = refusal(WE % address)
    assert field == "spec.address"


@pytest.mark.parametrize("address", ["a.example.com", "'unix:///s'", "'unix://@abstract'"])
def test_workload_entry_without_ip_is_accepted_but_no_workload(address: str) -> None:
    # Istio accepts a DNS name or a unix socket; xdscp reports it as not translated (XDS0807)
    result = parse_text(WE % address, "mesh.yaml")
    assert not result.errors, [str(e) for e in result.errors]
    mesh = build_mesh(result.objects)
    assert mesh.objects and not mesh.workloads


def test_workload_entry_weight_and_ports() -> None:
    assert refusal(WE % "10.0.0.1" + "  weight: 1099511627776\n")[0] == "spec.weight"
    assert refusal(WE % "10.0.0.1" + "  ports: {http: 70000}\n")[0] == "spec.ports"


SE = """\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: e}
spec:
  hosts: [%s]
  resolution: %s
  ports: [{number: 80, name: http, protocol: HTTP}]
  endpoints: [{address: %s}]
"""


@pytest.mark.parametrize(
    ("host", "resolution", "address", "field"),
    [
        ("api.example.com", "STATIC", '""', "spec.endpoints[0].address"),
        ("api.example.com", "STATIC", "10.0.2.1inf", "spec.endpoints[0].address"),
        ("api.example.com", "STATIC", "'unix://relative/path'", "spec.endpoints[0].address"),
        ("api.example.com", "DNS", "'unix:///abs.sock'", "spec.endpoints[0].address"),
        ("api.example.com", "DNS", "bad_name.example.com", "spec.endpoints[0].address"),
        ('"*"', "STATIC", "10.0.0.1", "spec.hosts"),
        ("a.*.example.com", "STATIC", "10.0.0.1", "spec.hosts"),
    ],
)
def test_service_entry_hosts_and_endpoints(
    host: str, resolution: str, address: str, field: str
) -> None:
    assert refusal(SE % (host, resolution, address))[0] == field


def test_service_entry_duplicate_port_numbers() -> None:
    text = (SE % ("a.example.com", "STATIC", "10.0.0.1")).replace(
        "ports: [{number: 80, name: http, protocol: HTTP}]",
        "ports: [{number: 80, name: http, protocol: HTTP}, {number: 80, name: web}]",
    )
    field, message = refusal(text)
    assert (field, "port numbers must be unique" in message) == ("spec", True)


HEADERS = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: r}
spec:
  hosts: [a]
  http:
  - headers:
      request:
        set: {%s: %s}
    route:
    - destination: {host: a}
"""


@pytest.mark.parametrize(
    "value", ['"100%"', '"abc%123"', '"%START_TIME%%"', '"a\\nb"', '"%REQ(x"', '"\\x01"']
)
def test_header_values_envoy_refuses(value: str) -> None:
    field, _ = refusal(HEADERS % ("x-a", value))
    assert field == "spec.http[0].headers.request.set"


@pytest.mark.parametrize(
    "value", ['"100%%"', '"%HOSTNAME%"', '"a %REQ(x-b)% c"', '"%START_TIME(%s)%"', '"plain"']
)
def test_header_values_envoy_accepts(value: str) -> None:
    accepted(HEADERS % ("x-a", value))


def test_header_match_names_are_tokens() -> None:
    text = VS % ("a", 1)
    text = text.replace("  - route:", '  - match: [{headers: {"x a": {exact: b}}}]\n    route:')
    assert refusal(text)[0] == "spec.http[0].match[0].headers"


@pytest.mark.parametrize(
    ("hosts", "field"),
    [('"*"', "spec.hosts[0]"), ("a.*.com", "spec.hosts[0]"), ('""', "spec.hosts[0]")],
)
def test_virtual_service_hosts(hosts: str, field: str) -> None:
    assert refusal(VS % (hosts, 1))[0] == field


def test_sni_hosts_and_retry_policies() -> None:
    tls = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: t}
spec:
  hosts: [a.example.com]
  tls:
  - match: [{sniHosts: [%s]}]
    route: [{destination: {host: a.example.com}}]
"""
    assert refusal(tls % "a.*.example.com")[0] == "spec.tls[0].match[0].sniHosts"
    accepted(tls % "a.example.com")
    # Istio: an SNI host must lie within one of the VirtualService's hosts
    assert refusal(tls % '"*.example.com"')[0] == "spec.tls[0].match[0].sniHosts[0]"
    retry = (VS % ("a", 1)).replace(
        "  - route:", "  - retries: {attempts: 2147483648, retryOn: 5xx}\n    route:"
    )
    assert refusal(retry)[0] == "spec.http[0].retries.attempts"
    retry_on = retry.replace("2147483648", "3").replace("5xx", "'5xx,sometimes'")
    assert refusal(retry_on)[0] == "spec.http[0].retries.retryOn"


def test_durations_have_millisecond_precision() -> None:
    timeout = (VS % ("a", 1)).replace("  - route:", "  - timeout: %s\n    route:")
    assert refusal(timeout % "1500us")[0] == "spec.http[0].timeout"
    accepted(timeout % "1.5s")
    accepted(timeout % "1m30s")


def test_unix_endpoints_become_pipes_envoy_accepts() -> None:
    text = textwrap.dedent(SE % ("sock.example.com", "STATIC", "'unix:///var/run/app.sock'"))
    text += "---\n" + textwrap.dedent(WE % "10.0.0.9")
    parsed = parse_text(text, "mesh.yaml")
    assert not parsed.errors, [str(e) for e in parsed.errors]
    mesh = build_mesh(parsed.objects, parsed.errors, MeshOptions())
    resources = MeshTranslator(mesh).translate(mesh.workloads["default/w"]).resources
    pipes = [
        lb.endpoint.address.pipe.path
        for r in resources
        if r.type_url.endswith("ClusterLoadAssignment")
        for locality in r.message.endpoints  # type: ignore[attr-defined]
        for lb in locality.lb_endpoints
    ]
    assert pipes == ["/var/run/app.sock"]
    verdict = validate_resources(resources)
    assert verdict.ok, str(verdict)


def test_validate_cli_names_the_field_without_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "mesh.yaml").write_text(VS % ("a", 2**40) + "---\n" + WE % "a..b")
    result = CliRunner().invoke(main, ["validate", str(tmp_path)])
    assert result.exit_code != 0
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert "field spec.http[0].route[0].weight" in result.output
    assert "WorkloadEntry default/w: field spec.address" in result.output


TELEMETRY = """\
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: t}
spec:
  accessLogging:
  - filter: {expression: %s}
"""


@pytest.mark.parametrize("expression", ['"(("', '"a =="', '"\'open"', '"()"', '"a) || (b"'])
def test_access_log_filters_that_do_not_parse_are_refused(expression: str) -> None:
    assert refusal(TELEMETRY % expression)[0] == "spec.accessLogging[0].filter.expression"


def test_access_log_filters_envoy_parses_are_accepted() -> None:
    for expression in (
        '"response.code >= 400"',
        "\"has(request.headers.x) && request.headers['x'] != 'y'\"",
        "\"size(request.path) > 3 || xds.cluster_name == 'a'\"",
    ):
        accepted(TELEMETRY % expression)
    text = textwrap.dedent(TELEMETRY % "\"response.code >= 400 && !(request.path == '/')\"")
    parsed = parse_text(text + "---\n" + WE % "10.0.0.9", "mesh.yaml")
    mesh = build_mesh(parsed.objects, parsed.errors, MeshOptions())
    resources = MeshTranslator(mesh).translate(mesh.workloads["default/w"]).resources
    verdict = validate_resources(resources)
    assert verdict.ok, str(verdict)


DNS_RR = """\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: rr}
spec:
  hosts: [rr.example.com]
  resolution: DNS_ROUND_ROBIN
  ports: [{number: 80, name: http, protocol: HTTP}]
  workloadSelector: {labels: {app: a}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: rr}
spec:
  host: rr.example.com
  subsets: [{name: none, labels: {version: none}}]
---
"""


def test_logical_dns_clusters_get_exactly_one_endpoint() -> None:
    """A DNS_ROUND_ROBIN service selecting two workloads (and a subset selecting none):
    Envoy refuses a LOGICAL_DNS cluster without exactly one endpoint; as Istio, the first
    is kept and the empty subset's cluster is left out."""
    text = (
        textwrap.dedent(DNS_RR)
        + WE % "10.0.0.9"
        + "---\n"
        + (WE % "10.0.0.8").replace("name: w", "name: w2")
    )
    parsed = parse_text(text, "mesh.yaml")
    assert not parsed.errors, [str(e) for e in parsed.errors]
    mesh = build_mesh(parsed.objects, parsed.errors, MeshOptions())
    resources = MeshTranslator(mesh).translate(mesh.workloads["default/w"]).resources
    clusters = {
        r.message.name: r.message for r in resources if isinstance(r.message, cluster_pb2.Cluster)
    }
    rr = clusters["outbound|80||rr.example.com"]
    assert [len(loc.lb_endpoints) for loc in rr.load_assignment.endpoints] == [1]
    assert "outbound|80|none|rr.example.com" not in clusters
    verdict = validate_resources(resources)
    assert verdict.ok, str(verdict)


def test_a_workload_entry_without_an_address_is_refused() -> None:
    text = WE.replace("  address: %s\n", "")
    assert refusal(text)[0] == "spec.address"


def test_sidecar_listener_ports_are_unique() -> None:
    """Two ingress listeners on one port made the inbound cluster twice (Envoy: duplicate
    cluster); Istio refuses it."""
    sidecar = """\
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: s}
spec:
  %s:
  - {port: {number: 8080, protocol: HTTP, name: a}, %s}
  - {port: {number: 8080, protocol: HTTP, name: b}, %s}
"""
    endpoint = "defaultEndpoint: '127.0.0.1:18080'"
    assert refusal(sidecar % ("ingress", endpoint, endpoint))[0] == "spec.ingress"
    hosts = "hosts: [./*]"
    assert refusal(sidecar % ("egress", hosts, hosts))[0] == "spec.egress"


@pytest.mark.parametrize("value", ['"%FOO%"', '"%REQ()%"', '"%HOSTNAME(x)%"', '"%REQ%"'])
def test_header_commands_envoy_does_not_know_are_refused(value: str) -> None:
    assert refusal(HEADERS % ("x-a", value))[0] == "spec.http[0].headers.request.set"


def test_every_header_command_accepted_is_accepted_by_envoy() -> None:
    """The command table re-checked against the Envoy in use: one route setting a header
    per known command (with an argument where one is needed) must pass `envoy --mode
    validate`; and an unknown command is what Envoy refuses."""
    values = [f"%{c}%" for c in sorted(BARE_COMMANDS | OPTIONAL_ARGUMENT_COMMANDS)]
    values += [f"%{c}(x)%" for c in sorted(ARGUMENT_COMMANDS | OPTIONAL_ARGUMENT_COMMANDS)]
    headers = "".join(f"          x-{i}: {json.dumps(v)}\n" for i, v in enumerate(values))
    text = (HEADERS % ("x-a", "v")).replace("        set: {x-a: v}\n", f"        set:\n{headers}")
    service = (SE % ("a", "STATIC", "10.0.0.1")).replace("{name: e}", "{name: a}")
    parsed = parse_text("---\n".join([text, service, WE % "10.0.0.9"]), "mesh.yaml")
    assert not parsed.errors, [str(e) for e in parsed.errors][:3]
    mesh = build_mesh(parsed.objects, parsed.errors, MeshOptions())
    resources = MeshTranslator(mesh).translate(mesh.workloads["default/w"]).resources
    sent = str([r.message for r in resources])
    assert "%UPSTREAM_METADATA(x)%" in sent and "%HOSTNAME%" in sent
    verdict = validate_resources(resources)
    assert verdict.ok, str(verdict)


def test_sidecar_ingress_to_a_unix_socket_application() -> None:
    """`defaultEndpoint: unix:///path` (Istio allows it) crashed translation (`int('///a')`);
    it is a pipe endpoint of the inbound cluster, which Envoy accepts."""
    sidecar = """\
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: s}
spec:
  workloadSelector: {labels: {app: a}}
  ingress:
  - {port: {number: 8080, protocol: HTTP, name: http}, defaultEndpoint: 'unix:///var/run/a.sock'}
"""
    parsed = parse_text(sidecar + "---\n" + WE % "10.0.0.9", "mesh.yaml")
    assert not parsed.errors, [str(e) for e in parsed.errors]
    mesh = build_mesh(parsed.objects, parsed.errors, MeshOptions())
    resources = MeshTranslator(mesh).translate(mesh.workloads["default/w"]).resources
    inbound = next(
        r.message
        for r in resources
        if isinstance(r.message, cluster_pb2.Cluster) and r.message.name == "inbound|8080||"
    )
    pipes = [
        lb.endpoint.address.pipe.path
        for locality in inbound.load_assignment.endpoints
        for lb in locality.lb_endpoints
    ]
    assert pipes == ["/var/run/a.sock"]
    verdict = validate_resources(resources)
    assert verdict.ok, str(verdict)


def test_durations_envoy_can_hold() -> None:
    """315576000000s (protobuf's maximum) passed and every proxy NACKed CDS (found by the
    fuzzer): Envoy holds durations in int64 nanoseconds."""
    pool = DR_POOL % "tcp: {connectTimeout: %s}"
    assert (
        refusal(pool % "315576000000s")[0] == "spec.trafficPolicy.connectionPool.tcp.connectTimeout"
    )
    assert refusal(pool % "2562048h")[0] == "spec.trafficPolicy.connectionPool.tcp.connectTimeout"
    longest = (pool % "9223372035s").replace("host: a", "host: a.example.com")
    service = (SE % ("a.example.com", "STATIC", "10.0.0.1")).replace("{name: e}", "{name: a}")
    parsed = parse_text("---\n".join([longest, service, WE % "10.0.0.9"]), "mesh.yaml")
    assert not parsed.errors, [str(e) for e in parsed.errors]
    mesh = build_mesh(parsed.objects, parsed.errors, MeshOptions())
    resources = MeshTranslator(mesh).translate(mesh.workloads["default/w"]).resources
    timeouts = [
        r.message.connect_timeout.seconds
        for r in resources
        if isinstance(r.message, cluster_pb2.Cluster) and "a.example.com" in r.message.name
    ]
    assert timeouts == [9223372035]
    verdict = validate_resources(resources)
    assert verdict.ok, str(verdict)


def test_mtls_sni_longer_than_tls_allows_is_left_out() -> None:
    """A 254-character subset made a 300-byte SNI and every proxy NACKed CDS (found by the
    fuzzer): subset names are DNS labels (at most 63), and an SNI that would still be too
    long (a long host) is left out rather than sent."""
    dr = """\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: d}
spec:
  host: %s
  subsets: [{name: %s, labels: {app: a}}]
"""
    assert refusal(dr % ("a", "s" * 64))[0] == "spec.subsets[0].name"
    host = "h" * 60 + "." + "i" * 60 + "." + "j" * 60 + ".example.com"
    mesh_text = "---\n".join(
        [
            dr % (host, "s" * 63),
            (SE % (host, "STATIC", "10.0.0.1"))
            .replace("{name: e}", "{name: a}")
            .replace("  endpoints: [{address: 10.0.0.1}]\n", "")
            + "  location: MESH_INTERNAL\n  workloadSelector: {labels: {app: a}}\n",
            (WE % "10.0.0.9"),
        ]
    )
    parsed = parse_text(mesh_text, "mesh.yaml")
    assert not parsed.errors, [str(e) for e in parsed.errors]
    mesh = build_mesh(parsed.objects, parsed.errors, MeshOptions())
    resources = MeshTranslator(mesh).translate(mesh.workloads["default/w"]).resources
    mtls = [
        r.message.name
        for r in resources
        if isinstance(r.message, cluster_pb2.Cluster) and host in r.message.name
        if r.message.transport_socket.name or r.message.transport_socket_matches
    ]
    assert mtls, "the service's clusters should use mesh mTLS"
    verdict = validate_resources(resources)
    assert verdict.ok, str(verdict)


def test_is_ip_agrees_with_ipaddress_on_dotted_digits() -> None:
    """`is_ip` checks digits-and-dots itself (fast path): the same verdicts as ipaddress."""

    def standard(value: str) -> bool:
        try:
            ipaddress.ip_address(value)
        except ValueError:
            return False
        return True

    octets = ["0", "1", "9", "10", "99", "100", "255", "256", "00", "01", "007", "0255", ""]
    cases = [".".join(p) for p in itertools.product(octets, repeat=4)]
    cases += ["1.2.3", "1.2.3.4.5", ".1.2.3.4", "::1", "fe80::1", "1.2.3.4 ", "a.b.c.d"]
    assert [c for c in cases if is_ip(c) != standard(c)] == []
    assert is_ip("10.0.0.1") and not is_ip("10.0.0.01") and not is_ip("256.0.0.1")
