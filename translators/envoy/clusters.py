"""ClusterIR -> envoy.config.cluster.v3.Cluster."""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.endpoint.v3 import endpoint_components_pb2, endpoint_pb2

from translators.envoy.common import ads, duration, length_delimited, provenance, socket_address
from translators.ir import ClusterIR, Discovery, EndpointIR, LbPolicy

_TYPES = {
    Discovery.EDS: cluster_pb2.Cluster.EDS,
    Discovery.STATIC: cluster_pb2.Cluster.STATIC,
    Discovery.STRICT_DNS: cluster_pb2.Cluster.STRICT_DNS,
    Discovery.LOGICAL_DNS: cluster_pb2.Cluster.LOGICAL_DNS,
    Discovery.ORIGINAL_DST: cluster_pb2.Cluster.ORIGINAL_DST,
}
_LB = {
    LbPolicy.ROUND_ROBIN: cluster_pb2.Cluster.ROUND_ROBIN,
    LbPolicy.LEAST_REQUEST: cluster_pb2.Cluster.LEAST_REQUEST,
    LbPolicy.RANDOM: cluster_pb2.Cluster.RANDOM,
    LbPolicy.CLUSTER_PROVIDED: cluster_pb2.Cluster.CLUSTER_PROVIDED,
}


def load_assignment(
    cluster: str, endpoints: tuple[EndpointIR, ...]
) -> endpoint_pb2.ClusterLoadAssignment:
    locality = endpoint_components_pb2.LocalityLbEndpoints(
        lb_endpoints=[
            endpoint_components_pb2.LbEndpoint(
                endpoint=endpoint_components_pb2.Endpoint(
                    address=socket_address(e.address, e.port)
                ),
                load_balancing_weight={"value": e.weight},
            )
            for e in endpoints
        ]
    )
    return endpoint_pb2.ClusterLoadAssignment(
        cluster_name=cluster, endpoints=[locality] if endpoints else []
    )


def build_cluster(ir: ClusterIR) -> cluster_pb2.Cluster:
    cluster = cluster_pb2.Cluster(
        name=ir.name,
        type=_TYPES[ir.discovery],
        lb_policy=_LB[ir.lb_policy],
        connect_timeout=duration(ir.connect_timeout_s),
    )
    if ir.provenance:
        cluster.metadata.CopyFrom(provenance(ir.provenance))
    if ir.discovery is Discovery.EDS:
        # No service_name: Envoy then asks EDS for the cluster's own name.
        cluster.eds_cluster_config.eds_config.CopyFrom(ads())
    elif ir.discovery is not Discovery.ORIGINAL_DST:
        cluster.load_assignment.CopyFrom(load_assignment(ir.name, ir.endpoints))
    return cluster


# --- byte assembly for the two most numerous resources ------------------------
# A mesh of 10,000 services has 60,000 clusters and load assignments per proxy;
# building each as a protobuf message and serializing it dominated translation.
# They differ only in name, endpoints and provenance, so the rest is serialized
# once per shape and the pieces are concatenated. Protobuf allows fields in any
# order; the result parses to exactly the message `build_cluster` makes.

_CLUSTER_NAME, _CLUSTER_METADATA = 1, 25
_CLA_CLUSTER_NAME, _CLA_ENDPOINTS = 1, 2
_LOCALITY_LB_ENDPOINTS = 2


@lru_cache(maxsize=1024)
def _cluster_shape(shape: ClusterIR) -> bytes:
    encoded: bytes = build_cluster(shape).SerializeToString(deterministic=True)
    return encoded


@lru_cache(maxsize=65536)
def _metadata_field(sources: tuple[str, ...]) -> bytes:
    return length_delimited(
        _CLUSTER_METADATA, provenance(sources).SerializeToString(deterministic=True)
    )


def cluster_bytes(ir: ClusterIR) -> bytes:
    """Serialized Cluster, equal in meaning to `build_cluster(ir)`."""
    if ir.discovery is not Discovery.EDS:  # rare (static/DNS/passthrough): nothing to share
        encoded: bytes = build_cluster(ir).SerializeToString(deterministic=True)
        return encoded
    shape = _cluster_shape(replace(ir, name="", provenance=()))
    metadata = _metadata_field(tuple(sorted(set(ir.provenance)))) if ir.provenance else b""
    return length_delimited(_CLUSTER_NAME, ir.name.encode()) + shape + metadata


@lru_cache(maxsize=262144)
def _lb_endpoint(endpoint: EndpointIR) -> bytes:
    encoded: bytes = endpoint_components_pb2.LbEndpoint(
        endpoint=endpoint_components_pb2.Endpoint(
            address=socket_address(endpoint.address, endpoint.port)
        ),
        load_balancing_weight={"value": endpoint.weight},
    ).SerializeToString(deterministic=True)
    return encoded


def load_assignment_bytes(cluster: str, endpoints: tuple[EndpointIR, ...]) -> bytes:
    """Serialized ClusterLoadAssignment, byte-identical to `load_assignment(...)`."""
    name = length_delimited(_CLA_CLUSTER_NAME, cluster.encode())
    if not endpoints:
        return name
    locality = b"".join(
        length_delimited(_LOCALITY_LB_ENDPOINTS, _lb_endpoint(e)) for e in endpoints
    )
    return name + length_delimited(_CLA_ENDPOINTS, locality)
