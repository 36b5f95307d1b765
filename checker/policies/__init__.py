"""Policies: load, validate and resolve the YAML policy format v1.1 (docs/policy-format.md)."""
