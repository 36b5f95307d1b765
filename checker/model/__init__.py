"""Normalized firewall rules, independent of the format they were read from."""
