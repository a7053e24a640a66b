"""The catalogue of message types. A code, once given, keeps its meaning for good.

Ranges: XDS00xx the analysis itself and schema, XDS01xx references between objects,
XDS02xx routing, XDS03xx workload selectors, XDS04xx mTLS and TLS, XDS05xx
authorization, XDS06xx Sidecar scoping, XDS07xx the running sidecars (runtime.py),
XDS08xx Istio configuration accepted but not (yet) applied. Istio's code
(pkg/config/analysis/msg/messages.yaml) is given where Istio reports the same problem.
"""

from __future__ import annotations

from translators.analysis.message import MessageType, Severity

E, W, INFO = Severity.ERROR, Severity.WARNING, Severity.INFO

INTERNAL_ERROR = MessageType(
    "XDS0001", "InternalError", E, "a check failed on this object (a bug in xdscp)", "IST0001"
)
SCHEMA_ERROR = MessageType(
    "XDS0002",
    "SchemaValidationError",
    E,
    "the object is invalid and not applied (its last good version stays in force)",
    "IST0106",
)

DESTINATION_HOST_NOT_FOUND = MessageType(
    "XDS0101",
    "DestinationHostNotFound",
    E,
    "a route destination names a host no service defines: requests get 503",
    "IST0101",
)
SUBSET_NOT_FOUND = MessageType(
    "XDS0102",
    "DestinationSubsetNotFound",
    E,
    "a route destination names a subset no DestinationRule for that host defines: 503",
    "IST0101",
)
DESTINATION_PORT_NOT_FOUND = MessageType(
    "XDS0103",
    "DestinationPortNotFound",
    E,
    "a route destination's port is not a port of its service: 503",
)
DESTINATION_PORT_REQUIRED = MessageType(
    "XDS0104",
    "DestinationPortSelectorRequired",
    E,
    "a destination without a port on a multi-port service, reached on a port it lacks",
    "IST0112",
)
VIRTUAL_SERVICE_HOST_NOT_FOUND = MessageType(
    "XDS0105",
    "VirtualServiceHostNotFound",
    W,
    "a VirtualService host matches no service: the VirtualService applies to nothing",
)
DESTINATION_RULE_HOST_NOT_FOUND = MessageType(
    "XDS0106",
    "DestinationRuleHostNotFound",
    W,
    "a DestinationRule host matches no service: it applies to nothing",
    "IST0174",
)
SUBSET_SELECTS_NOTHING = MessageType(
    "XDS0107",
    "SubsetSelectsNoEndpoint",
    W,
    "a DestinationRule subset's labels select no endpoint of its service: 503 when routed",
    "IST0173",
)
MERGED_RULE_PART_IGNORED = MessageType(
    "XDS0108",
    "DestinationRuleMergeIgnoresPart",
    W,
    "several DestinationRules for one host are merged: a later rule's subset of a name "
    "an earlier one defines, or its second top-level trafficPolicy, is ignored",
)

CONFLICTING_VIRTUAL_SERVICES = MessageType(
    "XDS0201",
    "ConflictingVirtualServices",
    E,
    "several VirtualServices for one host: only the oldest applies, the others are ignored",
    "IST0109",
)
UNREACHABLE_RULE = MessageType(
    "XDS0202",
    "UnreachableRule",
    W,
    "a rule after a catch-all (or whose every match repeats an earlier one) never matches",
    "IST0130",
)
INEFFECTIVE_MATCH = MessageType(
    "XDS0203",
    "IneffectiveMatch",
    INFO,
    "a match block repeats an earlier one: it never decides anything",
    "IST0131",
)
MATCH_NEVER_TRUE = MessageType(
    "XDS0204",
    "MatchNeverTrue",
    W,
    "a match asks for a port the host has not, or a caller no workload is",
)
ZERO_WEIGHT_DESTINATION = MessageType(
    "XDS0205",
    "ZeroWeightDestination",
    W,
    "a destination with weight 0 beside others never receives traffic",
)
RULES_FOR_ANOTHER_PROTOCOL = MessageType(
    "XDS0206",
    "RulesForAnotherProtocol",
    W,
    "http rules for hosts without an HTTP port (or tcp rules without a TCP one): never applied",
)
VIRTUAL_SERVICE_OVERRIDDEN = MessageType(
    "XDS0207",
    "VirtualServiceOverriddenByHTTPRoute",
    W,
    "an HTTPRoute with a Service parent (GAMMA) routes the same host: sidecars apply the "
    "HTTPRoute, the VirtualService is ignored for it",
)
CLAIM_ROUTE_NEVER_VERIFIED = MessageType(
    "XDS0250",
    "JwtClaimRouteNeverMatches",
    W,
    "a route matches a JWT claim (@request.auth.claims) but no RequestAuthentication applies "
    "to any workload: no sidecar verifies a token, so the match never matches",
)

SELECTOR_MATCHES_NOTHING = MessageType(
    "XDS0301",
    "SelectorMatchesNoWorkload",
    W,
    "a workload selector matches no workload in its namespace: the object applies to nothing",
    "IST0127",
)
CONFLICTING_SIDECARS = MessageType(
    "XDS0302",
    "ConflictingSidecarWorkloadSelectors",
    E,
    "several Sidecars select one workload: only the oldest applies",
    "IST0110",
)
MULTIPLE_DEFAULT_SIDECARS = MessageType(
    "XDS0303",
    "MultipleSidecarsWithoutWorkloadSelectors",
    E,
    "several Sidecars without selector in one namespace: only the oldest applies",
    "IST0111",
)
CONFLICTING_PEER_AUTHENTICATIONS = MessageType(
    "XDS0304",
    "ConflictingPeerAuthentications",
    W,
    "several PeerAuthentications at one level for one workload: only the oldest applies",
)
CONFLICTING_TELEMETRIES = MessageType(
    "XDS0305",
    "ConflictingTelemetries",
    E,
    "several Telemetry objects at one level for one workload: only the oldest applies",
    "IST0159",
)

MTLS_CONFLICT = MessageType(
    "XDS0401",
    "MTLSPolicyConflict",
    E,
    "a DestinationRule sends plaintext or non-mesh TLS to a workload whose "
    "PeerAuthentication is STRICT: connections are reset",
    "IST0113",
)
ISTIO_MUTUAL_WITHOUT_SIDECAR = MessageType(
    "XDS0402",
    "IstioMutualWithoutSidecar",
    E,
    "ISTIO_MUTUAL to endpoints that have no sidecar: the TLS handshake fails",
)
DOUBLE_TLS_ORIGINATION = MessageType(
    "XDS0403",
    "TLSOriginationToMeshService",
    W,
    "a DestinationRule originates TLS (SIMPLE/MUTUAL) to an in-mesh service whose "
    "sidecar expects mesh mTLS or plaintext",
)
TLS_BEHIND_HTTP_PORT = MessageType(
    "XDS0404",
    "TLSBehindHTTPPort",
    W,
    "a port declared HTTP whose name or number says TLS: the sidecar parses TLS as HTTP",
)
NO_SERVER_CERT_VERIFICATION = MessageType(
    "XDS0405",
    "NoServerCertificateVerification",
    W,
    "a DestinationRule originates TLS without caCertificates: the server is not verified",
    "IST0128",
)
PORT_LEVEL_MTLS_PORT_NOT_FOUND = MessageType(
    "XDS0406",
    "PortLevelMtlsPortNotFound",
    W,
    "portLevelMtls names a port none of the selected workloads serves: it never applies",
)

AUTHZ_PRINCIPAL_MATCHES_NOTHING = MessageType(
    "XDS0501",
    "AuthorizationPrincipalNotFound",
    W,
    "an AuthorizationPolicy principal or service account matches no workload identity",
)
AUTHZ_NAMESPACE_MATCHES_NOTHING = MessageType(
    "XDS0502",
    "AuthorizationNamespaceNotFound",
    W,
    "an AuthorizationPolicy source namespace has no workload",
    "IST0101",
)

EGRESS_HOST_MATCHES_NOTHING = MessageType(
    "XDS0601",
    "SidecarEgressHostNotFound",
    W,
    "a Sidecar egress host matches no service",
)
EGRESS_PORT_UNREACHABLE = MessageType(
    "XDS0602",
    "SidecarEgressPortNotFound",
    W,
    "a Sidecar egress listener's port is not a port of any service its hosts select",
)
DESTINATION_OUTSIDE_EGRESS = MessageType(
    "XDS0603",
    "DestinationNotInSidecarEgress",
    E,
    "a route reaches a host or port the caller's Sidecar egress does not import: 503",
)

GATEWAY_NOT_FOUND = MessageType(
    "XDS0801",
    "GatewayNotFound",
    W,
    "a VirtualService (or a match block) is bound to a gateway no Istio Gateway object "
    "defines: those rules apply nowhere",
    "IST0101",
)
DELEGATE_NOT_APPLIED = MessageType(
    "XDS0802",
    "DelegateNotApplied",
    W,
    "a VirtualService rule delegates to a VirtualService that does not exist, has hosts "
    "or is not exported to the root's namespace (the rule is dropped), or a delegate's "
    "rule matches outside the root rule's match (that rule does not take effect)",
)
FIELD_NOT_TRANSLATED = MessageType(
    "XDS0803",
    "FieldNotTranslated",
    W,
    "a field Istio accepts that xdscp does not translate yet: it has no effect",
)
AUTHORIZATION_FIELD_NOT_ENFORCED = MessageType(
    "XDS0804",
    "AuthorizationFieldNotEnforced",
    E,
    "an AuthorizationPolicy field xdscp does not enforce yet: the policy admits or denies "
    "other requests than written",
)
PORT_PROTOCOL_NOT_PROXIED = MessageType(
    "XDS0805",
    "PortProtocolNotProxied",
    W,
    "a UDP port: Istio's sidecars do not proxy UDP; xdscp's treat the port as TCP",
)
# XDS0806 (ResolutionNotTranslated, `resolution: DYNAMIC_DNS`) is retired: translated.
WORKLOAD_NOT_PROXIED = MessageType(
    "XDS0807",
    "WorkloadAddressNotTranslated",
    W,
    "a WorkloadEntry (or ServiceEntry endpoint) with a DNS name, a unix socket or only a "
    "network as address: not translated yet, it is no workload and no endpoint",
)

GATEWAY_HOST_NOT_ON_SERVER = MessageType(
    "XDS0901",
    "VirtualServiceHostNotInGateway",
    W,
    "a VirtualService host matches no server host of a Gateway it is bound to: that "
    "gateway never serves it",
    "IST0132",
)

# XDS10xx: EnvoyFilter
ENVOY_FILTER_PATCH_NOT_APPLIED = MessageType(
    "XDS1001",
    "EnvoyFilterPatchNotApplied",
    W,
    "an EnvoyFilter BOOTSTRAP patch is accepted but not applied: xdscp generates the "
    "bootstrap itself",
)
ENVOY_FILTER_AFTER_ROUTER = MessageType(
    "XDS1002",
    "EnvoyFilterHttpFilterAfterRouter",
    W,
    "an EnvoyFilter ADDs an HTTP filter, which lands after the router: Envoy rejects the "
    "listener (the router must be last), so the proxy keeps its previous listeners",
)

ALL: tuple[MessageType, ...] = tuple(
    value for value in list(globals().values()) if isinstance(value, MessageType)
)
BY_CODE = {t.code: t for t in ALL}
