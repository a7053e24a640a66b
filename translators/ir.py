"""The intermediate representation: what one proxy should do, in mesh terms, with no
protobuf. Golden tests of the IR read like the mesh; the Envoy builders turn each
of these into exactly one kind of Envoy resource."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Discovery(StrEnum):
    EDS = "EDS"
    STATIC = "STATIC"
    STRICT_DNS = "STRICT_DNS"
    LOGICAL_DNS = "LOGICAL_DNS"
    ORIGINAL_DST = "ORIGINAL_DST"


class LbPolicy(StrEnum):
    ROUND_ROBIN = "ROUND_ROBIN"
    LEAST_REQUEST = "LEAST_REQUEST"
    RANDOM = "RANDOM"
    CLUSTER_PROVIDED = "CLUSTER_PROVIDED"


@dataclass(frozen=True, slots=True)
class EndpointIR:
    address: str
    port: int
    weight: int = 1
    workload: str = ""


@dataclass(frozen=True, slots=True)
class ClusterIR:
    name: str
    discovery: Discovery
    lb_policy: LbPolicy = LbPolicy.ROUND_ROBIN
    # Only for STATIC / DNS clusters, whose endpoints are inline rather than EDS.
    endpoints: tuple[EndpointIR, ...] = ()
    connect_timeout_s: float = 10.0
    provenance: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class LoadAssignmentIR:
    cluster: str
    endpoints: tuple[EndpointIR, ...]
    provenance: tuple[str, ...] = ()


class MatchKind(StrEnum):
    EXACT = "exact"
    PREFIX = "prefix"
    REGEX = "regex"


@dataclass(frozen=True, slots=True)
class StringMatchIR:
    kind: MatchKind
    value: str


@dataclass(frozen=True, slots=True)
class HeaderMatchIR:
    name: str
    match: StringMatchIR


@dataclass(frozen=True, slots=True)
class RouteMatchIR:
    path: StringMatchIR = StringMatchIR(MatchKind.PREFIX, "/")
    headers: tuple[HeaderMatchIR, ...] = ()


@dataclass(frozen=True, slots=True)
class WeightedClusterIR:
    cluster: str
    weight: int


@dataclass(frozen=True, slots=True)
class RouteIR:
    name: str
    match: RouteMatchIR
    clusters: tuple[WeightedClusterIR, ...]
    provenance: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class VirtualHostIR:
    name: str
    domains: tuple[str, ...]
    routes: tuple[RouteIR, ...]
    provenance: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RouteConfigIR:
    name: str
    virtual_hosts: tuple[VirtualHostIR, ...]


class Direction(StrEnum):
    OUTBOUND = "outbound"
    INBOUND = "inbound"


@dataclass(frozen=True, slots=True)
class ListenerIR:
    """An HTTP listener bound to `address:port`: outbound ones use RDS, inbound ones
    route everything to the local app's inbound cluster."""

    name: str
    direction: Direction
    address: str
    port: int
    route_config: str = ""
    inbound_cluster: str = ""
    provenance: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ProxyView:
    """Everything one proxy gets, before it becomes Envoy protos."""

    proxy: str
    clusters: tuple[ClusterIR, ...] = ()
    load_assignments: tuple[LoadAssignmentIR, ...] = ()
    listeners: tuple[ListenerIR, ...] = ()
    route_configs: tuple[RouteConfigIR, ...] = ()
    warnings: tuple[str, ...] = field(default=())
