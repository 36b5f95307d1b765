#!/usr/bin/env python3
"""Benchmark: wide questions (issue 16) on every corpus ruleset, and the jump-DAG family.

Every corpus ruleset (Linux and Windows exports) answers wide requirements, which ask about
whole protocols or every flow at once, where a vendor port row asks about one port:
  all-tcp       allow inbound tcp, every port, from anywhere
  all-udp       allow inbound udp, every port, from anywhere
  outside-net   deny inbound, any protocol, from outside 10.0.0.0/8
  every-inbound deny inbound, any protocol, from anywhere
  all-four      the four together on one target (one shared walk, as `fwcheck check` does)

Each case runs in its own child process (python3 bench/wide.py --child ...), which reports its
evaluation time (parse excluded) and its peak RSS (resource.getrusage, so the interpreter and
imports are included; the line `baseline` gives that floor, measured the same way with no
requirement). Target: every case under 2 s and 200 MB, or a budget-limited indeterminate.

The DAG family: a chain C0 called from INPUT, each Ci jumping twice to C(i+1) (the second jump
gets what the first returned), the last chain accepting tcp/22. It has 2 * depth edges; a walk
that re-walks a chain per path costs 2^depth. Printed per depth: time, edges, and the ratio of
time growth to edge growth against the smallest depth (about 1 when linear in the edges).

Real-generator rulesets (ufw, firewalld, …) are produced live by tests/kernel; pass recorded
exports with --extra DIR (every file in it is one target) to include them; without it that part
is skipped.

Usage: python bench/wide.py [--budget N] [--depths 8,12,16,20] [--timeout 120] [--extra DIR]
       (--budget 0: no budget, the behaviour before issue 16; cases are then cut at --timeout)
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CORPUS = Path("/work/shared/corpus/linux")
if not CORPUS.is_dir():
    CORPUS = REPO / "tests" / "corpus" / "linux"
WIDE = ("all-tcp", "all-udp", "outside-net", "every-inbound")
# A child may not take more memory than this (the machine is shared): it fails with MemoryError
# and the case is reported as such.
CHILD_MEMORY = 3 << 30


def _requirements(names: list[str]) -> list[object]:
    from checker.errors import Location
    from checker.findings import Severity
    from checker.policies.model import Direction, Expect, Requirement

    ten = (4, 10 << 24, (11 << 24) - 1)

    def make(rule: str, expect: Expect, protocol: int | None, except_remote: tuple) -> Requirement:
        return Requirement(
            policy_id="wide",
            rule_id=rule,
            title=rule,
            expect=expect,
            direction=Direction.INBOUND,
            protocol=protocol,
            ports=None,
            remote=None,
            except_remote=except_remote,
            local=None,
            program=None,
            service=None,
            profiles=frozenset(),
            icmp_type=None,
            families=frozenset({4, 6}),
            severity=Severity.HIGH,
            origin=Location("bench", 1, 1),
        )

    table = {
        "all-tcp": lambda: make("all-tcp", Expect.ALLOW, 6, ()),
        "all-udp": lambda: make("all-udp", Expect.ALLOW, 17, ()),
        "outside-net": lambda: make("outside-net", Expect.DENY, None, (ten,)),
        "every-inbound": lambda: make("every-inbound", Expect.DENY, None, ()),
    }
    return [table[name]() for name in names]


def child(path: str, names: list[str], budget: int | str) -> None:
    """Parse `path`, answer the requirements `names` on it, print one JSON line."""
    resource.setrlimit(resource.RLIMIT_AS, (CHILD_MEMORY, CHILD_MEMORY))
    from checker import pipeline

    requirements = _requirements(names)
    data = Path(path).read_bytes()
    models = pipeline.parse_sources([(path, data)])
    started = time.perf_counter()
    statuses: list[str] = []
    if requirements:
        from checker.model.listening import ListeningSockets

        rules = [m for m in models if not isinstance(m, ListeningSockets)]
        listening = [m for m in models if isinstance(m, ListeningSockets)]
        _, platform = pipeline.engine_for(rules)
        findings = pipeline.evaluate_models(
            "bench", rules, listening, platform, requirements, budget=budget or None
        )
        statuses = [f.status.value for f in findings] or ["error: no finding"]
    seconds = time.perf_counter() - started
    del models
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "rss_mb": peak, "statuses": statuses}))


def measure(path: Path, names: list[str], budget: int | str, timeout: float) -> dict[str, object]:
    argv = [sys.executable, __file__, "--child", str(path), ",".join(names), str(budget)]
    started = time.perf_counter()
    try:
        done = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=REPO,
            env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
        )
    except subprocess.TimeoutExpired:
        return {
            "seconds": timeout,
            "rss_mb": float("nan"),
            "statuses": [f"killed after {timeout:.0f} s"],
        }
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["?"])[-1]
        wall = time.perf_counter() - started
        return {"seconds": wall, "rss_mb": float("nan"), "statuses": [f"crashed: {tail[:60]}"]}
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def dag(depth: int) -> str:
    lines = ["*filter", ":INPUT DROP [0:0]", ":FORWARD DROP [0:0]", ":OUTPUT ACCEPT [0:0]"]
    lines += [f":C{i} - [0:0]" for i in range(depth + 1)]
    lines += ["-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT", "-A INPUT -j C0"]
    for i in range(depth):
        lines += [f"-A C{i} -j C{i + 1}", f"-A C{i} -j C{i + 1}"]
    lines += [f"-A C{depth} -p tcp --dport 22 -j ACCEPT", "COMMIT", ""]
    return "\n".join(lines)


def _row(name: str, case: str, result: dict[str, object]) -> str:
    statuses = ",".join(sorted(set(map(str, result["statuses"])))) or "-"  # type: ignore[call-overload]
    seconds = float(result["seconds"])  # type: ignore[arg-type]
    rss = float(result["rss_mb"])  # type: ignore[arg-type]
    flag = "" if seconds < 2 and rss < 200 else "  OVER"
    return f"{name:42} {case:14} {seconds:8.2f} s {rss:8.0f} MB  {statuses}{flag}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", nargs=3, metavar=("FILE", "NAMES", "BUDGET"))
    parser.add_argument(
        "--budget", type=int, default=None, help="work budget (0: none; default: fwcheck's)"
    )
    parser.add_argument("--depths", default="8,16,24,32,48")
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--extra", type=Path, help="a folder of recorded real-generator exports")
    parser.add_argument("--only", help="only corpus files whose name contains this")
    args = parser.parse_args()
    if args.child:
        path, names, budget = args.child
        child(path, [n for n in names.split(",") if n], budget if budget == "auto" else int(budget))
        return 0
    sys.path.insert(0, str(REPO))
    from checker.engine.budget import AUTO

    budget: int | str = AUTO if args.budget is None else args.budget
    shown = "fwcheck's default (100000 + 50 per rule)" if budget == AUTO else budget or "none"
    print(f"budget: {shown} work units per target; each case in its own process")
    files = sorted(CORPUS.glob("*-save"))
    windows = CORPUS.parent / "windows"
    if windows.is_dir():
        files += sorted(p for p in windows.rglob("*") if p.is_file() and p.name != "README.md")
    if args.only:
        files = [f for f in files if args.only in f.name]
    if args.extra:
        files += sorted(p for p in args.extra.iterdir() if p.is_file())
    else:
        print("real-generator rulesets: skipped (no --extra folder of recorded exports)")
    base = measure(files[0], [], budget, args.timeout)
    print(f"baseline (parse {files[0].name}, no requirement): {float(base['rss_mb']):.0f} MB peak")  # type: ignore[arg-type]
    over = 0
    for path in files:
        for case in [*([n] for n in WIDE), list(WIDE)]:
            label = case[0] if len(case) == 1 else "all-four"
            result = measure(path, case, budget, args.timeout)
            row = _row(path.name, label, result)
            over += row.endswith("OVER")
            print(row, flush=True)
    print(f"cases over 2 s / 200 MB: {over}")
    print("DAG family (each chain jumps twice to the next), requirement all-tcp:")
    first: tuple[int, float] | None = None
    with tempfile.TemporaryDirectory() as work:
        for depth in [int(d) for d in args.depths.split(",")]:
            path = Path(work) / f"dag{depth}.iptables-save"
            path.write_text(dag(depth))
            result = measure(path, ["all-tcp"], budget, args.timeout)
            seconds = float(result["seconds"])  # type: ignore[arg-type]
            edges = 2 * depth
            ratio = ""
            if first is None:
                first = (edges, max(seconds, 1e-3))
            else:
                growth = (seconds / first[1]) / (edges / first[0])
                ratio = f"  time growth / edge growth vs depth {first[0] // 2}: {growth:.2f}"
            print(_row(f"dag depth {depth} ({edges} edges)", "all-tcp", result) + ratio, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
