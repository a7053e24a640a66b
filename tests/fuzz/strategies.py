"""Hypothesis strategies for valid-looking Istio documents of every supported kind.

Most values are ones a user would write; a minority come from `values.py`'s edges, so a
generated mesh is often valid, sometimes valid only just, and sometimes not — the three
cases the property test needs."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from tests.fuzz import values as v

Doc = dict[str, Any]


def edgy(usual: st.SearchStrategy[Any], edges: tuple[Any, ...]) -> st.SearchStrategy[Any]:
    """Usually `usual`, sometimes one of `edges`."""
    return st.one_of(usual, usual, usual, st.sampled_from(edges))


def _opt(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[Doc]:
    """A mapping whose every key is optional."""
    return st.fixed_dictionaries({}, optional=fields)


small_int = edgy(st.integers(0, 100), v.INTS)
port = edgy(st.sampled_from((80, 8080, 9090)), v.PORTS)
percent = edgy(st.sampled_from((0, 10, 50, 100)), v.PERCENTS)
host = edgy(st.sampled_from(("order-service", "api.example.com", "*.example.com")), v.HOSTS)
address = edgy(st.sampled_from(("10.0.0.1", "10.0.0.2", "127.0.3.1")), v.ADDRESSES)
cidr = edgy(st.sampled_from(("10.0.0.0/8", "10.0.0.1")), v.CIDRS)
header_name = edgy(st.sampled_from(("x-a", "x-b", "x-user")), v.HEADER_NAMES)
header_value = edgy(st.sampled_from(("v", "a b", "%HOSTNAME%")), v.HEADER_VALUES)
duration = edgy(st.sampled_from(("1s", "100ms", "2m")), v.DURATIONS)
regex = edgy(st.sampled_from((".*", "^/api/.*", "[a-z]+")), v.REGEXES)
text = edgy(st.sampled_from(("/api", "/", "v")), v.TEXTS)
name = edgy(st.sampled_from(("a", "b", "c")), v.NAMES)
subset = edgy(st.sampled_from(("v1", "v2")), v.SUBSETS)
labels = st.sampled_from(v.LABELS)
boolean = st.booleans()


def _lists(item: st.SearchStrategy[Any], max_size: int = 3) -> st.SearchStrategy[list[Any]]:
    return st.lists(item, min_size=0, max_size=max_size)


def _non_empty(item: st.SearchStrategy[Any], max_size: int = 3) -> st.SearchStrategy[list[Any]]:
    return st.lists(item, min_size=1, max_size=max_size)


string_match = st.one_of(
    st.fixed_dictionaries({"exact": text}),
    st.fixed_dictionaries({"prefix": text}),
    st.fixed_dictionaries({"regex": regex}),
)
header_ops = _opt(
    set=st.dictionaries(header_name, header_value, max_size=2),
    add=st.dictionaries(header_name, header_value, max_size=2),
    remove=_lists(header_name, 2),
)
headers = _opt(request=header_ops, response=header_ops)
destination = st.fixed_dictionaries(
    {"host": host},
    optional={"subset": subset, "port": st.fixed_dictionaries({"number": port})},
)
percentage = st.fixed_dictionaries({"value": percent})

http_match = _opt(
    name=name,
    uri=string_match,
    scheme=string_match,
    method=string_match,
    authority=string_match,
    headers=st.dictionaries(header_name, string_match, max_size=2),
    port=port,
    queryParams=st.dictionaries(st.sampled_from(("q", "", "a b")), string_match, max_size=1),
    ignoreUriCase=boolean,
    withoutHeaders=st.dictionaries(header_name, string_match, max_size=1),
    sourceLabels=labels,
)
http_route = st.fixed_dictionaries(
    {
        "route": _non_empty(
            st.fixed_dictionaries(
                {"destination": destination}, optional={"weight": small_int, "headers": headers}
            )
        )
    },
    optional={
        "name": name,
        "match": _lists(http_match, 2),
        "rewrite": _opt(uri=text, authority=text),
        "timeout": duration,
        "retries": _opt(
            attempts=small_int,
            perTryTimeout=duration,
            retryOn=st.sampled_from(v.RETRY_ON),
            backoff=duration,
        ),
        "fault": _opt(
            delay=st.fixed_dictionaries(
                {"fixedDelay": duration}, optional={"percentage": percentage}
            ),
            abort=st.fixed_dictionaries(
                {"httpStatus": edgy(st.sampled_from((503, 500, 404)), (200, 599, 600, 0, 199))},
                optional={"percentage": percentage},
            ),
        ),
        "mirror": destination,
        "mirrorPercentage": percentage,
        "corsPolicy": _opt(
            allowOrigins=_lists(string_match, 2),
            allowMethods=_lists(st.sampled_from(("GET", "POST", "*", "bad method")), 2),
            allowHeaders=_lists(header_name, 2),
            exposeHeaders=_lists(header_name, 2),
            maxAge=duration,
            allowCredentials=boolean,
        ),
        "headers": headers,
    },
)
redirect_route = st.fixed_dictionaries(
    {
        "redirect": _opt(
            uri=text,
            authority=text,
            port=port,
            scheme=st.sampled_from(("http", "https", "", "a\nb")),
            redirectCode=st.sampled_from((301, 302, 303, 307, 308, 300)),
        )
    },
    optional={"match": _lists(http_match, 1), "headers": headers},
)
direct_route = st.fixed_dictionaries(
    {
        "directResponse": st.fixed_dictionaries(
            {"status": edgy(st.sampled_from((200, 404, 503)), (199, 600, 0))},
            optional={"body": st.one_of(st.fixed_dictionaries({"string": text}))},
        )
    },
    optional={"match": _lists(http_match, 1)},
)
route_destination = st.fixed_dictionaries(
    {"destination": destination}, optional={"weight": small_int}
)
tcp_route = st.fixed_dictionaries(
    {"route": _non_empty(route_destination, 2)},
    optional={"match": _lists(_opt(port=port, sourceLabels=labels), 2)},
)
tls_route = st.fixed_dictionaries(
    {
        "match": _non_empty(
            st.fixed_dictionaries({"sniHosts": _non_empty(host, 2)}, optional={"port": port}), 2
        ),
        "route": _non_empty(route_destination, 2),
    }
)
virtual_service = st.fixed_dictionaries(
    {"hosts": _non_empty(host, 2)},
    optional={
        "http": _lists(st.one_of(http_route, http_route, redirect_route, direct_route), 3),
        "tcp": _lists(tcp_route, 2),
        "tls": _lists(tls_route, 1),
        "gateways": st.just(["mesh"]),
        "exportTo": st.sampled_from((["*"], ["."], ["other"])),
    },
)

load_balancer = st.one_of(
    st.fixed_dictionaries(
        {"simple": st.sampled_from(("ROUND_ROBIN", "LEAST_REQUEST", "RANDOM", "PASSTHROUGH"))}
    ),
    st.fixed_dictionaries(
        {
            "consistentHash": st.one_of(
                st.fixed_dictionaries({"httpHeaderName": header_name}),
                st.fixed_dictionaries({"useSourceIp": st.just(True)}),
                st.fixed_dictionaries({"httpQueryParameterName": st.sampled_from(("q", ""))}),
                st.fixed_dictionaries(
                    {"httpCookie": _opt(name=name, path=text, ttl=duration)},
                ),
                st.fixed_dictionaries(
                    {
                        "useSourceIp": st.just(True),
                        "ringHash": st.fixed_dictionaries(
                            {"minimumRingSize": edgy(st.integers(1, 2048), (8388608, 8388609))}
                        ),
                    }
                ),
                st.fixed_dictionaries(
                    {
                        "useSourceIp": st.just(True),
                        "maglev": st.fixed_dictionaries(
                            {"tableSize": st.sampled_from((65537, 65536, 5000011, 3, 0))}
                        ),
                    }
                ),
            )
        }
    ),
)
connection_pool = _opt(
    tcp=_opt(
        maxConnections=small_int,
        connectTimeout=duration,
        tcpKeepalive=_opt(probes=small_int, time=duration, interval=duration),
        maxConnectionDuration=duration,
        idleTimeout=duration,
    ),
    http=_opt(
        http1MaxPendingRequests=small_int,
        http2MaxRequests=small_int,
        maxRequestsPerConnection=small_int,
        maxRetries=small_int,
        idleTimeout=duration,
        h2UpgradePolicy=st.sampled_from(("DEFAULT", "DO_NOT_UPGRADE", "UPGRADE")),
        useClientProtocol=boolean,
        maxConcurrentStreams=small_int,
    ),
)
outlier = _opt(
    consecutive5xxErrors=small_int,
    consecutiveGatewayErrors=small_int,
    consecutiveLocalOriginFailures=small_int,
    splitExternalLocalOriginErrors=boolean,
    interval=duration,
    baseEjectionTime=duration,
    maxEjectionPercent=small_int,
    minHealthPercent=small_int,
)
client_tls = st.one_of(
    st.fixed_dictionaries({"mode": st.sampled_from(("DISABLE", "ISTIO_MUTUAL"))}),
    st.fixed_dictionaries(
        {"mode": st.just("SIMPLE")},
        optional={
            "sni": host,
            "caCertificates": st.just("/etc/certs/ca.pem"),
            "insecureSkipVerify": boolean,
        },
    ),
)
traffic_policy = _opt(
    loadBalancer=load_balancer,
    connectionPool=connection_pool,
    outlierDetection=outlier,
    tls=client_tls,
    portLevelSettings=_lists(
        st.fixed_dictionaries(
            {"port": st.fixed_dictionaries({"number": port})},
            optional={"connectionPool": connection_pool, "loadBalancer": load_balancer},
        ),
        2,
    ),
)
destination_rule = st.fixed_dictionaries(
    {"host": host},
    optional={
        "trafficPolicy": traffic_policy,
        "subsets": _lists(
            st.fixed_dictionaries(
                {"name": subset}, optional={"labels": labels, "trafficPolicy": traffic_policy}
            ),
            2,
        ),
    },
)

service_port = st.fixed_dictionaries(
    {
        "number": port,
        "name": st.sampled_from(("http", "tcp", "grpc", "tls")),
        "protocol": st.sampled_from(v.PROTOCOLS),
    },
    optional={"targetPort": port},
)
endpoint = st.fixed_dictionaries(
    {"address": address},
    optional={
        "ports": st.dictionaries(st.sampled_from(("http", "tcp")), port, max_size=1),
        "labels": labels,
        "weight": small_int,
    },
)
service_entry = st.fixed_dictionaries(
    {"hosts": _non_empty(host, 2), "ports": _non_empty(service_port, 2)},
    optional={
        "addresses": _lists(cidr, 1),
        "location": st.sampled_from(("MESH_EXTERNAL", "MESH_INTERNAL")),
        "resolution": st.sampled_from(v.RESOLUTIONS),
        "endpoints": _lists(endpoint, 2),
        "workloadSelector": st.fixed_dictionaries({"labels": labels}),
        "subjectAltNames": _lists(st.sampled_from(("spiffe://cluster.local/ns/a/sa/b", "")), 1),
    },
)
workload_entry = st.fixed_dictionaries(
    {"address": address},
    optional={
        "labels": labels,
        "ports": st.dictionaries(st.sampled_from(("http", "tcp")), port, max_size=1),
        "weight": small_int,
        "serviceAccount": st.sampled_from(("order-service", "client", "sa")),
    },
)
sidecar_port = st.fixed_dictionaries(
    {"number": port, "protocol": st.sampled_from(v.PROTOCOLS), "name": name}
)
sidecar = _opt(
    workloadSelector=st.fixed_dictionaries({"labels": labels}),
    ingress=_lists(
        st.fixed_dictionaries(
            {"port": sidecar_port},
            optional={
                "defaultEndpoint": st.sampled_from(
                    ("127.0.0.1:8080", "0.0.0.0:80", "127.0.0.1:99999", "unix:///a.sock", "x:1")
                ),
                "captureMode": st.sampled_from(("NONE", "DEFAULT")),
                "bind": address,
            },
        ),
        1,
    ),
    egress=_lists(
        st.fixed_dictionaries(
            {
                "hosts": _non_empty(
                    st.sampled_from(("./*", "*/*", "default/order-service", "~/x", "a", "./a.*.b"))
                )
            },
            optional={
                "port": sidecar_port,
                "bind": address,
                "captureMode": st.sampled_from(("NONE", "DEFAULT")),
            },
        ),
        2,
    ),
    outboundTrafficPolicy=st.fixed_dictionaries(
        {"mode": st.sampled_from(("ALLOW_ANY", "REGISTRY_ONLY"))}
    ),
)
peer_authentication = _opt(
    selector=st.fixed_dictionaries({"matchLabels": labels}),
    mtls=st.fixed_dictionaries(
        {"mode": st.sampled_from(("UNSET", "DISABLE", "PERMISSIVE", "STRICT"))}
    ),
    portLevelMtls=st.dictionaries(
        port,
        st.fixed_dictionaries({"mode": st.sampled_from(("DISABLE", "STRICT", "PERMISSIVE"))}),
        max_size=2,
    ),
)
authz_source = _opt(
    principals=_lists(st.sampled_from(("cluster.local/ns/a/sa/b", "*", "a*b", "")), 2),
    namespaces=_lists(st.sampled_from(("default", "*", "Bad")), 2),
    ipBlocks=_lists(cidr, 2),
    notIpBlocks=_lists(cidr, 1),
)
authz_operation = _opt(
    hosts=_lists(host, 2),
    ports=_lists(st.sampled_from(("8080", "0", "65536", "x", 80)), 2),
    methods=_lists(st.sampled_from(("GET", "*", "")), 2),
    paths=_lists(st.sampled_from(("/a", "/a*", "*/b", "/{x}", "")), 2),
    notPaths=_lists(st.sampled_from(("/admin*", "/x")), 1),
)
authz_condition = st.fixed_dictionaries(
    {
        "key": st.sampled_from(
            (
                "source.ip",
                "request.headers[x-a]",
                "request.headers[]",
                "destination.port",
                "connection.sni",
                "source.namespace",
            )
        ),
        "values": _non_empty(st.sampled_from(("10.0.0.0/8", "v", "*", "80", "a.example.com"))),
    }
)
authorization_policy = _opt(
    selector=st.fixed_dictionaries({"matchLabels": labels}),
    action=st.sampled_from(("ALLOW", "DENY", "AUDIT")),
    rules=_lists(
        _opt(
            **{
                "from": _non_empty(st.fixed_dictionaries({"source": authz_source}), 2),
                "to": _non_empty(st.fixed_dictionaries({"operation": authz_operation}), 2),
                "when": _non_empty(authz_condition, 2),
            }
        ),
        2,
    ),
)
telemetry = _opt(
    selector=st.fixed_dictionaries({"matchLabels": labels}),
    tracing=_lists(
        _opt(
            randomSamplingPercentage=percent,
            disableSpanReporting=boolean,
            customTags=st.dictionaries(
                st.sampled_from(("t", "u")),
                st.one_of(
                    st.fixed_dictionaries({"literal": st.fixed_dictionaries({"value": text})}),
                    st.fixed_dictionaries({"header": st.fixed_dictionaries({"name": header_name})}),
                ),
                max_size=2,
            ),
        ),
        1,
    ),
    accessLogging=_lists(
        _opt(
            disabled=boolean,
            filter=st.fixed_dictionaries(
                {"expression": st.sampled_from(("response.code >= 400", "((", ""))}
            ),
        ),
        1,
    ),
)

SPECS: dict[str, tuple[str, st.SearchStrategy[Doc]]] = {
    "VirtualService": ("networking.istio.io/v1", virtual_service),
    "DestinationRule": ("networking.istio.io/v1", destination_rule),
    "ServiceEntry": ("networking.istio.io/v1", service_entry),
    "WorkloadEntry": ("networking.istio.io/v1", workload_entry),
    "Sidecar": ("networking.istio.io/v1", sidecar),
    "PeerAuthentication": ("security.istio.io/v1", peer_authentication),
    "AuthorizationPolicy": ("security.istio.io/v1", authorization_policy),
    "Telemetry": ("telemetry.istio.io/v1", telemetry),
}


@st.composite
def document(draw: st.DrawFn, kind: str | None = None) -> Doc:
    """One Istio document of `kind` (default: any supported kind)."""
    chosen = kind or draw(st.sampled_from(sorted(SPECS)))
    api_version, spec = SPECS[chosen]
    namespace = draw(st.sampled_from(("default", "default", "other")))
    return {
        "apiVersion": api_version,
        "kind": chosen,
        "metadata": {"name": f"gen-{draw(name) or 'x'}"[:60], "namespace": namespace},
        "spec": draw(spec),
    }


def documents(max_size: int = 8) -> st.SearchStrategy[list[Doc]]:
    return st.lists(document(), min_size=1, max_size=max_size)
