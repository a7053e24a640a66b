"""Resource types xdscp reads and writes, and how their REST paths are spelled.

One small value per type keeps list/watch/patch generic: the reflector, the status
writer and the CA store all go through the same paths the API server serves.
"""

from __future__ import annotations

from dataclasses import dataclass

from translators.model.gateway_api import API_KIND, CLUSTER_SCOPED
from translators.model.objects import KINDS

# Version preference when the API group's own preferred version is not one we accept.
_VERSION_ORDER = ("v1", "v1beta1", "v1alpha3", "v1alpha1")


@dataclass(frozen=True, slots=True)
class ResourceType:
    group: str  # "" for the core API
    version: str
    kind: str
    plural: str
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def collection_path(self, namespace: str | None = None) -> str:
        """`/api/v1/pods` (all namespaces) or `/apis/g/v/namespaces/ns/plural`."""
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if namespace and self.namespaced:
            base += f"/namespaces/{namespace}"
        return f"{base}/{self.plural}"

    def object_path(self, namespace: str, name: str, subresource: str = "") -> str:
        path = f"{self.collection_path(namespace)}/{name}"
        return f"{path}/{subresource}" if subresource else path

    def with_version(self, version: str) -> ResourceType:
        return ResourceType(self.group, version, self.kind, self.plural, self.namespaced)


def plural_of(kind: str) -> str:
    """Kubernetes' lower-case plural (`ServiceEntry` -> `serviceentries`,
    `AuthorizationPolicy` -> `authorizationpolicies`); a registry key that differs from
    the served kind (`KubernetesGateway`) is pluralised as the served kind (`gateways`)."""
    lower = API_KIND.get(kind, kind).lower()
    if lower.endswith("y") and lower[-2:-1] not in "aeiou":
        return lower[:-1] + "ies"
    if lower.endswith(("s", "x", "ch", "sh")):
        return lower + "es"
    return lower + "s"


def preferred_version(accepted: frozenset[str], served: list[str], preferred: str) -> str | None:
    """The version to watch: the group's preferred one if we accept it, else the newest
    served version we accept (the API server converts between versions for us)."""
    if preferred in accepted and preferred in served:
        return preferred
    for version in _VERSION_ORDER:
        if version in accepted and version in served:
            return version
    candidates = sorted(v for v in accepted if v in served)
    return candidates[-1] if candidates else None


def default_version(accepted: frozenset[str]) -> str:
    """Used before discovery succeeds (e.g. CRDs not installed yet)."""
    return next((v for v in _VERSION_ORDER if v in accepted), sorted(accepted)[-1])


def istio_types() -> list[ResourceType]:
    """One ResourceType per Istio kind the model supports, read from KINDS at call time so
    kinds registered later (security.istio.io) are included; versions are provisional
    until discovery picks the served, preferred one."""
    return [
        ResourceType(
            group, default_version(versions), kind, plural_of(kind), kind not in CLUSTER_SCOPED
        )
        for kind, (group, versions, _model) in KINDS.items()
    ]


SERVICE = ResourceType("", "v1", "Service", "services")
POD = ResourceType("", "v1", "Pod", "pods")
NAMESPACE = ResourceType("", "v1", "Namespace", "namespaces", namespaced=False)
ENDPOINT_SLICE = ResourceType("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices")
SECRET = ResourceType("", "v1", "Secret", "secrets")
CONFIG_MAP = ResourceType("", "v1", "ConfigMap", "configmaps")
SERVICE_ACCOUNT = ResourceType("", "v1", "ServiceAccount", "serviceaccounts")
DEPLOYMENT = ResourceType("apps", "v1", "Deployment", "deployments")
LEASE = ResourceType("coordination.k8s.io", "v1", "Lease", "leases")
TOKEN_REVIEW = ResourceType(
    "authentication.k8s.io", "v1", "TokenReview", "tokenreviews", namespaced=False
)

PLATFORM_TYPES = (SERVICE, ENDPOINT_SLICE, POD, NAMESPACE)
