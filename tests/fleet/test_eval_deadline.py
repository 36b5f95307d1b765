"""Deadlines that hold (issue 16): a scan's host deadline bounds evaluation, not only
collection. The ruleset below fragments a wide question into thousands of boxes (negated
address pairs under multiport rules: tens of seconds to decide exactly, without a budget);
with the deadline passed, the walk stops at its next rule and the requirement is indeterminate,
naming the deadline. Such findings depend on the clock and are never cached."""

from __future__ import annotations

import random
import time
from pathlib import Path

from checker.collectors.result import CollectResult, Output
from checker.commands.scan import check_host
from checker.engine.budget import DEADLINE_DETAIL
from checker.findings import Status
from checker.fleet.history import History
from checker.inventory.model import HostSpec
from checker.policies.loader import load_policy_set

POLICY = """\
id: wide
title: Wide
roles: [wide]
rules:
  - {id: all-tcp, title: every tcp port, expect: allow, direction: inbound, protocol: tcp, family: ipv4}
  - {id: outside, title: nothing from outside 10/8, expect: deny, direction: inbound, protocol: any, except_remote: [10.0.0.0/8], family: ipv4}
"""


def fragmenting(rules: int = 200) -> bytes:
    pick = random.Random(1)
    lines = ["*filter", ":INPUT DROP [0:0]", ":FORWARD DROP [0:0]", ":OUTPUT ACCEPT [0:0]"]
    for i in range(rules):
        ports = ",".join(str(pick.randrange(1, 65535)) for _ in range(3))
        lines.append(
            f"-A INPUT ! -s 10.{i % 256}.{pick.randrange(256)}.0/24 ! -d 192.168.{i % 256}.0/24"
            f" -p tcp -m multiport --dports {ports} -j {'ACCEPT' if i % 2 else 'DROP'}"
        )
    return ("\n".join([*lines, "COMMIT", ""])).encode()


def test_a_passed_deadline_stops_evaluation_and_is_not_cached(tmp_path: Path) -> None:
    policy = tmp_path / "wide.yaml"
    policy.write_text(POLICY)
    requirements = load_policy_set([policy]).requirements_for(["wide"], {})
    output = Output("iptables-legacy-save", "iptables-legacy-save", 0, fragmenting(), "", 0.0)
    result = CollectResult("big1", (output,), None)
    host = HostSpec("big1", "192.0.2.1", roles=("wide",))
    with History.open(tmp_path / "history.sqlite") as history:
        cache = history.verdict_cache("2026-12-06")
        reused: list[str] = []
        _info, findings = check_host(
            host, result, requirements, None, None, None, cache, reused, time.monotonic() - 1, 5.0
        )
        cache.flush()
        assert [f.status for f in findings] == [Status.INDETERMINATE] * 2
        for finding in findings:
            assert "deadline of 5 s" in finding.message
            assert dict(finding.details)[DEADLINE_DETAIL] == "5"
        # Not stored: the next scan (with time to spare) decides instead of reusing.
        small = Output("iptables-legacy-save", "iptables-legacy-save", 0, fragmenting(4), "", 0.0)
        quick = CollectResult("big1", (small,), None)
        _info, decided = check_host(host, quick, requirements, None, None, None, cache, reused)
        assert all(f.status is not Status.INDETERMINATE for f in decided)
        again = check_host(
            host, result, requirements, None, None, None, cache, reused, time.monotonic() - 1, 5.0
        )[1]
        assert not reused
        assert [f.status for f in again] == [Status.INDETERMINATE] * 2
