"""Inventories: fwcheck's YAML and Ansible's INI/YAML, as hosts to collect."""

from __future__ import annotations

from checker.inventory.loader import load_inventory, load_role_map
from checker.inventory.model import HostSpec, Inventory, Transport

__all__ = ["HostSpec", "Inventory", "Transport", "load_inventory", "load_role_map"]
