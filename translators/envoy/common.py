"""Small helpers shared by the Envoy builders."""

from __future__ import annotations

from collections.abc import Iterable

from envoy.config.core.v3 import address_pb2, base_pb2, config_source_pb2
from google.protobuf import any_pb2, duration_pb2, struct_pb2
from google.protobuf.message import Message

from translators.naming import PROVENANCE_KEY


def pack(message: Message) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def duration(seconds: float) -> duration_pb2.Duration:
    whole = int(seconds)
    return duration_pb2.Duration(seconds=whole, nanos=round((seconds - whole) * 1e9))


def provenance(sources: Iterable[str]) -> base_pb2.Metadata:
    """Metadata naming the mesh objects a resource came from (visible in /config_dump,
    and how a NACK is traced back to the YAML that caused it)."""
    sources_list = struct_pb2.ListValue()
    sources_list.extend(sorted(set(sources)))
    entry = struct_pb2.Struct()
    entry.fields["sources"].list_value.CopyFrom(sources_list)
    metadata = base_pb2.Metadata()
    metadata.filter_metadata[PROVENANCE_KEY].CopyFrom(entry)
    return metadata


def ads() -> config_source_pb2.ConfigSource:
    return config_source_pb2.ConfigSource(
        ads=config_source_pb2.AggregatedConfigSource(),
        resource_api_version=config_source_pb2.V3,
    )


def socket_address(address: str, port: int) -> address_pb2.Address:
    return address_pb2.Address(
        socket_address=address_pb2.SocketAddress(address=address, port_value=port)
    )
