"""The intermediate representation: what one proxy should do, in mesh terms, with no
protobuf. Built from the Istio model by `translators/view/`, turned into xDS by
`translators/envoy/` and `translators/generators/`; golden tests of the IR read like the
mesh.

One module per part of the mesh: `destinations` (where traffic can go: a service port
or subset, its endpoints, upstream TLS), `policies` (a DestinationRule's traffic policy
for one destination), `routes` (route tables, virtual hosts, route rules), `security`
(peer authentication, authorization), `jwt` (request authentication), `telemetry`
(access logs, tracing), `listeners` (the ports a proxy accepts traffic on) and `proxy`
(the whole `ProxyView`). `codec` (imported on its own, it loads PyYAML) dumps the IR
to YAML and loads it back, typed: the golden files of the first stage are the input of
the second.
"""

from translators.ir.destinations import (
    DestinationIR,
    EndpointIR,
    EndpointSetIR,
    LoadBalancing,
    LocalityGroupIR,
    LocalityLbIR,
    Resolution,
    UpstreamTLSIR,
    UpstreamTLSMode,
)
from translators.ir.jwt import JwtRuleIR
from translators.ir.listeners import Direction, ListenerIR
from translators.ir.policies import (
    BackendUtilizationIR,
    DestinationPolicyIR,
    Http2KeepaliveIR,
    OutlierIR,
    RetryBudgetIR,
    SlowStartIR,
    TcpKeepaliveIR,
)
from translators.ir.proxy import ProxyView
from translators.ir.routes import (
    MATCH_ALL,
    CorsIR,
    DirectResponseIR,
    FaultIR,
    HashPolicyIR,
    HeaderMatchIR,
    HeaderOpsIR,
    HeaderValueIR,
    MatchKind,
    MirrorIR,
    RedirectIR,
    RetryIR,
    RewriteIR,
    RouteIR,
    RouteMatchIR,
    RouteTableIR,
    StringMatchIR,
    TcpRouteIR,
    TunnelIR,
    VirtualHostIR,
    WeightedDestinationIR,
)
from translators.ir.security import (
    AuthzAction,
    AuthzPolicyIR,
    AuthzRuleIR,
    ConditionIR,
    InboundIR,
    InboundMTLS,
    InboundTLSIR,
)
from translators.ir.telemetry import AccessLogIR, CustomTagIR, CustomTagKind, TelemetryIR, TracingIR

__all__ = [
    "MATCH_ALL",
    "AccessLogIR",
    "AuthzAction",
    "AuthzPolicyIR",
    "AuthzRuleIR",
    "BackendUtilizationIR",
    "ConditionIR",
    "CorsIR",
    "CustomTagIR",
    "CustomTagKind",
    "DestinationIR",
    "DestinationPolicyIR",
    "DirectResponseIR",
    "Direction",
    "EndpointIR",
    "EndpointSetIR",
    "FaultIR",
    "HashPolicyIR",
    "HeaderMatchIR",
    "HeaderOpsIR",
    "HeaderValueIR",
    "Http2KeepaliveIR",
    "InboundIR",
    "InboundMTLS",
    "InboundTLSIR",
    "JwtRuleIR",
    "ListenerIR",
    "LoadBalancing",
    "LocalityGroupIR",
    "LocalityLbIR",
    "MatchKind",
    "MirrorIR",
    "OutlierIR",
    "ProxyView",
    "RedirectIR",
    "Resolution",
    "RetryBudgetIR",
    "RetryIR",
    "RewriteIR",
    "RouteIR",
    "RouteMatchIR",
    "RouteTableIR",
    "SlowStartIR",
    "StringMatchIR",
    "TcpKeepaliveIR",
    "TcpRouteIR",
    "TelemetryIR",
    "TracingIR",
    "TunnelIR",
    "UpstreamTLSIR",
    "UpstreamTLSMode",
    "VirtualHostIR",
    "WeightedDestinationIR",
]
