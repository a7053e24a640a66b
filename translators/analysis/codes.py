"""The catalogue of message types. A code, once given, keeps its meaning for good.

Ranges: XDS00xx the analysis itself and schema, XDS01xx references between objects,
XDS02xx routing, XDS03xx workload selectors, XDS04xx mTLS and TLS, XDS05xx
authorization, XDS06xx Sidecar scoping. Istio's code (pkg/config/analysis/msg/
messages.yaml) is given where Istio reports the same problem.
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

ALL: tuple[MessageType, ...] = tuple(
    value for value in list(globals().values()) if isinstance(value, MessageType)
)
BY_CODE = {t.code: t for t in ALL}
