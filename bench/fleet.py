#!/usr/bin/env python3
"""Benchmark: `fwcheck scan` over a fleet of real sshd targets against OpenSSH's own client.

Setup (root; everything inside one network namespace this script creates and deletes):
  - a realistic firewall loaded with the real tools: an iptables-nft filter table of a few
    hundred rules (per-service user chains, allowlists with comments, conntrack, LOG+DROP),
    a nat table, ip6tables rules and a native nft table (`--rules` sets the size);
  - N SSH targets: real Debian sshd processes, each listening on 16 loopback addresses
    (127.1.x.y:22; sshd keeps at most 16 listen sockets, MAX_LISTEN_SOCKS), so N = 500 is 32
    sshd processes. Every target is a separate (address, host key entry) and a separate SSH
    connection; all of them dump the namespace's firewall (identical rulesets; the verdict
    cache's key holds each source's cited name, which names the host, so hosts never share).
Measured, one after the other, in this one run, for each N (default 500):
  - floor: `xargs -P C ssh root@HOST iptables-save` over every host (OpenSSH client, the same
    parallelism C as fwcheck's --concurrency), measured before and after the fwcheck runs (the
    mean is the floor: on a shared machine the load drifts);
  - script floor: the same, but ssh runs fwcheck's own collection script (what fwcheck's round
    trip costs on the target: nft -j, iptables-nft/legacy-save, ip6tables twins, ipset ...);
  - first night: `fwcheck scan --concurrency C --json ... --history ... --no-cache` (the
    shipped baseline policy; every host parsed and checked, as in a fleet of distinct rulesets)
    and its peak RSS (wait4's ru_maxrss);
  - first night with the cache on (the default, filling the cache): printed, not a target;
  - second night: the same scan again on the history the previous run filled, rulesets
    unchanged: every host's result comes from the verdict cache.
`--rss-hosts 2000` adds, for each such N, only the first night (no floors) and prints its peak
RSS against the first N's (target <= 1.2x). `--before DIR` also runs the first night with the
fwcheck of another tree (e.g. `git archive OLD | tar -x -C DIR`): before/after in the same run
(at the --rss-hosts sizes only with --rss-before).
Ratios are printed against the floor measured in the same run; the load average is printed at
each step (the machine may be shared: ratios, not seconds, are comparable).
Before the fleet, the collection script's own cost on the target: --script-repeat runs of it in
the namespace (no ssh), as shipped (only the dumps that can show something), with every dump
forced (as before issue 16), `iptables-save` alone and, with --before, the other tree's script.
With --before, ssh running the other tree's script is timed too (before/after over ssh). `--nft-only` loads only the native nft table (an
nft-only host: the iptables-nft and legacy dumps have nothing to show); `--script-only` stops there.
Not a test: run it by hand, as root, on an otherwise idle machine.

Usage: python bench/fleet.py [--hosts 500] [--rss-hosts 2000] [--concurrency 32] [--rules 300]
       [--nft-only] [--script-repeat 20] [--script-only] [--before DIR] [--rss-before]
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

LISTEN_PER_SSHD = 16
SSHD_CONFIG = """ListenAddress {addresses}
HostKey {dir}/host_key
PidFile {dir}/sshd-{index}.pid
AuthorizedKeysFile {dir}/authorized_keys
StrictModes no
UsePAM no
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
MaxStartups 1000
MaxSessions 10
LoginGraceTime 60
PrintMotd no
UseDNS no
LogLevel ERROR
"""


def run(argv: list[str], *, netns: str | None = None, input: bytes | None = None) -> bytes:
    full = (["ip", "netns", "exec", netns] if netns else []) + argv
    done = subprocess.run(full, input=input, capture_output=True, timeout=120, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(full)}: {done.stderr.decode(errors='replace')}")
    return done.stdout


def ruleset(rules: int, seed: int = 11) -> tuple[str, str, str]:
    """(iptables-restore text, ip6tables-restore text, nft -f text) of a busy server."""
    rng = random.Random(seed)
    services = [
        ("WEB", "tcp", "80,443"),
        ("SSH-ADMIN", "tcp", "22"),
        ("MONITORING", "tcp", "9100,9256"),
        ("DB-CLIENTS", "tcp", "5432"),
        ("BACKUP", "tcp", "873"),
        ("SYSLOG", "udp", "514"),
        ("NTP", "udp", "123"),
        ("DNS", "udp", "53"),
    ]
    head = [
        "*filter",
        ":INPUT DROP [0:0]",
        ":FORWARD DROP [0:0]",
        ":OUTPUT ACCEPT [0:0]",
        ":LOG-DROP - [0:0]",
    ]
    head += [f":{name} - [0:0]" for name, _, _ in services]
    body = [
        "-A INPUT -i lo -j ACCEPT",
        "-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
        "-A INPUT -m conntrack --ctstate INVALID -j DROP",
        "-A INPUT -p icmp -m icmp --icmp-type 8 -m limit --limit 10/sec -j ACCEPT",
    ]
    for name, proto, ports in services:
        flag = "-m multiport --dports" if "," in ports else f"-m {proto} --dport"
        body.append(f"-A INPUT -p {proto} {flag} {ports} -j {name}")
    per_chain = max(1, (rules - len(body) - 10) // len(services))
    for name, _proto, _ports in services:
        for n in range(per_chain):
            net = f"10.{rng.randrange(256)}.{rng.randrange(256)}.0/{rng.choice((24, 26, 28, 32))}"
            if n % 7 == 6:
                body.append(
                    f'-A {name} -s {net} -m comment --comment "ticket CHG-{rng.randrange(10000)}" -j DROP'
                )
            else:
                body.append(
                    f'-A {name} -s {net} -m comment --comment "{name.lower()} client {n}" -j ACCEPT'
                )
        body.append(f"-A {name} -j LOG-DROP")
    body += [
        "-A INPUT -p tcp -m tcp --dport 23 -j REJECT --reject-with tcp-reset",
        "-A INPUT -j LOG-DROP",
        '-A LOG-DROP -m limit --limit 5/min -j LOG --log-prefix "fw-drop: "',
        "-A LOG-DROP -j DROP",
        "COMMIT",
        "*nat",
        ":PREROUTING ACCEPT [0:0]",
        ":INPUT ACCEPT [0:0]",
        ":OUTPUT ACCEPT [0:0]",
        ":POSTROUTING ACCEPT [0:0]",
    ]
    for n in range(20):
        body.append(
            f"-A PREROUTING -p tcp -m tcp --dport {8000 + n} -j DNAT --to-destination 10.0.{n}.10:80"
        )
    body += ["-A POSTROUTING -o eth0 -j MASQUERADE", "COMMIT", ""]
    v6 = [
        "*filter",
        ":INPUT DROP [0:0]",
        ":FORWARD DROP [0:0]",
        ":OUTPUT ACCEPT [0:0]",
        "-A INPUT -i lo -j ACCEPT",
        "-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
        "-A INPUT -p ipv6-icmp -j ACCEPT",
    ]
    for n in range(max(10, rules // 6)):
        v6.append(f"-A INPUT -s fd00:{n:x}::/64 -p tcp -m tcp --dport 443 -j ACCEPT")
    v6 += ["-A INPUT -p tcp -m tcp --dport 22 -s fd00:ffff::/64 -j ACCEPT", "COMMIT", ""]
    nft = [
        "table inet app {",
        "  chain input {",
        "    type filter hook input priority 10; policy accept;",
    ]
    for n in range(max(10, rules // 10)):
        nft.append(f"    ip saddr 192.168.{n}.0/24 tcp dport {{ 8080, 8443 }} accept")
    nft += ["    tcp dport 9090 drop", "  }", "}", ""]
    return "\n".join(head + body), "\n".join(v6), "\n".join(nft)


class Fleet:
    def __init__(self, hosts: int, rules: int, nft_only: bool = False) -> None:
        self.hosts = hosts
        self.netns = f"fwbench{os.getpid() % 100000}"
        self.dir = Path(tempfile.mkdtemp(prefix="fwcheck-fleet-bench-"))
        self.dir.chmod(0o755)
        self.addresses = [f"127.1.{i // 250}.{i % 250 + 1}" for i in range(hosts)]
        self.sshds: list[subprocess.Popen[bytes]] = []
        run(["ip", "netns", "add", self.netns])
        run(["ip", "link", "set", "lo", "up"], netns=self.netns)
        v4, v6, nft = ruleset(rules)
        if not nft_only:
            run(["iptables-nft-restore"], netns=self.netns, input=v4.encode())
            run(["ip6tables-nft-restore"], netns=self.netns, input=v6.encode())
        run(["nft", "-f", "-"], netns=self.netns, input=nft.encode())
        dump = run(["iptables-nft-save"], netns=self.netns)
        self.rule_lines = sum(1 for line in dump.splitlines() if line.startswith(b"-A "))
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.dir / "host_key")])
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.dir / "client")])
        (self.dir / "authorized_keys").write_text((self.dir / "client.pub").read_text())
        host_pub = " ".join((self.dir / "host_key.pub").read_text().split()[:2])
        (self.dir / "known_hosts").write_text(
            "".join(f"{address} {host_pub}\n" for address in self.addresses)
        )
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        sshd = shutil.which("sshd") or "/usr/sbin/sshd"
        for index in range(0, hosts, LISTEN_PER_SSHD):
            group = self.addresses[index : index + LISTEN_PER_SSHD]
            config = self.dir / f"sshd-{index}.conf"
            config.write_text(
                SSHD_CONFIG.format(
                    addresses="\nListenAddress ".join(f"{a}:22" for a in group),
                    dir=self.dir,
                    index=index,
                )
            )
            self.sshds.append(
                subprocess.Popen(
                    ["ip", "netns", "exec", self.netns, sshd, "-D", "-e", "-f", str(config)],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        self._wait_up()
        (self.dir / "hosts.txt").write_text("".join(f"{a}\n" for a in self.addresses))
        inventory = [
            "version: 1",
            f"known_hosts: {self.dir / 'known_hosts'}",
            "defaults:",
            "  timeout_s: 120",
            "  roles: [baseline]",
            f"  ssh: {{user: root, key_file: {self.dir / 'client'}, use_agent: false}}",
            "hosts:",
        ]
        inventory += [f"  host-{i:05d}: {{address: {a}}}" for i, a in enumerate(self.addresses)]
        (self.dir / "inventory.yaml").write_text("\n".join(inventory) + "\n")
        from checker.collectors.script import SCRIPT

        (self.dir / "collect.sh").write_text(SCRIPT)

    def _wait_up(self) -> None:
        probe = (
            "import socket,sys,time\n"
            "end=time.time()+30\n"
            "for a in sys.argv[1:]:\n"
            "  while True:\n"
            "    try:\n"
            "      socket.create_connection((a,22),1).close();break\n"
            "    except OSError:\n"
            "      if time.time()>end: sys.exit('sshd on '+a+' did not come up')\n"
            "      time.sleep(0.05)\n"
        )
        run([sys.executable, "-c", probe, *self.addresses], netns=self.netns)

    def ssh_argv(self) -> list[str]:
        return [
            "ssh",
            "-o", "BatchMode=yes",
            "-o", f"UserKnownHostsFile={self.dir / 'known_hosts'}",
            "-o", "GlobalKnownHostsFile=/dev/null",
            "-o", "StrictHostKeyChecking=yes",
            "-o", "ConnectTimeout=60",
            "-i", str(self.dir / "client"),
            "-l", "root",
        ]  # fmt: skip

    def stop(self) -> None:
        for process in self.sshds:
            process.terminate()
        for process in self.sshds:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        subprocess.run(["ip", "netns", "del", self.netns], capture_output=True, check=False)
        shutil.rmtree(self.dir, ignore_errors=True)


def timed(argv: list[str], **kwargs: object) -> tuple[float, int, int, float]:
    """(wall seconds, exit code, peak RSS in KiB, CPU seconds) of the process and its waited
    children."""
    started = time.perf_counter()
    process = subprocess.Popen(argv, **kwargs)  # type: ignore[call-overload]
    _pid, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    cpu_s = usage.ru_utime + usage.ru_stime
    return time.perf_counter() - started, process.returncode, usage.ru_maxrss, cpu_s


def floor(fleet: Fleet, concurrency: int, *, script: bool, text: str | None = None) -> float:
    remote = ["/bin/sh", "-s"] if script else ["iptables-save"]
    # -I%HOST% runs one ssh per host line. For the script floor, sh -c only redirects ssh's stdin
    # from the constant script file (xargs cannot give each command its own stdin). `text`: another
    # script than the shipped one (the --before tree's).
    path = fleet.dir / "collect.sh"
    if text is not None:
        path = fleet.dir / "collect-other.sh"
        path.write_text(text)
    prefix = ["sh", "-c", f'exec "$@" < {path}', "floor"] if script else []
    argv = [
        "xargs",
        "-P",
        str(concurrency),
        "-I%HOST%",
        *prefix,
        *fleet.ssh_argv(),
        "%HOST%",
        *remote,
    ]
    full = ["ip", "netns", "exec", fleet.netns, *argv]
    with open(fleet.dir / "hosts.txt", "rb") as hosts:
        wall, code, _, _ = timed(
            full, stdin=hosts, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
    if code != 0:
        raise RuntimeError(f"floor ({'script' if script else 'iptables-save'}) exited {code}")
    return wall


def fwcheck(
    fleet: Fleet,
    concurrency: int,
    *,
    history: str,
    cache: bool = True,
    tree: Path = REPO,
) -> tuple[float, int, int, float]:
    argv = [
        "ip", "netns", "exec", fleet.netns,
        sys.executable, "-m", "checker", "scan",
        "--inventory", str(fleet.dir / "inventory.yaml"),
        "--no-user-known-hosts",
        "--concurrency", str(concurrency),
        "--json", str(fleet.dir / "report.json"),
        "--history", str(fleet.dir / history),
        "--quiet",
    ]  # fmt: skip
    if not cache:
        argv.append("--no-cache")
    env = {**os.environ, "PYTHONPATH": str(tree)}
    wall, code, rss_kib, cpu_s = timed(argv, cwd=tree, stdout=subprocess.DEVNULL, env=env)
    if code not in (0, 1):
        raise RuntimeError(f"fwcheck scan exited {code}")
    return wall, code, rss_kib, cpu_s


def reused(fleet: Fleet) -> int:
    """How many hosts the last scan took from the verdict cache (its report's note)."""
    import json

    for note in json.loads((fleet.dir / "report.json").read_text())["notes"]:
        if note.startswith("verdict cache: "):
            return int(note.split()[2])
    return 0


def load() -> str:
    return f"load {os.getloadavg()[0]:.1f}"


def every_dump_script() -> str:
    """The collection script with every dump forced, as it ran before issue 16."""
    from checker.collectors.script import SCRIPT

    forced = SCRIPT
    for skip in ("|| nv4=0", "|| nv6=0", "&& lv4=0", "&& lv6=0"):
        assert skip in forced, skip
        forced = forced.replace(skip, "|| :" if skip.startswith("||") else "&& :")
    return forced


def before_script(tree: Path) -> str:
    """The collection script of another fwcheck tree (--before)."""
    done = subprocess.run(
        [sys.executable, "-c", "import sys; from checker.collectors.script import SCRIPT;"
         " sys.stdout.write(SCRIPT)"],
        env={**os.environ, "PYTHONPATH": str(tree)},
        cwd=tree,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )  # fmt: skip
    return done.stdout


def script_cost(fleet: Fleet, repeat: int, before: str | None) -> list[float]:
    """Wall seconds of `repeat` sequential runs in the namespace (no ssh) of: the shipped
    script, every dump forced, `iptables-save` alone, and the --before tree's script; alternated
    so machine load hits them alike."""
    from checker.collectors.script import SCRIPT

    cases: list[tuple[list[str], str]] = [
        (["/bin/sh", "-s"], SCRIPT),
        (["/bin/sh", "-s"], every_dump_script()),
        (["iptables-save"], ""),
    ]
    if before is not None:
        cases.append((["/bin/sh", "-s"], before))
    totals = [0.0] * len(cases)
    for _ in range(repeat):
        for index, (argv, text) in enumerate(cases):
            started = time.perf_counter()
            run(argv, netns=fleet.netns, input=text.encode())
            totals[index] += time.perf_counter() - started
    return totals


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", default="500")
    parser.add_argument("--rss-hosts", default="", help="e.g. 2000: first night only, peak RSS")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rules", type=int, default=300)
    parser.add_argument("--nft-only", action="store_true")
    parser.add_argument("--script-repeat", type=int, default=20)
    parser.add_argument("--script-only", action="store_true")
    parser.add_argument("--before", type=Path, help="another fwcheck tree, run as 'before'")
    parser.add_argument(
        "--rss-before", action="store_true", help="--before also at the --rss-hosts sizes"
    )
    args = parser.parse_args()
    old_script = before_script(args.before) if args.before else None
    if os.geteuid() != 0:
        print("needs root (network namespace, sshd)", file=sys.stderr)
        return 2
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    print(f"fleet bench: concurrency {args.concurrency}, {os.cpu_count()} CPUs, {load()}")
    rows = []
    rss_rows: list[tuple[int, int, int | None]] = []
    sizes = [int(n) for n in args.hosts.split(",")]
    big = [int(n) for n in args.rss_hosts.split(",") if n]
    for hosts in sizes + big:
        fleet = Fleet(hosts, args.rules, args.nft_only)
        print(
            f"N={hosts}: {len(fleet.sshds)} sshd processes x {LISTEN_PER_SSHD} loopback addresses,"
            f" {hosts} SSH targets (one connection each), {fleet.rule_lines} iptables rules/host",
            flush=True,
        )
        try:
            if hosts in big:
                _w, _c, rss, _cpu = fwcheck(
                    fleet, args.concurrency, history="rss.sqlite", cache=False
                )
                old = None
                if args.before and args.rss_before:
                    old = fwcheck(
                        fleet, args.concurrency, history="old.sqlite", cache=False, tree=args.before
                    )[2]
                rss_rows.append((hosts, rss, old))
                print(
                    f"  first night (no cache): peak RSS {rss / 1024:6.1f} MB"
                    + (f" (before: {old / 1024:6.1f} MB)" if old else "")
                    + f" | {load()}",
                    flush=True,
                )
                continue
            costs = script_cost(fleet, args.script_repeat, old_script)
            shipped, forced, dump = costs[:3]
            kind = "nft-only host" if args.nft_only else "iptables-nft + ip6tables-nft + nft host"
            print(
                f"  collection script on the target ({kind}), {args.script_repeat} runs, no ssh:"
                f" shipped {shipped:6.2f} s | every dump {forced:6.2f} s (ratio"
                f" {shipped / forced:4.2f}) | iptables-save alone {dump:6.2f} s (script ="
                f" {shipped / dump:4.1f}x)"
                + (
                    f" | before tree's script {costs[3]:6.2f} s (ratio {shipped / costs[3]:4.2f})"
                    if old_script is not None
                    else ""
                ),
                flush=True,
            )
            if args.script_only:
                continue
            base_a = floor(fleet, args.concurrency, script=False)
            print(f"  floor ssh iptables-save {base_a:6.2f} s | {load()}", flush=True)
            scripted = floor(fleet, args.concurrency, script=True)
            print(f"  ssh + collection script {scripted:6.2f} s | {load()}", flush=True)
            old_scripted = None
            if old_script is not None:
                old_scripted = floor(fleet, args.concurrency, script=True, text=old_script)
                print(f"  ssh + before tree's script {old_scripted:6.2f} s | {load()}", flush=True)
            first = fwcheck(fleet, args.concurrency, history="first.sqlite", cache=False)
            print(f"  first night (--no-cache) {first[0]:6.2f} s | {load()}", flush=True)
            old = None
            if args.before:
                old = fwcheck(
                    fleet, args.concurrency, history="old.sqlite", cache=False, tree=args.before
                )
                print(f"  first night, before tree {old[0]:6.2f} s | {load()}", flush=True)
            shared = fwcheck(fleet, args.concurrency, history="cached.sqlite")
            shared_hits = reused(fleet)
            print(
                f"  first night, cache on {shared[0]:6.2f} s ({shared_hits} of {hosts} reused"
                f" from the cache) | {load()}",
                flush=True,
            )
            second = fwcheck(fleet, args.concurrency, history="cached.sqlite")
            second_hits = reused(fleet)
            print(
                f"  second night {second[0]:6.2f} s ({second_hits} of {hosts} from the cache)"
                f" | {load()}",
                flush=True,
            )
            base_b = floor(fleet, args.concurrency, script=False)
            print(f"  floor again {base_b:6.2f} s | {load()}", flush=True)
        finally:
            fleet.stop()
        base = (base_a + base_b) / 2
        rows.append((hosts, base, scripted, first, second, second_hits))
        script_line = (
            f"  ssh + script {scripted / base:4.2f}x floor"
            + (
                f" (before tree's script {old_scripted:6.2f} s, {old_scripted / base:4.2f}x)"
                if old_scripted is not None
                else ""
            )
            + "\n"
        )
        rss_rows.append((hosts, first[2], old[2] if old else None))
        print(
            f"N={hosts:4d}: floor {base:6.2f} s (mean of {base_a:.2f}, {base_b:.2f}) | ssh + script"
            f" {scripted:6.2f} s\n"
            + script_line
            + f"  first night  {first[0]:6.2f} s: {first[0] / base:4.2f}x floor (target <= 1.25),"
            f" {first[0] / scripted:4.2f}x ssh + script (target <= 1.05) | peak RSS"
            f" {first[2] / 1024:6.1f} MB | fwcheck CPU {first[3]:5.1f} s\n"
            + (
                f"  before tree  {old[0]:6.2f} s: {old[0] / base:4.2f}x floor,"
                f" {old[0] / scripted:4.2f}x ssh + script | peak RSS {old[2] / 1024:6.1f} MB\n"
                if old
                else ""
            )
            + f"  second night {second[0]:6.2f} s: {second[0] / base:4.2f}x floor (target <= 1.1),"
            f" {second_hits} of {hosts} hosts from the cache | fwcheck CPU {second[3]:5.1f} s",
            flush=True,
        )
    if len(rss_rows) > 1:
        (n0, rss0, old0), (n1, rss1, old1) = rss_rows[0], rss_rows[-1]
        print(
            f"peak RSS N={n1} / N={n0} (first night, no cache): {rss1 / 1024:.1f} / {rss0 / 1024:.1f}"
            f" MB = {rss1 / rss0:.2f}x (target <= 1.2)"
            + (f"; before: {old1 / old0:.2f}x" if old0 and old1 else "")
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
