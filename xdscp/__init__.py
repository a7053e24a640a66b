"""xdscp: a service-mesh control plane that drives stock Envoy over xDS."""
