"""What Envoy does with a described request, answered from the generated protos.

`routing` follows a request through an outbound listener and its route configuration
(virtual host, route, weighted clusters, endpoints); `rbac` through an inbound
listener (filter chain by transport, mutual TLS, RBAC). Both model Envoy's own rules
and are cross-checked against real Envoy in the test suite; `translators.explain`
and the behaviour tests both read them, so there is one model, not two.
"""
