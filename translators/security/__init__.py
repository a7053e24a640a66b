"""Istio security semantics (PeerAuthentication, auto-mTLS, AuthorizationPolicy) as pure
lookups from mesh objects to IR; the Envoy side lives in `translators.envoy`."""
