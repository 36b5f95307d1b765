"""The collection script runs only the dumps that can show something (issue 16): on an
nft-only host the iptables-nft and legacy dumps are skipped, and a skipped dump is one that,
run anyway, would have shown no table; firewall-cmd is not started on a host without a D-Bus
system bus; `ufw status` only where iptables holds ufw's chain, `ipset save` only where a rule
names a set. What was not run is said, with the reason. Real script, real nft / iptables / ufw /
ipset in test-made network namespaces (ufw and the script in a private mount namespace with a
tmpfs over /run, where ufw takes its lock)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator

import pytest
from needs_root import require_root

from checker.collectors import script
from checker.collectors.result import CollectResult
from checker.collectors.sources import sources_for

NFT_ONLY = b"table inet native {\n chain c {\n  type filter hook input priority 0;\n  tcp dport 9 drop\n }\n}\n"
LEGACY_V4 = b"*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp -m tcp --dport 23 -j DROP\nCOMMIT\n"
TRIMMED = (
    "iptables-nft-save",
    "iptables-legacy-save",
    "ip6tables-nft-save",
    "ip6tables-legacy-save",
)


def _exec(netns: str, *argv: str, data: bytes | None = None) -> bytes:
    done = subprocess.run(
        ["ip", "netns", "exec", netns, *argv],
        input=data,
        capture_output=True,
        timeout=30,
        check=True,
    )
    return done.stdout


@pytest.fixture
def namespace(request: pytest.FixtureRequest) -> Iterator[str]:
    require_root("the collection script in a network namespace")
    name = f"fwtrim{os.getpid() % 100000}{request.node.name[-6:].replace('[', '')}"[:15]
    subprocess.run(["ip", "netns", "add", name], check=True, timeout=10)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False, timeout=10)


def _collect(netns: str) -> CollectResult:
    framed = _exec(netns, *script.SHELL_ARGV, data=script.SCRIPT.encode())
    outputs = script.parse_framed(framed, started_at="2026-12-06T00:00:00Z")
    return CollectResult("h", outputs, None)


def test_an_nft_only_host_skips_the_iptables_dumps_and_loses_nothing(namespace: str) -> None:
    _exec(namespace, "nft", "-f", "-", data=NFT_ONLY)
    result = _collect(namespace)
    names = [o.name for o in result.outputs]
    assert "nft-json" in names
    for name in TRIMMED:
        assert name not in names
        # Run anyway, it shows no table: sources_for would have dropped it.
        assert b"\n*" not in b"\n" + _exec(namespace, name), name
    # The rules come from the nft JSON alone (the host's `ip -j addr` rides along as a source).
    origins = [origin for origin, _ in sources_for(result)]
    assert [o for o in origins if o != "h:ip-addr.json"] == ["h:nft-json.json"]


def test_legacy_and_nft_compat_tables_are_still_dumped(namespace: str) -> None:
    _exec(namespace, "iptables-legacy-restore", data=LEGACY_V4)
    _exec(namespace, "ip6tables-nft-restore", data=LEGACY_V4.replace(b"23", b"24"))
    result = _collect(namespace)
    legacy = result.output("iptables-legacy-save")
    compat6 = result.output("ip6tables-nft-save")
    assert legacy is not None and b"--dport 23" in legacy.data
    assert compat6 is not None and b"--dport 24" in compat6.data
    names = [o.name for o in result.outputs]
    assert "iptables-nft-save" not in names and "ip6tables-legacy-save" not in names


# A firewall-cmd that says what a stopped firewalld says (firewall-cmd(1), "Exit Codes": 252).
FAKE_FIREWALL_CMD = "#!/bin/sh\necho 'not running'\nexit 252\n"


def _collect_with_bus(netns: str, tmp: str, *, bus: bool) -> tuple[CollectResult, dict[str, str]]:
    """The script in a private mount namespace: a tmpfs over /run (with or without a unix socket
    at the D-Bus system bus's well-known path, /run/dbus/system_bus_socket) and a fake
    firewall-cmd bound over /usr/local/sbin (first on the script's PATH). The host's own /run
    and /usr/local/sbin are untouched."""
    tools = os.path.join(tmp, "sbin")
    os.makedirs(tools)
    with open(os.path.join(tools, "firewall-cmd"), "w") as fake:
        fake.write(FAKE_FIREWALL_CMD)
    os.chmod(os.path.join(tools, "firewall-cmd"), 0o755)
    socket_step = (
        "mkdir /run/dbus && python3 -c 'import socket;"
        ' socket.socket(socket.AF_UNIX).bind("/run/dbus/system_bus_socket")\' && '
        if bus
        else ""
    )
    setup = (
        'mount --bind "$1" /usr/local/sbin && mount -t tmpfs fwtrim-run /run && '
        + socket_step
        + 'shift && exec "$@"'
    )
    done = subprocess.run(
        ["ip", "netns", "exec", netns, "unshare", "--mount", "--propagation", "private"]
        + ["/bin/sh", "-c", setup, "sh", tools, *script.SHELL_ARGV],
        input=script.SCRIPT.encode(),
        capture_output=True,
        timeout=30,
        check=True,
        env={k: v for k, v in os.environ.items() if k != "DBUS_SYSTEM_BUS_ADDRESS"},
    )
    outputs, not_run = script.parse_sections(done.stdout, started_at="t")
    return CollectResult("h", outputs, None, not_run=not_run), {n.name: n.reason for n in not_run}


def test_without_a_system_bus_firewall_cmd_is_not_started_and_the_report_says_so(
    namespace: str, tmp_path: object
) -> None:
    result, reasons = _collect_with_bus(namespace, str(tmp_path), bus=False)
    assert result.output("firewalld") is None
    assert reasons["firewalld"].startswith("no D-Bus system bus")
    # With a bus, the same host asks firewall-cmd (the fake answers as a stopped firewalld).
    result, reasons = _collect_with_bus(namespace, str(tmp_path / "with-bus"), bus=True)  # type: ignore[operator]
    firewalld = result.output("firewalld")
    assert firewalld is not None and firewalld.exit_code == 252
    assert firewalld.data == b"not running\n" and "firewalld" not in reasons
    assert reasons["firewalld-zones"] == "firewalld is not running"


def _collect_private(netns: str) -> tuple[CollectResult, dict[str, str]]:
    outputs, not_run = script.parse_sections(_private(netns, *script.SHELL_ARGV), started_at="t")
    return CollectResult("h", outputs, None, not_run=not_run), {n.name: n.reason for n in not_run}


def _private(netns: str, *argv: str) -> bytes:
    """`argv` in `netns` with a private tmpfs over /run (ufw writes /run/ufw.lock)."""
    done = subprocess.run(
        ["ip", "netns", "exec", netns, "unshare", "--mount", "--propagation", "private"]
        + ["/bin/sh", "-c", 'mount -t tmpfs fwtrim-run /run && exec "$@"', "sh", *argv],
        input=script.SCRIPT.encode() if argv == script.SHELL_ARGV else None,
        capture_output=True,
        timeout=60,
        check=True,
    )
    return done.stdout


# What an active ufw loads first: its user chains, for IPv4 and IPv6 (ufw-framework(8)).
UFW_V4 = (
    b"*filter\n:INPUT ACCEPT [0:0]\n:ufw-user-input - [0:0]\n:ufw-user-output - [0:0]\n"
    b":ufw-user-forward - [0:0]\n-A INPUT -j ufw-user-input\n"
    b"-A ufw-user-input -p tcp -m tcp --dport 22 -j ACCEPT\nCOMMIT\n"
)


def test_ufw_is_asked_only_where_iptables_holds_its_chain(namespace: str) -> None:
    require_root("ufw in a network namespace")
    assert shutil.which("ufw"), "ufw is not installed (.ci/run installs it)"
    result, reasons = _collect_private(namespace)
    assert result.output("ufw") is None
    assert reasons["ufw"].startswith("no ufw-user-input chain")
    # Skipped only where the real ufw would have said nothing more.
    assert _private(namespace, "ufw", "status", "verbose") == b"Status: inactive\n"
    _exec(namespace, "iptables-restore", data=UFW_V4)
    _exec(namespace, "ip6tables-restore", data=UFW_V4.replace(b"ufw-", b"ufw6-"))
    result, reasons = _collect_private(namespace)
    ufw = result.output("ufw")
    assert ufw is not None and ufw.exit_code == 0 and "ufw" not in reasons
    assert ufw.data.startswith(b"Status: active\n")


SET_RULE = (
    b"*filter\n:INPUT ACCEPT [0:0]\n"
    b"-A INPUT -p tcp -m set --match-set fwtrim src -m tcp --dport 22 -j DROP\nCOMMIT\n"
)


def test_ipset_save_runs_only_where_a_rule_names_a_set(namespace: str) -> None:
    _exec(namespace, "ipset", "create", "fwtrim", "hash:ip")
    _exec(namespace, "ipset", "add", "fwtrim", "192.0.2.7")
    result, reasons = _collect_private(namespace)
    assert result.output("ipset-save") is None
    assert reasons["ipset-save"].startswith("no rule names an ipset set")
    _exec(namespace, "iptables-restore", data=SET_RULE)
    result, reasons = _collect_private(namespace)
    sets = result.output("ipset-save")
    assert sets is not None and b"add fwtrim 192.0.2.7" in sets.data
    # With the set's contents, the rule it is read by is decided: the set goes with the sources.
    assert any(o.endswith("ipset-save.txt") for o, _ in sources_for(result))


def test_a_failed_dump_keeps_ufw_and_ipset(namespace: str, tmp_path: object) -> None:
    """Where a dump failed, nothing is known from its silence: both are asked."""
    tools = os.path.join(str(tmp_path), "sbin")
    os.makedirs(tools)
    with open(os.path.join(tools, "iptables-nft-save"), "w") as fake:
        fake.write("#!/bin/sh\necho 'iptables-nft-save: permission denied' >&2\nexit 4\n")
    os.chmod(os.path.join(tools, "iptables-nft-save"), 0o755)
    _exec(
        namespace, "iptables-restore", data=SET_RULE.replace(b"-m set --match-set fwtrim src ", b"")
    )
    done = subprocess.run(
        ["ip", "netns", "exec", namespace, "unshare", "--mount", "--propagation", "private"]
        + [
            "/bin/sh",
            "-c",
            'mount --bind "$1" /usr/local/sbin && mount -t tmpfs r /run && shift && exec "$@"',
        ]
        + ["sh", tools, *script.SHELL_ARGV],
        input=script.SCRIPT.encode(),
        capture_output=True,
        timeout=60,
        check=True,
    )
    outputs, not_run = script.parse_sections(done.stdout, started_at="t")
    reasons = {n.name: n.reason for n in not_run}
    assert "ufw" not in reasons and "ipset-save" not in reasons
    assert any(o.name == "iptables-nft-save" and o.exit_code == 4 for o in outputs)
