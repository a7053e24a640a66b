"""Istio's AUTO_PASSTHROUGH ("sni-dnat") on a gateway proxy.

A caller that already speaks the mesh's mTLS (a sidecar in another network, a client
holding a mesh certificate) names its destination in the SNI the way sidecars do,
`outbound_.<port>_.<subset>_.<host>`. The gateway does not terminate the TLS: it reads
the SNI, and proxies the connection to that cluster's endpoints, where the destination's
sidecar terminates the mesh mTLS itself. Istio builds one extra cluster per such name
(the outbound cluster without TLS origination, named by the SNI) and one filter chain
whose `sni_cluster` filter picks the cluster from the SNI. xdscp does the same, with the
chain's `server_names` listing exactly the names of the clusters the server's hosts
take: any other SNI matches no chain and is refused at the listener.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace

from envoy.config.cluster.v3 import cluster_pb2

from translators.gateway.ir import GatewayListenerIR
from translators.gateway.istio import intersect, split_server_host
from translators.naming import mtls_sni, parse_outbound_cluster


def _taken(hosts: tuple[str, ...], fqdn: str, namespace: str) -> bool:
    for entry in hosts:
        server_namespace, host = split_server_host(entry)
        if server_namespace in ("*", namespace) and intersect(host, fqdn) is not None:
            return True
    return False


def sni_targets(
    hosts: tuple[str, ...], clusters: Iterable[str], namespace_of: Callable[[str], str | None]
) -> dict[str, str]:
    """SNI -> outbound cluster, for the outbound clusters whose service a server with
    `hosts` (`ns/host`) takes."""
    out: dict[str, str] = {}
    for name in clusters:
        parsed = parse_outbound_cluster(name)
        if parsed is None:
            continue
        port, subset, fqdn = parsed
        namespace = namespace_of(fqdn)
        if namespace is None or not _taken(hosts, fqdn, namespace):
            continue
        sni = mtls_sni(port, fqdn, subset)
        if sni:
            out[sni] = name
    return out


def resolve_auto_passthrough(
    listeners: Iterable[GatewayListenerIR],
    clusters: Iterable[str],
    namespace_of: Callable[[str], str | None],
) -> tuple[list[GatewayListenerIR], dict[str, str]]:
    """The listeners with each AUTO_PASSTHROUGH chain matching its SNI names (a chain
    that takes no cluster is dropped, and a listener left without chains), and the
    SNI-DNAT clusters they need (SNI -> the outbound cluster it copies)."""
    names = list(clusters)
    wanted: dict[str, str] = {}
    out = []
    for listener in listeners:
        chains = []
        for chain in listener.chains:
            if not chain.auto_passthrough:
                chains.append(chain)
                continue
            targets = sni_targets(chain.auto_passthrough, names, namespace_of)
            if targets:
                wanted.update(targets)
                chains.append(replace(chain, server_names=tuple(sorted(targets))))
        if chains:
            out.append(replace(listener, chains=tuple(chains)))
    return out, wanted


def dnat_cluster(outbound: cluster_pb2.Cluster, sni: str) -> cluster_pb2.Cluster:
    """`outbound` renamed `sni`, without TLS origination (the caller's mTLS passes
    through), its endpoints still those of `outbound` (EDS by the original name)."""
    cluster = cluster_pb2.Cluster()
    cluster.CopyFrom(outbound)
    cluster.name = sni
    cluster.ClearField("transport_socket")
    cluster.ClearField("transport_socket_matches")
    # HTTP protocol options mean nothing to a TCP proxy's upstream
    cluster.typed_extension_protocol_options.clear()
    if cluster.HasField("eds_cluster_config") and not cluster.eds_cluster_config.service_name:
        cluster.eds_cluster_config.service_name = outbound.name
    if cluster.HasField("load_assignment"):
        cluster.load_assignment.cluster_name = sni
    return cluster
