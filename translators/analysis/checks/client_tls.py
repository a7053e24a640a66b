"""DestinationRule TLS settings that are valid and translated as Istio does, but do less
than they read: reported (XDS0803) so the difference shows before traffic does."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from translators.analysis import codes
from translators.analysis.checks.policy_levels import policy_settings
from translators.analysis.context import AnalysisContext
from translators.analysis.message import Message
from translators.model.networking import ClientTLSMode, DestinationRuleSpec
from translators.model.objects import MeshObject


def check_client_tls(ctx: AnalysisContext, rule: MeshObject[Any]) -> Iterable[Message]:
    """Per DestinationRule; reads nothing else."""
    spec: DestinationRuleSpec = rule.spec
    for path, tls in policy_settings(spec, "tls", lambda policy: policy.tls):
        originates = tls.mode in (ClientTLSMode.SIMPLE, ClientTLSMode.MUTUAL)
        if originates and tls.credential_name and spec.workload_selector is None:
            yield codes.FIELD_NOT_TRANSLATED.at(
                rule,
                f"{path}.credentialName",
                "credentialName in a DestinationRule without workloadSelector: as in "
                "Istio, sidecars do not use it and originate no TLS (plaintext); "
                "gateways do (the Secret in the gateway's namespace)",
                "add a workloadSelector for the client workloads (the Secret must be in "
                "the rule's namespace), or give the certificates as files",
            )
        if originates and tls.ca_crl and not tls.ca_certificates:
            yield codes.FIELD_NOT_TRANSLATED.at(
                rule,
                f"{path}.caCrl",
                "caCrl without caCertificates: Envoy checks a revocation list only "
                "against an explicit CA file, so it is not applied",
                "give caCertificates as well",
            )
