#!/usr/bin/env python3
"""Benchmark: fwcheck on a kube-proxy-sized iptables-save against iptables-restore --test.

Generates a kube-proxy (iptables mode) ruleset with S services of E endpoints each (about
S * (2 + 3E) rules, S * (1 + E) chains), then times, in this one run:
  - the reference: `iptables-restore --test` on the file, inside `unshare -n` (a fresh network
    namespace, so the host's firewall is never touched);
  - fwcheck: `fwcheck check` of every shipped policy (all roles) against the same file.
Prints both times and their ratio, then the same for 2x the rules, and how the fwcheck time
grew. Times are the best of --repeat runs. Targets (issue 16): parse + evaluate <= 3.0x the
reference; for 2x the rules, parse + evaluate grows <= 2.1x.

The fwcheck time is the whole command (interpreter start, imports, policies, reports). A second
line splits it, measured in a child process the same way the command runs: parsing the file and
evaluating the policies, whose sum is also given as a ratio to the reference.

With --exclusive, a third line times an exclusive-inbound check (docs/policy-format.md,
"Exclusive policies": every new inbound flow, all the shipped policies' allow rules declared) on
the same file, after the same plain evaluation, and gives it as a ratio to the plain check.

Usage: python bench/kube_proxy.py [--services 5000] [--endpoints 3] [--repeat 3] [--exclusive]
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _ip(base: int, n: int) -> str:
    value = base + n
    return ".".join(str((value >> s) & 0xFF) for s in (24, 16, 8, 0))


def generate(services: int, endpoints: int, seed: int = 7) -> str:
    rng = random.Random(seed)
    cluster_base = (10 << 24) | (96 << 16)
    pod_base = (10 << 24) | (244 << 16)
    nat: list[str] = []
    chains: list[str] = []
    filt: list[str] = [
        '-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL',
        '-A INPUT -m comment --comment "kubernetes health check service ports" -j KUBE-NODEPORTS',
        '-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES',
        "-A INPUT -j KUBE-FIREWALL",
        '-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD',
        '-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
        "-A OUTPUT -j KUBE-FIREWALL",
        '-A KUBE-FIREWALL ! -s 127.0.0.0/8 -d 127.0.0.0/8 -m comment --comment "block incoming localnet connections" -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP',
        "-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP",
        '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT',
        "-A KUBE-FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
    ]
    nat += [
        '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
        '-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
        '-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING',
        "-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000",
        "-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN",
        "-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0",
        '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully',
    ]
    chains_nat = ["KUBE-SERVICES", "KUBE-NODEPORTS", "KUBE-MARK-MASQ", "KUBE-POSTROUTING"]
    services_rules: list[str] = []
    for s in range(services):
        tag = f"{s:06X}{rng.getrandbits(40):010X}"
        svc, port = (
            f"KUBE-SVC-{tag}",
            rng.choice([80, 443, 8080, 53, 9090, 6379, 5432, 3000 + s % 1000]),
        )
        cluster = _ip(cluster_base, s + 10)
        comment = f"ns{s % 50}/svc{s}:port cluster IP"
        services_rules.append(
            f'-A KUBE-SERVICES -d {cluster}/32 -p tcp -m comment --comment "{comment}" -m tcp --dport {port} -j {svc}'
        )
        chains_nat.append(svc)
        nat.append(
            f'-A {svc} ! -s 10.244.0.0/16 -d {cluster}/32 -p tcp -m comment --comment "{comment}" -m tcp --dport {port} -j KUBE-MARK-MASQ'
        )
        for e in range(endpoints):
            sep = f"KUBE-SEP-{tag[:8]}{e:02d}{rng.getrandbits(24):06X}"
            chains_nat.append(sep)
            pod = _ip(pod_base, s * endpoints + e + 2)
            if e < endpoints - 1:
                probability = 1.0 / (endpoints - e)
                nat.append(
                    f'-A {svc} -m comment --comment "ns/svc{s} -> {pod}:{port}" -m statistic --mode random --probability {probability:.11f} -j {sep}'
                )
            else:
                nat.append(f'-A {svc} -m comment --comment "ns/svc{s} -> {pod}:{port}" -j {sep}')
            nat.append(f'-A {sep} -s {pod}/32 -m comment --comment "ns/svc{s}" -j KUBE-MARK-MASQ')
            nat.append(
                f'-A {sep} -p tcp -m comment --comment "ns/svc{s}" -m tcp -j DNAT --to-destination {pod}:{port}'
            )
    services_rules.append(
        '-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS'
    )
    out = [
        "# Generated by iptables-save v1.8.9 (bench/kube_proxy.py)",
        "*filter",
        ":INPUT ACCEPT [0:0]",
        ":FORWARD DROP [0:0]",
        ":OUTPUT ACCEPT [0:0]",
    ]
    out += [
        f":{c} - [0:0]"
        for c in (
            "KUBE-EXTERNAL-SERVICES",
            "KUBE-FIREWALL",
            "KUBE-FORWARD",
            "KUBE-NODEPORTS",
            "KUBE-PROXY-FIREWALL",
            "KUBE-SERVICES",
        )
    ]
    out += filt + [
        "COMMIT",
        "*nat",
        ":PREROUTING ACCEPT [0:0]",
        ":INPUT ACCEPT [0:0]",
        ":OUTPUT ACCEPT [0:0]",
        ":POSTROUTING ACCEPT [0:0]",
    ]
    out += [f":{c} - [0:0]" for c in chains_nat]
    out += nat + services_rules + ["COMMIT", ""]
    del chains
    return "\n".join(out)


def best_of(repeat: int, command: list[str], stdin_path: Path | None = None) -> float:
    best = float("inf")
    for _ in range(repeat):
        stdin = stdin_path.open("rb") if stdin_path else subprocess.DEVNULL
        start = time.perf_counter()
        done = subprocess.run(
            command, stdin=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False
        )
        elapsed = time.perf_counter() - start
        if stdin_path:
            stdin.close()
        if done.returncode not in (0, 1):
            sys.exit(
                f"{' '.join(command)} failed ({done.returncode}): {done.stderr.decode(errors='replace')[-500:]}"
            )
        best = min(best, elapsed)
    return best


def phases(path: Path) -> dict[str, float]:
    """Seconds spent loading the policies, parsing `path` and evaluating, in this process,
    with the command's collector settings (checker.cli.collect_rarely) and its default work
    budget: the evaluation is the command's own (pipeline.evaluate_models: flow requirements
    through the netfilter engine, settings through engine/settings.py)."""
    from checker import pipeline
    from checker.cli import collect_rarely
    from checker.engine.budget import AUTO
    from checker.model.listening import ListeningSockets
    from checker.policies.loader import default_policy_paths, load_policy_set

    collect_rarely()
    start = time.perf_counter()
    policy_set = load_policy_set(default_policy_paths())
    requirements = policy_set.requirements_for(shipped_roles(), {})
    loaded = time.perf_counter()
    models = pipeline.parse_sources([(str(path), path.read_bytes())])
    parsed = time.perf_counter()
    listening = [m for m in models if isinstance(m, ListeningSockets)]
    findings = pipeline.evaluate_models(
        path.name, models, listening, "netfilter", requirements, budget=AUTO
    )
    done = time.perf_counter()
    cut_short = sum(1 for f in findings if any(name == "budget" for name, _ in f.details))
    return {
        "policies": loaded - start,
        "parse": parsed - loaded,
        "evaluate": done - parsed,
        "cut_short": cut_short,
    }


def exclusive_phases(path: Path) -> dict[str, float]:
    """Seconds for the plain evaluation of every shipped policy and for exclusive-inbound on
    top of it (its own context: the walk of every new inbound flow)."""
    from dataclasses import replace

    from checker import pipeline
    from checker.cli import collect_rarely
    from checker.engine.netfilter import engine as netfilter
    from checker.engine.netfilter import exclusive
    from checker.policies.exclusive import exclusive_requirements
    from checker.policies.loader import default_policy_paths, load_policy_set
    from checker.policies.model import Direction

    collect_rarely()
    policy_set = load_policy_set(default_policy_paths())
    requirements = policy_set.requirements_for(shipped_roles(), {})
    models = pipeline.parse_sources([(str(path), path.read_bytes())])
    start = time.perf_counter()
    context = netfilter.new_context(models)
    context.prepare(requirements)
    for requirement in requirements:
        netfilter.check(models, requirement, context=context)
    plain = time.perf_counter()
    policy = next(iter(policy_set.policies.values()))
    (inbound,) = exclusive_requirements(replace(policy, exclusive=(Direction.INBOUND,)))
    context = netfilter.new_context(models)
    context.prepare([*requirements, inbound])
    exclusive.check(models, inbound, requirements, context=context)
    done = time.perf_counter()
    return {"plain": plain - start, "exclusive": done - plain}


def best_phases(repeat: int, path: Path) -> dict[str, float]:
    best: dict[str, float] = {}
    for _ in range(repeat):
        done = subprocess.run(
            [sys.executable, __file__, "--phases", str(path)],
            capture_output=True,
            text=True,
            check=True,
        )
        times = json.loads(done.stdout)
        if not best or times["parse"] + times["evaluate"] < best["parse"] + best["evaluate"]:
            best = times
    return best


def shipped_roles() -> list[str]:
    from checker.policies.loader import default_policy_paths, load_policy_set

    policy_set = load_policy_set(default_policy_paths())
    return sorted({role for policy in policy_set.policies.values() for role in policy.roles})


def measure(
    services: int, endpoints: int, repeat: int, folder: Path, with_exclusive: bool = False
) -> tuple[int, float, float, float]:
    path = folder / f"kube-{services}.iptables-save"
    text = generate(services, endpoints)
    path.write_text(text)
    rules = sum(1 for line in text.splitlines() if line.startswith("-A "))
    restore = shutil.which("iptables-restore") or "iptables-restore"
    reference = best_of(repeat, ["unshare", "-n", restore, "--test"], path)
    roles = [arg for role in shipped_roles() for arg in ("--role", role)]
    command = [
        sys.executable,
        "-m",
        "checker",
        "check",
        "--quiet",
        *roles,
        str(path),
        "--json",
        str(folder / "out.json"),
    ]
    ours = best_of(repeat, command)
    split = best_phases(repeat, path)
    inner = split["parse"] + split["evaluate"]
    print(
        f"{rules:>7} rules, {text.count(chr(10) + ':'):>6} chains: iptables-restore --test {reference:7.3f} s, "
        f"fwcheck check (all shipped policies) {ours:7.3f} s, ratio {ours / reference:5.2f}"
    )
    print(
        f"{'':>23}of which: policies {split['policies']:.3f} s, parse {split['parse']:.3f} s, "
        f"evaluate {split['evaluate']:.3f} s; parse+evaluate {inner:.3f} s, ratio {inner / reference:5.2f}"
        f" ({split['cut_short']:.0f} findings cut short by the work budget)"
    )
    if with_exclusive:
        done = subprocess.run(
            [sys.executable, __file__, "--exclusive-phases", str(path)],
            capture_output=True,
            text=True,
            check=True,
        )
        times = json.loads(done.stdout)
        print(
            f"{'':>23}exclusive-inbound {times['exclusive']:.3f} s, plain check "
            f"{times['plain']:.3f} s: ratio {times['exclusive'] / times['plain']:5.2f}"
        )
    return rules, reference, ours, inner


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--services", type=int, default=5000)
    parser.add_argument("--endpoints", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--exclusive", action="store_true", help="also time exclusive-inbound")
    parser.add_argument("--phases", metavar="FILE", help=argparse.SUPPRESS)
    parser.add_argument("--exclusive-phases", metavar="FILE", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phases:
        print(json.dumps(phases(Path(args.phases))))
        return 0
    if args.exclusive_phases:
        print(json.dumps(exclusive_phases(Path(args.exclusive_phases))))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rules1, ref1, ours1, inner1 = measure(
            args.services, args.endpoints, args.repeat, folder, args.exclusive
        )
        rules2, ref2, ours2, inner2 = measure(
            args.services * 2, args.endpoints, args.repeat, folder, args.exclusive
        )
    print(
        f"parse+evaluate ratio at 1x: {inner1 / ref1:.2f}, at 2x: {inner2 / ref2:.2f} (target <= 3.0);"
        f" whole command at 1x: {ours1 / ref1:.2f}, at 2x: {ours2 / ref2:.2f}"
    )
    print(
        f"growth for {rules2 / rules1:.2f}x the rules: parse+evaluate {inner2 / inner1:.2f}x"
        f" (target <= 2.1), whole command {ours2 / ours1:.2f}x"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
