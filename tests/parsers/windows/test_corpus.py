"""The real Windows exports in ../shared/corpus/windows: every rule accounted for.

Counts were taken from the files themselves (412 values under FirewallRules in the .wfw hive,
31 in the .reg export, no rules in the STIG GPO); the STIG settings match its gpreport.xml
(Domain/Private/Public: firewall on, inbound Block, outbound Allow; Public: local rules not
merged).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from checker.errors import Location
from checker.parsers.windows import windows_pol, windows_reg, windows_wfw


def read(shared: Path, name: str) -> bytes:
    return (shared / "corpus" / "windows" / name).read_bytes()


def test_wfw_hive_every_rule(shared_dir: Path) -> None:
    data = read(shared_dir, "firewall.wfw")
    assert windows_wfw.sniff(data[:65536])
    ruleset = windows_wfw.parse(data, "firewall.wfw")
    assert len(ruleset.rules) == 412
    assert len({rule.id for rule in ruleset.rules}) == 412
    assert Counter((r.action, r.direction, r.enabled) for r in ruleset.rules) == {
        ("allow", "in", False): 149,
        ("allow", "in", True): 98,
        ("allow", "out", False): 90,
        ("allow", "out", True): 75,
    }
    assert Counter(r.version for r in ruleset.rules) == {"2.30": 406, "2.10": 6}
    # regipy trims strings to 256 characters by default: every rule string must end intact.
    assert all(rule.text.endswith("|") for rule in ruleset.rules)
    assert not [w for w in ruleset.warnings if w.code == "windows-unknown-key"]
    assert {p: s.enabled for p, s in ruleset.profiles.items()} == {
        "domain": True,
        "private": True,
        "public": True,
    }
    by_id = {rule.id: rule for rule in ruleset.rules}
    snmp = by_id["SNMPTRAP-In-UDP"]
    assert (snmp.action, snmp.direction, snmp.enabled, snmp.protocol) == ("allow", "in", False, 17)
    assert snmp.profiles == frozenset({"private", "public"})
    assert snmp.local_ports == ("162",)
    assert snmp.remote_addresses == ("LocalSubnet4", "LocalSubnet6")
    assert snmp.program == r"%SystemRoot%\system32\snmptrap.exe"
    assert snmp.service == "SNMPTRAP"
    assert snmp.origin == Location(r"firewall.wfw:FirewallRules\SNMPTRAP-In-UDP")
    playto = by_id["PlayTo-In-RTSP-PlayToScope"]
    assert playto.local_ports == ("23554", "23555", "23556")
    assert playto.remote_addresses == ("PlayToDevice4", "PlayToDevice6")
    frame = by_id["NVS-FrameServer-In-TCP-NoScope"]
    assert frame.local_ports == ("554", "8554-8558")
    assert frame.profiles == frozenset({"domain", "private", "public"})
    secure = by_id["{E9C9F634-4417-4135-9E25-7467F3DB0A1E}"]
    assert secure.security == ("authenticate", "authenticate-no-encapsulation")
    assert ("RMauth", "O:LSD:(A;;CC;;;AU)") in secure.conditions
    foobar = next(r for r in ruleset.rules if r.id.startswith("UDP Query User{414788AA"))
    assert foobar.version == "2.10" and foobar.edge_traversal == "defer-user"


def test_reg_export_every_rule(shared_dir: Path) -> None:
    data = read(shared_dir, "FirewallRules.reg")
    assert data.startswith(b"\xff\xfe")  # UTF-16LE with BOM, as reg export writes
    assert windows_reg.sniff(data[:65536])
    ruleset = windows_reg.parse(data, "FirewallRules.reg")
    assert len(ruleset.rules) == 31
    assert Counter((r.action, r.direction) for r in ruleset.rules) == {
        ("block", "in"): 15,
        ("block", "out"): 16,
    }
    assert all(rule.enabled for rule in ruleset.rules)
    assert ruleset.profiles == {}
    telemetry = next(
        r for r in ruleset.rules if r.id == "Microsoft-Windows-Unified-Telemetry-Client"
    )
    assert telemetry.origin == Location("FirewallRules.reg", 8)
    assert (telemetry.protocol, telemetry.remote_ports, telemetry.service) == (
        6,
        ("443",),
        "DiagTrack",
    )
    assert telemetry.program == r"%SystemRoot%\system32\svchost.exe"
    search = next(r for r in ruleset.rules if r.name == "Windows Search IN")
    assert (
        search.package
        == "S-1-15-2-536077884-713174666-1066051701-3219990555-339840825-1966734348-1611281757"
    )
    assert search.program is None
    # Line numbers follow the file: the first rule is on line 4 (header, blank, key).
    assert ruleset.rules[0].origin.line == 4 and ruleset.rules[-1].origin.line == 34


def test_stig_gpo_registry_pol(shared_dir: Path) -> None:
    data = read(shared_dir, "dod-firewall-stig-gpo/registry.pol")
    assert windows_pol.sniff(data[:65536])
    ruleset = windows_pol.parse(data, "registry.pol")
    assert ruleset.rules == ()
    assert set(ruleset.profiles) == {"domain", "private", "public"}
    for profile in ("domain", "private", "public"):
        settings = ruleset.profiles[profile]
        assert settings.store == "gpo"
        assert (settings.enabled, settings.default_inbound, settings.default_outbound) == (
            True,
            "block",
            "allow",
        )
    assert ruleset.profiles["public"].allow_local_policy_merge is False
    assert ruleset.profiles["domain"].allow_local_policy_merge is None
    assert ruleset.profiles["public"].origin_of("allow_local_policy_merge").file == (
        r"registry.pol:SOFTWARE\Policies\Microsoft\WindowsFirewall\PublicProfile\AllowLocalPolicyMerge"
    )
    assert ("AllowLocalIPsecPolicyMerge", "0") in ruleset.profiles["public"].other
