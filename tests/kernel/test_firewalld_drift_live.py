"""A scan of a firewalld host checks its runtime ruleset and notes the drift from the permanent
configuration: the real collection script (checker/collectors/script.py) runs where the real
firewalld daemon runs (firewalld_lab: its own network and mount namespaces, a private D-Bus),
after changes made with `firewall-cmd` with and without `--permanent`.
"""

from __future__ import annotations

import os
from pathlib import Path

import firewalld_lab
import pytest

from checker.collectors import firewalld_drift, script
from checker.collectors.result import CollectResult
from checker.collectors.sources import sources_for
from checker.engine.netfilter.engine import classify_flow
from checker.parsers.netfilter import firewalld_tree, nft_json

PUB = [("--zone=public", "--add-interface=veth0"), ("--new-policy=in",),
       ("--policy=in", "--add-ingress-zone=public"), ("--policy=in", "--add-egress-zone=HOST")]  # fmt: skip


@pytest.fixture(scope="module")
def lab_ready() -> None:
    reason = firewalld_lab.missing() if os.geteuid() == 0 else "needs root"
    if reason:
        if os.environ.get("FWCHECK_REQUIRE_KERNEL_ORACLE") == "1":
            pytest.fail(f"FWCHECK_REQUIRE_KERNEL_ORACLE=1 but {reason}")
        pytest.skip(reason)


def _scan(tmp_path: Path, runtime: list[tuple[str, ...]]) -> tuple[CollectResult, Path]:
    loaded = firewalld_lab.load(
        tmp_path, PUB, runtime=runtime, listings={"script": ["sh", "-c", script.SCRIPT]}
    )
    outputs = script.parse_framed(loaded.listings["script"].encode(), started_at="t")
    return CollectResult("fw1", tuple(outputs), None), loaded.etc


def _port_8080(rulesets: list) -> str:
    return classify_flow(rulesets, family=4, proto=6, src="203.0.113.9", dst="192.0.2.1",
                         sport=40000, dport=8080, direction="inbound", iface="veth0")  # fmt: skip


def test_runtime_only_changes_are_noted_and_the_runtime_is_checked(
    lab_ready: None, tmp_path: Path
) -> None:
    result, etc = _scan(
        tmp_path,
        [("--zone=public", "--add-port=8080/tcp"), ("--zone=public", "--remove-service=ssh"),
         ("--policy=in", "--add-service=http"),
         ("--permanent", "--zone=public", "--add-port=9090/udp")],
    )  # fmt: skip
    (note,) = firewalld_drift.notes(result.outputs)
    assert "zone public: ports +8080/tcp -9090/udp" in note
    assert "zone public: services -ssh" in note
    assert "policy in: services +http" in note
    assert "interfaces" not in note
    # The scan's verdicts stand on the runtime ruleset (nft -j), where 8080 is open; the
    # permanent tree, which the next reload loads, keeps it closed.
    live = [
        nft_json.parse(data, origin) for origin, data in sources_for(result) if "nft-json" in origin
    ]
    assert _port_8080(live) == "accept"
    assert _port_8080(list(firewalld_tree.parse_tree(str(etc)))) == "drop"


def test_no_note_when_runtime_and_permanent_agree(lab_ready: None, tmp_path: Path) -> None:
    result, _etc = _scan(tmp_path, [])
    names = {output.name for output in result.outputs if output.ok}
    assert {"firewalld-zones", "firewalld-zones-permanent", "firewalld-policies"} <= names
    assert firewalld_drift.notes(result.outputs) == ()
