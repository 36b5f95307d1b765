"""The collection script's framing, the local transport, sources_for and the evidence folder.

The framed streams come from running the real script (checker.collectors.script.SCRIPT) with
/bin/sh in a test-made network namespace holding real rules; truncation and garbling are
then applied to those real bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from needs_root import require_root

from checker.collectors import local, script
from checker.collectors.evidence import evidence_sources, read_manifest, write_evidence
from checker.collectors.result import CollectResult, Output, host_problem
from checker.collectors.sources import sources_for, without_tables
from checker.errors import CollectError
from checker.inventory.model import HostSpec, Transport

RULES_V4 = b"*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A INPUT -p tcp -m tcp --dport 23 -j DROP\nCOMMIT\n"
NFT_NATIVE = (
    b"table inet native {\n chain c {\n  type filter hook input priority 0;\n  tcp dport 9 drop\n }\n}\n"
    b'table netdev edge {\n chain ing {\n  type filter hook ingress device "lo" priority 0;\n }\n}\n'
)


@pytest.fixture(scope="module")
def netns() -> Iterator[str]:
    require_root("the local collector in a network namespace")
    name = f"fwcloc{os.getpid() % 100000}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(
            ["ip", "netns", "exec", name, "iptables-nft-restore"], input=RULES_V4, check=True
        )
        subprocess.run(
            ["ip", "netns", "exec", name, "nft", "-f", "-"], input=NFT_NATIVE, check=True
        )
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def _run_script(netns: str) -> bytes:
    done = subprocess.run(
        ["ip", "netns", "exec", netns, *script.SHELL_ARGV],
        input=script.SCRIPT.encode(),
        capture_output=True,
        timeout=30,
        check=True,
    )
    return done.stdout


@pytest.fixture(scope="module")
def framed(netns: str) -> bytes:
    return _run_script(netns)


def test_real_script_output_parses_into_every_section(framed: bytes) -> None:
    outputs = script.parse_framed(framed, started_at="t")
    names = [o.name for o in outputs]
    # No legacy table and no ip6 nft table here: those dumps are skipped (test_collect_trim);
    # ss exists here, so the /proc/net fallback is not run.
    skipped = ("iptables-save", "ip6tables-save", "iptables-legacy-save", "ip6tables-legacy-save")
    # No firewalld runs here: its configuration listings are skipped. Without a D-Bus system bus
    # firewall-cmd is not started either (test_collect_trim).
    skipped += tuple(n for n in script.SECTION_NAMES if n.startswith("firewalld-"))
    if not os.path.exists("/run/dbus/system_bus_socket"):
        skipped += ("firewalld",)
    # No rule here names an ipset set or holds ufw's chain: neither is asked (test_collect_trim).
    skipped += tuple(
        n for n, tool in (("ipset-save", "ipset"), ("ufw", "ufw")) if shutil.which(tool)
    )
    assert names == [
        n for n in script.SECTION_NAMES if n not in (*skipped, "ip6tables-nft-save", "proc-net")
    ]
    # What was not run is said, with the reason.
    _, not_run = script.parse_sections(framed, started_at="t")
    reasons = {n.name: n.reason for n in not_run}
    assert set(reasons) == {*skipped, "ip6tables-nft-save", "proc-net"}
    assert reasons["firewalld-zones"] == "firewalld is not running"
    assert reasons["iptables-legacy-save"] == "no legacy table (/proc/net/ip_tables_names)"
    assert reasons["ip6tables-nft-save"] == "no nft table of family ip6"
    ipt = next(o for o in outputs if o.name == "iptables-nft-save")
    assert b"--dport 23 -j DROP" in ipt.data and ipt.exit_code == 0 and ipt.started_at != "t"
    # The netdev chain's device is only in the text listing (nft 1.0.6's JSON leaves it out).
    listing = next(o for o in outputs if o.name == "nft-list")
    assert b'hook ingress device "lo"' in listing.data and listing.ok
    sources = dict(sources_for(CollectResult("h", tuple(outputs), None)))
    assert sources["h:nft-list.txt"] == listing.data


def test_without_ss_the_kernel_tables_are_read(netns: str) -> None:
    """A host without ss(8): the script reads /proc/net/{tcp,udp}[6] instead (ss is hidden by a
    bind mount of /dev/null over it in a private mount namespace; the host's is untouched)."""
    ss = shutil.which("ss")
    assert ss is not None
    done = subprocess.run(
        [
            "ip",
            "netns",
            "exec",
            netns,
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            f'mount --bind /dev/null {ss} && exec "$@"',
            "sh",
            *script.SHELL_ARGV,
        ],
        input=script.SCRIPT.encode(),
        capture_output=True,
        timeout=30,
        check=True,
    )
    outputs = script.parse_framed(done.stdout, started_at="t")
    names = [o.name for o in outputs]
    assert "proc-net" in names and "ss-listen" not in names
    tables = next(o for o in outputs if o.name == "proc-net")
    assert tables.data.startswith(b"/proc/net/tcp:")
    sources = dict(sources_for(CollectResult("h", tuple(outputs), None)))
    assert "h:proc-net.txt" in sources and "h:ss-listen.txt" not in sources


def test_local_transport_in_the_namespace(netns: str) -> None:
    """transport: local, run inside the namespace (the collector process is moved there with
    `ip netns exec`, exactly as a user running fwcheck on that machine)."""
    code = (
        "from checker.collectors import local; from checker.inventory.model import HostSpec, Transport;"
        "r = local.collect(HostSpec('me', 'localhost', Transport.LOCAL), deadline_s=20);"
        "print(r.error); print(r.output('iptables-nft-save').data.decode())"
    )
    done = subprocess.run(
        ["ip", "netns", "exec", netns, "python3", "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
        check=True,
    )
    assert done.stdout.startswith("None\n") and "--dport 23 -j DROP" in done.stdout


def test_sudo_without_a_sudoers_rule_is_a_clean_error_not_a_prompt() -> None:
    """The real sudo, run as `nobody` (no sudoers rule) exactly as the collectors start it:
    `sudo -n` must refuse at once, and interpret() must name the reason."""
    require_root("running sudo as nobody")
    argv = [
        "setpriv",
        "--reuid=nobody",
        "--regid=nogroup",
        "--clear-groups",
        *script.launcher(True),
    ]
    done = subprocess.run(
        argv, input=script.SCRIPT.encode(), capture_output=True, timeout=20, check=False
    )
    outputs, failure, _not_run = script.interpret(
        done.stdout, done.stderr, done.returncode, sudo=True, started_at="t"
    )
    assert outputs == () and failure is not None
    assert failure[0] == "sudo-password" and "password is required" in failure[1]


def test_local_deadline() -> None:
    host = HostSpec("me", "localhost", Transport.LOCAL)
    result = local.collect(host, deadline_s=0.000001)
    assert result.error is not None and result.error.code == "timeout"


def test_every_truncation_is_detected(framed: bytes) -> None:
    for cut in range(0, len(framed)):
        with pytest.raises(script.FramingError):
            script.parse_framed(framed[:cut], started_at="t")


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_garbled_framing_is_a_framing_error_never_a_crash(
    framed: bytes, data: st.DataObject
) -> None:
    position = data.draw(st.integers(0, len(framed) - 1))
    junk = data.draw(st.binary(min_size=1, max_size=20))
    mutated = framed[:position] + junk + framed[position + data.draw(st.integers(0, 5)) :]
    try:
        outputs = script.parse_framed(mutated, started_at="t")
    except script.FramingError as exc:
        assert exc.code in ("garbled", "truncated", "no-output") and "\n" not in exc.message
    else:
        # Accepted only if the change fell inside a section's bytes and kept its length.
        assert len(outputs) == len(script.parse_framed(framed, started_at="t"))


def test_bytes_before_the_begin_marker_are_ignored_but_after_the_end_are_not(framed: bytes) -> None:
    assert script.parse_framed(b"motd from .profile\n" + framed, started_at="t")
    with pytest.raises(script.FramingError, match="after the last section"):
        script.parse_framed(framed + b"logout\n", started_at="t")


def _output(name: str, data: bytes, exit_code: int = 0) -> Output:
    return Output(name, name, exit_code, data, "2026-01-01T00:00:00+00:00", 0.01)


NFT_WITH_COMPAT = json.dumps(
    {
        "nftables": [
            {"metainfo": {"json_schema_version": 1}},
            {"table": {"family": "ip", "name": "filter", "handle": 1}},
            {"chain": {"family": "ip", "table": "filter", "name": "INPUT", "handle": 1}},
            {
                "rule": {
                    "family": "ip",
                    "table": "filter",
                    "chain": "INPUT",
                    "expr": [{"xt": {"type": "match", "name": "set"}}],
                }
            },
            {"table": {"family": "inet", "name": "filter", "handle": 2}},
            {"chain": {"family": "inet", "table": "filter", "name": "in", "handle": 1}},
            {"table": {"family": "ip6", "name": "filter", "handle": 3}},
        ]
    }
).encode()


def test_sources_drop_exactly_the_tables_iptables_nft_save_shows() -> None:
    result = CollectResult(
        "h",
        (
            _output("nft-json", NFT_WITH_COMPAT),
            _output("iptables-nft-save", b"# c\n*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n"),
            _output("iptables-legacy-save", b""),
            _output("ip6tables-nft-save", b"# Table `filter' is incompatible, use 'nft' tool.\n"),
            _output("ipset-save", b"create x hash:ip\n"),
        ),
        None,
    )
    sources = sources_for(result)
    # The ipset contents go with the rulesets: they decide the `-m set` matches.
    assert [origin for origin, _ in sources] == [
        "h:nft-json.native.json",
        "h:iptables-nft-save.txt",
        "h:ipset-save.txt",
    ]
    kept = json.loads(sources[0][1])["nftables"]
    assert {"table": {"family": "inet", "name": "filter", "handle": 2}} in kept
    assert {"table": {"family": "ip6", "name": "filter", "handle": 3}} in kept  # incompatible: kept
    assert not [i for i in kept if next(iter(i.values())).get("family") == "ip"]
    assert without_tables(b"not json", {("ip", "filter")}) is None
    failed = CollectResult("h", result.outputs, host_problem("h", "timeout", "deadline passed"))
    assert sources_for(failed) == []


def test_ipset_save_is_a_source_only_beside_rulesets_and_when_it_succeeded() -> None:
    dump = _output("iptables-nft-save", b"*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n")
    sets = _output("ipset-save", b"create x hash:ip\n")
    failed = _output("ipset-save", b"create x hash:ip\n", exit_code=1)
    empty = _output("ipset-save", b"\n")
    names = lambda *outputs: [o for o, _ in sources_for(CollectResult("h", outputs, None))]  # noqa: E731
    assert names(dump, sets) == ["h:iptables-nft-save.txt", "h:ipset-save.txt"]
    assert names(dump, failed) == names(dump, empty) == ["h:iptables-nft-save.txt"]
    assert names(sets) == []


def test_evidence_is_whole_hashed_and_rereadable(tmp_path: Path) -> None:
    outputs = (
        _output("nft-json", NFT_WITH_COMPAT),
        _output("iptables-nft-save", b"*filter\nCOMMIT\n"),
        Output("ufw", "ufw status verbose", 127, b"", "t", 0.0),
        Output("ipset-save", "ipset save", 1, b"", "t", 0.0, stderr=b"ipset v7: Kernel error\n"),
    )
    result = CollectResult(
        "web/../1",
        outputs,
        None,
        transport="ssh",
        address="192.0.2.1:22",
        notes=("accepted new host key",),
    )
    run = write_evidence(tmp_path, result, "run-1")
    assert run == tmp_path / "web_.._1" / "run-1"
    manifest = read_manifest(run)
    assert manifest["fwcheck_version"] and manifest["notes"] == ["accepted new host key"]
    for entry in manifest["outputs"]:
        data = (run / entry["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"] and len(data) == entry["bytes"]
    ipset = next(e for e in manifest["outputs"] if e["name"] == "ipset-save")
    assert (run / ipset["stderr_file"]).read_bytes() == b"ipset v7: Kernel error\n"
    assert manifest["check_sources"] == ["nft-json.native.json", "iptables-nft-save.txt"]
    assert [Path(o).name for o, _ in evidence_sources(run)] == manifest["check_sources"]
    with pytest.raises(CollectError):
        write_evidence(tmp_path, result, "run-1")
    assert sorted(p.name for p in run.parent.iterdir()) == ["run-1"]


def test_evidence_write_failure_leaves_no_partial_folder(tmp_path: Path) -> None:
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where a folder should be")
    with pytest.raises(CollectError, match="cannot write evidence"):
        write_evidence(blocked, CollectResult("h", (_output("nft-json", b"{}"),), None), "r")


def test_a_host_with_only_empty_iptables_dumps_keeps_them_all() -> None:
    """No nft, no iptables table: every empty dump is kept, each an empty ruleset of its family
    (IPv4 and IPv6 both described as open), not just the first one."""
    from checker.pipeline import parse_sources

    result = CollectResult(
        "h", (_output("iptables-legacy-save", b""), _output("ip6tables-legacy-save", b"")), None
    )
    sources = sources_for(result)
    assert [origin for origin, _ in sources] == [
        "h:iptables-legacy-save.txt",
        "h:ip6tables-legacy-save.txt",
    ]
    assert [m.families for m in parse_sources(sources)] == [{4}, {6}]


def test_section_clocks_lie_within_the_run_and_in_order(netns: str) -> None:
    """The script reads the wall clock once (date) and then /proc/uptime (a shell builtin read,
    10 ms steps): every section's start and end lie within the run, in section order."""
    before = datetime.now(UTC).timestamp()
    framed = _run_script(netns)
    after = datetime.now(UTC).timestamp()
    ran = [o for o in script.parse_framed(framed, started_at="t") if not o.missing]
    assert len(ran) >= 4
    starts = [datetime.fromisoformat(o.started_at).timestamp() for o in ran]
    # 10 ms steps of /proc/uptime and the millisecond ISO form: 20 ms either side.
    assert all(before - 0.02 <= s <= after + 0.02 for s in starts), (before, starts, after)
    assert starts == sorted(starts)
    assert all(0 <= o.duration_s <= after - before + 0.02 for o in ran)
