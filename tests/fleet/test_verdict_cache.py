"""The verdict cache (checker/fleet/verdict_cache.py, issue 16): a scan reuses a host's
findings only when its sources, the resolved policies (params included), the budget and
fwcheck's version are all unchanged. Real pipeline, real SQLite history database; the host's
collected outputs are given as a CollectResult (what a collector returns)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from checker.collectors.result import CollectResult, Output
from checker.commands.scan import check_host
from checker.fleet import verdict_cache
from checker.fleet.history import History
from checker.inventory.model import HostSpec
from checker.policies.loader import load_policy_set

RULES = b"""*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT
-A INPUT -p tcp -m tcp --dport 8080 -j ACCEPT
COMMIT
"""

POLICY = """\
id: web
title: Web host
roles: [web]
params:
  web_port: 8080
rules:
  - {id: ssh, title: SSH open, expect: allow, direction: inbound, protocol: tcp, port: 22}
  - {id: web, title: Web open, expect: allow, direction: inbound, protocol: tcp, port: "${web_port}"}
  - {id: no-telnet, title: No telnet, expect: deny, direction: inbound, protocol: tcp, port: 23}
"""


def requirements(tmp_path: Path, policy: str = POLICY, **params: str):
    path = tmp_path / "web.yaml"
    path.write_text(policy)
    return load_policy_set([path]).requirements_for(["web"], params)


def collected(data: bytes = RULES, host: str = "web1") -> CollectResult:
    v4 = Output("iptables-legacy-save", "iptables-legacy-save", 0, data, "", 0.0)
    v6 = Output("ip6tables-legacy-save", "ip6tables-legacy-save", 0, data, "", 0.0)
    return CollectResult(host, (v4, v6), None)


def run(history: History, reqs, result: CollectResult, *, budget=100_000, evidence=None):
    cache = history.verdict_cache("2026-12-06")
    reused: list[str] = []
    host = HostSpec(result.host, "192.0.2.1", roles=("web",))
    info, findings = check_host(host, result, reqs, evidence, None, budget, cache, reused)
    cache.flush()
    return findings, bool(reused), info


@pytest.fixture
def history(tmp_path: Path):
    with History.open(tmp_path / "history.sqlite") as opened:
        yield opened


def test_a_hit_gives_identical_findings(history: History, tmp_path: Path) -> None:
    reqs = requirements(tmp_path)
    first, hit, _ = run(history, reqs, collected())
    assert not hit
    assert {f.rule: f.status.value for f in first} == {
        "ssh": "pass",
        "web": "pass",
        "no-telnet": "pass",
    }
    second, hit, info = run(history, reqs, collected())
    assert hit
    assert second == first
    assert info.platform == "netfilter"


def test_any_change_misses(history: History, tmp_path: Path, monkeypatch) -> None:
    reqs = requirements(tmp_path)
    run(history, reqs, collected())
    # One source byte: port 8080 -> 8081 (the web rule now fails).
    changed = RULES.replace(b"8080", b"8081")
    findings, hit, _ = run(history, reqs, collected(changed))
    assert not hit
    assert {f.rule: f.status.value for f in findings}["web"] == "fail"
    # A param.
    findings, hit, _ = run(history, requirements(tmp_path, web_port="8081"), collected())
    assert not hit
    assert {f.rule: f.status.value for f in findings}["web"] == "fail"
    # A policy edit (a title only: still another question as far as the cache knows).
    edited = requirements(tmp_path, POLICY.replace("SSH open", "SSH reachable"))
    findings, hit, _ = run(history, edited, collected())
    assert not hit
    assert {f.title for f in findings} >= {"SSH reachable"}
    # The budget.
    assert not run(history, reqs, collected(), budget=5)[1]
    # fwcheck's version.
    monkeypatch.setattr("checker.commands.scan.__version__", "999.0")
    assert not run(history, reqs, collected())[1]
    monkeypatch.undo()
    # Nothing changed: a hit.
    assert run(history, reqs, collected())[1]


def counter_digits(data: bytes) -> set[int]:
    """Positions of the digits of chain policy counters (":INPUT DROP [0:0]"): traffic, not
    rules; the key reads them as [0:0] (test_chain_policy_counters_do_not_miss)."""
    found: set[int] = set()
    for match in re.finditer(rb"^:[^ \n]+ [^ \n]+ \[(\d+):(\d+)\]$", data, re.M):
        for group in (1, 2):
            found.update(range(match.start(group), match.end(group)))
    return found


def test_key_changes_with_every_input(tmp_path: Path) -> None:
    reqs = requirements(tmp_path)
    base = verdict_cache.key([("h:a.txt", RULES)], reqs, version="1", budget=10)
    counters = counter_digits(RULES)
    for i in range(len(RULES)):
        if i in counters and bytes([RULES[i] ^ 1]).isdigit():
            continue
        flipped = RULES[:i] + bytes([RULES[i] ^ 1]) + RULES[i + 1 :]
        assert verdict_cache.key([("h:a.txt", flipped)], reqs, version="1", budget=10) != base
    assert verdict_cache.key([("h:a.txt", RULES)], reqs, version="2", budget=10) != base
    assert verdict_cache.key([("h:a.txt", RULES)], reqs, version="1", budget=11) != base
    assert verdict_cache.key([("h:b.txt", RULES)], reqs, version="1", budget=10) != base
    assert verdict_cache.key([("h:a.txt", RULES)], reqs[:2], version="1", budget=10) != base
    # The same question asked again (another process would order frozensets differently).
    again = requirements(tmp_path)
    assert verdict_cache.key([("h:a.txt", RULES)], again, version="1", budget=10) == base


def test_evidence_paths_move_to_the_new_run(history: History, tmp_path: Path) -> None:
    """With --evidence every run cites files in its own run folder: a hit cites the new ones."""
    reqs = requirements(tmp_path)
    failing = RULES.replace(b"8080", b"8081")
    old_run, new_run = tmp_path / "ev" / "web1" / "run1", tmp_path / "ev" / "web1" / "run2"
    first, hit, _ = run(history, reqs, collected(failing), evidence=old_run)
    assert not hit
    second, hit, _ = run(history, reqs, collected(failing), evidence=new_run)
    assert hit
    web = next(f for f in second if f.rule == "web")
    assert web.status.value == "fail"
    assert web.evidence and all(str(new_run) in e.file for e in web.evidence)
    assert str(old_run) not in web.message and str(new_run) in web.message


def test_scan_no_cache_option_is_documented() -> None:
    from checker.cli import build_parser

    text = build_parser()._subparsers._group_actions[0].choices["scan"].format_help()  # type: ignore[union-attr]
    assert "--no-cache" in text and "--budget" in text


def dump(when: bytes) -> bytes:
    """RULES as iptables-save prints them: a header and trailer comment with the dump's date."""
    return (
        b"# Generated by iptables-save v1.8.9 (nf_tables) on " + when + b"\n"
        + RULES
        + b"# Completed on " + when + b"\n"
    )  # fmt: skip


def test_the_dump_date_of_iptables_save_does_not_miss(history: History, tmp_path: Path) -> None:
    """iptables-save dates every dump: the next night's dump of an unchanged firewall differs
    only there, and must hit (else no iptables host would ever be served by the cache)."""
    reqs = requirements(tmp_path)
    first, hit, _ = run(history, reqs, collected(dump(b"Sat Dec  5 02:00:01 2026")))
    assert not hit
    again, hit, _ = run(history, reqs, collected(dump(b"Sun Dec  6 02:00:03 2026")))
    assert hit and again == first
    # Every other byte still counts, the comments' own text included.
    tonight = dump(b"Sun Dec  6 02:00:03 2026")
    date_at = [tonight.index(b"Sun Dec"), tonight.rindex(b"Sun Dec")]
    base = verdict_cache.key([("h:a.txt", tonight)], reqs, version="1", budget=10)
    for i in range(len(tonight)):
        if any(start <= i < start + 24 for start in date_at) or tonight[i : i + 1] == b"\n":
            continue
        if i in counter_digits(tonight) and bytes([tonight[i] ^ 1]).isdigit():
            continue
        flipped = tonight[:i] + bytes([tonight[i] ^ 1]) + tonight[i + 1 :]
        assert verdict_cache.key([("h:a.txt", flipped)], reqs, version="1", budget=10) != base, i


def test_chain_policy_counters_do_not_miss(history: History, tmp_path: Path) -> None:
    """iptables-save prints each built-in chain's policy counters, which traffic moves between
    two nights; an unchanged firewall must still hit, and a changed policy must not."""
    reqs = requirements(tmp_path)
    busy = RULES.replace(b":OUTPUT ACCEPT [0:0]", b":OUTPUT ACCEPT [60:41595]")
    first, hit, _ = run(history, reqs, collected(busy))
    assert not hit
    busier = RULES.replace(b":OUTPUT ACCEPT [0:0]", b":OUTPUT ACCEPT [133:92512]")
    again, hit, _ = run(history, reqs, collected(busier))
    assert hit and [f.status for f in again] == [f.status for f in first]
    # The policy itself is still part of the key.
    opened = busier.replace(b":INPUT DROP", b":INPUT ACCEPT")
    findings, hit, _ = run(history, reqs, collected(opened))
    assert not hit
    assert {f.rule: f.status.value for f in findings}["no-telnet"] == "fail"


def test_requirements_given_as_their_text_give_the_same_key(tmp_path: Path) -> None:
    """A scan hashes each requirement set once (requirements_text) and passes the text for
    every host: the key must be the one the requirements themselves give, and another param
    value still another key."""
    reqs = requirements(tmp_path)
    other = requirements(tmp_path, web_port="8081")
    sources = [("web1:iptables-legacy-save.txt", RULES)]
    by_value = verdict_cache.key(sources, reqs, version="1", budget=10)
    text = verdict_cache.requirements_text(reqs)
    assert verdict_cache.key(sources, text, version="1", budget=10) == by_value
    other_text = verdict_cache.requirements_text(other)
    assert other_text != text
    assert verdict_cache.key(sources, other_text, version="1", budget=10) != by_value


def _ip_addr(netns: str) -> bytes:
    import subprocess

    return subprocess.run(
        ["ip", "netns", "exec", netns, "ip", "-j", "addr"],
        capture_output=True,
        timeout=10,
        check=True,
    ).stdout


def test_address_lifetimes_of_ip_addr_do_not_miss(history: History, tmp_path: Path) -> None:
    """A DHCP-style address (real `ip addr add ... valid_lft 300 preferred_lft 200` on a veth in a test
    namespace): `ip -j addr` counts its lifetimes down between two collections; the same
    firewall and addresses must hit, another address must not."""
    import os
    import subprocess
    import time

    from needs_root import require_root

    require_root("a network namespace with a leased address")
    netns = f"fwvc{os.getpid() % 100000}"
    subprocess.run(["ip", "netns", "add", netns], check=True, timeout=10)
    try:
        ip = ["ip", "netns", "exec", netns, "ip"]
        subprocess.run(
            [*ip, "link", "add", "d0", "type", "veth", "peer", "name", "d1"], check=True, timeout=10
        )
        subprocess.run([*ip, "link", "set", "d0", "up"], check=True, timeout=10)
        lease = ["valid_lft", "300", "preferred_lft", "200"]
        subprocess.run([*ip, "addr", "add", "192.0.2.5/24", "dev", "d0", *lease], check=True)
        tonight = _ip_addr(netns)
        deadline = time.monotonic() + 5
        later = tonight
        while later == tonight and time.monotonic() < deadline:
            time.sleep(0.3)
            later = _ip_addr(netns)
        assert later != tonight and b'"valid_life_time":299' in later
        subprocess.run([*ip, "addr", "add", "192.0.2.6/24", "dev", "d0", *lease], check=True)
        more = _ip_addr(netns)
    finally:
        subprocess.run(["ip", "netns", "del", netns], check=False, timeout=10)
    reqs = requirements(tmp_path)

    def with_addresses(data: bytes) -> CollectResult:
        base = collected()
        return CollectResult(
            base.host, (*base.outputs, Output("ip-addr", "ip -j addr", 0, data, "", 0.0)), None
        )

    first, hit, _ = run(history, reqs, with_addresses(tonight))
    assert not hit
    again, hit, _ = run(history, reqs, with_addresses(later))
    assert hit and again == first
    _, hit, _ = run(history, reqs, with_addresses(more))
    assert not hit
    # Only ip-addr outputs are read so: the same text in a rule's comment still counts.
    commented = RULES.replace(
        b"--dport 22 -j", b'--dport 22 -m comment --comment "\\"valid_life_time\\":7" -j'
    )
    keys = {
        verdict_cache.key([("h:a.txt", commented.replace(b":7", n))], reqs, version="1", budget=1)
        for n in (b":7", b":8")
    }
    assert len(keys) == 2
