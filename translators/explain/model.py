"""What `explain` answers, as plain data: one `Explanation` per request, turned into the
JSON the debug API serves (`to_json`) and the CLI prints.

Every step names the generated Envoy resource it read (listener, filter chain, route,
cluster) and the mesh objects behind it (`sources`: provenance refs `Kind/ns/name`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class ListenerStep:
    name: str
    address: str  # ip:port it listens on
    protocol: str  # "http" or "tcp"
    filter_chain: str  # the chain's name ("" when Envoy's only chain is unnamed)
    route_config: str = ""  # HTTP: the RDS route configuration
    sources: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SkippedRoute:
    """A route Envoy tried before the one that matched, and why it did not match."""

    route: str
    object: str  # the VirtualService (or Service) behind it
    rule: str  # e.g. "http[0]"
    failed: tuple[str, ...]
    delegate: str = ""  # the delegate VirtualService of a delegated rule
    delegate_rule: str = ""  # its rule, e.g. "http[1] 'tester'"


@dataclass(frozen=True, slots=True)
class Fault:
    abort_status: int | None = None
    abort_percent: float = 0.0
    delay: str = ""
    delay_percent: float = 0.0


@dataclass(frozen=True, slots=True)
class RouteStep:
    virtual_host: str
    domain: str  # the virtual host domain the authority matched
    name: str  # the Envoy route name
    object: str
    rule: str  # "http[i]" (".match[j]" when the rule has several match blocks)
    action: str  # "route", "redirect", "direct_response"
    skipped: tuple[SkippedRoute, ...] = ()
    status: int = 0  # redirect / direct response status
    location: str = ""
    timeout: str = ""  # "" : none (Envoy's 0s disables the route timeout)
    retries: str = ""  # "" : none
    fault: Fault | None = None
    mirrors: tuple[str, ...] = ()  # "cluster (percent%)"
    hash_policy: tuple[str, ...] = ()
    upstream_path: str = ""  # after rewrites
    upstream_authority: str = ""
    # a root VirtualService's delegated rule: `object`/`rule` name the root and its rule,
    # these the delegate VirtualService and its rule (translators/explain/rules.py)
    delegate: str = ""
    delegate_rule: str = ""


@dataclass(frozen=True, slots=True)
class TlsStep:
    # "mTLS", "TLS" (originated to a non-mesh server), "plaintext"; "-": no such cluster
    mode: str
    decided_by: str  # object ref, or "auto-mTLS"
    reason: str
    sni: str = ""


@dataclass(frozen=True, slots=True)
class RbacMatch:
    policy: str  # the Envoy RBAC policy name
    object: str  # AuthorizationPolicy/ns/name
    rule: str  # "rules[i]"


@dataclass(frozen=True, slots=True)
class RbacStep:
    action: str  # ALLOW / DENY / AUDIT...
    matched: tuple[RbacMatch, ...]
    verdict: str  # "allowed" / "denied"
    dry_run: tuple[RbacMatch, ...] = ()  # shadow (istio.io/dry-run) policies that matched
    policies: tuple[str, ...] = ()  # every AuthorizationPolicy this filter enforces
    # why each enforced rule did not match: "<object> <rule>: <part> does not match"
    missed: tuple[str, ...] = ()
    reached: bool = True  # False: an earlier RBAC filter already denied the request


@dataclass(frozen=True, slots=True)
class InboundStep:
    """The callee's sidecar: what its inbound listener does with this hop."""

    workload: str
    listener: str
    filter_chain: str
    peer_authentication: str  # STRICT / PERMISSIVE / DISABLE
    peer_authentication_sources: tuple[str, ...]
    peer: str  # the SPIFFE ID the callee sees ("" on plaintext)
    rbac: tuple[RbacStep, ...]
    verdict: str  # "allowed", "denied" (RBAC, 403 / reset), "refused" (no chain, handshake)
    reason: str


@dataclass(frozen=True, slots=True)
class EndpointStep:
    address: str
    port: int
    weight: int
    workload: str  # "" when the endpoint is no known workload
    tls: str  # "mTLS" / "TLS" / "plaintext" for this endpoint
    inbound: InboundStep | None  # None: no sidecar inbound listener to explain


@dataclass(frozen=True, slots=True)
class DestinationStep:
    cluster: str
    weight: int
    share: float  # percent of the requests that reach the routing step
    service: str
    port: int
    subset: str
    sources: tuple[str, ...]
    tls: TlsStep
    endpoints: tuple[EndpointStep, ...]


@dataclass(frozen=True, slots=True)
class Outcome:
    """One possible end of the request, with the share of requests that end this way."""

    # forwarded / fault_abort / denied / refused / no_endpoints / redirect / direct_response
    # / passthrough / blackhole / no_cluster
    result: str
    share: float  # percent
    status: int | None  # the status the caller gets; None: whatever the app answers
    cluster: str = ""
    detail: str = ""

    @property
    def status_class(self) -> str:
        return f"{self.status // 100}xx" if self.status else "app"


@dataclass(frozen=True, slots=True)
class Explanation:
    source: str
    identity: str
    protocol: str
    method: str
    url: str
    authority: str
    path: str  # HTTP: the :path, query included
    headers: dict[str, str]
    listener: ListenerStep
    route: RouteStep | None  # HTTP only
    destinations: tuple[DestinationStep, ...]
    outcomes: tuple[Outcome, ...]
    notes: tuple[str, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        found = asdict(self)
        for outcome, raw in zip(self.outcomes, found["outcomes"], strict=True):
            raw["status_class"] = outcome.status_class
        return found
