"""The per-target work budget (engine/budget.py) and what keeps wide questions inside it
(issue 16): a chain's result memoised per entering packets, hook results compacted.

Work is counted in units (boxes cut by matches), never in seconds: these tests are not timed."""

from __future__ import annotations

import json
from pathlib import Path

from builders import req

from checker.cli import main
from checker.engine.budget import DEFAULT_BUDGET
from checker.findings import Status
from checker.pipeline import evaluate_target


def dag(depth: int, jumps: int = 2) -> bytes:
    """INPUT -> C0; each Ci jumps `jumps` times to C(i+1); the last one accepts tcp/22 and
    drops 10.0.0.0/8 first (so what returns differs from what entered)."""
    lines = ["*filter", ":INPUT DROP [0:0]", ":FORWARD DROP [0:0]", ":OUTPUT ACCEPT [0:0]"]
    lines += [f":C{i} - [0:0]" for i in range(depth + 1)]
    lines += ["-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT", "-A INPUT -j C0"]
    for i in range(depth):
        lines += [f"-A C{i} -j C{i + 1}"] * jumps
    lines += [
        f"-A C{depth} -s 10.0.0.0/8 -j DROP",
        f"-A C{depth} -p tcp --dport 22 -j ACCEPT",
        "COMMIT",
        "",
    ]
    return "\n".join(lines).encode()


def _verdicts(data: bytes, requirements, budget: int | None):
    findings, _platform, problems = evaluate_target(
        "t", [("dag.rules", data)], requirements, budget=budget
    )
    assert not problems
    return findings


def test_a_spent_budget_makes_the_requirement_indeterminate_and_names_the_budget() -> None:
    data = dag(3)
    (finding,) = _verdicts(data, [req(ports=None, remote=["0.0.0.0/0"])], budget=1)
    assert finding.status is Status.INDETERMINATE
    assert "too complex to decide within 1 steps" in finding.message
    assert ("budget", "1") in finding.details
    (decided,) = _verdicts(data, [req(ports=None, remote=["0.0.0.0/0"])], budget=DEFAULT_BUDGET)
    assert decided.status is Status.FAIL


def test_a_jump_dag_costs_its_edges_not_its_paths() -> None:
    """40 levels of two jumps each: 2^40 paths. Walking a chain again per path spends far
    more than 20,000 units; memoised per (chain, entering packets) it answers exactly."""
    wide = req(ports=None, remote=["0.0.0.0/0"])
    narrow = req(ports=((22, 22),), remote=["192.0.2.0/24"])
    for jumps in (2, 3):
        findings = _verdicts(dag(40, jumps), [wide, narrow], budget=20_000)
        assert [f.status for f in findings] == [Status.FAIL, Status.PASS], findings
        assert "10." not in findings[0].message or "dropped" in findings[0].message


def test_jump_depth_limit_still_applies_under_memoisation() -> None:
    (finding,) = _verdicts(dag(70), [req(remote=["192.0.2.0/24"])], budget=DEFAULT_BUDGET)
    assert finding.status is Status.INDETERMINATE
    assert "jump depth exceeded" in finding.message


def test_wide_questions_on_the_shorewall_corpus_file_fit_the_default_budget(
    shared_dir: Path,
) -> None:
    """Issue 16: all-tcp allow and not-from-outside-10/8 deny together took 97 s and 1.6 GB:
    the hook results (hundreds of boxes that compact to a few) were multiplied phase by phase."""
    path = shared_dir / "corpus" / "linux" / "shorewall-akachan.iptables-save"
    requirements = [
        req(ports=None, remote=None, families=frozenset({4, 6})),
        req("deny", protocol=None, ports=None, except_remote=["10.0.0.0/8"]),
        req("deny", protocol=None, ports=None),
        req(protocol=17, ports=None),
    ]
    findings, _platform, problems = evaluate_target(
        "sw", [(str(path), path.read_bytes())], requirements, budget=DEFAULT_BUDGET
    )
    assert not problems
    assert all("too complex" not in f.message for f in findings), findings
    assert [f.status for f in findings] == [Status.FAIL] * 4


def test_check_budget_option(tmp_path: Path, capsys) -> None:
    rules = tmp_path / "dag.rules"
    rules.write_bytes(dag(3))
    policy = tmp_path / "wide.yaml"
    policy.write_text(
        "id: wide\ntitle: Wide\nroles: [wide]\nrules:\n"
        "  - id: all-tcp\n    title: every tcp port\n    expect: allow\n"
        "    direction: inbound\n    protocol: tcp\n"
    )
    out = tmp_path / "out.json"
    argv = ["check", "--no-builtin-policies", "--policies", str(policy), "--role", "wide"]
    main([*argv, "--budget", "1", "--json", str(out), "-q", str(rules)])
    (result,) = json.loads(out.read_text())["results"]
    assert result["status"] == "indeterminate"
    assert "within 1 steps" in result["message"]
    main([*argv, "--json", str(out), "-q", str(rules)])
    (result,) = json.loads(out.read_text())["results"]
    assert result["status"] == "fail"
    main([*argv, "--budget", "auto", "--json", str(out), "-q", str(rules)])
    (result,) = json.loads(out.read_text())["results"]
    assert result["status"] == "fail"
    capsys.readouterr()
    for wrong in ("0", "many"):
        assert main(["check", "--budget", wrong, str(rules)]) == 2
        assert f"expected auto or a whole number of at least 1, got '{wrong}'" in (
            capsys.readouterr().err
        )


def test_the_default_budget_grows_with_the_rules_so_linear_work_is_decided() -> None:
    """A kube-proxy file of 3,000 services (33,000 rules) walked once for a wide outbound
    question spends more than the fixed 100,000 units in proportion to its size: under the
    default ("auto": DEFAULT_BUDGET + PER_RULE per rule) it is decided, under a fixed
    DEFAULT_BUDGET it is cut short, and the finding names the budget that was spent."""
    from iptables_kube_proxy import kube_proxy_save

    from checker.engine.budget import AUTO

    data = kube_proxy_save(3000).encode()
    wide = [req(direction="outbound", protocol=None, ports=None)]
    (fixed,) = _verdicts(data, wide, budget=DEFAULT_BUDGET)
    assert fixed.status is Status.INDETERMINATE
    assert ("budget", str(DEFAULT_BUDGET)) in fixed.details
    (auto,) = _verdicts(data, wide, budget=AUTO)
    assert not any(name == "budget" for name, _ in auto.details)
    assert "too complex" not in auto.message
