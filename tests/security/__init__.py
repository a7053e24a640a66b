"""Tests of issue 3 on the translator side: PeerAuthentication, mTLS, AuthorizationPolicy."""
