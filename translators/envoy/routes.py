"""RouteTableIR -> envoy.config.route.v3.RouteConfiguration."""

from __future__ import annotations

from envoy.config.route.v3 import route_components_pb2 as rc
from envoy.config.route.v3 import route_pb2

from translators.envoy.common import length_delimited, provenance, provenance_bytes
from translators.envoy.route_bytes import virtual_host_bytes
from translators.envoy.traffic import build_route, default_retry_policy
from translators.ir import RouteTableIR, VirtualHostIR

__all__ = [
    "build_route_config",
    "build_virtual_host",
    "default_retry_policy",
    "route_config_bytes",
    "route_config_from_fields",
    "route_config_metadata",
    "route_config_parts",
    "virtual_host_bytes",
    "virtual_host_field",
]


def build_virtual_host(ir: VirtualHostIR) -> rc.VirtualHost:
    vhost = rc.VirtualHost(
        name=ir.name, domains=list(ir.domains), routes=[build_route(r, ir.name) for r in ir.routes]
    )
    if ir.provenance:
        vhost.metadata.CopyFrom(provenance(ir.provenance))
    return vhost


def build_route_config(ir: RouteTableIR, ignore_port: bool = False) -> route_pb2.RouteConfiguration:
    """`ignore_port`: Envoy matches virtual host domains on the Host without its port
    (Istio's sidecar route configurations, whose domains carry no port)."""
    config = route_pb2.RouteConfiguration(
        name=ir.name,
        virtual_hosts=[build_virtual_host(v) for v in ir.virtual_hosts],
        ignore_port_in_host_matching=ignore_port,
    )
    sources = {s for v in ir.virtual_hosts for s in v.provenance}
    if sources:
        config.metadata.CopyFrom(provenance(sources))
    return config


# RouteConfiguration field numbers, for assembling one from pre-serialized virtual hosts.
_RC_NAME, _RC_VIRTUAL_HOSTS, _RC_IGNORE_PORT, _RC_METADATA = 1, 2, 14, 17
# ignore_port_in_host_matching: true (a varint field)
_IGNORE_PORT_FIELD = bytes([_RC_IGNORE_PORT << 3, 1])


def virtual_host_field(virtual_host: bytes) -> bytes:
    """A serialized virtual host framed as a RouteConfiguration field (for
    `route_config_from_fields`, so a patched config only frames what changed)."""
    return length_delimited(_RC_VIRTUAL_HOSTS, virtual_host)


def route_config_metadata(sources: tuple[str, ...]) -> bytes:
    """The provenance field of a RouteConfiguration naming `sources` (empty: none)."""
    return length_delimited(_RC_METADATA, provenance_bytes(sources)) if sources else b""


def route_config_from_fields(name: str, fields: list[bytes], metadata: bytes) -> bytes:
    """`route_config_bytes(..., ignore_port=True)` (a sidecar's outbound route
    configuration) from virtual hosts framed by `virtual_host_field` and the
    `route_config_metadata` field."""
    # one join: the body is megabytes at 10,000 services, each `+` would copy it again
    return b"".join(route_config_parts(name, fields, metadata))


def route_config_parts(name: str, fields: list[bytes], metadata: bytes) -> tuple[bytes, ...]:
    """What `route_config_from_fields` joins, in order: the virtual host fields are the
    very objects given (shared with the last generation's, where they did not change)."""
    return (length_delimited(_RC_NAME, name.encode()), *fields, _IGNORE_PORT_FIELD, metadata)


def route_config_bytes(
    name: str, virtual_hosts: list[bytes], sources: tuple[str, ...], ignore_port: bool = False
) -> bytes:
    """A serialized RouteConfiguration made by concatenating encoded fields in field-number
    order — byte-identical to serializing `build_route_config` deterministically."""
    parts = [length_delimited(_RC_NAME, name.encode())]
    parts += [length_delimited(_RC_VIRTUAL_HOSTS, v) for v in virtual_hosts]
    if ignore_port:
        parts.append(_IGNORE_PORT_FIELD)
    if sources:
        parts.append(length_delimited(_RC_METADATA, provenance_bytes(sources)))
    return b"".join(parts)
