"""ClusterIR -> envoy.config.cluster.v3.Cluster."""

from __future__ import annotations

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.endpoint.v3 import endpoint_components_pb2, endpoint_pb2

from translators.envoy.common import ads, duration, provenance, socket_address
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
        cluster.eds_cluster_config.eds_config.CopyFrom(ads())
        cluster.eds_cluster_config.service_name = ir.name
    elif ir.discovery is not Discovery.ORIGINAL_DST:
        cluster.load_assignment.CopyFrom(load_assignment(ir.name, ir.endpoints))
    return cluster
