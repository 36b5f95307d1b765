#!/usr/bin/env python3
"""Benchmark: `fwcheck scan` over a fleet of real sshd targets against OpenSSH's own client.

Setup (root; everything inside one network namespace this script creates and deletes):
  - a realistic firewall loaded with the real tools: an iptables-nft filter table of a few
    hundred rules (per-service user chains, allowlists with comments, conntrack, LOG+DROP),
    a nat table, ip6tables rules and a native nft table (`--rules` sets the size);
  - N SSH targets: real Debian sshd processes, each listening on 16 loopback addresses
    (127.1.x.y:22; sshd keeps at most 16 listen sockets, MAX_LISTEN_SOCKS), so N = 500 is 32
    sshd processes. Every target is a separate (address, host key entry) and a separate SSH
    connection; all of them dump the namespace's firewall (identical rulesets: fwcheck parses
    and checks each host's dump anew, nothing is cached across hosts).
Measured, one after the other, in this one run, for each N (default 50, 200, 500):
  - floor: `xargs -P C ssh root@HOST iptables-save` over every host (OpenSSH client, the same
    parallelism C as fwcheck's --concurrency);
  - script floor: the same, but ssh runs fwcheck's own collection script (what fwcheck's round
    trip costs on the target: nft -j, iptables-nft/legacy-save, ip6tables twins, ipset ...);
  - fwcheck: `fwcheck scan --concurrency C --json ... --history ...` (the shipped baseline
    policy, history on as by default) and its peak RSS (wait4's ru_maxrss).
Prints wall times, the ratio fwcheck / floor (target <= 1.5) and the peak RSS (< 300 MB at 500).
Before the fleet, the collection script's own cost on the target: --script-repeat runs of it in
the namespace (no ssh), as shipped (only the dumps that can show something) and with every dump
forced (as before issue 16), with their ratio. `--nft-only` loads only the native nft table (an
nft-only host: the iptables-nft and legacy dumps have nothing to show); `--script-only` stops there.
Not a test: run it by hand, as root, on an otherwise idle machine.

Usage: python bench/fleet.py [--hosts 50,200,500] [--concurrency 32] [--rules 300] [--nft-only]
       [--script-repeat 20] [--script-only]
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


def floor(fleet: Fleet, concurrency: int, *, script: bool) -> float:
    remote = ["/bin/sh", "-s"] if script else ["iptables-save"]
    # -I%HOST% runs one ssh per host line. For the script floor, sh -c only redirects ssh's stdin
    # from the constant script file (xargs cannot give each command its own stdin).
    prefix = ["sh", "-c", f'exec "$@" < {fleet.dir / "collect.sh"}', "floor"] if script else []
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


def fwcheck(fleet: Fleet, concurrency: int) -> tuple[float, int, int, float]:
    history = fleet.dir / "history.sqlite"
    argv = [
        "ip", "netns", "exec", fleet.netns,
        sys.executable, "-m", "checker", "scan",
        "--inventory", str(fleet.dir / "inventory.yaml"),
        "--no-user-known-hosts",
        "--concurrency", str(concurrency),
        "--json", str(fleet.dir / "report.json"),
        "--history", str(history),
        "--quiet",
    ]  # fmt: skip
    wall, code, rss_kib, cpu_s = timed(argv, cwd=REPO, stdout=subprocess.DEVNULL)
    if code not in (0, 1):
        raise RuntimeError(f"fwcheck scan exited {code}")
    return wall, code, rss_kib, cpu_s


def every_dump_script() -> str:
    """The collection script with every dump forced, as it ran before issue 16."""
    from checker.collectors.script import SCRIPT

    forced = SCRIPT
    for skip in ("|| nv4=0", "|| nv6=0", "&& lv4=0", "&& lv6=0"):
        assert skip in forced, skip
        forced = forced.replace(skip, "|| :" if skip.startswith("||") else "&& :")
    return forced


def script_cost(fleet: Fleet, repeat: int) -> tuple[float, float]:
    """(shipped, every dump forced): wall seconds of `repeat` sequential runs in the
    namespace, alternated so machine load hits both alike."""
    from checker.collectors.script import SCRIPT

    totals = [0.0, 0.0]
    for _ in range(repeat):
        for index, text in enumerate((SCRIPT, every_dump_script())):
            started = time.perf_counter()
            run(["/bin/sh", "-s"], netns=fleet.netns, input=text.encode())
            totals[index] += time.perf_counter() - started
    return totals[0], totals[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", default="50,200,500")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rules", type=int, default=300)
    parser.add_argument("--nft-only", action="store_true")
    parser.add_argument("--script-repeat", type=int, default=20)
    parser.add_argument("--script-only", action="store_true")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("needs root (network namespace, sshd)", file=sys.stderr)
        return 2
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    print(f"fleet bench: concurrency {args.concurrency}, {os.cpu_count()} CPUs")
    rows = []
    for hosts in (int(n) for n in args.hosts.split(",")):
        fleet = Fleet(hosts, args.rules, args.nft_only)
        try:
            shipped, forced = script_cost(fleet, args.script_repeat)
            kind = "nft-only host" if args.nft_only else "iptables-nft + ip6tables-nft + nft host"
            print(
                f"collection script on the target ({kind}), {args.script_repeat} runs: shipped"
                f" {shipped:6.2f} s | every dump {forced:6.2f} s | ratio {shipped / forced:4.2f}",
                flush=True,
            )
            if args.script_only:
                continue
            base = floor(fleet, args.concurrency, script=False)
            scripted = floor(fleet, args.concurrency, script=True)
            wall, code, rss, cpu_s = fwcheck(fleet, args.concurrency)
        finally:
            fleet.stop()
        rows.append((hosts, fleet.rule_lines, base, scripted, wall, rss))
        print(
            f"N={hosts:4d} ({fleet.rule_lines} iptables rules/host): floor ssh iptables-save "
            f"{base:6.2f} s | ssh + collection script {scripted:6.2f} s | fwcheck scan {wall:6.2f} s "
            f"(exit {code}) | ratio {wall / base:4.2f} (vs script floor {wall / scripted:4.2f}) | "
            f"peak RSS {rss / 1024:6.1f} MB | fwcheck CPU {cpu_s:5.1f} s",
            flush=True,
        )
    if not rows:
        return 0
    worst = max(w / b for _, _, b, _, w, _ in rows)
    last_rss = rows[-1][5] / 1024
    print(
        f"targets: ratio <= 1.5 (worst {worst:.2f}: {'met' if worst <= 1.5 else 'NOT met'}); "
        f"peak RSS < 300 MB at N={rows[-1][0]} ({last_rss:.0f} MB: "
        f"{'met' if last_rss < 300 else 'NOT met'})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
