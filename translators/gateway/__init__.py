"""Gateways: Envoy proxies at the edge of the mesh, configured from Istio `Gateway`s
and the Kubernetes Gateway API.

`attach` decides, as the Gateway API spec says, which Gateways are xdscp's, which of
their listeners are valid and which routes attach to which listener; `status` turns
that into the spec's conditions. Pure functions of a `MeshConfig`, like every
translator.
"""
