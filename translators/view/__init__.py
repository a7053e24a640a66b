"""Istio model -> IR: one proxy's `ProxyView` from the mesh (the first stage).

One module per job: `scope` (who the proxy is, as VirtualService matches see it),
`ports` (which outbound listeners a namespace + Sidecar gets), `clusters` (outbound
clusters and load assignments), `vhosts` (outbound virtual hosts), `forward_proxy`
(listeners needing Envoy's dynamic forward proxy), `outbound` (the part shared by
every proxy of a scope), `inbound` (the proxy's own listeners and inbound path) and
`proxy` (the two joined). The IR types themselves live in `translators/ir/`.
"""

from translators.view.clusters import service_clusters, special_clusters
from translators.view.inbound import LocalView, build_local
from translators.view.outbound import OutboundView, build_outbound
from translators.view.proxy import combine
from translators.view.scope import proxy_source

__all__ = [
    "LocalView",
    "OutboundView",
    "build_local",
    "build_outbound",
    "combine",
    "proxy_source",
    "service_clusters",
    "special_clusters",
]
