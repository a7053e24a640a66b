"""`xdscp up`: a whole mesh on one machine — control plane, real Envoy sidecars, demo apps."""
