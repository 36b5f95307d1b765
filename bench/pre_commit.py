#!/usr/bin/env python3
"""Benchmark: the pre-commit hook's run on one changed 500-rule iptables-save, against the cost
of `python3 -c "import yaml, jsonschema"` (what any Python YAML validator pays to start).

The hook's command is run as pre-commit runs it (`.pre-commit-hooks.yaml`, hook `fwcheck`):
`fwcheck check --config fwcheck.yaml --quiet FILE` in a firewall-config folder whose
fwcheck.yaml lists three targets, FILE being the one staged export (so one target is checked,
with the shipped policies of its roles). pre-commit's own start-up and git calls are the same
for every hook and are not counted. Both commands run `--repeat` times, alternated so machine
load hits both alike; the medians of wall and of CPU time (user + system, which a loaded
machine distorts less) and their ratios are printed (target <= 2.0), with the load.
`--importtime` prints the 15 slowest imports of one fwcheck run (python -X importtime);
`--before DIR` times another tree's fwcheck alike (before/after in the same run).
Not a test: run it by hand on an otherwise idle machine.

Usage: python bench/pre_commit.py [--repeat 15] [--rules 500] [--importtime] [--before DIR]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from fleet import ruleset  # noqa: E402  (the fleet bench's busy-server ruleset)

CONFIG = """version: 1
targets:
  - name: web-1
    files: [firewall/web-1.iptables-save]
    roles: [baseline]
  - name: web-2
    files: [firewall/web-2.iptables-save]
    roles: [baseline]
  - name: db-1
    files: [firewall/db-1.iptables-save]
    roles: [baseline]
"""


def setup(folder: Path, rules: int) -> tuple[Path, int]:
    v4, _v6, _nft = ruleset(rules)
    (folder / "firewall").mkdir()
    for name in ("web-1", "web-2", "db-1"):
        (folder / "firewall" / f"{name}.iptables-save").write_text(v4 + "\n")
    (folder / "fwcheck.yaml").write_text(CONFIG)
    changed = folder / "firewall" / "web-1.iptables-save"
    # The change being committed: one more allowlist entry.
    changed.write_text(
        v4.replace(
            "-A WEB -j LOG-DROP",
            '-A WEB -s 10.99.0.0/24 -m comment --comment "new client" -j ACCEPT\n-A WEB -j LOG-DROP',
        )
        + "\n"
    )
    count = sum(1 for line in changed.read_text().splitlines() if line.startswith("-A "))
    return changed, count


def timed(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds: user + system) of one run."""
    started = time.perf_counter()
    process = subprocess.Popen(
        argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        _pid, status, usage = os.wait4(process.pid, 0)
    finally:
        if process.poll() is None:
            process.kill()
    elapsed = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1):
        assert process.stderr is not None
        raise RuntimeError(f"{argv}: exit {code}: {process.stderr.read().decode()[-2000:]}")
    return elapsed, usage.ru_utime + usage.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--rules", type=int, default=500)
    parser.add_argument("--importtime", action="store_true")
    parser.add_argument("--before", type=Path, help="another fwcheck tree, timed alike")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fwcheck-pre-commit-bench-") as name:
        folder = Path(name)
        changed, count = setup(folder, args.rules)
        # An installed fwcheck (pip, pre-commit's virtualenv) runs from compiled .pyc files:
        # with PYTHONDONTWRITEBYTECODE set (as in some CI and sandbox shells) every run would
        # compile every module anew and the bench would time the compiler. The .pyc files go
        # to a private prefix, so neither tree is written to.
        base = {
            **{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
            "PYTHONPYCACHEPREFIX": str(folder / "pycache"),
        }
        env = {**base, "PYTHONPATH": str(REPO)}
        hook = [
            sys.executable, "-m", "checker", "check", "--config", "fwcheck.yaml", "--quiet",
            str(changed.relative_to(folder)),
        ]  # fmt: skip
        floor = [sys.executable, "-c", "import yaml, jsonschema"]
        trees = {"fwcheck hook": REPO, **({"before tree": args.before} if args.before else {})}
        envs = {label: {**base, "PYTHONPATH": str(tree)} for label, tree in trees.items()}
        timed(floor, folder, env)  # warm the page cache and the .pyc files
        for label in trees:
            timed(hook, folder, envs[label])
        runs: dict[str, list[tuple[float, float]]] = {"floor": [], **{label: [] for label in trees}}
        load_before = os.getloadavg()[0]
        for _ in range(args.repeat):
            runs["floor"].append(timed(floor, folder, env))
            for label in trees:
                runs[label].append(timed(hook, folder, envs[label]))
        load_after = os.getloadavg()[0]
        print(
            f"pre-commit bench: {count} iptables rules in the changed export, {args.repeat} runs"
            f" each, {os.cpu_count()} CPUs, load {load_before:.1f} -> {load_after:.1f}"
        )
        for kind, index in (("wall", 0), ("CPU", 1)):
            floor_s = statistics.median(run[index] for run in runs["floor"])
            line = f"  {kind:4s} median: import yaml, jsonschema {floor_s * 1000:6.1f} ms"
            for label in trees:
                hook_s = statistics.median(run[index] for run in runs[label])
                ratio = hook_s / floor_s
                verdict = "met" if ratio <= 2.0 else "NOT met"
                line += f" | {label} {hook_s * 1000:6.1f} ms, ratio {ratio:.2f}"
                if label == "fwcheck hook":
                    line += f" (target <= 2.0: {verdict})"
            print(line)
        if args.importtime:
            done = subprocess.run(
                [sys.executable, "-X", "importtime", *hook[1:]],
                cwd=folder,
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
            rows = []
            for line in done.stderr.splitlines():
                parts = line.split("|")
                if len(parts) == 3 and parts[1].strip().isdigit():
                    rows.append((int(parts[1]), parts[2].rstrip()))
            print("  slowest imports (cumulative microseconds):")
            for micros, module in sorted(rows, reverse=True)[:15]:
                print(f"    {micros:9d} {module}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
