"""Engines: one platform's semantics per module, over the shared packet-space algebra (space.py)."""
