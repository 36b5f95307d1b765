"""The collection script runs only the dumps that can show something (issue 16): on an
nft-only host the iptables-nft and legacy dumps are skipped, and a skipped dump is one that,
run anyway, would have shown no table; firewall-cmd is not started on a host without a D-Bus
system bus. What was not run is said, with the reason. Real script, real nft / iptables in
test-made network namespaces."""

from __future__ import annotations

import os
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
