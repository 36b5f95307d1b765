"""A real OpenSSH sshd in a network namespace the tests create, with real firewall rules loaded.

Everything here is real: Debian's /usr/sbin/sshd, generated host and client keys, test users made
with useradd (with a password, and sudoers entries with and without NOPASSWD), a veth pair
between the test's namespace and the lab's, iptables-nft, iptables-legacy, ip6tables, nft and
ipset rules loaded in the lab namespace. Teardown kills sshd, deletes the users, the sudoers
file and the namespace (which takes the veth with it).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

IPTABLES_NFT = """*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:ufw-user-input - [0:0]
-A INPUT -i lo -j ACCEPT
-A INPUT -p tcp -m tcp --dport 2222:2224 -j ACCEPT
-A INPUT -p tcp -m tcp --dport 23 -j DROP
-A INPUT -p tcp -m set --match-set admins src -m tcp --dport 8443 -j ACCEPT
COMMIT
"""
IPTABLES_LEGACY = """*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -p tcp -m tcp --dport 25 -j REJECT --reject-with icmp-port-unreachable
COMMIT
"""
IP6TABLES_NFT = """*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -p ipv6-icmp -j ACCEPT
-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT
COMMIT
"""
NFT_NATIVE = """table inet lab {
  chain input {
    type filter hook input priority 10; policy accept;
    tcp dport 8080 accept
    tcp dport 9090 drop
  }
}
"""

SSHD_CONFIG = """Port 2222
Port 2223
Port 2224
ListenAddress {address}
HostKey {dir}/ssh_host_ed25519_key
PidFile {dir}/sshd.pid
AuthorizedKeysFile {dir}/authorized/%u
StrictModes no
UsePAM no
PermitRootLogin prohibit-password
PasswordAuthentication yes
KbdInteractiveAuthentication no
MaxAuthTries 6
LoginGraceTime 30
PrintMotd no
Subsystem sftp internal-sftp
"""

# What the lab's firewalld and ufw clients answer. The collector's script puts /usr/local/sbin
# first on PATH; sshd runs in a private mount namespace with the lab's own folder bound over it,
# so these are the firewall-cmd and ufw every session finds, whether or not the machine running
# the tests has firewalld or ufw installed. firewall-cmd --state says "not running" with exit
# code 252 when firewalld is stopped (firewall-cmd(1), "Exit Codes"); ufw says "Status: inactive".
# (The script asks ufw only where iptables holds ufw's chain: IPTABLES_NFT has an empty one.)
FAKE_TOOLS = {
    "firewall-cmd": ("not running", 252),
    "ufw": ("Status: inactive", 0),
}
# The lab is a host with a D-Bus system bus (the script asks firewall-cmd only there): in sshd's
# private mount namespace a tmpfs over /run holds sshd's privilege separation folder and a unix
# socket at the bus's well-known path (nothing listens: the fake firewall-cmd never connects).
LAB_BUS = (
    "mount -t tmpfs -o mode=755 fwcheck-lab-run /run && mkdir -m 755 /run/sshd /run/dbus && "
    "python3 -c 'import socket; socket.socket(socket.AF_UNIX).bind(\"/run/dbus/system_bus_socket\")'"
)


def run(*argv: str, input: bytes | None = None, netns: str | None = None) -> bytes:
    full = (["ip", "netns", "exec", netns] if netns else []) + list(argv)
    done = subprocess.run(full, input=input, capture_output=True, timeout=30, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(full)} failed: {done.stderr.decode(errors='replace')}")
    return done.stdout


@dataclass
class SshLab:
    netns: str
    address: str
    dir: Path
    host_key_pub: str
    client_key: Path
    wrong_key: Path
    known_hosts: Path
    pw_user: str
    pw_password: str
    sudo_user: str
    process: subprocess.Popen[bytes]

    def hand(self, *argv: str) -> bytes:
        """Run a command in the lab namespace by hand (what an admin would export)."""
        return run(*argv, netns=self.netns)


def _wait_port(address: str, port: int, timeout_s: float) -> None:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        try:
            with socket.create_connection((address, port), timeout=0.5) as sock:
                sock.settimeout(2)
                if sock.recv(4).startswith(b"SSH-"):
                    return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"sshd did not come up on {address}:{port}")


def start() -> SshLab:
    """Start the lab in its own world-traversable folder (sshd reads users' authorized keys as
    those users, so pytest's 0700 tmp folders will not do); stop() removes it."""
    base = Path(tempfile.mkdtemp(prefix="fwcheck-sshlab-"))
    base.chmod(0o755)
    tag = f"{os.getpid() % 100000}"
    netns = f"fwcssh{tag}"
    third = os.getpid() % 250
    host_ip, lab_ip = f"198.18.{third}.1", f"198.18.{third}.2"
    run("ip", "netns", "add", netns)
    try:
        run(
            "ip",
            "link",
            "add",
            f"fwch{tag}",
            "type",
            "veth",
            "peer",
            "name",
            f"fwcn{tag}",
            "netns",
            netns,
        )
        run("ip", "addr", "add", f"{host_ip}/30", "dev", f"fwch{tag}")
        run("ip", "link", "set", f"fwch{tag}", "up")
        run("ip", "addr", "add", f"{lab_ip}/30", "dev", f"fwcn{tag}", netns=netns)
        run("ip", "link", "set", f"fwcn{tag}", "up", netns=netns)
        run("ip", "link", "set", "lo", "up", netns=netns)
        run("ipset", "create", "admins", "hash:ip", netns=netns)
        run("ipset", "add", "admins", "192.0.2.10", netns=netns)
        run("iptables-nft-restore", input=IPTABLES_NFT.encode(), netns=netns)
        run("iptables-legacy-restore", input=IPTABLES_LEGACY.encode(), netns=netns)
        run("ip6tables-nft-restore", input=IP6TABLES_NFT.encode(), netns=netns)
        run("nft", "-f", "-", input=NFT_NATIVE.encode(), netns=netns)

        (base / "authorized").mkdir(mode=0o755)
        run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(base / "ssh_host_ed25519_key"))
        run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(base / "client"))
        run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(base / "wrong"))
        host_pub = (base / "ssh_host_ed25519_key.pub").read_text().split()
        client_pub = (base / "client.pub").read_text()
        pw_user, sudo_user = f"fwcpw{tag}", f"fwcsu{tag}"
        for user in (pw_user, sudo_user):
            run("useradd", "-M", "-d", "/nonexistent", "-s", "/bin/sh", user)
        pw_password = "lab-" + os.urandom(6).hex()
        run(
            "chpasswd",
            input=f"{pw_user}:{pw_password}\n{sudo_user}:{os.urandom(8).hex()}\n".encode(),
        )
        for user in ("root", pw_user, sudo_user):
            (base / "authorized" / user).write_text(client_pub)
        sudoers = Path(f"/etc/sudoers.d/fwcheck-test-{tag}")
        sudoers.write_text(f"{sudo_user} ALL=(ALL) NOPASSWD: ALL\n{pw_user} ALL=(ALL) ALL\n")
        sudoers.chmod(0o440)
        run("visudo", "-cf", str(sudoers))
        tools = base / "local-sbin"
        tools.mkdir(mode=0o755)
        for tool, (text, code) in FAKE_TOOLS.items():
            (tools / tool).write_text(f"#!/bin/sh\necho '{text}'\nexit {code}\n")
            (tools / tool).chmod(0o755)
        known = base / "known_hosts"
        known.write_text(f"[{lab_ip}]:2222 {host_pub[0]} {host_pub[1]}\n")
        config = base / "sshd_config"
        config.write_text(SSHD_CONFIG.format(address=lab_ip, dir=base))
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        process = subprocess.Popen(
            [
                "ip",
                "netns",
                "exec",
                netns,
                "unshare",
                "--mount",
                "--propagation",
                "private",
                "/bin/sh",
                "-c",
                'mount --bind "$1" /usr/local/sbin && shift && ' + LAB_BUS + ' && exec "$@"',
                "sh",
                str(tools),
                shutil.which("sshd") or "/usr/sbin/sshd",
                "-D",
                "-e",
                "-f",
                str(config),
            ],
            stdout=subprocess.DEVNULL,
            stderr=open(base / "sshd.log", "wb"),  # noqa: SIM115 - closed when the process ends
        )
        _wait_port(lab_ip, 2222, 10)
        return SshLab(
            netns=netns,
            address=lab_ip,
            dir=base,
            host_key_pub=f"{host_pub[0]} {host_pub[1]}",
            client_key=base / "client",
            wrong_key=base / "wrong",
            known_hosts=known,
            pw_user=pw_user,
            pw_password=pw_password,
            sudo_user=sudo_user,
            process=process,
        )
    except BaseException:
        stop_named(netns, tag)
        shutil.rmtree(base, ignore_errors=True)
        raise


def stop_named(netns: str, tag: str) -> None:
    subprocess.run(["ip", "netns", "del", netns], capture_output=True, check=False)
    for user in (f"fwcpw{tag}", f"fwcsu{tag}"):
        subprocess.run(["userdel", user], capture_output=True, check=False)
    Path(f"/etc/sudoers.d/fwcheck-test-{tag}").unlink(missing_ok=True)


def stop(lab: SshLab) -> None:
    lab.process.terminate()
    try:
        lab.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        lab.process.kill()
        lab.process.wait(timeout=10)
    stop_named(lab.netns, lab.netns.removeprefix("fwcssh"))
    shutil.rmtree(lab.dir, ignore_errors=True)
