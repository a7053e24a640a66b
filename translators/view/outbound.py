"""The outbound part of a proxy's IR: shared by every proxy of one namespace + Sidecar
(+ the labels VirtualService `sourceLabels` test).

Per-service pieces (clusters, load assignments, virtual hosts) do not depend on
which proxy asks, only on the objects involved: they are pieces of the translator's
`PieceCache` (translators/memo.py), keyed by the objects a proxy's scope chooses and
invalidated by changes to what they read. With 1,000 proxies of one mesh, each piece
is built once; after one VirtualService changes, only the pieces that read it are
rebuilt.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from itertools import compress, count
from operator import is_not

from translators.index import MeshIndex
from translators.ir import DestinationIR, EndpointSetIR, RouteTableIR, VirtualHostIR
from translators.memo import PieceCache
from translators.model.networking import HTTP_PROTOCOLS, CaptureMode, SidecarSpec
from translators.model.objects import MeshObject
from translators.traffic.outbound import (
    catch_all_virtual_host,
    egress_proxy_cluster,
    outbound_mode,
)
from translators.traffic.source import SourceIR
from translators.traffic.tcp import tcp_chains
from translators.view.clusters import ServiceChunk, outbound_clusters
from translators.view.entries import VhostEntries, vhost_entries
from translators.view.forward_proxy import (
    forward_proxy_clusters,
    forward_proxy_count,
    reachable_chains,
    with_forward_proxy,
)
from translators.view.ports import EgressIR, egress_ports, ports_of, tcp_ports
from translators.view.scope import ref_of
from translators.view.vhosts import route_hosts_patched, unique_domains, vhost_entry


@dataclass(frozen=True, slots=True, eq=False)
class OutboundView:
    """The part of a proxy's config that depends only on its namespace and its Sidecar:
    shared by every proxy with the same pair (usually all proxies of a namespace)."""

    key: tuple[str, str]
    clusters: tuple[DestinationIR, ...]
    load_assignments: tuple[EndpointSetIR, ...]
    route_configs: tuple[RouteTableIR, ...]
    egress: tuple[EgressIR, ...]
    provenance: tuple[str, ...]
    warnings: tuple[str, ...]
    # Per visible service: its piece's value, the cluster / load assignment IR it yielded
    # (the same object as long as the piece holds), which also keeps their resources:
    # the Envoy layer reuses them without hashing 60,000 IR objects after every change.
    service_chunks: tuple[ServiceChunk, ...] = ()
    # the clusters from no service (passthrough, blackhole, allow-any)
    other_clusters: tuple[DestinationIR, ...] = ()
    # the memo key of the OutboundClusters piece the clusters come from
    clusters_key: Hashable = ()
    # route config name -> its virtual hosts before `unique_domains` (for patching)
    raw_vhosts: Mapping[str, tuple[VirtualHostIR, ...]] = field(default_factory=dict)
    # route config name -> how many of its raw virtual hosts reach a forward proxy cluster
    dfp_counts: Mapping[str, int] = field(default_factory=dict)
    # load assignments that depend on the calling proxy's locality (`combine` applies it)
    localized: tuple[EndpointSetIR, ...] = ()
    # route config name -> its per-service entries and what each read (for patching)
    entries: Mapping[str, VhostEntries] = field(default_factory=dict)
    # the names of its dynamic forward proxy clusters (None: not worked out)
    dfp: frozenset[str] | None = None
    # route config name -> (the last generation's route config it was patched from, the
    # positions of its virtual hosts that differ): what its bytes are patched by
    vhost_changes: Mapping[str, tuple[RouteTableIR, tuple[int, ...]]] = field(default_factory=dict)


def build_outbound(
    index: MeshIndex,
    namespace: str,
    sidecar_obj: MeshObject[SidecarSpec] | None,
    memo: PieceCache,
    source: SourceIR | None = None,
    previous: OutboundView | None = None,
) -> OutboundView:
    """Clusters, endpoints and route configs a proxy in `namespace` under `sidecar_obj` sees
    (as `source`, when VirtualServices match on their callers' labels). `previous`: this
    scope's view of the last generation, whose unchanged parts are reused."""
    sidecar = sidecar_obj.spec if sidecar_obj else None
    index.uses(sidecar_obj)
    source = source if source is not None else SourceIR(namespace)
    warnings: list[str] = []
    if sidecar is not None and any(
        mode is CaptureMode.IPTABLES
        for mode in [
            *(i.capture_mode for i in sidecar.ingress),
            *(e.capture_mode for e in sidecar.egress),
        ]
    ):
        warnings.append(
            f"{sidecar_obj and sidecar_obj.ref}: captureMode IPTABLES is not translated"
        )
    clusters_key = (
        "outbound-clusters",
        namespace,
        ref_of(sidecar_obj),
        source.rules,
        source.gateway_namespace,
    )
    outbound = memo.get(
        clusters_key,
        lambda: outbound_clusters(
            index, namespace, sidecar_obj, memo, source.rules, source.gateway_namespace
        ),
    )
    mode = outbound_mode(sidecar)
    catch_all_vhost = catch_all_virtual_host(
        mode,
        (sidecar_obj.ref,) if sidecar_obj else (),
        egress_proxy_cluster(sidecar_obj, index.mesh.options.domain_suffix),
    )

    route_configs: list[RouteTableIR] = []
    catch_all = next((e for e in sidecar.egress if e.port is None), None) if sidecar else None
    catch_all_hosts = catch_all.hosts if catch_all else None
    egress_list = egress_ports(
        sidecar,
        catch_all,
        outbound.http_ports
        if catch_all is None
        else ports_of(index.visible_services(namespace, catch_all.hosts), http=True),
    )
    hosts_by_port = {
        e.port.number: e.hosts for e in (sidecar.egress if sidecar else []) if e.port is not None
    }
    raw_vhosts: dict[str, tuple[VirtualHostIR, ...]] = {}
    before = previous.raw_vhosts if previous is not None else {}
    before_configs = {rc.name: rc for rc in previous.route_configs} if previous else {}
    entries: dict[str, VhostEntries] = {}
    # route config name -> the positions of its raw virtual hosts that are new objects
    raw_changes: dict[str, tuple[int, ...] | None] = {}
    vhost_changes: dict[str, tuple[RouteTableIR, tuple[int, ...]]] = {}
    for egress in egress_list:
        hosts = hosts_by_port.get(egress.port, catch_all_hosts)
        # (the clusters piece's own tuple: the same object while that piece holds)
        allowed = outbound.visible if hosts is None else index.visible_services(namespace, hosts)
        # one piece per (service, port, caller); after a change only the entries that read
        # it are rebuilt, found from the change (translators/view/entries.py)
        found = entries[egress.route_config] = vhost_entries(
            memo,
            allowed,
            egress.port,
            source,
            lambda s, p=egress.port: vhost_entry(s, p, index, source, memo),  # type: ignore[misc]
            previous.entries.get(egress.route_config) if previous is not None else None,
        )
        warnings += found.warnings
        vhosts = found.vhosts
        raw = raw_vhosts[egress.route_config] = vhosts
        old_raw = before.get(egress.route_config)
        old_config = before_configs.get(egress.route_config)
        patched = None
        if old_raw is not None and old_config is not None:
            # the positions the entries replaced (else found by an identity walk)
            changed = found.changed_since(old_raw)
            raw_changes[egress.route_config] = changed
            if changed is None and len(raw) == len(old_raw):
                changed = tuple(compress(count(), map(is_not, raw, old_raw)))
            if changed is not None:
                patched = route_hosts_patched(
                    raw, old_raw, old_config.virtual_hosts, catch_all_vhost, changed
                )
        if patched is not None:
            config = RouteTableIR(egress.route_config, patched[0])
            assert old_config is not None  # (patched from it)
            vhost_changes[egress.route_config] = (old_config, patched[1])
        else:
            config = RouteTableIR(
                egress.route_config, (*unique_domains(list(vhosts)), catch_all_vhost)
            )
        route_configs.append(config)
    same_clusters = previous is not None and previous.clusters is outbound.clusters
    # (a walk over every cluster: done again only when the clusters changed)
    dfp = previous.dfp if previous is not None and same_clusters else None
    if dfp is None:
        dfp = forward_proxy_clusters(outbound.clusters)
    dfp_counts = {
        name: forward_proxy_count(
            raw,
            dfp,
            before.get(name) if same_clusters else None,
            previous.dfp_counts.get(name) if previous is not None and same_clusters else None,
            raw_changes.get(name),
        )
        for name, raw in raw_vhosts.items()
    }
    egress_list = with_forward_proxy(egress_list, route_configs, dfp, dfp_counts)
    http_ports = {e.port for e in egress_list}
    for bind, port in tcp_ports(sidecar, catch_all, outbound.other_ports, http_ports):
        hosts = hosts_by_port.get(port, catch_all_hosts)
        allowed = outbound.visible if hosts is None else index.visible_services(namespace, hosts)
        candidates = [
            s
            for s in allowed
            if (sp := s.port(port)) is not None and sp.protocol not in HTTP_PROTOCOLS
        ]
        chains, problems = tcp_chains(port, candidates, index, namespace, source)
        warnings += problems
        chains = reachable_chains(
            chains, outbound.clusters, index.mesh.options.local_mode, warnings
        )
        if chains:
            egress_list.append(EgressIR(bind, port, "", tcp_chains=chains))
    # proxies that differ in the labels some sourceLabels match tests, or in the
    # DestinationRules that select them, differ here too
    labels = "".join(f"|{k}={v}" for k, v in source.labels)
    labels += "".join(f"|{rule}" for rule in source.rules)
    labels += "|gateway" if source.gateway_namespace else ""
    return OutboundView(
        key=(namespace, (sidecar_obj.ref if sidecar_obj else "") + labels),
        clusters=outbound.clusters,
        load_assignments=outbound.load_assignments,
        route_configs=tuple(route_configs),
        egress=tuple(egress_list),
        provenance=(sidecar_obj.ref,) if sidecar_obj else (),
        warnings=tuple(dict.fromkeys(warnings)),  # once, not once per listener port
        service_chunks=outbound.service_chunks,
        other_clusters=outbound.other_clusters,
        clusters_key=clusters_key,
        raw_vhosts=raw_vhosts,
        dfp_counts=dfp_counts,
        localized=outbound.localized,
        entries=entries,
        dfp=dfp,
        vhost_changes=vhost_changes,
    )
