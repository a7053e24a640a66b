"""Load-time validation of traffic-management fields: Istio's own rules, and what Envoy
would refuse (so one bad object is rejected alone instead of NACKing every proxy)."""

from __future__ import annotations

import textwrap

import pytest

from translators.model.base import check_re2
from translators.model.networking import DestinationRuleSpec, VirtualServiceSpec
from translators.model.objects import ConfigError
from translators.model.traffic import parse_duration
from xdscp.sources.documents import parse_text

VS = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - %s
"""

DR = """\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  trafficPolicy:
    %s
"""


def errors(text: str) -> list[ConfigError]:
    return list(parse_text(textwrap.dedent(text), "t.yaml").errors)


def one_error(text: str) -> ConfigError:
    found = errors(text)
    assert len(found) == 1, [str(e) for e in found]
    return found[0]


# --- durations -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1s", 1.0),
        ("0.5s", 0.5),
        ("300ms", 0.3),
        ("1m30s", 90.0),
        ("2h", 7200.0),
        ("10000us", 0.01),
    ],
)
def test_go_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


def test_durations_beyond_millisecond_precision_are_refused() -> None:
    with pytest.raises(ValueError, match="millisecond precision"):
        parse_duration("10us")


@pytest.mark.parametrize("text", ["", "5", "5 s", "1.5", "s", "1d", "-1s"])
def test_not_durations(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


def test_a_bare_number_is_not_a_duration() -> None:
    error = one_error(VS % "route: [{destination: {host: reviews}}]\n    timeout: 5")
    assert error.field == "spec.http[0].timeout"
    assert "needs a unit" in error.message


# --- RE2 -----------------------------------------------------------------------


RE2_REFUSED_WITH_REASON = [
    ("a*+", "possessive quantifiers"),
    ("a{2}+", "possessive quantifiers"),
    ("(?=x)", "lookahead"),
    ("(?<!x)y", "negative lookbehind"),
    ("(?>x)", "atomic groups"),
    (r"(a)\1", "backreferences"),
    ("(?P<n>a)(?P=n)", "backreferences"),
    (r"x\Z", r"the escape \Z"),
    ("(?(1)a|b)", "conditionals"),
    ("(?x)a b", "the flag(s) 'x'"),
    ("a(?#comment)", "comments"),
]
RE2_REFUSED = [p for p, _ in RE2_REFUSED_WITH_REASON]
RE2_ACCEPTED = [
    "a*?",
    "[*+]x",
    "a{2}?",
    "(?P<n>x)",
    "(?i)abc",
    "(?i:abc)",
    r"\Qa++\E",
    r"[\]]+",
    r"\pL",
    r"/v\d+/.*\z",
    "(yes|true)",
]


@pytest.mark.parametrize(("pattern", "what"), RE2_REFUSED_WITH_REASON)
def test_re2_refuses(pattern: str, what: str) -> None:
    with pytest.raises(ValueError, match="not supported by RE2") as raised:
        check_re2(pattern)
    assert what in str(raised.value)


@pytest.mark.parametrize("pattern", RE2_ACCEPTED)
def test_re2_accepts(pattern: str) -> None:
    assert check_re2(pattern) == pattern


def test_regex_rewrite_is_checked() -> None:
    error = one_error(
        VS % "route: [{destination: {host: reviews}}]\n"
        '    rewrite: {uriRegexRewrite: {match: "(?=x)", rewrite: "/"}}'
    )
    assert error.field == "spec.http[0].rewrite.uriRegexRewrite.match"


# --- HTTP rules ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("match: [{uri: {prefix: /}}]", "route, redirect or directResponse is required"),
        (
            "route: [{destination: {host: reviews}}]\n    redirect: {uri: /x}",
            "route and redirect are mutually exclusive",
        ),
        (
            "redirect: {uri: /x}\n    directResponse: {status: 200}",
            "redirect and directResponse are mutually exclusive",
        ),
        (
            "directResponse: {status: 503}\n    fault: {abort: {httpStatus: 500}}",
            "fault cannot be combined with directResponse",
        ),
        (
            "redirect: {uri: /x}\n    rewrite: {uri: /y}",
            "rewrite cannot be combined with redirect",
        ),
        (
            "route: [{destination: {host: reviews}}]\n    mirror: {host: a}\n"
            "    mirrors: [{destination: {host: b}}]",
            "mirror and mirrors are mutually exclusive",
        ),
        (
            "route: [{destination: {host: reviews}}]\n    rewrite: {authority: a}\n"
            "    headers: {request: {set: {host: b}}}",
            "the authority can be rewritten in one place only",
        ),
        (
            "match: [{uri: {exact: /a}}]\n    redirect: {prefixRewrite: /b}",
            "prefixRewrite needs every uri match to be a prefix",
        ),
    ],
)
def test_conflicting_rule_fields(rule: str, message: str) -> None:
    assert message in one_error(VS % rule).message


@pytest.mark.parametrize(
    ("rule", "field", "message"),
    [
        ("redirect: {uri: /x, redirectCode: 399}", "redirect", "redirectCode"),
        ("redirect: {uri: /x, prefixRewrite: /y}", "redirect", "mutually exclusive"),
        ("directResponse: {status: 99}", "directResponse.status", "greater than or equal"),
        (
            "route: [{destination: {host: reviews}}]\n    fault: {}",
            "fault",
            "needs delay, abort or both",
        ),
        (
            "route: [{destination: {host: reviews}}]\n    fault: {abort: {grpcStatus: NOPE}}",
            "fault.abort",
            "not a gRPC status name",
        ),
        (
            "route: [{destination: {host: reviews}}]\n"
            "    fault: {delay: {fixedDelay: 1s, percentage: {value: 101}}}",
            "fault.delay.percentage.value",
            "less than or equal to 100",
        ),
        (
            "route: [{destination: {host: reviews}}]\n    headers: {request: {remove: [host]}}",
            "headers",
            "'host' cannot be edited",
        ),
        (
            "route: [{destination: {host: reviews}}]\n"
            "    headers: {response: {set: {':status': '200'}}}",
            "headers",
            "':status' cannot be edited",
        ),
        (
            "match: [{gateways: [shop/Bad_Gateway]}]\n    route: [{destination: {host: reviews}}]",
            "match[0].gateways",
            "is not a gateway name",
        ),
        (
            "route: [{destination: {host: reviews}}]\n"
            "    retries: {attempts: 2, perTryTimeout: 0s}",
            "retries.perTryTimeout",
            "greater than or equal to 0.001",
        ),
    ],
)
def test_invalid_rule_fields(rule: str, field: str, message: str) -> None:
    error = one_error(VS % rule)
    assert error.field == f"spec.http[0].{field}"
    assert message in error.message


def test_every_http_feature_parses() -> None:
    spec = VirtualServiceSpec.model_validate(
        {
            "hosts": ["reviews"],
            "http": [
                {
                    "name": "all",
                    "match": [
                        {
                            "uri": {"regex": "/a/[0-9]+"},
                            "ignoreUriCase": True,
                            "method": {"exact": "GET"},
                            "authority": {"prefix": "reviews"},
                            "scheme": {"exact": "http"},
                            "headers": {"end-user": {"exact": "jason"}},
                            "withoutHeaders": {"x-debug": {"exact": "1"}},
                            "queryParams": {"v": {"regex": "[0-9]"}},
                            "sourceLabels": {"app": "client"},
                            "sourceNamespace": "default",
                            "port": 8080,
                            "gateways": ["mesh"],
                        }
                    ],
                    "route": [
                        {
                            "destination": {"host": "reviews", "subset": "v1"},
                            "weight": 100,
                            "headers": {"request": {"set": {"x-v": "1"}}},
                        }
                    ],
                    "rewrite": {"uriRegexRewrite": {"match": "^/a/(.*)", "rewrite": "/\\1"}},
                    "timeout": "2s",
                    "retries": {"attempts": 3, "perTryTimeout": "500ms", "retryOn": "5xx,503"},
                    "fault": {
                        "delay": {"fixedDelay": "1s", "percentage": {"value": 10}},
                        "abort": {"httpStatus": 418, "percentage": {"value": 5}},
                    },
                    "mirrors": [{"destination": {"host": "shadow"}, "percentage": {"value": 50}}],
                    "corsPolicy": {
                        "allowOrigins": [{"exact": "https://example.com"}],
                        "allowMethods": ["GET"],
                        "maxAge": "24h",
                        "allowCredentials": True,
                    },
                    "headers": {
                        "request": {"add": {"x-a": "1"}, "remove": ["x-b"]},
                        "response": {"set": {"x-c": "2"}},
                    },
                }
            ],
            "tcp": [{"match": [{"port": 9090}], "route": [{"destination": {"host": "db"}}]}],
            "tls": [
                {
                    "match": [{"sniHosts": ["reviews"]}],
                    "route": [{"destination": {"host": "a"}}],
                }
            ],
        }
    )
    rule = spec.http[0]
    assert rule.timeout == 2.0
    assert rule.retries is not None and rule.retries.per_try_timeout == pytest.approx(0.5)
    assert rule.cors_policy is not None and rule.cors_policy.max_age == 86400


# --- DestinationRule -----------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "field", "message"),
    [
        (
            "loadBalancer: {simple: RANDOM, consistentHash: {httpHeaderName: x}}",
            "loadBalancer",
            "mutually exclusive",
        ),
        ("loadBalancer: {consistentHash: {}}", "loadBalancer.consistentHash", "exactly one of"),
        (
            "loadBalancer: {consistentHash: {httpHeaderName: x, useSourceIp: true}}",
            "loadBalancer.consistentHash",
            "exactly one of",
        ),
        (
            "loadBalancer: {consistentHash: {httpHeaderName: x, ringHash: {}, maglev: {}}}",
            "loadBalancer.consistentHash",
            "mutually exclusive",
        ),
        (
            "loadBalancer: {localityLbSetting: {distribute: [{from: r1, to: {r2: 50}}]}}",
            "loadBalancer.localityLbSetting.distribute[0]",
            "total locality weight 50 != 100",
        ),
        (
            "outlierDetection: {maxEjectionPercent: 101}",
            "outlierDetection.maxEjectionPercent",
            "100",
        ),
        (
            "connectionPool: {tcp: {connectTimeout: 10}}",
            "connectionPool.tcp.connectTimeout",
            "unit",
        ),
    ],
)
def test_invalid_traffic_policies(policy: str, field: str, message: str) -> None:
    error = one_error(DR % policy)
    assert error.field == f"spec.trafficPolicy.{field}"
    assert message in error.message


def test_every_traffic_policy_field_parses() -> None:
    spec = DestinationRuleSpec.model_validate(
        {
            "host": "reviews",
            "trafficPolicy": {
                "loadBalancer": {
                    "consistentHash": {
                        "httpCookie": {"name": "user", "ttl": "0s", "path": "/"},
                        "ringHash": {"minimumRingSize": 1024},
                    }
                },
                "connectionPool": {
                    "tcp": {
                        "maxConnections": 100,
                        "connectTimeout": "30ms",
                        "tcpKeepalive": {"time": "7200s", "interval": "75s", "probes": 9},
                    },
                    "http": {
                        "http1MaxPendingRequests": 10,
                        "http2MaxRequests": 100,
                        "maxRequestsPerConnection": 1,
                        "maxRetries": 3,
                        "idleTimeout": "1h",
                        "h2UpgradePolicy": "UPGRADE",
                    },
                },
                "outlierDetection": {
                    "consecutive5xxErrors": 7,
                    "consecutiveGatewayErrors": 3,
                    "interval": "5m",
                    "baseEjectionTime": "15m",
                    "maxEjectionPercent": 50,
                    "minHealthPercent": 30,
                },
                "portLevelSettings": [
                    {"port": {"number": 80}, "loadBalancer": {"simple": "LEAST_REQUEST"}}
                ],
            },
        }
    )
    policy = spec.traffic_policy
    assert policy is not None and policy.outlier_detection is not None
    assert policy.outlier_detection.consecutive_5xx_errors == 7
    assert policy.connection_pool is not None and policy.connection_pool.tcp is not None
    assert policy.connection_pool.tcp.connect_timeout == pytest.approx(0.03)
