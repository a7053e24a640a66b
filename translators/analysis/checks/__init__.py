"""The registry of checks, in the order their messages are worked out (the output is
sorted by severity and object anyway). A new check is one function and one row."""

from __future__ import annotations

from translators.analysis import codes
from translators.analysis.checks import (
    authz,
    compat,
    destinationrules,
    destinations,
    selectors,
    sidecars,
    tls,
    virtualservices,
)
from translators.analysis.runner import Check

CHECKS: tuple[Check, ...] = (
    Check(
        "destinations",
        destinations.check_destinations,
        (
            codes.DESTINATION_HOST_NOT_FOUND.code,
            codes.SUBSET_NOT_FOUND.code,
            codes.DESTINATION_PORT_NOT_FOUND.code,
            codes.DESTINATION_PORT_REQUIRED.code,
            codes.ZERO_WEIGHT_DESTINATION.code,
        ),
    ),
    Check(
        "virtualservice-hosts",
        virtualservices.check_hosts,
        (codes.VIRTUAL_SERVICE_HOST_NOT_FOUND.code,),
    ),
    Check(
        "virtualservice-conflicts",
        virtualservices.check_conflicts,
        (codes.CONFLICTING_VIRTUAL_SERVICES.code,),
    ),
    Check(
        "virtualservice-rules",
        virtualservices.check_rules,
        (
            codes.UNREACHABLE_RULE.code,
            codes.INEFFECTIVE_MATCH.code,
            codes.MATCH_NEVER_TRUE.code,
        ),
    ),
    Check(
        "virtualservice-protocols",
        virtualservices.check_protocols,
        (codes.RULES_FOR_ANOTHER_PROTOCOL.code,),
    ),
    Check(
        "destinationrule-hosts",
        destinationrules.check_hosts,
        (codes.DESTINATION_RULE_HOST_NOT_FOUND.code,),
    ),
    Check(
        "destinationrule-subsets",
        destinationrules.check_subsets,
        (codes.SUBSET_SELECTS_NOTHING.code,),
    ),
    Check(
        "selectors-unmatched",
        selectors.check_unmatched,
        (codes.SELECTOR_MATCHES_NOTHING.code,),
    ),
    Check(
        "sidecar-conflicts",
        selectors.check_sidecar_conflicts,
        (codes.CONFLICTING_SIDECARS.code, codes.MULTIPLE_DEFAULT_SIDECARS.code),
    ),
    Check(
        "peerauthentication-conflicts",
        selectors.check_peer_authentication_conflicts,
        (codes.CONFLICTING_PEER_AUTHENTICATIONS.code,),
    ),
    Check(
        "telemetry-conflicts",
        selectors.check_telemetry_conflicts,
        (codes.CONFLICTING_TELEMETRIES.code,),
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
    ),
    Check(
        "port-level-mtls",
        tls.check_port_level_mtls,
        (codes.PORT_LEVEL_MTLS_PORT_NOT_FOUND.code,),
    ),
    Check(
        "tls-behind-http",
        tls.check_tls_behind_http,
        (codes.TLS_BEHIND_HTTP_PORT.code,),
    ),
    Check(
        "authorization-sources",
        authz.check_sources,
        (codes.AUTHZ_PRINCIPAL_MATCHES_NOTHING.code, codes.AUTHZ_NAMESPACE_MATCHES_NOTHING.code),
    ),
    Check(
        "sidecar-egress-hosts",
        sidecars.check_egress_hosts,
        (codes.EGRESS_HOST_MATCHES_NOTHING.code,),
    ),
    Check(
        "sidecar-egress-ports",
        sidecars.check_egress_ports,
        (codes.EGRESS_PORT_UNREACHABLE.code,),
    ),
    Check(
        "sidecar-egress-routes",
        sidecars.check_routes_outside_egress,
        (codes.DESTINATION_OUTSIDE_EGRESS.code,),
    ),
    Check(
        "gateway-bound-rules",
        compat.check_gateway_bound,
        (codes.GATEWAY_RULES_NOT_APPLIED.code,),
    ),
    Check(
        "virtualservice-delegation",
        compat.check_delegation,
        (codes.DELEGATION_NOT_TRANSLATED.code,),
    ),
    Check(
        "untranslated-fields",
        compat.check_untranslated_fields,
        (codes.FIELD_NOT_TRANSLATED.code, codes.AUTHORIZATION_FIELD_NOT_ENFORCED.code),
    ),
    Check(
        "service-entries-not-translated",
        compat.check_service_entries,
        (codes.PORT_PROTOCOL_NOT_PROXIED.code, codes.RESOLUTION_NOT_TRANSLATED.code),
    ),
)
