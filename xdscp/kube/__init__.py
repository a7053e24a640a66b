"""Kubernetes mode: the cluster as the config source, status written back to objects,
the CA kept in a Secret, sidecar identity from service-account tokens, leader election,
and the artefacts (CRDs, injection) that put xdscp into a cluster.

Every module talks to the API server through `xdscp.kube.api.KubeApi`, the one place
where kubernetes-asyncio is called and its errors are mapped to `xdscp.kube.errors`.
"""
