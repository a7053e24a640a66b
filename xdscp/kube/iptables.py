"""Traffic capture rules for a Pod, as Istio's `istio-iptables` writes them (IPv4, nat).

Inbound TCP is redirected to the sidecar's virtual inbound listener (15006), outbound
TCP to its virtual outbound listener (15001). The proxy's own traffic (UID/GID 1337)
is never captured, or Envoy would loop into itself; loopback traffic of the app stays
on loopback, while the proxy talking to the pod's own IP over `lo` (a pod calling its
own service) goes through the inbound path like any other caller.

Pure text generation: `xdscp pod-init` feeds it to `iptables-restore --noflush`, and
tests read it without root.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from translators.naming import VIRTUAL_INBOUND_PORT, VIRTUAL_OUTBOUND_PORT

PROXY_UID = 1337
# Ports of the sidecar itself that are never redirected inbound: Envoy admin, the
# readiness listener, Prometheus stats, and Istio's agent/health ports kept free.
SIDECAR_PORTS = (15000, 15001, 15006, 15020, 15021, 15090)


@dataclass(frozen=True, slots=True)
class CaptureSettings:
    proxy_uid: int = PROXY_UID
    proxy_gid: int = PROXY_UID
    inbound_port: int = VIRTUAL_INBOUND_PORT
    outbound_port: int = VIRTUAL_OUTBOUND_PORT
    # "*" captures every inbound port; an empty tuple disables inbound capture
    include_inbound_ports: tuple[str, ...] = ("*",)
    exclude_inbound_ports: tuple[int, ...] = ()
    # "*" captures every destination; an empty tuple disables outbound capture
    include_outbound_cidrs: tuple[str, ...] = ("*",)
    exclude_outbound_cidrs: tuple[str, ...] = ()
    exclude_outbound_ports: tuple[int, ...] = ()
    sidecar_ports: tuple[int, ...] = field(default=SIDECAR_PORTS)


def capture_rules(settings: CaptureSettings) -> str:
    """The nat table additions, in `iptables-restore` format."""
    s = settings
    lines = [
        "*nat",
        ":XDSCP_INBOUND - [0:0]",
        ":XDSCP_IN_REDIRECT - [0:0]",
        ":XDSCP_OUTPUT - [0:0]",
        ":XDSCP_REDIRECT - [0:0]",
        f"-A XDSCP_IN_REDIRECT -p tcp -j REDIRECT --to-ports {s.inbound_port}",
        f"-A XDSCP_REDIRECT -p tcp -j REDIRECT --to-ports {s.outbound_port}",
    ]
    if s.include_inbound_ports:
        lines.append("-A PREROUTING -p tcp -j XDSCP_INBOUND")
        for port in sorted({*s.sidecar_ports, *s.exclude_inbound_ports}):
            lines.append(f"-A XDSCP_INBOUND -p tcp --dport {port} -j RETURN")
        if "*" in s.include_inbound_ports:
            lines.append("-A XDSCP_INBOUND -p tcp -j XDSCP_IN_REDIRECT")
        else:
            for included in s.include_inbound_ports:
                lines.append(
                    f"-A XDSCP_INBOUND -p tcp --dport {int(included)} -j XDSCP_IN_REDIRECT"
                )
    if s.include_outbound_cidrs:
        uid, gid = s.proxy_uid, s.proxy_gid
        lines += [
            "-A OUTPUT -p tcp -j XDSCP_OUTPUT",
            # Envoy's inbound passthrough source address: never recaptured
            "-A XDSCP_OUTPUT -o lo -s 127.0.0.6/32 -j RETURN",
            # the proxy calling the pod's own IP over lo: through the inbound path
            f"-A XDSCP_OUTPUT -o lo ! -d 127.0.0.1/32 -m owner --uid-owner {uid} "
            "-j XDSCP_IN_REDIRECT",
            f"-A XDSCP_OUTPUT -o lo -m owner ! --uid-owner {uid} -j RETURN",
            f"-A XDSCP_OUTPUT -m owner --uid-owner {uid} -j RETURN",
            f"-A XDSCP_OUTPUT -o lo ! -d 127.0.0.1/32 -m owner --gid-owner {gid} "
            "-j XDSCP_IN_REDIRECT",
            f"-A XDSCP_OUTPUT -o lo -m owner ! --gid-owner {gid} -j RETURN",
            f"-A XDSCP_OUTPUT -m owner --gid-owner {gid} -j RETURN",
            "-A XDSCP_OUTPUT -d 127.0.0.1/32 -j RETURN",
        ]
        for port in s.exclude_outbound_ports:
            lines.append(f"-A XDSCP_OUTPUT -p tcp --dport {port} -j RETURN")
        for cidr in s.exclude_outbound_cidrs:
            lines.append(f"-A XDSCP_OUTPUT -d {cidr} -j RETURN")
        if "*" in s.include_outbound_cidrs:
            lines.append("-A XDSCP_OUTPUT -j XDSCP_REDIRECT")
        else:
            for cidr in s.include_outbound_cidrs:
                lines.append(f"-A XDSCP_OUTPUT -d {cidr} -j XDSCP_REDIRECT")
    lines.append("COMMIT")
    return "\n".join(lines) + "\n"


def _split(value: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip())


def settings_from_annotations(annotations: dict[str, str]) -> CaptureSettings | None:
    """Istio's per-pod traffic annotations; None when capture is off
    (`sidecar.istio.io/interceptionMode: NONE`, for Sidecars with captureMode NONE)."""
    if annotations.get("sidecar.istio.io/interceptionMode", "REDIRECT").upper() == "NONE":
        return None
    prefix = "traffic.sidecar.istio.io/"
    get = annotations.get
    return CaptureSettings(
        include_inbound_ports=_split(get(prefix + "includeInboundPorts", "*")),
        exclude_inbound_ports=tuple(
            int(p) for p in _split(get(prefix + "excludeInboundPorts", ""))
        ),
        include_outbound_cidrs=_split(get(prefix + "includeOutboundIPRanges", "*")),
        exclude_outbound_cidrs=_split(get(prefix + "excludeOutboundIPRanges", "")),
        exclude_outbound_ports=tuple(
            int(p) for p in _split(get(prefix + "excludeOutboundPorts", ""))
        ),
    )
