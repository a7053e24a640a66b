"""The registry of checks, in the order their messages are worked out (the output is
sorted by severity and object anyway). A new check is one function and one row."""

from __future__ import annotations

from translators.analysis import codes
from translators.analysis.checks import destinationrules, destinations, virtualservices
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
        "destinationrule-hosts",
        destinationrules.check_hosts,
        (codes.DESTINATION_RULE_HOST_NOT_FOUND.code,),
    ),
    Check(
        "destinationrule-subsets",
        destinationrules.check_subsets,
        (codes.SUBSET_SELECTS_NOTHING.code,),
    ),
)
