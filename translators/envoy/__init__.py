"""IR -> Envoy protos (xds-protos, upb). One module per Envoy resource type."""
