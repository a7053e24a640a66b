"""Small helpers shared by the Envoy builders."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from functools import lru_cache

from envoy.config.core.v3 import address_pb2, base_pb2, config_source_pb2
from google.protobuf import any_pb2, duration_pb2
from google.protobuf.message import Message

from translators.naming import PROVENANCE_KEY

WEBSOCKET_UPGRADE = "websocket"  # the HCM upgrade type every Istio HTTP listener allows


def pack(message: Message) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message, deterministic=True)
    return packed


# The helpers below return shared, cached messages: callers copy them into their own
# message (CopyFrom, or a constructor argument, which copies) and never mutate them.
# Building the same small messages 30,000 times was a third of a large mesh's cost.


@lru_cache(maxsize=64)
def duration(seconds: float) -> duration_pb2.Duration:
    whole = int(seconds)
    return duration_pb2.Duration(seconds=whole, nanos=round((seconds - whole) * 1e9))


def provenance(sources: Iterable[str]) -> base_pb2.Metadata:
    """Metadata naming the mesh objects a resource came from (visible in /config_dump,
    and how a NACK is traced back to the YAML that caused it)."""
    return _provenance(tuple(sorted(set(sources))))


@lru_cache(maxsize=4096)
def _provenance(sources: tuple[str, ...]) -> base_pb2.Metadata:
    return base_pb2.Metadata.FromString(_provenance_bytes(sources))


def provenance_bytes(sources: Iterable[str]) -> bytes:
    """`provenance(sources)` serialized (deterministically), without building the message:
    every cluster and virtual host carries one, and building a Struct per resource was a
    sixth of a large mesh's translation."""
    if isinstance(sources, tuple):
        return _provenance_bytes(sorted_sources(sources))
    return _provenance_bytes(tuple(sorted(set(sources))))


def sorted_sources(sources: tuple[str, ...]) -> tuple[str, ...]:
    """`tuple(sorted(set(sources)))`: nearly every resource names one source (a route its
    VirtualService) or two (a cluster its service and rule, a virtual host its service
    and VirtualService), ordered here by one comparison instead of a set and a sort."""
    if len(sources) == 1:
        return sources
    if len(sources) == 2:
        first, second = sources
        if first < second:
            return sources
        return (second, first) if second < first else (first,)
    return tuple(sorted(set(sources)))


# Metadata.filter_metadata (map<string, Struct>) entry: key 1, value 2; Struct.fields entry
# likewise; Value.list_value 6; ListValue.values 1; Value.string_value 3.
_PROVENANCE_KEY_FIELD = b"\x0a" + bytes([len(PROVENANCE_KEY)]) + PROVENANCE_KEY.encode()
_SOURCES_KEY_FIELD = b"\x0a\x07sources"


@lru_cache(maxsize=65536)
def _source_value(source: str) -> bytes:
    """One source as a ListValue entry: a service's source names its clusters, virtual
    host and routes alike."""
    return length_delimited(1, length_delimited(3, source.encode()))


def _provenance_bytes(sources: tuple[str, ...]) -> bytes:
    if len(sources) == 1:
        values = _source_value(sources[0])
    else:
        values = b"".join([_source_value(s) for s in sources])
    header = _PROVENANCE_HEADERS.get(len(values))
    if header is None:
        header = _PROVENANCE_HEADERS[len(values)] = _provenance_header(len(values))
    return header + values


def _provenance_header(size: int) -> bytes:
    """Everything the provenance metadata puts before its `size` bytes of ListValue
    entries: the enclosing fields' tags and lengths, which depend on that size alone."""
    value = length_delimited(6, bytes(size))
    struct_entry = length_delimited(1, _SOURCES_KEY_FIELD + length_delimited(2, value))
    entry = _PROVENANCE_KEY_FIELD + length_delimited(2, struct_entry)
    return length_delimited(1, entry)[:-size] if size else length_delimited(1, entry)


# entries' size -> `_provenance_header` (a few hundred sizes at most: names are short)
_PROVENANCE_HEADERS: dict[int, bytes] = {}


@lru_cache(maxsize=1)
def ads() -> config_source_pb2.ConfigSource:
    return config_source_pb2.ConfigSource(
        ads=config_source_pb2.AggregatedConfigSource(),
        resource_api_version=config_source_pb2.V3,
    )


def cidr_range(value: str) -> address_pb2.CidrRange:
    """An IP (a /32 or /128) or CIDR range, host bits cleared."""
    network = ipaddress.ip_network(value, strict=False)
    return address_pb2.CidrRange(
        address_prefix=str(network.network_address), prefix_len={"value": network.prefixlen}
    )


def socket_address(address: str, port: int) -> address_pb2.Address:
    return address_pb2.Address(
        socket_address=address_pb2.SocketAddress(address=address, port_value=port)
    )


UNIX_ADDRESS_PREFIX = "unix://"


def endpoint_address(address: str, port: int) -> address_pb2.Address:
    """An endpoint's address: `unix:///path` (or `unix://@abstract`) is a pipe, with no
    port; anything else an IP socket address."""
    if address.startswith(UNIX_ADDRESS_PREFIX):
        return address_pb2.Address(pipe=address_pb2.Pipe(path=address[len(UNIX_ADDRESS_PREFIX) :]))
    return socket_address(address, port)


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        bits = value & 0x7F
        value >>= 7
        if value:
            out.append(bits | 0x80)
        else:
            out.append(bits)
            return bytes(out)


# Tags and lengths below 2**14 (one or two bytes) are nearly all of them: a table lookup
# instead of a Python loop, for the 600,000 fields a 10,000-service config assembles.
_VARINTS = [_encode_varint(i) for i in range(1 << 14)]


def _varint(value: int) -> bytes:
    return _VARINTS[value] if value < 0x4000 else _encode_varint(value)


# The tag of a length-delimited field, per field number (builders use small numbers).
_TAGS = [_encode_varint((number << 3) | 2) for number in range(64)]


def length_delimited(field_number: int, payload: bytes) -> bytes:
    """Protobuf wire encoding of one length-delimited field (strings, bytes, messages):
    lets large messages be assembled from pieces serialized once."""
    size = len(payload)
    tag = _TAGS[field_number] if field_number < 64 else _encode_varint((field_number << 3) | 2)
    return tag + (_VARINTS[size] if size < 0x4000 else _encode_varint(size)) + payload
