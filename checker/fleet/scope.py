"""Which runs compare: a run's *scope* names the inventory (and host subset) it covered.

Drift compares a run with the previous run of the same scope, so a `--host web1` spot check or
one shard of a fleet never makes the rest of the fleet look "absent". By default the scope is
the inventory's resolved path (however it was typed), plus the `--host` selection and the shard;
CI jobs whose checkout path moves can name it with `--scope` (or `--history-scope`). A shard's
JSON report carries a note naming its shard and the whole inventory's scope, which `fwcheck
merge` reads back so the merged run compares with earlier merged (or whole) runs of that
inventory.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

from checker.fleet.shard import Shard

_SHARD_NOTE = re.compile(r"^shard (\d+)/(\d+) of scope '(.*)': (\d+) of (\d+) hosts$")


def inventory_scope(inventory: str, hosts: Sequence[str] = ()) -> str:
    # The resolved path: ./inventory.yaml, its absolute path and a symlink to it are one
    # inventory, and one history of it.
    scope = os.path.realpath(inventory)
    if hosts:
        scope += " hosts=" + ",".join(sorted(set(hosts)))
    return scope


def shard_scope(scope: str, shard: Shard | None) -> str:
    return scope if shard is None else f"{scope} shard={shard}"


def shard_note(shard: Shard, scope: str, selected: int, total: int) -> str:
    # The note's quoting is plain: a scope is a path, and repr-style escapes are not needed
    # because the pattern anchors on the closing "': " before the counts.
    return f"shard {shard} of scope '{scope}': {selected} of {total} hosts"


def parse_shard_note(note: str) -> tuple[Shard, str, int, int] | None:
    """(shard, whole-inventory scope, hosts in the shard, hosts in the inventory) or None."""
    match = _SHARD_NOTE.match(note)
    if not match:
        return None
    index, count = int(match.group(1)), int(match.group(2))
    if not 1 <= index <= count:
        return None
    return Shard(index, count), match.group(3), int(match.group(4)), int(match.group(5))
