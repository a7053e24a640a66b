"""CLUSTER patches (pilot's envoyfilter/cluster_patch.go): REMOVE, MERGE and REPLACE on
matching clusters, then ADD. A cluster matches by name, or by the parts of its name
`outbound|<port>|<subset>|<host>` (service, subset, port). A transport socket in a MERGE
is merged into the cluster's socket of that name (or replaces it), as Istio does.
ADD without a context adds for sidecar outbound and gateways only."""

from __future__ import annotations

from collections.abc import Sequence

from envoy.config.cluster.v3 import cluster_pb2

from translators.envoyfilter.merge import merge, merge_any
from translators.envoyfilter.select import ActivePatch
from translators.model.envoy_filter import ApplyTo, Operation, PatchContext


def cluster_context(name: str, gateway: bool) -> PatchContext:
    if gateway:
        return PatchContext.GATEWAY
    if name.startswith("inbound|") or name.startswith("InboundPassthrough"):
        return PatchContext.SIDECAR_INBOUND
    return PatchContext.SIDECAR_OUTBOUND


def cluster_matches(cluster: cluster_pb2.Cluster, p: ActivePatch) -> bool:
    match = p.patch.match.cluster if p.patch.match is not None else None
    if match is None:
        return True
    if match.name:
        return bool(match.name == cluster.name)
    parts = cluster.name.split("|")
    _direction, port, subset, host = parts if len(parts) == 4 else ("", "", "", "")
    if match.subset and match.subset != subset:
        return False
    if match.service and match.service != host:
        return False
    return not (match.port_number and str(match.port_number) != port)


def patch_cluster(
    cluster: cluster_pb2.Cluster, patches: Sequence[ActivePatch], gateway: bool, applied: set[str]
) -> bool:
    """Apply CLUSTER patches to `cluster` in place; False if one removed it."""
    context = cluster_context(cluster.name, gateway)
    for p in patches:
        if p.apply_to is not ApplyTo.CLUSTER or p.operation is Operation.ADD:
            continue
        if not p.in_context(context) or not cluster_matches(cluster, p):
            continue
        applied.add(p.source)
        if p.operation is Operation.REMOVE:
            return False
        if p.operation is Operation.MERGE:
            value = p.value()
            assert isinstance(value, cluster_pb2.Cluster)
            if value.HasField("transport_socket"):
                _merge_transport_socket(cluster, value)
                value.ClearField("transport_socket")
            merge(cluster, value)
        elif p.operation is Operation.REPLACE:
            cluster.CopyFrom(p.value())
    return True


def _merge_transport_socket(cluster: cluster_pb2.Cluster, value: cluster_pb2.Cluster) -> None:
    socket = value.transport_socket
    if cluster.transport_socket_matches:
        for candidate in cluster.transport_socket_matches:
            if candidate.transport_socket.name == socket.name:
                merge_any(candidate.transport_socket.typed_config, socket.typed_config)
        return  # no socket of that name: dropped (both a socket and matches is invalid)
    if cluster.HasField("transport_socket") and cluster.transport_socket.name == socket.name:
        merge_any(cluster.transport_socket.typed_config, socket.typed_config)
    else:
        cluster.transport_socket.CopyFrom(socket)


def added_clusters(
    patches: Sequence[ActivePatch], gateway: bool
) -> list[tuple[str, cluster_pb2.Cluster]]:
    """The clusters ADD patches contribute to this proxy, with their EnvoyFilter."""
    found: list[tuple[str, cluster_pb2.Cluster]] = []
    for p in patches:
        if p.apply_to is not ApplyTo.CLUSTER or p.operation is not Operation.ADD:
            continue
        if adds_here(p.context, gateway):
            value = p.value()
            assert isinstance(value, cluster_pb2.Cluster)
            found.append((p.source, value))
    return found


def adds_here(context: PatchContext, gateway: bool) -> bool:
    """Istio adds a listener or cluster once per patch context: ANY means sidecar outbound
    (or gateway)."""
    if gateway:
        return context in (PatchContext.ANY, PatchContext.GATEWAY)
    return context is not PatchContext.GATEWAY
