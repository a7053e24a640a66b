"""The Kubernetes fixtures (fake API server, real client) for the gateway tests."""

from tests.kube.conftest import api, kube

__all__ = ["api", "kube"]
