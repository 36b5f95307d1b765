"""Rulesets made by the real firewall generators, not by us, and what each must be asked.

Each `Generator` writes the tool's configuration into the test's own directory and returns the
plan that oracle_confine.py runs inside the host namespace, with the tool's state directories
(/etc/ufw, /etc/firewalld, /etc/shorewall, /etc/fail2ban, /var/lib/…, /run) bound or tmpfs-mounted
privately, so the host's /etc and firewall are never touched. Its `needs` are the requirements
derived from the rules it generates: allow and deny, inbound and outbound, TCP, UDP, ICMP echo,
IPv4 and IPv6, single ports, one peer and one local address each.

Docker: dockerd is not run (docker.io is large, and the daemon wants its own cgroups, storage
driver and bridge, more than a CI job's minutes inside a namespace); the chains Docker documents
(https://docs.docker.com/engine/network/packet-filtering-firewalls/: DOCKER-USER, DOCKER,
DOCKER-ISOLATION-STAGE-1/2, the nat DOCKER chain reached through `-m addrtype --dst-type LOCAL`)
are loaded with iptables-restore instead, as dockerd 20.10 writes them for one container
publishing 8080->80, the container being a third namespace (`Backend`). kube-proxy: the bench
generator's iptables-mode rules (bench/kube_proxy.py) loaded into the kernel, its pods in a third
namespace.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from oracle_topology import HOST_IFACE, host_addresses, peer_addresses

TCP, UDP = 6, 17
GRE, ESP = 47, 50  # other IP protocols, probed with raw datagrams
ICMP = {4: 1, 6: 58}
NFT_EXAMPLES = Path("/usr/share/doc/nftables/examples")
SHOREWALL_SAMPLE = Path("/usr/share/doc/shorewall/examples/two-interfaces")
# The D-Bus system bus firewalld talks to: our own, on a socket in the private /run.
BUS_CONFIG = """\
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=/run/dbus/system_bus_socket</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
"""


@dataclass(frozen=True, slots=True)
class Need:
    """One requirement: `expect` for flows from peer address `remote` to host address `local`
    (indices into the topology's address lists; swapped roles for outbound)."""

    name: str
    expect: str  # allow | deny
    direction: str  # inbound | outbound
    family: int
    proto: int
    port: int = 0  # 0 for ICMP echo
    remote: int = 0
    local: int = 0
    # A destination that is not the host's but which the host translates (a Kubernetes service
    # IP): the flow is DNATed to the backend namespace, and the kernel's verdict is whether the
    # TCP handshake with the backend's listener completed. (A flow merely routed through the
    # host is not asked about: fwcheck's inbound questions are about the host's own addresses.)
    through: str = ""

    @property
    def remote_address(self) -> str:
        return peer_addresses(self.family)[self.remote]

    @property
    def local_address(self) -> str:
        return self.through or host_addresses(self.family)[self.local]


@dataclass(frozen=True, slots=True)
class Backend:
    """A third namespace behind the host (containers, pods): a veth `host_iface` (in the host
    namespace, with `host_cidr`) to `backend_iface` (with `addresses`), the host forwarding, the
    backend's default route through the host, and the peer's routes for `peer_routes` through
    the host. A listening agent serves `ports` there."""

    host_iface: str
    host_cidr: str
    backend_iface: str
    addresses: tuple[str, ...]
    peer_routes: tuple[str, ...]
    ports: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Generator:
    tool: str
    config: str
    exports: tuple[str, ...]  # iptables4 | iptables6 | legacy4 | legacy6 | nft | ipset
    needs: tuple[Need, ...]
    # Writes the tool's files under the work directory; returns the oracle_confine plan.
    build: Callable[[Path], dict]
    # Extra veth pairs made inside the host namespace first (interfaces the config names).
    links: tuple[tuple[str, str], ...] = field(default=())
    requires: tuple[str, ...] = ()  # commands that must be installed
    backend: Backend | None = None

    @property
    def id(self) -> str:
        return f"{self.tool}-{self.config}"


def need(
    expect: str,
    direction: str,
    family: int,
    proto: int,
    port: int = 0,
    remote: int = 0,
    local: int = 0,
    through: str = "",
) -> Need:
    kind = {TCP: "tcp", UDP: "udp"}.get(proto, "ping" if proto == ICMP[family] else str(proto))
    where = (
        f"{kind}{port or ''}" + (f"-r{remote}" if remote else "") + (f"-l{local}" if local else "")
    )
    if through:
        where += f"-to-{through}"
    return Need(
        f"{expect}-{direction[:3]}-v{family}-{where}",
        expect,
        direction,
        family,
        proto,
        port,
        remote,
        local,
        through,
    )


def both(
    expect: str, direction: str, proto: str | int, port: int = 0, remote: int = 0, local: int = 0
) -> list[Need]:
    out = []
    for family in (4, 6):
        number = ICMP[family] if proto == "ping" else int(proto)
        out.append(need(expect, direction, family, number, port, remote, local))
    return out


def _step(*argv: str, timeout: int = 60, ok: tuple[int, ...] = (0,)) -> dict:
    return {"argv": list(argv), "timeout": timeout, "ok": list(ok)}


def _copy_tree(source: Path, target: Path) -> Path:
    shutil.copytree(source, target, symlinks=True)
    return target


# --- ufw ---------------------------------------------------------------------------------------

UFW_RULES = (
    ("allow", "22/tcp"),
    ("allow", "from", "198.51.100.2", "to", "any", "port", "5432", "proto", "tcp"),
    ("allow", "from", "2001:db8:1::2", "to", "any", "port", "5432", "proto", "tcp"),
    ("deny", "3306"),
    ("reject", "25/tcp"),
    ("limit", "8080/tcp"),
    ("allow", "in", "on", HOST_IFACE, "to", "any", "port", "53", "proto", "udp"),
    ("deny", "from", "198.51.100.66", "to", "any", "port", "443"),
    ("allow", "443/tcp"),
    ("allow", "from", "2001:db8:1::2", "to", "any", "port", "1000", "proto", "udp"),
    ("allow", "proto", "tcp", "from", "198.51.100.0/25", "to", "198.51.100.129", "port", "1002"),
    ("deny", "out", "1001/tcp"),
    ("reject", "out", "to", "198.51.100.200", "port", "80", "proto", "tcp"),
    ("allow", "proto", "gre", "from", "198.51.100.2"),
)


def _ufw(work: Path) -> dict:
    etc = _copy_tree(Path("/etc/ufw"), work / "etc-ufw")
    # The package's pristine rule files, whatever the machine's /etc/ufw holds.
    for name in (
        "before.rules",
        "before6.rules",
        "after.rules",
        "after6.rules",
        "user.rules",
        "user6.rules",
        "ufw.conf",
    ):
        shutil.copyfile(Path("/usr/share/ufw") / name, etc / name)
    default = work / "default-ufw"
    text = Path("/etc/default/ufw").read_text()
    default.write_text(text.replace("IPV6=no", "IPV6=yes"))
    steps = [_step("ufw", "--force", "enable")]
    steps += [_step("ufw", *rule) for rule in UFW_RULES]
    steps.append(_step("ufw", "status", "verbose"))
    return {
        "binds": [[str(etc), "/etc/ufw"], [str(default), "/etc/default/ufw"]],
        "tmpfs": ["/run"],
        "steps": steps,
    }


UFW = Generator(
    "ufw",
    "default-ipv6-varied",
    ("iptables4", "iptables6"),
    (
        *both("allow", "inbound", TCP, 22),
        need("allow", "inbound", 4, TCP, 5432),
        need("deny", "inbound", 4, TCP, 5432, remote=1),
        need("allow", "inbound", 6, TCP, 5432),
        need("deny", "inbound", 6, TCP, 5432, remote=2),
        *both("deny", "inbound", TCP, 3306),
        *both("deny", "inbound", UDP, 3306),
        *both("deny", "inbound", TCP, 25),
        *both("allow", "inbound", TCP, 8080),  # limit: `recent`, indeterminate
        *both("allow", "inbound", UDP, 53),
        *both("deny", "inbound", TCP, 443, remote=1),
        *both("allow", "inbound", TCP, 443, remote=2),
        need("allow", "inbound", 6, UDP, 1000),
        need("deny", "inbound", 4, UDP, 1000),
        need("allow", "inbound", 4, TCP, 1002, local=1),
        need("deny", "inbound", 4, TCP, 1002, local=0),
        need("deny", "inbound", 4, TCP, 1002, remote=2, local=1),
        *both("deny", "inbound", UDP, 68),  # before.rules: udp sport 67 dport 68 accepted
        *both("deny", "inbound", TCP, 80),
        *both("allow", "inbound", "ping"),
        *both("deny", "outbound", TCP, 1001),
        *both("allow", "outbound", TCP, 80),
        need("deny", "outbound", 4, TCP, 80, remote=2),
        *both("allow", "outbound", UDP, 53),
        *both("allow", "outbound", "ping"),
        need("allow", "inbound", 4, GRE),
        need("deny", "inbound", 4, GRE, remote=1),
        need("deny", "inbound", 6, GRE),
    ),
    _ufw,
    requires=("ufw",),
)


# The same ufw rules as a user of iptables-nft may export them: `nft -j list ruleset`. The
# iptables matches nft cannot express natively (addrtype, recent, limit, rt …) are opaque `xt`
# blobs there, so most verdicts are indeterminate; none may be wrong.
UFW_NFT_JSON = dataclasses.replace(UFW, config="default-ipv6-varied-nft-json", exports=("nft",))


# --- firewalld ---------------------------------------------------------------------------------

FIREWALLD_OFFLINE = (
    ("--zone=public", f"--add-interface={HOST_IFACE}"),
    ("--zone=public", "--add-service=http"),
    ("--zone=public", "--add-port=8443/tcp"),
    ("--zone=public", "--add-port=1000/udp"),
    (
        "--zone=public",
        "--add-rich-rule=rule family=ipv4 source address=198.51.100.2/32 "
        "port port=5432 protocol=tcp accept",
    ),
    (
        "--zone=public",
        "--add-rich-rule=rule family=ipv6 source address=2001:db8:1::2 "
        "port port=5432 protocol=tcp accept",
    ),
    (
        "--zone=public",
        "--add-rich-rule=rule family=ipv4 source address=198.51.100.66 service name=http reject",
    ),
    ("--zone=public", "--add-rich-rule=rule family=ipv4 source address=198.51.100.200 drop"),
    (
        "--zone=public",
        "--add-rich-rule=rule family=ipv6 source address=2001:db8:1::c8 "
        "port port=8443 protocol=tcp drop",
    ),
    ("--zone=public", "--add-icmp-block=echo-request"),
    ("--zone=public", "--add-protocol=gre"),
    ("--new-zone=trusted-peers",),
    ("--zone=trusted-peers", "--add-source=198.51.100.64/26"),
    ("--zone=trusted-peers", "--add-port=3306/tcp"),
)


def _firewalld(work: Path) -> dict:
    etc = _copy_tree(Path("/etc/firewalld"), work / "etc-firewalld")
    conf = etc / "firewalld.conf"
    lines = [
        line
        for line in conf.read_text().splitlines()
        if not line.startswith(("FirewallBackend=", "IPv6_rpfilter=", "CleanupOnExit="))
    ]
    # rpfilter (a `fib` match) is on by default and is indeterminate by design: the second
    # configuration keeps it; this one is about the zones and rich rules.
    conf.write_text(
        "\n".join([*lines, "FirewallBackend=nftables", "IPv6_rpfilter=no", "CleanupOnExit=yes", ""])
    )
    bus = work / "bus.conf"
    bus.write_text(BUS_CONFIG)
    return _firewalld_plan(etc, bus, FIREWALLD_OFFLINE)


def _firewalld_plan(etc: Path, bus: Path, offline: tuple[tuple[str, ...], ...]) -> dict:
    return {
        "binds": [[str(etc), "/etc/firewalld"]],
        "tmpfs": ["/run", "/var/log"],
        "steps": [
            _step("mkdir", "-p", "/run/dbus"),
            *(_step("firewall-offline-cmd", *args) for args in offline),
        ],
        "daemons": [
            {
                "argv": ["dbus-daemon", f"--config-file={bus}", "--nofork", "--nopidfile"],
                "ready": ["test", "-S", "/run/dbus/system_bus_socket"],
                "timeout": 20,
            },
            {
                "argv": ["firewalld", "--nofork", "--nopid", "--log-target", "console"],
                "ready": ["firewall-cmd", "--state"],
                "timeout": 90,
            },
        ],
        "after": [_step("firewall-cmd", "--list-all-zones")],
    }


def _firewalld_rpfilter(work: Path) -> dict:
    etc = _copy_tree(Path("/etc/firewalld"), work / "etc-firewalld")
    conf = etc / "firewalld.conf"
    lines = [
        line
        for line in conf.read_text().splitlines()
        if not line.startswith(("FirewallBackend=", "IPv6_rpfilter="))
    ]
    conf.write_text("\n".join([*lines, "FirewallBackend=nftables", "IPv6_rpfilter=yes", ""]))
    bus = work / "bus.conf"
    bus.write_text(BUS_CONFIG)
    return _firewalld_plan(
        etc, bus, (("--zone=public", f"--add-interface={HOST_IFACE}"), ("--add-service=https",))
    )


FIREWALLD = Generator(
    "firewalld",
    "zones-rich-rules",
    ("nft",),
    (
        *both("allow", "inbound", TCP, 22),
        *both("allow", "inbound", TCP, 80),
        need("deny", "inbound", 4, TCP, 80, remote=1),
        need("allow", "inbound", 6, TCP, 80, remote=1),
        *both("allow", "inbound", TCP, 8443),
        need("deny", "inbound", 6, TCP, 8443, remote=2),
        *both("allow", "inbound", UDP, 1000),
        need("deny", "inbound", 4, UDP, 1000, remote=2),
        *both("deny", "inbound", UDP, 53),
        *both("deny", "inbound", TCP, 443),
        need("allow", "inbound", 4, TCP, 5432),
        need("deny", "inbound", 4, TCP, 5432, remote=1),
        need("allow", "inbound", 6, TCP, 5432),
        need("deny", "inbound", 6, TCP, 5432, remote=1),
        need("allow", "inbound", 4, TCP, 3306, remote=1),  # the trusted-peers zone
        need("deny", "inbound", 4, TCP, 3306),
        need("deny", "inbound", 4, TCP, 22, remote=1),  # source zone has no ssh
        need("deny", "inbound", 4, TCP, 22, remote=2),
        *both("deny", "inbound", "ping"),
        *both("allow", "inbound", GRE),
        *both("deny", "inbound", ESP),
        *both("allow", "outbound", TCP, 443),
        *both("allow", "outbound", UDP, 53),
        *both("allow", "outbound", "ping"),
    ),
    _firewalld,
    requires=("firewalld", "firewall-offline-cmd", "dbus-daemon"),
)

FIREWALLD_RPFILTER = Generator(
    "firewalld",
    "rpfilter-default",
    ("nft",),
    (
        *both("allow", "inbound", TCP, 22),
        *both("allow", "inbound", TCP, 443),  # IPv6: rpfilter's `fib` lookup, indeterminate
        *both("deny", "inbound", TCP, 80),
        *both("allow", "inbound", "ping"),
        *both("allow", "outbound", TCP, 80),
    ),
    _firewalld_rpfilter,
    requires=("firewalld", "firewall-offline-cmd", "dbus-daemon"),
)


# --- ferm --------------------------------------------------------------------------------------

FERM_CONF = f"""\
domain (ip ip6) table filter {{
    chain INPUT {{
        policy DROP;
        mod conntrack ctstate INVALID DROP;
        mod conntrack ctstate (RELATED ESTABLISHED) ACCEPT;
        interface lo ACCEPT;
        proto tcp dport (ssh http https) ACCEPT;
        proto udp sport ntp dport 1000 ACCEPT;
        proto tcp dport 3306 REJECT reject-with tcp-reset;
        proto udp @subchain "dns" {{
            dport domain ACCEPT;
            dport 1001 REJECT;
        }}
        interface {HOST_IFACE} proto tcp dport 8080 jump web;
        proto gre ACCEPT;
    }}
    chain web {{
        saddr (198.51.100.64/26 2001:db8:1::40/122) RETURN;
        ACCEPT;
    }}
    chain OUTPUT {{
        policy ACCEPT;
        proto tcp dport 1001 REJECT;
    }}
}}
domain ip table filter chain INPUT {{
    saddr 198.51.100.0/25 proto tcp dport 5432 ACCEPT;
    proto icmp icmp-type echo-request ACCEPT;
}}
domain ip6 table filter chain INPUT {{
    saddr 2001:db8:1::/121 proto tcp dport 5432 ACCEPT;
    proto ipv6-icmp ACCEPT;
}}
"""


def _ferm(work: Path) -> dict:
    conf = work / "ferm.conf"
    conf.write_text(FERM_CONF)
    return {"tmpfs": ["/run"], "steps": [_step("ferm", "--fast", str(conf))]}


# ferm 2.5 drives iptables-legacy-restore when it is installed (Debian's iptables package ships
# it); a user then saves with iptables-legacy-save, as iptables-save's warning says.
FERM = Generator(
    "ferm",
    "subchains-domains",
    ("legacy4", "legacy6"),
    (
        *both("allow", "inbound", TCP, 22),
        *both("allow", "inbound", TCP, 443),
        *both("deny", "inbound", TCP, 25),
        *both("deny", "inbound", UDP, 1000),  # only from source port 123 (ntp)
        *both("deny", "inbound", TCP, 3306),
        *both("allow", "inbound", UDP, 53),
        *both("deny", "inbound", UDP, 1001),
        *both("allow", "inbound", TCP, 8080),
        *both("deny", "inbound", TCP, 8080, remote=1),
        *both("allow", "inbound", TCP, 5432),
        *both("deny", "inbound", TCP, 5432, remote=2),
        *both("allow", "inbound", "ping"),
        *both("deny", "outbound", TCP, 1001),
        *both("allow", "outbound", TCP, 80),
        *both("allow", "inbound", GRE),
        *both("deny", "inbound", ESP),
    ),
    _ferm,
    requires=("ferm",),
)


# --- shorewall ---------------------------------------------------------------------------------

LOC_IFACE = "loc0"


def _shorewall(work: Path) -> dict:
    etc = _copy_tree(SHOREWALL_SAMPLE, work / "etc-shorewall")
    for annotated in etc.glob("*.annotated"):
        annotated.unlink()
    (etc / "README.txt").unlink(missing_ok=True)
    # The sample names eth0 (net) and eth1 (loc): ours are the veth to the peer and a spare one.
    interfaces = etc / "interfaces"
    interfaces.write_text(
        interfaces.read_text()
        .replace("physical=eth0", f"physical={HOST_IFACE}")
        .replace("physical=eth1", f"physical={LOC_IFACE}")
    )
    conf = etc / "shorewall.conf"
    conf.write_text(
        conf.read_text()
        .replace("STARTUP_ENABLED=No", "STARTUP_ENABLED=Yes")
        .replace("LOGFILE=/var/log/messages", "LOGFILE=/var/log/shorewall.log")
    )
    rules = etc / "rules"
    # The sample's rules plus two services the net zone may reach.
    rules.write_text(
        rules.read_text()
        + "Web(ACCEPT)\tnet\t\t$FW\n"
        + "ACCEPT\t\tnet:198.51.100.2\t$FW\ttcp\t5432\n"
    )
    state = work / "var-lib-shorewall"
    state.mkdir()
    return {
        "binds": [[str(etc), "/etc/shorewall"], [str(state), "/var/lib/shorewall"]],
        "tmpfs": ["/run", "/var/log"],
        "steps": [_step("mkdir", "-p", "/run/lock"), _step("shorewall", "start", timeout=120)],
    }


SHOREWALL = Generator(
    "shorewall",
    "two-interfaces",
    ("iptables4",),
    (
        need("deny", "inbound", 4, TCP, 22),
        need("allow", "inbound", 4, TCP, 80),
        need("allow", "inbound", 4, TCP, 443),
        need("deny", "inbound", 4, UDP, 53),
        need("allow", "inbound", 4, TCP, 5432),
        need("deny", "inbound", 4, TCP, 5432, remote=1),
        need("deny", "inbound", 4, UDP, 67),
        need("deny", "inbound", 4, ICMP[4]),
        need("allow", "outbound", 4, UDP, 53),
        need("allow", "outbound", 4, TCP, 53),
        need("allow", "outbound", 4, TCP, 443),
        need("allow", "outbound", 4, ICMP[4]),
    ),
    _shorewall,
    links=((LOC_IFACE, "loc0p"),),
    requires=("shorewall",),
)


# --- fail2ban ----------------------------------------------------------------------------------

F2B_SOCKET = "/run/fail2ban/fail2ban.sock"
F2B_BANS = (
    ("multi", "198.51.100.66"),
    ("multi", "2001:db8:1::42"),
    ("sets", "198.51.100.200"),
    ("sets", "2001:db8:1::c8"),
)


def _fail2ban(work: Path) -> dict:
    etc = _copy_tree(Path("/etc/fail2ban"), work / "etc-fail2ban")
    (etc / "jail.d").mkdir(exist_ok=True)
    for extra in (etc / "jail.d").iterdir():
        extra.unlink()  # Debian enables an sshd jail on /var/log/auth.log: not ours
    log = work / "auth.log"
    log.write_text("")
    (etc / "fail2ban.local").write_text(
        "[Definition]\nlogtarget = STDOUT\nsocket = "
        f"{F2B_SOCKET}\npidfile = /run/fail2ban/fail2ban.pid\ndbfile = :memory:\n"
    )
    (etc / "jail.local").write_text(
        "[DEFAULT]\nbackend = polling\nallowipv6 = auto\nbantime = 3600\n\n"
        f"[multi]\nenabled = true\nfilter = sshd\nlogpath = {log}\nport = 22,80\n"
        "banaction = iptables-multiport\nbanaction_allports = iptables-allports\n\n"
        f"[sets]\nenabled = true\nfilter = sshd\nlogpath = {log}\nport = 443,8080\n"
        "banaction = iptables-ipset-proto6\n"
    )
    client = ("fail2ban-client", "-c", "/etc/fail2ban", "-s", F2B_SOCKET)
    return {
        "binds": [[str(etc), "/etc/fail2ban"]],
        "tmpfs": ["/run", "/var/lib/fail2ban"],
        "steps": [_step("mkdir", "-p", "/run/fail2ban")],
        "daemons": [
            {
                "argv": ["fail2ban-server", "-f", "-x", "-c", "/etc/fail2ban", "-s", F2B_SOCKET],
                "ready": [*client, "ping"],
                "timeout": 60,
            }
        ],
        "after": [
            *(_step(*client, "set", jail, "banip", address) for jail, address in F2B_BANS),
            _step(*client, "status", "multi"),
        ],
    }


FAIL2BAN = Generator(
    "fail2ban",
    "multiport-and-ipset",
    ("iptables4", "iptables6", "ipset"),
    (
        *both("deny", "inbound", TCP, 22, remote=1),
        *both("deny", "inbound", TCP, 80, remote=1),
        *both("allow", "inbound", TCP, 22),
        *both("allow", "inbound", TCP, 443, remote=1),
        *both("allow", "inbound", UDP, 22, remote=1),
        *both("deny", "inbound", TCP, 443, remote=2),
        *both("deny", "inbound", TCP, 8080, remote=2),
        *both("allow", "inbound", TCP, 80, remote=2),
        *both("allow", "inbound", TCP, 443),
    ),
    _fail2ban,
    requires=("fail2ban-server", "fail2ban-client", "ipset"),
)


# --- Debian's nftables examples ----------------------------------------------------------------

# Interfaces the examples name ("they must exist in the system"), as down veth pairs.
NFT_EXAMPLE_LINKS = (("eth0", "eth1"), ("eth2", "eth3"), ("bond0", "bond1"))

# sets_and_maps.nft opens with `delete table filter`: it expects the table to exist.
NFT_EXAMPLE_BEFORE = {"sets_and_maps": (("add", "table", "ip", "filter"),)}

GRID = (
    *both("allow", "inbound", TCP, 22),
    *both("allow", "inbound", TCP, 80),
    *both("allow", "inbound", TCP, 443),
    *both("allow", "inbound", TCP, 8080),
    *both("allow", "inbound", UDP, 53),
    *both("allow", "inbound", UDP, 123),
    *both("allow", "inbound", "ping"),
    *both("allow", "outbound", TCP, 80),
    *both("allow", "outbound", UDP, 53),
    *both("allow", "outbound", "ping"),
    *both("allow", "inbound", GRE),
    # Conntrack follows portless protocols by addresses alone: an outbound GRE datagram between
    # the same two addresses would make the inbound one a reply (ESTABLISHED). Other addresses.
    *both("allow", "outbound", GRE, remote=2, local=1),
)


def nft_examples() -> list[Path]:
    return sorted(NFT_EXAMPLES.glob("*.nft")) if NFT_EXAMPLES.is_dir() else []


def _nft_example(path: Path) -> Callable[[Path], dict]:
    def build(work: Path) -> dict:
        # include "./x.nft" is relative to the working directory nft runs in: a copy of the
        # directory keeps the example as shipped.
        copy = _copy_tree(NFT_EXAMPLES, work / "examples")
        step = _step("nft", "-I", str(copy), "-f", str(copy / path.name))
        before = [_step("nft", *argv) for argv in NFT_EXAMPLE_BEFORE.get(path.stem, ())]
        return {"steps": [*before, {**step, "cwd": str(copy)}]}

    return build


def _without_nat_table(path: Path) -> Callable[[Path], dict]:
    """load_balancing.nft's nat chain has priority -300, before conntrack (-200), where the
    kernel refuses nat chains (EOPNOTSUPP); its raw and netdev tables load without it."""

    def build(work: Path) -> dict:
        text = path.read_text()
        kept = [b for b in re.split(r"\n(?=table )", text) if not b.startswith("table ip nat")]
        copy = work / f"{path.stem}-without-nat.nft"
        copy.write_text("\n".join(kept))
        return {"steps": [_step("nft", "-f", str(copy))]}

    return build


def nft_example_generators() -> list[Generator]:
    return [
        Generator(
            "nft-example",
            path.stem,
            ("nft",),
            GRID,
            _nft_example(path),
            links=NFT_EXAMPLE_LINKS,
            requires=("nft",),
        )
        for path in nft_examples()
    ] + [
        Generator(
            "nft-example",
            f"{path.stem}-without-nat",
            ("nft",),
            GRID,
            _without_nat_table(path),
            links=NFT_EXAMPLE_LINKS,
            requires=("nft",),
        )
        for path in nft_examples()
        if path.name == "load_balancing.nft"
    ]


# --- Docker (documented chains) and kube-proxy (the bench generator) ----------------------------

# What dockerd 20.10 writes for `docker run -p 8080:80` of one container at 172.17.0.2 on the
# default bridge (https://docs.docker.com/engine/network/packet-filtering-firewalls/), plus the
# documented DOCKER-USER rule that keeps one source out. The bridge is a veth named docker0 here.
DOCKER_RULES = """\
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:DOCKER - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER
-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
-A POSTROUTING -s 172.17.0.2/32 -d 172.17.0.2/32 -p tcp -m tcp --dport 80 -j MASQUERADE
-A DOCKER -i docker0 -j RETURN
-A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:DOCKER - [0:0]
:DOCKER-ISOLATION-STAGE-1 - [0:0]
:DOCKER-ISOLATION-STAGE-2 - [0:0]
:DOCKER-USER - [0:0]
-A FORWARD -j DOCKER-USER
-A FORWARD -j DOCKER-ISOLATION-STAGE-1
-A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A FORWARD -o docker0 -j DOCKER
-A FORWARD -i docker0 ! -o docker0 -j ACCEPT
-A FORWARD -i docker0 -o docker0 -j ACCEPT
-A DOCKER -d 172.17.0.2/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 80 -j ACCEPT
-A DOCKER-ISOLATION-STAGE-1 -i docker0 ! -o docker0 -j DOCKER-ISOLATION-STAGE-2
-A DOCKER-ISOLATION-STAGE-1 -j RETURN
-A DOCKER-ISOLATION-STAGE-2 -o docker0 -j DROP
-A DOCKER-ISOLATION-STAGE-2 -j RETURN
-A DOCKER-USER -s 198.51.100.66/32 -j DROP
-A DOCKER-USER -j RETURN
COMMIT
"""


def _restore(name: str, text: str) -> Callable[[Path], dict]:
    def build(work: Path) -> dict:
        path = work / name
        path.write_text(text)
        return {"steps": [_step("iptables-restore", str(path))]}

    return build


DOCKER = Generator(
    "docker",
    "documented-chains-publish-8080",
    ("iptables4",),
    (
        need("allow", "inbound", 4, TCP, 8080),  # DNAT to the container, FORWARD accepts
        need("deny", "inbound", 4, TCP, 8080, remote=1),  # DOCKER-USER drops .66
        need("allow", "inbound", 4, TCP, 22),  # the host itself (INPUT ACCEPT)
        need("allow", "inbound", 4, TCP, 22, remote=1),
        need("allow", "outbound", 4, TCP, 443),
    ),
    _restore("docker.rules", DOCKER_RULES),
    requires=("iptables-restore",),
    backend=Backend(
        "docker0", "172.17.0.1/16", "eth0", ("172.17.0.2/16",), ("172.17.0.0/16",), (22, 80)
    ),
)

KUBE_SERVICES, KUBE_ENDPOINTS = 3, 2


def kube_proxy_rules() -> str:
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "bench" / "kube_proxy.py"
    spec = importlib.util.spec_from_file_location("fwcheck_bench_kube_proxy", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return str(module.generate(KUBE_SERVICES, KUBE_ENDPOINTS))


def _kube_services() -> list[tuple[str, int]]:
    """(cluster IP, port) of each service the bench generator made."""
    import re

    found = re.findall(
        r"-A KUBE-SERVICES -d (\S+)/32 -p tcp .* --dport (\d+) -j KUBE-SVC", kube_proxy_rules()
    )
    return [(ip, int(port)) for ip, port in found]


def _kube_needs() -> tuple[Need, ...]:
    out = [need("allow", "inbound", 4, TCP, port, through=ip) for ip, port in _kube_services()]
    out += [need("allow", "inbound", 4, TCP, 22), need("allow", "outbound", 4, TCP, 443)]
    return tuple(out)


def _kube_pods() -> tuple[str, ...]:
    # bench/kube_proxy.py puts endpoint e of service s at 10.244.0.(s * E + e + 2).
    return tuple(f"10.244.0.{n + 2}/16" for n in range(KUBE_SERVICES * KUBE_ENDPOINTS))


def _kube_build(work: Path) -> dict:
    return _restore("kube-proxy.rules", kube_proxy_rules())(work)


def kube_proxy_generator() -> Generator:
    ports = tuple(sorted({port for _, port in _kube_services()} | {22}))
    return Generator(
        "kube-proxy",
        f"bench-iptables-{KUBE_SERVICES}x{KUBE_ENDPOINTS}",
        ("iptables4",),
        _kube_needs(),
        _kube_build,
        requires=("iptables-restore",),
        backend=Backend("cni0", "10.244.0.1/16", "eth0", _kube_pods(), ("10.96.0.0/16",), ports),
    )


def all_generators() -> list[Generator]:
    return [
        UFW,
        UFW_NFT_JSON,
        FIREWALLD,
        FIREWALLD_RPFILTER,
        FERM,
        SHOREWALL,
        FAIL2BAN,
        DOCKER,
        kube_proxy_generator(),
        *nft_example_generators(),
    ]
