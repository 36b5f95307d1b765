"""The hosts a `scan` or `collect` command line names from its inventory."""

from __future__ import annotations

from collections.abc import Sequence

from checker.errors import Problem, UsageError
from checker.inventory.loader import load_inventory, load_role_map
from checker.inventory.model import HostSpec, Inventory


def select_hosts(inventory: Inventory, names: Sequence[str]) -> list[HostSpec]:
    if not names:
        return list(inventory.hosts)
    chosen = [h for h in inventory.hosts if h.name in set(names)]
    unknown = sorted(set(names) - {h.name for h in chosen})
    if unknown:
        raise UsageError(
            Problem(
                inventory.file,
                0,
                0,
                "usage",
                f"no such host in the inventory: {', '.join(unknown)}",
            )
        )
    return chosen


def open_inventory(inventory: str, role_map: str | None) -> Inventory:
    mapping = load_role_map(role_map) if role_map else None
    return load_inventory(inventory, role_map=mapping)
