"""`--shard K/N`: a deterministic subset of the inventory, by a stable hash of the host name.

Host h belongs to shard `int(sha256(h)[:8]) % N + 1`. SHA-256 (not Python's `hash()`, which is
salted per process, PYTHONHASHSEED) gives every CI job and every Kubernetes pod the same answer,
so the N shards partition the inventory exactly: each host in one shard, none left out, whatever
machine runs which shard and in whichever order the inventory lists its hosts.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from checker.errors import Problem, UsageError

_SPEC = re.compile(r"^\s*([0-9]{1,9})\s*/\s*([0-9]{1,9})\s*$")  # ASCII digits, int() stays small
_HasName = TypeVar("_HasName")


@dataclass(frozen=True, slots=True)
class Shard:
    index: int  # 1-based, as in "--shard 2/4"
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def holds(self, name: str) -> bool:
        return shard_of(name, self.count) == self.index


def parse_shard(text: str) -> Shard:
    """ "K/N" with 1 <= K <= N; a UsageError otherwise."""
    match = _SPEC.match(text)
    if match:
        index, count = int(match.group(1)), int(match.group(2))
        if 1 <= index <= count:
            return Shard(index, count)
    raise UsageError(
        Problem(
            "--shard",
            0,
            0,
            "usage",
            f"expected K/N with 1 <= K <= N (e.g. 2/4), got {text!r}",
        )
    )


def shard_of(name: str, count: int) -> int:
    """The 1-based shard a host name falls in among `count` shards."""
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "big") % count + 1


def select(hosts: Sequence[_HasName], shard: Shard | None) -> list[_HasName]:
    """The hosts of `shard` (all of them when None), in inventory order."""
    if shard is None:
        return list(hosts)
    return [h for h in hosts if shard.holds(h.name)]  # type: ignore[attr-defined]
