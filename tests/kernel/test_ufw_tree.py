"""The real ufw as oracle for reading ufw trees (checker/parsers/netfilter/ufw_tree.py).

Each case makes a random configuration with the real `ufw` command (allow/deny/reject/limit
rules with addresses, ports, port lists and ranges, protocols, interfaces, IPv6, logging,
comments, routed rules, default policies, IPV6 yes/no), enables it in a namespace with a private
mount of ufw's state (ufw_lab), and requires:
- some configurations also carry an administrator's own lines in before.rules (a rule, a nat
  table), which ufw restores with the rest;
- the ruleset fwcheck assembles from the tree ufw wrote equals, chain by chain and rule by rule,
  the one fwcheck reads from the kernel's own `iptables-save`/`ip6tables-save` afterwards
  (same matches, same targets; only the spelling of undecidable matches may differ);
- for every probe, fwcheck's verdict from the tree equals its verdict from the live export and
  the kernel's: "indeterminate" only for a probe a `ufw limit` rule matches (its outcome depends
  on the connection history), and then for both readings.
The host's firewall and /etc/ufw are checked to be untouched.

FWCHECK_UFW_CONFIGS changes the number of configurations (default 20); the seed is the oracle's
(FWCHECK_ORACLE_SEED replays a run).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import subprocess
from collections import Counter
from pathlib import Path

import pytest
import ufw_lab
from oracle_generate import probes
from oracle_netns import NetnsPair
from oracle_probe import fwcheck_verdict, run_probes
from oracle_ruleset import ICMP, TCP
from oracle_topology import HOST_IFACE, SERVICE_PORTS

from checker.model.netfilter import Unknown
from checker.parsers.netfilter import iptables_save, ufw_tree

CONFIGS = int(os.environ.get("FWCHECK_UFW_CONFIGS", "20"))
PROBES = 40

V4 = (
    "198.51.100.2",
    "198.51.100.66",
    "198.51.100.0/25",
    "198.51.100.128/25",
    "203.0.113.0/24",
    "198.51.100.1",
)
V6 = ("2001:db8:1::2", "2001:db8:1::42", "2001:db8:1::/120", "2001:db8:2::/64", "2001:db8:1::1")


@pytest.fixture(scope="module", autouse=True)
def host_untouched():
    reason = ufw_lab.missing()
    if reason:
        if os.environ.get("FWCHECK_REQUIRE_KERNEL_ORACLE") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    before = _host_state()
    yield
    assert _host_state() == before, "the host's firewall or ufw files changed"


def _host_state() -> tuple[bytes, ...]:
    saves = tuple(
        subprocess.run([tool], capture_output=True, timeout=30, check=False).stdout
        for tool in ("iptables-save", "ip6tables-save")
    )
    files = tuple(
        hashlib.sha256(path.read_bytes()).digest()
        for path in sorted(Path("/etc/ufw").glob("*")) + [Path("/etc/default/ufw")]
        if path.is_file()
    )
    # Counters and the save's date line change by themselves; the rules must not.
    return (
        tuple(b"\n".join(x for x in s.split(b"\n") if not x.startswith(b"#")) for s in saves)
        + files
    )


def _address(rng: random.Random, family: int) -> str:
    return rng.choice(V4 if family == 4 else V6)


def _ports(rng: random.Random) -> tuple[str, bool]:
    """A port spec and whether it needs a protocol (lists and ranges do)."""
    kind = rng.random()
    if kind < 0.6:
        return str(rng.choice(SERVICE_PORTS)), False
    if kind < 0.8:
        return ",".join(str(p) for p in sorted(rng.sample(SERVICE_PORTS, 2))), True
    return "1000:1002", True


def _rule(rng: random.Random) -> list[str]:
    action = rng.choice(("allow", "allow", "deny", "reject", "limit"))
    routed = action != "limit" and rng.random() < 0.2
    words = ["ufw"] + (["route"] if routed else []) + [action]
    if routed:
        if rng.random() < 0.7:
            words += ["in", "on", rng.choice((HOST_IFACE, "eth9"))]
        if rng.random() < 0.5:
            words += ["out", "on", rng.choice(("eth9", "fwx1"))]
    else:
        direction = "in" if action == "limit" else rng.choice(("in", "in", "out"))
        words.append(direction)
        if rng.random() < 0.3:
            words += ["on", rng.choice((HOST_IFACE, "eth9"))]
    if rng.random() < 0.2:
        words.append(rng.choice(("log", "log-all")))
    proto = rng.choice(("tcp", "udp", "any"))
    if action == "limit":
        proto = rng.choice(("tcp", "udp"))
    if not routed and rng.random() < 0.3:
        port, needs = _ports(rng)
        if needs and proto == "any":
            proto = "tcp"
        words.append(port if proto == "any" else f"{port}/{proto}")
    else:
        family = rng.choice((4, 4, 6, 0))
        source = _address(rng, family) if family and rng.random() < 0.6 else "any"
        dest = _address(rng, family) if family and rng.random() < 0.4 else "any"
        words += ["from", source]
        if rng.random() < 0.15:
            words += ["port", str(rng.choice((1000, 1001)))]
            proto = proto if proto != "any" else "udp"
        words += ["to", dest]
        if rng.random() < 0.8:
            port, needs = _ports(rng)
            if needs and proto == "any":
                proto = "tcp"
            words += ["port", port]
        if proto != "any":
            words += ["proto", proto]
    if rng.random() < 0.15:
        words += ["comment", "made by the fwcheck oracle"]
    return words


def hand_edits(seed: str) -> list[str]:
    """Lines an administrator adds to before.rules (a rule of their own, a nat table for
    masquerading), as ufw-framework(8) suggests: ufw restores them with the rest."""
    rng = random.Random(f"ufw-edits:{seed}")
    if rng.random() < 0.5:
        return []
    port = rng.choice(SERVICE_PORTS)
    own = f"-A ufw-before-input -p tcp --dport {port} -j {rng.choice(('DROP', 'ACCEPT'))}"
    nat = [
        "*nat",
        ":POSTROUTING ACCEPT [0:0]",
        "-A POSTROUTING -s 10.8.0.0/24 -o eth9 -j MASQUERADE",
        "COMMIT",
    ]
    return [own] + (nat if rng.random() < 0.5 else [])


def _edit_before_rules(tree: Path, lines: list[str]) -> None:
    if not lines:
        return
    path = tree / "before.rules"
    text = path.read_text()
    own = [line for line in lines if line.startswith("-A ufw-before-input")]
    tables = [line for line in lines if line not in own]
    # The rule goes just before the filter table's COMMIT, the nat table after it.
    head, _, tail = text.rpartition("COMMIT")
    path.write_text(head + "\n".join(own) + "\nCOMMIT" + tail + "\n".join(tables) + "\n")


def configuration(seed: str) -> tuple[bool, list[list[str]]]:
    rng = random.Random(f"ufw:{seed}")
    commands = [
        ["ufw", "default", rng.choice(("allow", "deny", "reject")), direction]
        for direction in ("incoming", "outgoing", "routed")
    ]
    commands += [_rule(rng) for _ in range(rng.randint(3, 9))]
    if rng.random() < 0.3:
        commands.append(["ufw", "logging", rng.choice(("off", "low", "medium", "high", "full"))])
    commands.append(["ufw", "--force", "enable"])
    return rng.random() < 0.8, commands


def _shape(tables) -> dict:
    """Per chain: its policy and, per rule, its decidable matches (as a set), how many
    undecidable ones it has, and its target's effect."""
    out = {}
    for table in tables:
        for chain in table.chains:
            rules = [
                (
                    frozenset(m for m in rule.matches if not isinstance(m, Unknown)),
                    sum(isinstance(m, Unknown) for m in rule.matches),
                    rule.target.verdict,
                    rule.target.chain,
                )
                for rule in chain.rules
            ]
            out[(table.family, table.name, chain.name)] = (chain.policy, rules)
    return out


def _port_set(spec: str) -> set[int]:
    ports: set[int] = set()
    for part in spec.split("/")[0].split(","):
        low, _, high = part.partition(":")
        ports.update(range(int(low), int(high or low) + 1))
    return ports


def _limited(commands: list[list[str]], probe) -> bool:
    """Whether a `ufw limit` rule of the configuration can match the probe's port."""
    if probe.proto == ICMP[probe.family]:
        return False
    for words in commands:
        if words[1] != "limit":
            continue
        if "to" in words:
            at = words.index("to")
            spec = words[at + 3] if words[at + 2 : at + 3] == ["port"] else None
        else:
            spec = next(w for w in words[2:] if w[:1].isdigit())
        if spec is None or probe.dport in _port_set(spec):
            return True
    return False


@pytest.mark.parametrize("case", range(CONFIGS))
def test_tree_equals_what_ufw_loaded(
    netns: NetnsPair, oracle_seed: str, case: int, tmp_path: Path
) -> None:
    seed = f"{oracle_seed}-{case}"
    ipv6, commands = configuration(seed)
    ufw_lab.prepare(tmp_path, ipv6)
    edits = hand_edits(seed)
    _edit_before_rules(tmp_path / "etc" / "ufw", edits)
    saves = ufw_lab.run(netns, tmp_path, commands)
    replay = (
        f"FWCHECK_ORACLE_SEED={oracle_seed} case {case}; ipv6={ipv6}; before.rules edits: "
        f"{edits}; commands: {commands}"
    )

    tree = ufw_tree.parse_folder(tmp_path / "etc" / "ufw", {})
    live = [iptables_save.parse(data, name) for name, data in saves.items()]
    assert tree.families == frozenset({4, 6})
    expected = _shape([t for r in live for t in r.tables])
    got = _shape(tree.tables)
    differing = sorted(k for k in set(expected) | set(got) if expected.get(k) != got.get(k))
    assert not differing, (
        f"{replay}\nchains differ: {differing}\n" + saves["iptables-save.v4"].decode()
    )

    cases = probes(seed, PROBES)
    observed = run_probes(netns, cases)
    problems = []
    for probe, seen in zip(cases, observed, strict=True):
        from_tree, from_live = fwcheck_verdict([tree], probe), fwcheck_verdict(live, probe)
        if from_tree != from_live:
            problems.append(f"{probe.label()}: tree {from_tree}, live export {from_live}")
        elif from_tree == "indeterminate":
            if not _limited(commands, probe):
                problems.append(f"{probe.label()}: indeterminate without a limit rule")
        elif from_tree != seen.kernel:
            problems.append(
                f"{probe.label()}: fwcheck {from_tree}, kernel {seen.kernel} ({seen.client})"
            )
    assert not problems, replay + "\n" + "\n".join(problems)
    refused = json.loads((tmp_path / "out" / "refused.json").read_text())
    verdicts = Counter(fwcheck_verdict([tree], probe) for probe in cases)
    rules = sum(len(c.rules) for t in tree.tables for c in t.chains)
    # The oracle's counts, shown with `pytest -s` (docs/ufw.md quotes a run).
    print(
        f"ufw oracle case {case}: {len(commands)} ufw commands ({len(refused)} refused by ufw),"
        f" {len(edits)} hand-edited lines, {rules} rules, probes {dict(sorted(verdicts.items()))}"
    )


def test_limit_rule_is_indeterminate_for_its_port_only(netns: NetnsPair, tmp_path: Path) -> None:
    """`ufw limit 22/tcp`: port 22 depends on the connection history; port 80 is decided."""
    ufw_lab.prepare(tmp_path, True)
    ufw_lab.run(netns, tmp_path, [["ufw", "limit", "22/tcp"], ["ufw", "--force", "enable"]])
    tree = ufw_tree.parse_folder(tmp_path / "etc" / "ufw", {})
    from oracle_generate import Probe

    peer, host = "198.51.100.2", "198.51.100.1"
    limited = Probe(4, TCP, peer, host, 40001, 22, "inbound")
    other = Probe(4, TCP, peer, host, 40002, 80, "inbound")
    assert fwcheck_verdict([tree], limited) == "indeterminate"
    assert fwcheck_verdict([tree], other) == "drop"
    assert [o.kernel for o in run_probes(netns, (limited, other))] == ["accept", "drop"]
