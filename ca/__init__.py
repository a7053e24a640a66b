"""Certificate authority: root/intermediate, SPIFFE SVIDs, rotation."""
