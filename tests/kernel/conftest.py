"""Fixtures of the kernel-as-oracle tests: the seed and a fresh namespace pair per case.

The seed is random per run and logged in every assertion message; FWCHECK_ORACLE_SEED=<seed>
replays a run. FWCHECK_ORACLE_RULESETS and FWCHECK_ORACLE_PROBES change how many rulesets per
flavour and probes per ruleset are tried (for a longer soak on a workstation).

These tests need root, `ip netns`, iptables and nft: they skip, saying why, on a machine without
them (a user's laptop). With FWCHECK_REQUIRE_KERNEL_ORACLE=1 (CI) a missing requirement fails
instead of skipping.
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# The oracle's helper modules sit beside this file; the agent is run from here as a script.
sys.path.insert(0, str(Path(__file__).parent))

from oracle_netns import NetnsPair, missing_requirements, netns_pair  # noqa: E402


@pytest.fixture(scope="session")
def oracle_seed() -> str:
    return os.environ.get("FWCHECK_ORACLE_SEED") or secrets.token_hex(4)


@pytest.fixture(scope="session")
def oracle_ready() -> None:
    reason = missing_requirements()
    if not reason:
        return
    if os.environ.get("FWCHECK_REQUIRE_KERNEL_ORACLE") == "1":
        pytest.fail(f"FWCHECK_REQUIRE_KERNEL_ORACLE=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture
def netns(oracle_ready: None) -> Iterator[NetnsPair]:
    with netns_pair() as pair:
        yield pair
