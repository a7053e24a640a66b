"""The registry of checks, in the order their messages are worked out (the output is
sorted by severity and object anyway). A new check is one function and one row.

Each row says what the check reads (`reads`, see runner.Check): the incremental
analysis (incremental.py) reuses a check's findings while none of it changed, and a
per-object check's findings about the objects that did not change. A row that reads
more than it names gives stale findings after an edit: tests/analysis/test_incremental.py
compares the incremental analysis with a fresh one after random edits of every kind.
"""

from __future__ import annotations

from translators.analysis import codes
from translators.analysis.checks import (
    authz,
    client_tls,
    compat,
    destinationrules,
    destinations,
    envoyfilters,
    gateways,
    jwt_routes,
    locality,
    selectors,
    sidecars,
    tls,
    virtualservices,
)
from translators.analysis.runner import (
    ALL_KINDS,
    JWKS,
    SERVICES,
    WORKLOADS,
    Check,
    per_object,
)
from translators.security.index import SecurityIndex

VS = "VirtualService"
DR = "DestinationRule"
SIDECAR = "Sidecar"
# what the translator's security index is built from (PeerAuthentication, gateways, ...)
SECURITY = frozenset({*SecurityIndex.KINDS, JWKS, WORKLOADS})


def _reads(*names: str | frozenset[str]) -> frozenset[str]:
    found: set[str] = set()
    for name in names:
        found.update({name} if isinstance(name, str) else name)
    return frozenset(found)


CHECKS: tuple[Check, ...] = (
    per_object(
        "destinations",
        destinations.check_destinations,
        (VS,),
        (
            codes.DESTINATION_HOST_NOT_FOUND.code,
            codes.SUBSET_NOT_FOUND.code,
            codes.DESTINATION_PORT_NOT_FOUND.code,
            codes.DESTINATION_PORT_REQUIRED.code,
            codes.ZERO_WEIGHT_DESTINATION.code,
        ),
        _reads(SERVICES, DR),
        services_by_host=True,
    ),
    per_object(
        "virtualservice-hosts",
        virtualservices.check_hosts,
        (VS,),
        (codes.VIRTUAL_SERVICE_HOST_NOT_FOUND.code,),
        _reads(SERVICES),
        sidecar_vs=True,
        services_by_host=True,
    ),
    Check(
        "virtualservice-conflicts",
        virtualservices.check_conflicts,
        (codes.CONFLICTING_VIRTUAL_SERVICES.code,),
        _reads(VS, WORKLOADS),
    ),
    Check(
        "virtualservice-overridden",
        virtualservices.check_overridden,
        (codes.VIRTUAL_SERVICE_OVERRIDDEN.code,),
        _reads(VS, "HTTPRoute", SERVICES, WORKLOADS),
    ),
    per_object(
        "virtualservice-rules",
        virtualservices.check_rules,
        (VS,),
        (
            codes.UNREACHABLE_RULE.code,
            codes.INEFFECTIVE_MATCH.code,
            codes.MATCH_NEVER_TRUE.code,
        ),
        _reads(SERVICES, WORKLOADS),
        sidecar_vs=True,
        services_by_host=True,
    ),
    per_object(
        "virtualservice-protocols",
        virtualservices.check_protocols,
        (VS,),
        (codes.RULES_FOR_ANOTHER_PROTOCOL.code,),
        _reads(SERVICES),
        sidecar_vs=True,
        services_by_host=True,
    ),
    per_object(
        "destinationrule-hosts",
        destinationrules.check_hosts,
        (DR,),
        (codes.DESTINATION_RULE_HOST_NOT_FOUND.code,),
        _reads(SERVICES),
        services_by_host=True,
    ),
    per_object(
        "destinationrule-subsets",
        destinationrules.check_subsets,
        (DR,),
        (codes.SUBSET_SELECTS_NOTHING.code,),
        _reads(SERVICES),
        services_by_host=True,
    ),
    Check(
        "destinationrule-merge",
        destinationrules.check_merged,
        (codes.MERGED_RULE_PART_IGNORED.code,),
        _reads(DR),
    ),
    per_object(
        "selectors-unmatched",
        selectors.check_unmatched,
        selectors.SELECTING_KINDS,
        (codes.SELECTOR_MATCHES_NOTHING.code,),
        _reads(WORKLOADS),
    ),
    Check(
        "sidecar-conflicts",
        selectors.check_sidecar_conflicts,
        (codes.CONFLICTING_SIDECARS.code, codes.MULTIPLE_DEFAULT_SIDECARS.code),
        _reads(SIDECAR, WORKLOADS),
    ),
    Check(
        "peerauthentication-conflicts",
        selectors.check_peer_authentication_conflicts,
        (codes.CONFLICTING_PEER_AUTHENTICATIONS.code,),
        _reads(SECURITY),
    ),
    Check(
        "telemetry-conflicts",
        selectors.check_telemetry_conflicts,
        (codes.CONFLICTING_TELEMETRIES.code,),
        _reads("Telemetry", WORKLOADS),
    ),
    Check(
        "destination-tls",
        tls.check_destination_tls,
        (
            codes.MTLS_CONFLICT.code,
            codes.ISTIO_MUTUAL_WITHOUT_SIDECAR.code,
            codes.DOUBLE_TLS_ORIGINATION.code,
            codes.NO_SERVER_CERT_VERIFICATION.code,
        ),
        _reads(DR, SERVICES, SIDECAR, SECURITY),
    ),
    Check(
        "port-level-mtls",
        tls.check_port_level_mtls,
        (codes.PORT_LEVEL_MTLS_PORT_NOT_FOUND.code,),
        _reads(SERVICES, SIDECAR, SECURITY),
    ),
    Check(
        "tls-behind-http",
        tls.check_tls_behind_http,
        (codes.TLS_BEHIND_HTTP_PORT.code,),
        _reads("ServiceEntry", SIDECAR, DR),
    ),
    per_object(
        "authorization-sources",
        authz.check_sources,
        ("AuthorizationPolicy",),
        (codes.AUTHZ_PRINCIPAL_MATCHES_NOTHING.code, codes.AUTHZ_NAMESPACE_MATCHES_NOTHING.code),
        _reads(SERVICES, WORKLOADS),
    ),
    Check(
        "sidecar-egress-hosts",
        sidecars.check_egress_hosts,
        (codes.EGRESS_HOST_MATCHES_NOTHING.code,),
        _reads(SIDECAR, SERVICES, WORKLOADS),
    ),
    Check(
        "sidecar-egress-ports",
        sidecars.check_egress_ports,
        (codes.EGRESS_PORT_UNREACHABLE.code,),
        _reads(SIDECAR, SERVICES),
    ),
    Check(
        "sidecar-egress-routes",
        sidecars.check_routes_outside_egress,
        (codes.DESTINATION_OUTSIDE_EGRESS.code,),
        _reads(SIDECAR, VS, SERVICES, WORKLOADS),
    ),
    per_object(
        "gateway-bound-rules",
        compat.check_gateway_bound,
        (VS,),
        (codes.GATEWAY_NOT_FOUND.code,),
        _reads("Gateway"),
    ),
    per_object(
        "gateway-hosts",
        gateways.check_hosts_on_gateways,
        (VS,),
        (codes.GATEWAY_HOST_NOT_ON_SERVER.code,),
        _reads("Gateway"),
    ),
    per_object(
        "virtualservice-delegation",
        compat.check_delegation,
        (VS,),
        (codes.DELEGATE_NOT_APPLIED.code,),
        delegation=True,
    ),
    per_object(
        "untranslated-fields",
        compat.check_untranslated_fields,
        (ALL_KINDS,),
        (codes.FIELD_NOT_TRANSLATED.code, codes.AUTHORIZATION_FIELD_NOT_ENFORCED.code),
    ),
    Check(
        "sidecar-ingress-tls",
        compat.check_ingress_tls,
        (codes.FIELD_NOT_TRANSLATED.code,),
        _reads(SIDECAR, SERVICES, SECURITY),
    ),
    per_object(
        "destinationrule-client-tls",
        client_tls.check_client_tls,
        (DR,),
        (codes.FIELD_NOT_TRANSLATED.code,),
    ),
    per_object(
        "destinationrule-locality-on-dns",
        locality.check_locality_on_dns,
        (DR,),
        (codes.FIELD_NOT_TRANSLATED.code,),
        _reads(SERVICES),
        services_by_host=True,
    ),
    per_object(
        "workloads-not-proxied",
        compat.check_unproxied_workloads,
        ("WorkloadEntry", "ServiceEntry"),
        (codes.WORKLOAD_NOT_PROXIED.code,),
        _reads(SERVICES),
    ),
    per_object(
        "service-entries-not-translated",
        compat.check_service_entries,
        ("ServiceEntry",),
        (codes.PORT_PROTOCOL_NOT_PROXIED.code,),
    ),
    per_object(
        "envoyfilter-patches",
        envoyfilters.check_patches,
        ("EnvoyFilter",),
        (codes.ENVOY_FILTER_PATCH_NOT_APPLIED.code, codes.ENVOY_FILTER_AFTER_ROUTER.code),
    ),
    per_object(
        "jwt-claim-routes",
        jwt_routes.check_claim_routes,
        (VS,),
        (codes.CLAIM_ROUTE_NEVER_VERIFIED.code,),
        _reads(SECURITY),
    ),
)
