"""Istio mesh objects -> intermediate representation -> Envoy resources (pure functions)."""
