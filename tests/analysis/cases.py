"""One case per mistake: the edit to the healthy base mesh and the exact messages
(code, object, field) it must produce — and nothing else, so a check that misfires on
the neighbouring objects fails its case."""

from __future__ import annotations

from collections.abc import Callable

from tests.analysis.cases_compat import COMPAT_CASES
from tests.analysis.cases_envoyfilter import ENVOY_FILTER_CASES
from tests.analysis.cases_gateway import GATEWAY_CASES
from tests.analysis.cases_jwt import JWT_CASES
from tests.analysis.meshes import SEC, Case, Doc, find, obj, service, vs_reviews, workload

VS = "VirtualService/shop/reviews"
DR = "DestinationRule/shop/reviews"


def _set_dest(docs: list[Doc], rule: int, dest: int, **fields: object) -> None:
    vs_reviews(docs)["spec"]["http"][rule]["route"][dest]["destination"].update(fields)


def _add_rule_front(docs: list[Doc], rule: Doc) -> None:
    vs_reviews(docs)["spec"]["http"].insert(0, rule)


def _dr(docs: list[Doc]) -> Doc:
    return find(docs, "DestinationRule", "reviews")


Edit = Callable[[list[Doc]], None]


def both(*edits: Edit) -> Edit:
    def apply(docs: list[Doc]) -> None:
        for edit in edits:
            edit(docs)

    return apply


CASES: tuple[Case, ...] = (
    Case("healthy", lambda docs: None, ()),
    Case(
        "destination host typo",
        lambda docs: _set_dest(docs, 1, 1, host="reviewz"),
        (("XDS0101", VS, "spec.http[1].route[1].destination.host"),),
    ),
    Case(
        "subset no DestinationRule defines",
        lambda docs: _set_dest(docs, 1, 1, subset="v3"),
        (("XDS0102", VS, "spec.http[1].route[1].destination.subset"),),
    ),
    Case(
        "destination port not on the service",
        lambda docs: _set_dest(docs, 0, 0, port={"number": 9090}),
        (("XDS0103", VS, "spec.http[0].route[0].destination.port.number"),),
    ),
    Case(
        "multi-port destination without a port",
        lambda docs: vs_reviews(docs)["spec"]["http"][0]["route"].__setitem__(
            0, {"destination": {"host": "details"}}
        ),
        (("XDS0104", VS, "spec.http[0].route[0].destination.port"),),
        extra=(
            service(
                "details",
                "shop",
                ports=[
                    {"number": 8000, "name": "http", "protocol": "HTTP"},
                    {"number": 8001, "name": "http-admin", "protocol": "HTTP"},
                ],
            ),
            workload("details-v1", "shop", "127.0.8.9", "details", app="details"),
        ),
    ),
    Case(
        "VirtualService host typo applies to nothing",
        lambda docs: vs_reviews(docs)["spec"].update(hosts=["reveiws"]),
        (("XDS0105", VS, "spec.hosts[0]"),),
    ),
    Case(
        "DestinationRule host typo",
        lambda docs: _dr(docs)["spec"].update(host="reveiws"),
        (
            ("XDS0106", DR, "spec.host"),
            # and so the subsets the VirtualService names exist nowhere
            ("XDS0102", VS, "spec.http[0].route[0].destination.subset"),
            ("XDS0102", VS, "spec.http[1].route[0].destination.subset"),
            ("XDS0102", VS, "spec.http[1].route[1].destination.subset"),
        ),
    ),
    Case(
        "subset selects no workload",
        lambda docs: _dr(docs)["spec"]["subsets"][1].update(labels={"version": "2"}),
        (("XDS0107", DR, "spec.subsets[1].labels"),),
    ),
    Case(
        "two DestinationRules for one host define one subset",
        lambda docs: None,
        (("XDS0108", "DestinationRule/shop/reviews-more", "spec.subsets[0]"),),
        extra=(
            obj(
                "DestinationRule",
                "reviews-more",
                "shop",
                {"host": "reviews", "subsets": [{"name": "v2", "labels": {"version": "v2"}}]},
            ),
        ),
    ),
    Case(
        "two VirtualServices for one host",
        lambda docs: None,
        (("XDS0201", "VirtualService/shop/reviews-canary", "spec.hosts[0]"),),
        extra=(
            {
                **obj(
                    "VirtualService",
                    "reviews-canary",
                    "shop",
                    {
                        "hosts": ["reviews.shop.svc.cluster.local"],
                        "http": [{"route": [{"destination": {"host": "reviews"}}]}],
                    },
                ),
            },
        ),
    ),
    Case(
        "an HTTPRoute with the Service as parent overrides the VirtualService",
        lambda docs: None,
        (("XDS0207", VS, "spec.hosts[0]"),),
        extra=(
            obj(
                "HTTPRoute",
                "reviews-gamma",
                "shop",
                {
                    "parentRefs": [{"group": "", "kind": "Service", "name": "reviews"}],
                    "rules": [{"backendRefs": [{"name": "reviews", "port": 9080}]}],
                },
                api="gateway.networking.k8s.io/v1",
            ),
        ),
    ),
    Case(
        "rule after a catch-all",
        lambda docs: _add_rule_front(
            docs, {"route": [{"destination": {"host": "reviews", "subset": "v1"}}]}
        ),
        (
            ("XDS0202", VS, "spec.http[1]"),
            ("XDS0202", VS, "spec.http[2]"),
        ),
    ),
    Case(
        "catch-all prefix / match shadows later rules",
        lambda docs: _add_rule_front(
            docs,
            {
                "match": [{"uri": {"prefix": "/"}}],
                "route": [{"destination": {"host": "reviews", "subset": "v1"}}],
            },
        ),
        (
            ("XDS0202", VS, "spec.http[1]"),
            ("XDS0202", VS, "spec.http[2]"),
        ),
    ),
    Case(
        "match block repeating an earlier one",
        lambda docs: vs_reviews(docs)["spec"]["http"].insert(
            1,
            {
                "match": [
                    {"headers": {"end-user": {"exact": "jason"}}},
                    {"uri": {"prefix": "/beta"}},
                ],
                "route": [{"destination": {"host": "reviews", "subset": "v1"}}],
            },
        ),
        (("XDS0203", VS, "spec.http[1].match[0]"),),
    ),
    Case(
        "rule whose only match repeats an earlier one",
        lambda docs: vs_reviews(docs)["spec"]["http"].insert(
            1,
            {
                "match": [{"headers": {"end-user": {"exact": "jason"}}}],
                "route": [{"destination": {"host": "reviews", "subset": "v1"}}],
            },
        ),
        (
            ("XDS0203", VS, "spec.http[1].match[0]"),
            ("XDS0202", VS, "spec.http[1]"),
        ),
    ),
    Case(
        "match on a port the host does not have",
        lambda docs: vs_reviews(docs)["spec"]["http"][0]["match"][0].update(port=8080),
        (("XDS0204", VS, "spec.http[0].match[0].port"),),
    ),
    Case(
        "match on a caller that does not exist",
        lambda docs: vs_reviews(docs)["spec"]["http"][0]["match"][0].update(
            sourceLabels={"app": "frontent"}
        ),
        (("XDS0204", VS, "spec.http[0].match[0].sourceLabels"),),
    ),
    Case(
        "match on a namespace without workloads",
        lambda docs: vs_reviews(docs)["spec"]["http"][0]["match"][0].update(sourceNamespace="wbe"),
        (("XDS0204", VS, "spec.http[0].match[0].sourceNamespace"),),
    ),
    Case(
        "all weights 0: rejected, the last good version stays",
        both(
            lambda docs: vs_reviews(docs)["spec"]["http"][1]["route"][0].update(weight=0),
            lambda docs: vs_reviews(docs)["spec"]["http"][1]["route"][1].update(weight=0),
        ),
        (("XDS0002", VS, "spec.http[1]"),),
    ),
    Case(
        "weight 0 leaves a destination unreachable",
        lambda docs: vs_reviews(docs)["spec"]["http"][1]["route"][1].update(weight=0),
        (("XDS0205", VS, "spec.http[1].route[1].weight"),),
    ),
)

TEL = "telemetry.istio.io/v1"
SIDECAR = "Sidecar/web/frontend"
AP = "AuthorizationPolicy/shop/ratings"


def _sidecar(docs: list[Doc]) -> Doc:
    return find(docs, "Sidecar", "frontend", "web")


def _egress(docs: list[Doc], **fields: object) -> None:
    _sidecar(docs)["spec"]["egress"][0].update(fields)


def _ap_sources(docs: list[Doc]) -> list[Doc]:
    sources: list[Doc] = find(docs, "AuthorizationPolicy", "ratings")["spec"]["rules"][0]["from"]
    return sources


def _dr_tls(docs: list[Doc], **tls: object) -> None:
    _dr(docs)["spec"]["trafficPolicy"] = {"tls": tls}


def _pa_mode(docs: list[Doc], mode: str) -> None:
    find(docs, "PeerAuthentication", "default")["spec"]["mtls"]["mode"] = mode


def _no_sidecar(docs: list[Doc], name: str) -> None:
    find(docs, "WorkloadEntry", name)["metadata"]["annotations"] = {
        "sidecar.istio.io/inject": "false"
    }


def _pa(name: str, mode: str, namespace: str = "shop", **labels: str) -> Doc:
    spec: Doc = {"mtls": {"mode": mode}}
    if labels:
        spec["selector"] = {"matchLabels": labels}
    return obj("PeerAuthentication", name, namespace, spec, SEC)


def _telemetry(name: str, namespace: str = "shop", **labels: str) -> Doc:
    spec: Doc = {"accessLogging": [{"providers": [{"name": "envoy"}]}]}
    if labels:
        spec["selector"] = {"matchLabels": labels}
    return obj("Telemetry", name, namespace, spec, TEL)


def _frontend_sidecar(name: str, selected: bool = True) -> Doc:
    spec: Doc = {"egress": [{"hosts": ["shop/*"]}]}
    if selected:
        spec["workloadSelector"] = {"labels": {"app": "frontend"}}
    return obj("Sidecar", name, "web", spec)


SELECTOR_CASES: tuple[Case, ...] = (
    Case(
        "Sidecar selector matches no workload",
        lambda docs: _sidecar(docs)["spec"].update(
            workloadSelector={"labels": {"app": "frontent"}}
        ),
        (("XDS0301", SIDECAR, "spec.workloadSelector"),),
    ),
    Case(
        "PeerAuthentication selector matches no workload",
        lambda docs: None,
        (("XDS0301", "PeerAuthentication/shop/ratings-strict", "spec.selector.matchLabels"),),
        extra=(_pa("ratings-strict", "STRICT", app="ratngs"),),
    ),
    Case(
        "AuthorizationPolicy selector matches no workload",
        lambda docs: find(docs, "AuthorizationPolicy", "ratings")["spec"].update(
            selector={"matchLabels": {"app": "ratngs"}}
        ),
        (("XDS0301", AP, "spec.selector.matchLabels"),),
    ),
    Case(
        "Telemetry selector matches no workload",
        lambda docs: None,
        (("XDS0301", "Telemetry/shop/logs", "spec.selector.matchLabels"),),
        extra=(_telemetry("logs", app="ratngs"),),
    ),
    Case(
        "DestinationRule workloadSelector matches no workload",
        lambda docs: _dr(docs)["spec"].update(workloadSelector={"matchLabels": {"app": "web"}}),
        (("XDS0301", DR, "spec.workloadSelector"),),
    ),
    Case(
        "ServiceEntry workloadSelector matches no workload",
        lambda docs: None,
        (("XDS0301", "ServiceEntry/shop/details", "spec.workloadSelector"),),
        extra=(service("details", "shop"),),
    ),
    Case(
        "two Sidecars select one workload",
        lambda docs: None,
        (("XDS0302", "Sidecar/web/frontend-2", "spec.workloadSelector"),),
        extra=(_frontend_sidecar("frontend-2"),),
    ),
    Case(
        "two Sidecars without selector in one namespace",
        lambda docs: None,
        (("XDS0303", "Sidecar/web/default-b", "spec.workloadSelector"),),
        extra=(_frontend_sidecar("default-a", False), _frontend_sidecar("default-b", False)),
    ),
    Case(
        "two namespace-wide PeerAuthentications",
        lambda docs: None,
        (("XDS0304", "PeerAuthentication/shop/default-2", "spec"),),
        extra=(_pa("default-2", "PERMISSIVE"),),
    ),
    Case(
        "two PeerAuthentications select one workload",
        lambda docs: None,
        (("XDS0304", "PeerAuthentication/shop/ratings-b", "spec.selector"),),
        extra=(
            _pa("ratings-a", "STRICT", app="ratings"),
            _pa("ratings-b", "STRICT", app="ratings"),
        ),
    ),
    Case(
        "two mesh-wide PeerAuthentications",
        lambda docs: None,
        (("XDS0304", "PeerAuthentication/istio-system/mesh-b", "spec"),),
        extra=(
            _pa("mesh-a", "PERMISSIVE", "istio-system"),
            _pa("mesh-b", "STRICT", "istio-system"),
        ),
    ),
    Case(
        "two mesh-wide Telemetry objects",
        lambda docs: None,
        (("XDS0305", "Telemetry/istio-system/mesh-b", "spec"),),
        extra=(_telemetry("mesh-a", "istio-system"), _telemetry("mesh-b", "istio-system")),
    ),
    Case(
        "two Telemetry objects select one workload",
        lambda docs: None,
        (("XDS0305", "Telemetry/shop/ratings-b", "spec.selector"),),
        extra=(
            _telemetry("ratings-a", app="ratings"),
            _telemetry("ratings-b", app="ratings", version="v1"),
        ),
    ),
    Case(
        "two namespace-wide Telemetry objects",
        lambda docs: None,
        (("XDS0305", "Telemetry/shop/logs-b", "spec"),),
        extra=(_telemetry("logs-a"), _telemetry("logs-b")),
    ),
)

TLS_CASES: tuple[Case, ...] = (
    Case(
        "DestinationRule DISABLE to a STRICT callee",
        lambda docs: _dr_tls(docs, mode="DISABLE"),
        (("XDS0401", DR, "spec.trafficPolicy.tls.mode"),),
    ),
    Case(
        "subset-level DISABLE to a STRICT callee",
        lambda docs: _dr(docs)["spec"]["subsets"][1].update(
            trafficPolicy={"tls": {"mode": "DISABLE"}}
        ),
        (("XDS0401", DR, "spec.subsets[1].trafficPolicy.tls.mode"),),
    ),
    Case(
        "port-level DISABLE to a STRICT callee",
        lambda docs: _dr(docs)["spec"].update(
            trafficPolicy={
                "portLevelSettings": [{"port": {"number": 9080}, "tls": {"mode": "DISABLE"}}]
            }
        ),
        (("XDS0401", DR, "spec.trafficPolicy.portLevelSettings[0].tls.mode"),),
    ),
    Case(
        "DestinationRule SIMPLE to a STRICT callee (and unverified)",
        lambda docs: _dr_tls(docs, mode="SIMPLE"),
        (
            ("XDS0401", DR, "spec.trafficPolicy.tls.mode"),
            ("XDS0405", DR, "spec.trafficPolicy.tls.caCertificates"),
        ),
    ),
    Case(
        "DestinationRule SIMPLE to an in-mesh HTTP port (double encryption)",
        both(
            lambda docs: _pa_mode(docs, "PERMISSIVE"),
            lambda docs: _dr_tls(docs, mode="SIMPLE", caCertificates="/etc/certs/ca.pem"),
        ),
        (("XDS0403", DR, "spec.trafficPolicy.tls.mode"),),
    ),
    Case(
        "ISTIO_MUTUAL to a workload without a sidecar",
        both(
            lambda docs: _no_sidecar(docs, "reviews-v2"),
            lambda docs: _dr_tls(docs, mode="ISTIO_MUTUAL"),
        ),
        (("XDS0402", DR, "spec.trafficPolicy.tls.mode"),),
    ),
    Case(
        "ISTIO_MUTUAL to a callee whose PeerAuthentication is DISABLE",
        lambda docs: _dr_tls(docs, mode="ISTIO_MUTUAL"),
        (("XDS0401", DR, "spec.trafficPolicy.tls.mode"),),
        extra=(_pa("reviews-plain", "DISABLE", app="reviews"),),
    ),
    Case(
        "app port named https behind a mesh port declared HTTP",
        lambda docs: None,
        (("XDS0404", "ServiceEntry/shop/payments", "spec.ports[0]"),),
        extra=(
            service(
                "payments", "shop", ports=[{"number": 8443, "name": "https", "protocol": "HTTP"}]
            ),
            workload("payments-v1", "shop", "127.0.8.10", "payments", app="payments"),
        ),
    ),
    Case(
        "Sidecar ingress port named tls declared HTTP",
        lambda docs: None,
        (("XDS0404", "Sidecar/shop/ratings", "spec.ingress[0].port"),),
        extra=(
            obj(
                "Sidecar",
                "ratings",
                "shop",
                {
                    "workloadSelector": {"labels": {"app": "ratings"}},
                    "ingress": [
                        {
                            "port": {"number": 9080, "protocol": "HTTP", "name": "tls-app"},
                            "defaultEndpoint": "127.0.0.1:19080",
                        }
                    ],
                },
            ),
        ),
    ),
)

AUTHZ_CASES: tuple[Case, ...] = (
    Case(
        "AuthorizationPolicy principal typo",
        lambda docs: _ap_sources(docs)[0]["source"].update(
            principals=["cluster.local/ns/shop/sa/reveiws"]
        ),
        (("XDS0501", AP, "spec.rules[0].from[0].source.principals[0]"),),
    ),
    Case(
        "AuthorizationPolicy service account typo",
        lambda docs: _ap_sources(docs).__setitem__(0, {"source": {"serviceAccounts": ["reveiws"]}}),
        (("XDS0501", AP, "spec.rules[0].from[0].source.serviceAccounts[0]"),),
    ),
    Case(
        "AuthorizationPolicy namespace typo",
        lambda docs: _ap_sources(docs)[1]["source"].update(namespaces=["wbe"]),
        (("XDS0502", AP, "spec.rules[0].from[1].source.namespaces[0]"),),
    ),
    Case(
        "AuthorizationPolicy when source.namespace typo",
        lambda docs: find(docs, "AuthorizationPolicy", "ratings")["spec"]["rules"][0].update(
            when=[{"key": "source.namespace", "values": ["web", "wbe"]}]
        ),
        (("XDS0502", AP, "spec.rules[0].when[0].values[1]"),),
    ),
)

SIDECAR_CASES: tuple[Case, ...] = (
    Case(
        "Sidecar egress host typo",
        lambda docs: _egress(docs, hosts=["shop/reveiws.shop.svc.cluster.local"]),
        (("XDS0601", SIDECAR, "spec.egress[0].hosts[0]"),),
    ),
    Case(
        "Sidecar egress namespace typo",
        lambda docs: _egress(docs, hosts=["shpo/*"]),
        (("XDS0601", SIDECAR, "spec.egress[0].hosts[0]"),),
    ),
    Case(
        "Sidecar egress port no imported service has",
        lambda docs: _egress(docs, port={"number": 9090, "protocol": "HTTP", "name": "http"}),
        (("XDS0602", SIDECAR, "spec.egress[0].port.number"),),
    ),
    Case(
        "route to a host the caller's Sidecar does not import",
        both(
            lambda docs: _egress(docs, hosts=["shop/reviews.shop.svc.cluster.local"]),
            lambda docs: vs_reviews(docs)["spec"]["http"][0]["route"].__setitem__(
                0, {"destination": {"host": "ratings"}}
            ),
        ),
        (("XDS0603", SIDECAR, "spec.egress"),),
    ),
)

MORE_CASES: tuple[Case, ...] = (
    Case(
        "destination named by a wildcard ServiceEntry's pattern only",
        lambda docs: None,
        (("XDS0101", "VirtualService/shop/ext", "spec.http[0].route[0].destination.host"),),
        extra=(
            obj(
                "ServiceEntry",
                "ext",
                "shop",
                {
                    "hosts": ["*.example.com"],
                    "location": "MESH_EXTERNAL",
                    "resolution": "NONE",
                    "ports": [{"number": 80, "name": "http", "protocol": "HTTP"}],
                },
            ),
            obj(
                "VirtualService",
                "ext",
                "shop",
                {
                    "hosts": ["*.example.com"],
                    "http": [{"route": [{"destination": {"host": "api.example.com"}}]}],
                },
            ),
        ),
    ),
    Case(
        "http rules for a TCP-only host",
        lambda docs: None,
        (("XDS0206", "VirtualService/shop/db", "spec.http"),),
        extra=(
            service("db", "shop", ports=[{"number": 5432, "name": "tcp", "protocol": "TCP"}]),
            workload("db-v1", "shop", "127.0.8.11", "db", app="db"),
            obj(
                "VirtualService",
                "db",
                "shop",
                {"hosts": ["db"], "http": [{"route": [{"destination": {"host": "db"}}]}]},
            ),
        ),
    ),
    Case(
        "portLevelMtls keyed by a port the workload does not serve",
        lambda docs: None,
        (("XDS0406", "PeerAuthentication/shop/reviews-ports", "spec.portLevelMtls.8080"),),
        extra=(
            obj(
                "PeerAuthentication",
                "reviews-ports",
                "shop",
                {
                    "selector": {"matchLabels": {"app": "reviews"}},
                    "portLevelMtls": {8080: {"mode": "DISABLE"}},
                },
                SEC,
            ),
        ),
    ),
)

CASES = (
    CASES
    + MORE_CASES
    + SELECTOR_CASES
    + TLS_CASES
    + AUTHZ_CASES
    + SIDECAR_CASES
    + COMPAT_CASES
    + GATEWAY_CASES
    + JWT_CASES
    + ENVOY_FILTER_CASES
)

__all__ = ["CASES", "SEC"]
