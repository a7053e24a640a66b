"""Traffic management: VirtualService rules, DestinationRule policies and outbound
traffic policy, from Istio objects to IR (no protobuf here)."""
