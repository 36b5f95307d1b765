"""--shard K/N: the N shards partition any inventory exactly, the same way in every process."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checker.errors import UsageError
from checker.fleet.shard import Shard, parse_shard, select, shard_of


@dataclass(frozen=True)
class _Host:
    name: str


@settings(max_examples=200, deadline=None)
@given(
    names=st.lists(st.text(min_size=1, max_size=30), max_size=200, unique=True),
    count=st.integers(min_value=1, max_value=17),
)
def test_shards_partition_the_inventory_exactly(names: list[str], count: int) -> None:
    hosts = [_Host(n) for n in names]
    shards = [select(hosts, Shard(k, count)) for k in range(1, count + 1)]
    chosen = [h.name for shard in shards for h in shard]
    assert sorted(chosen) == sorted(names)  # every host once: none lost, none twice
    for shard in shards:  # inventory order is kept within a shard
        assert [h.name for h in shard] == [
            n for n in names if shard_of(n, count) == shards.index(shard) + 1
        ]


def test_shards_are_balanced_and_independent_of_inventory_order() -> None:
    names = [f"web-{i:05d}.example.net" for i in range(4000)]
    sizes = [len(select([_Host(n) for n in names], Shard(k, 8))) for k in range(1, 9)]
    assert sum(sizes) == 4000
    assert max(sizes) - min(sizes) < 200  # ~500 each: a hash, not a range split
    reversed_hosts = [_Host(n) for n in reversed(names)]
    assert {h.name for h in select(reversed_hosts, Shard(3, 8))} == {
        h.name for h in select([_Host(n) for n in names], Shard(3, 8))
    }


def test_shard_of_is_the_same_in_another_process_with_another_hash_seed() -> None:
    names = ["db-1", "web-2", "édge-3", "host with space"]
    here = [shard_of(n, 7) for n in names]
    code = (
        "import json,sys; from checker.fleet.shard import shard_of;"
        f"print(json.dumps([shard_of(n, 7) for n in {names!r}]))"
    )
    for seed in ("1", "12345"):
        out = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin"},
            cwd=str(__import__("pathlib").Path(__file__).resolve().parents[2]),
        ).stdout
        assert [int(x) for x in out.strip()[1:-1].split(",")] == here


@pytest.mark.parametrize("text", ["0/4", "5/4", "1/0", "a/b", "1", "-1/2", "2/4/1"])
def test_bad_shard_specs_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError, match="K/N"):
        parse_shard(text)


def test_good_shard_spec() -> None:
    assert parse_shard(" 2 / 4 ") == Shard(2, 4)
    assert str(Shard(2, 4)) == "2/4"
