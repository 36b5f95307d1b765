"""`fwcheck explain` / `check --explain`: the walk of one packet behind a verdict, hop by hop.

Netfilter walks follow iptables(8) semantics (first match, -j returns, policy at the end of a
base chain). The Windows walk follows Microsoft's precedence, "authenticated bypass > block >
allow > default" (Microsoft Learn, "Windows Firewall rules", Rule precedence), on the recorded
.reg exports in examples/windows."""

from __future__ import annotations

from pathlib import Path

import pytest

from checker import parsers
from checker.cli import main
from checker.engine.netfilter import engine as netfilter
from checker.engine.netfilter import trace as netfilter_trace
from checker.errors import ExitCode
from checker.findings import Status
from checker.policies.loader import load_policy_set

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"

JUMPS = """*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:LEGACY - [0:0]
-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT
-A INPUT -p tcp -j LOG --log-prefix "in: "
-A INPUT -p tcp -m tcp --dport 23 -j LEGACY
-A LEGACY -p tcp -m tcp --dport 2323 -j DROP
-A LEGACY -p tcp -m tcp --dport 23 -j ACCEPT
COMMIT
"""

POLICY = """id: lab
title: Lab
roles: [lab]
rules:
  - id: no-telnet
    title: No telnet
    expect: deny
    direction: inbound
    protocol: tcp
    port: 23
    family: ipv4
    severity: high
  - id: web-out
    title: Web out
    expect: allow
    direction: outbound
    protocol: tcp
    port: 443
    family: ipv4
    severity: high
"""


@pytest.fixture
def lab(tmp_path: Path) -> Path:
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies/lab.yaml").write_text(POLICY)
    (tmp_path / "host.rules").write_text(JUMPS)
    return tmp_path


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_explain_walks_the_counterexample_hop_by_hop(
    lab: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = str(lab / "host.rules")
    args = ["explain", "--policies", str(lab / "policies"), "--role", "lab", rules, "no-telnet"]
    code, out, _ = _run(args, capsys)
    assert code == ExitCode.OK, out
    lines = out.splitlines()
    assert lines[0] == "host: lab/no-telnet (No telnet): FAIL"
    assert "1. input chain INPUT (table ip filter) -> ACCEPT" in out
    hops = [line.strip() for line in lines if line.strip().startswith(rules)]
    # The LOG rule (line 8), the jump (9), then the ACCEPT in LEGACY (11); 2323's DROP and the
    # ssh and conntrack rules did not match the SYN.
    assert [hop.split(":")[1] for hop in hops] == ["8", "9", "11"]
    actions = [line.strip() for line in lines if line.strip().startswith("-> ")]
    assert actions == [
        "-> matches: LOG (evaluation continues)",
        "-> matches: jumps to chain LEGACY",
        "-> matches: ACCEPT (ends this chain)",
    ]
    assert "(3 rule(s) tried did not match)" in out
    assert "=> the SYN is accepted by every chain on its hooks" in out


def test_explain_an_allow_shows_the_reply_dropped_by_the_policy(
    lab: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    strict = JUMPS.replace(":OUTPUT ACCEPT", ":OUTPUT DROP")
    strict = strict.replace("COMMIT", "-A OUTPUT -p tcp -m tcp --dport 443 -j ACCEPT\nCOMMIT")
    (lab / "host.rules").write_text(strict)
    args = ["check", "--policies", str(lab / "policies"), "--role", "lab"]
    code, out, _ = _run([*args, "--explain", "lab/web-out", str(lab / "host.rules")], capsys)
    assert code == ExitCode.OK
    assert "the SYN: tcp 192.0.2.10:40000 -> 203.0.113.7:443 ipv4 (new, out)" in out
    assert "-> matches: ACCEPT (ends this chain)" in out
    # The SYN-ACK comes back in and is accepted by the conntrack rule: the handshake's final
    # ACK then goes out and, being ESTABLISHED to port 443, passes the same OUTPUT rule.
    assert (
        "the SYN-ACK reply: tcp 203.0.113.7:443 -> 192.0.2.10:40000 ipv4 (established, in)" in out
    )


def test_explain_unknown_rule_is_a_usage_error(
    lab: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["explain", "--policies", str(lab / "policies"), "--role", "lab"]
    code, _, err = _run([*args, str(lab / "host.rules"), "telnet"], capsys)
    assert code == ExitCode.USAGE
    assert "no rule 'telnet' (did you mean lab/no-telnet?)" in err


def test_trace_agrees_with_every_verdict_on_the_bundled_linux_examples() -> None:
    """For each baseline rule on each Linux example, the walked packet ends as the verdict says:
    a failed deny is accepted, a passed deny is dropped or rejected."""
    policy_set = load_policy_set([REPO / "policies"])
    requirements = policy_set.requirements_for(["baseline"], {"mgmt_networks": "10.0.0.0/8"})
    checked = 0
    for name in ("bastion.iptables-save", "app-1.nft.json", "web-1.iptables-save"):
        path = EXAMPLES / "linux" / name
        data = path.read_bytes()
        models = [parsers.detect(data, str(path)).parse(data, str(path))]
        for requirement in requirements:
            verdict = netfilter.check(models, requirement)
            if verdict.status not in (Status.FAIL, Status.PASS):
                continue
            for trace in netfilter_trace.trace(models, requirement):
                first = trace.packets[0]
                if verdict.status is Status.FAIL and requirement.expect.value == "deny":
                    assert first.outcome.startswith("accepted"), (name, requirement.key)
                    # The deciding rule the verdict names is a hop of the walk.
                    lines = {(h.file, h.line) for w in first.chains for h in w.hops}
                    assert {(e.file, e.line) for e in verdict.evidence} <= lines
                    checked += 1
                if verdict.status is Status.PASS and requirement.expect.value == "deny":
                    assert first.outcome in ("dropped", "rejected"), (name, requirement.key)
                    checked += 1
    assert checked >= 10


def test_explain_windows_shows_precedence_block_beats_allow(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(EXAMPLES)
    code, out, _ = _run(["explain", "--target", "patch-client-17", "out-tcp-443"], capsys)
    assert code == ExitCode.OK
    assert out.startswith("patch-client-17: onesite-patch-client/out-tcp-443")
    domain = out[out.index("profile domain:") : out.index("profile private:")]
    assert "2. block rules: 1 match, 0 may match" in domain
    assert (
        '"Block Adaptiva cloud (HTTPS-Out)" (windows/onesite-patch-client-noncompliant.reg:25)'
        in domain
    )
    assert "default outbound action Allow" in domain
    assert (
        '=> blocked by {9E6F1B2A-77C4-4D3E-A1B2-000000000010} "Block Adaptiva cloud (HTTPS-Out)"'
        in domain
    )
