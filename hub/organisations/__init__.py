"""The organisation tree: county -> township -> branch (any depth)."""
