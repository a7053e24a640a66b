"""Istio's EnvoyFilter applied to translated resources (on the extension patch API)."""

from translators.envoyfilter.extension import applicable, envoy_filter_extension

__all__ = ["applicable", "envoy_filter_extension"]
