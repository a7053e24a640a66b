"""Config sources: each produces complete, immutable MeshConfigs."""
