"""Listeners in the IR: the ports a proxy accepts traffic on, outbound and inbound,
with what applies to them (routes, inbound security, request authentication,
telemetry)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from translators.ir.jwt import JwtRuleIR
from translators.ir.routes import TcpRouteIR
from translators.ir.security import InboundIR
from translators.ir.telemetry import TelemetryIR


class Direction(StrEnum):
    OUTBOUND = "outbound"
    INBOUND = "inbound"


@dataclass(frozen=True, slots=True)
class ListenerIR:
    """A listener bound to `address:port`: outbound ones are HTTP and use RDS, inbound
    ones forward everything to the local app's inbound cluster, behind `inbound`."""

    name: str
    direction: Direction
    address: str
    port: int
    route_table: str = ""
    inbound_destination: str = ""
    provenance: tuple[str, ...] = ()
    inbound: InboundIR | None = None
    # Outbound TCP/TLS port: connections routed by SNI (TLS) or port (TCP), not HTTP.
    tcp_routes: tuple[TcpRouteIR, ...] = ()
    # Outbound HTTP port whose routes reach a forward-proxy destination: the request's
    # authority is resolved on demand, on this listener.
    forward_proxy: bool = False
    # access log and tracing for this listener's traffic (None: neither)
    telemetry: TelemetryIR | None = None
    # Traffic capture (iptables): this per-port listener is not bound itself; the
    # virtual listeners hand it connections by original destination.
    captured: bool = False
    # "" for an ordinary listener; else the cluster a virtual capture listener
    # (virtualOutbound / virtualInbound) sends connections no port listener takes.
    capture_fallback: str = ""
    # RequestAuthentication JWT rules of the workload (HTTP listeners): inbound, Envoy's
    # jwt_authn rejects invalid tokens before RBAC; outbound, it only reads valid tokens'
    # claims for `@request.auth.claims` route matches.
    jwt: tuple[JwtRuleIR, ...] = ()
