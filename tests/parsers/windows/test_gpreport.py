"""Group Policy XML reports (GPMC "Save Report", Get-GPOReport -ReportType Xml).

No Windows domain exists here. The real report is the corpus's DoD STIG GPO (profile settings,
no rules), checked against the same GPO's Registry.pol; rules are tested on a report written
for this test after the documented layout of the firewall extension (the InboundFirewallRules /
OutboundFirewallRules elements carry the rule-string fields by name, MS-GPFAS 2.2.2.19).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from test_parsers_fuzz import mutated, mutated_text, parses_or_raises
from windows_builders import requirement

from checker.engine.windows.engine import check
from checker.errors import ParseError
from checker.findings import Status
from checker.parsers import detect
from checker.parsers.windows import windows_gpreport, windows_pol

FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

PROFILE = """        <q1:{name}>
          <q1:DefaultInboundAction>
            <q1:Value>true</q1:Value>
          </q1:DefaultInboundAction>
          <q1:EnableFirewall>
            <q1:Value>true</q1:Value>
          </q1:EnableFirewall>
        </q1:{name}>
"""

REPORT = """<?xml version="1.0" encoding="utf-16"?>
<GPO xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns="http://www.microsoft.com/GroupPolicy/Settings">
  <Name>Servers firewall</Name>
  <Computer>
    <Enabled>true</Enabled>
    <ExtensionData>
      <Extension xmlns:q1="http://www.microsoft.com/GroupPolicy/Settings/WindowsFirewall" xsi:type="q1:WindowsFirewallSettings">
        <q1:GlobalSettings>
          <q1:PolicyVersion>
            <q1:Value>539</q1:Value>
          </q1:PolicyVersion>
        </q1:GlobalSettings>
{profiles}        <q1:InboundFirewallRules>
          <q1:Version>2.30</q1:Version>
          <q1:Action>Allow</q1:Action>
          <q1:Name>RDP from management</q1:Name>
          <q1:Dir>In</q1:Dir>
          <q1:LPort>3389</q1:LPort>
          <q1:Protocol>6</q1:Protocol>
          <q1:RA4>10.0.0.0/255.0.0.0</q1:RA4>
          <q1:Active>true</q1:Active>
        </q1:InboundFirewallRules>
        <q1:InboundFirewallRules>
          <q1:Version>2.30</q1:Version>
          <q1:Action>Block</q1:Action>
          <q1:Name>Block SMB</q1:Name>
          <q1:Dir>In</q1:Dir>
          <q1:LPort>445</q1:LPort>
          <q1:LPort>139</q1:LPort>
          <q1:Protocol>6</q1:Protocol>
          <q1:Active>true</q1:Active>
        </q1:InboundFirewallRules>
        <q1:InboundFirewallRules>
          <q1:Version>2.30</q1:Version>
          <q1:Action>Allow</q1:Action>
          <q1:Name>Adaptiva P2P</q1:Name>
          <q1:Dir>In</q1:Dir>
          <q1:App>%ProgramFiles%\\Adaptiva\\AdaptivaServer\\AdaptivaServerService.exe</q1:App>
          <q1:Profile>Domain</q1:Profile>
          <q1:Profile>Private</q1:Profile>
          <q1:LPort>34322</q1:LPort>
          <q1:Protocol>17</q1:Protocol>
          <q1:Active>false</q1:Active>
        </q1:InboundFirewallRules>
        <q1:OutboundFirewallRules>
          <q1:Version>2.30</q1:Version>
          <q1:Action>Block</q1:Action>
          <q1:Name>No telnet out</q1:Name>
          <q1:Dir>Out</q1:Dir>
          <q1:RPort>23</q1:RPort>
          <q1:Protocol>6</q1:Protocol>
          <q1:Active>true</q1:Active>
        </q1:OutboundFirewallRules>
      </Extension>
      <Name>Windows Firewall</Name>
    </ExtensionData>
  </Computer>
  <User>
    <Enabled>false</Enabled>
  </User>
</GPO>
""".replace(
    "{profiles}",
    "".join(
        PROFILE.format(name=name) for name in ("DomainProfile", "PrivateProfile", "PublicProfile")
    ),
)


REPORT8 = REPORT.replace('"utf-16"', '"utf-8"')


def line_of(text: str, needle: str, occurrence: int = 0) -> int:
    lines = [number for number, line in enumerate(text.splitlines(), 1) if needle in line]
    return lines[occurrence]


def utf16(text: str) -> bytes:
    return text.encode("utf-16")


def test_rules_and_profiles_with_their_report_lines() -> None:
    lower_dir = REPORT8.replace("<q1:Dir>In</q1:Dir>", "<q1:Dir>in</q1:Dir>").encode()
    for data in (utf16(REPORT), REPORT8.encode(), lower_dir):
        assert detect(data, "gp.xml") is windows_gpreport
        ruleset = windows_gpreport.parse(data, "gp.xml")
        rdp, smb, adaptiva, telnet = ruleset.rules
        assert [r.store for r in ruleset.rules] == ["gpo"] * 4
        assert (rdp.action, rdp.direction, rdp.enabled, rdp.protocol) == ("allow", "in", True, 6)
        assert (rdp.local_ports, rdp.remote_addresses) == (("3389",), ("10.0.0.0/8",))
        assert rdp.origin.line == line_of(REPORT, "<q1:InboundFirewallRules>")
        assert rdp.id == f"RDP from management @ line {rdp.origin.line}"
        assert smb.action == "block" and smb.local_ports == ("445", "139")
        assert adaptiva.enabled is False and adaptiva.profiles == {"domain", "private"}
        assert adaptiva.program.endswith("AdaptivaServerService.exe")
        assert (telnet.direction, telnet.remote_ports) == ("out", ("23",))
        assert telnet.origin.line == line_of(REPORT, "<q1:OutboundFirewallRules>")
        domain = ruleset.profiles["domain"]
        assert (domain.enabled, domain.default_inbound, domain.default_outbound) == (
            True,
            "block",
            None,
        )
        assert domain.origin_of("default_inbound").line == line_of(
            REPORT, "<q1:DefaultInboundAction>"
        )
        assert [w.code for w in ruleset.warnings] == ["windows-ignored"]  # GlobalSettings


def test_the_engine_decides_a_report_like_any_other_export() -> None:
    ruleset = windows_gpreport.parse(utf16(REPORT), "gp.xml")
    outside = ["0.0.0.0/0"]
    rdp_outside = requirement(
        "deny", ports=[(3389, 3389)], remote=outside, except_remote=["10.0.0.0/8"]
    )
    assert check(ruleset, rdp_outside).status is Status.PASS
    assert check(
        ruleset, requirement("allow", ports=[(3389, 3389)], remote=["10.1.2.0/24"])
    ).status is (Status.PASS)
    smb = check(ruleset, requirement("allow", ports=[(445, 445)]))
    assert smb.status is Status.FAIL
    assert smb.evidence[0].line == line_of(REPORT, "<q1:InboundFirewallRules>", 1)
    # The Adaptiva rule exists but is disabled: its port stays closed (inbound default Block).
    adaptiva = check(ruleset, requirement("allow", protocol="udp", ports=[(34322, 34322)]))
    assert adaptiva.status is Status.FAIL
    telnet = requirement("deny", direction="outbound", ports=[(23, 23)])
    assert check(ruleset, telnet).status is Status.PASS


def test_stig_gpo_report_says_what_its_registry_pol_says(shared_dir: Path) -> None:
    folder = shared_dir / "corpus" / "windows" / "dod-firewall-stig-gpo"
    data = (folder / "gpreport.xml").read_bytes()
    report = windows_gpreport.parse(data, "gpreport.xml")
    pol = windows_pol.parse((folder / "registry.pol").read_bytes(), "registry.pol")
    assert report.rules == pol.rules == ()

    def settings_of(ruleset):  # type: ignore[no-untyped-def]
        return {
            name: (
                s.enabled,
                s.default_inbound,
                s.default_outbound,
                s.shields_up,
                s.allow_local_policy_merge,
            )
            for name, s in ruleset.profiles.items()
        }

    assert (
        settings_of(report)
        == settings_of(pol)
        == {
            "domain": (True, "block", "allow", None, None),
            "private": (True, "block", "allow", None, None),
            "public": (True, "block", "allow", None, False),
        }
    )
    text = data.decode("utf-16")
    assert report.profiles["public"].origin.line == line_of(text, "<q1:PublicProfile>")
    assert report.profiles["public"].origin_of("allow_local_policy_merge").line == line_of(
        text, "<q1:AllowLocalPolicyMerge>"
    )
    codes = {w.code: w.message for w in report.warnings}
    # The report also lists two Administrative Templates firewall policies by title only.
    assert "2 administrative-template setting(s)" in codes["windows-gpreport-templates"]
    for ports in ([(3389, 3389)], [(22, 22)]):
        denied = requirement("deny", ports=ports)
        assert check(report, denied).status is check(pol, denied).status is Status.PASS


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (
            REPORT8.replace("</q1:DomainProfile>", "</q1:DomainProfil>"),
            line_of(REPORT, "</q1:DomainProfile>"),
            "not well-formed XML",
        ),
        (
            '<?xml version="1.0"?>\n<!DOCTYPE GPO [<!ENTITY a "aaaa">]>\n<GPO/>',
            2,
            "DTDs and entities are not allowed",
        ),
        (REPORT8.replace("<q1:Dir>Out</q1:Dir>", "<q1:Dir>In</q1:Dir>"), 0, "not Out"),
        (REPORT8.replace("No telnet out", "No | telnet"), 0, "holds '|'"),
        (
            REPORT8.replace("<q1:Action>Block</q1:Action>", "<q1:Action>Maybe</q1:Action>", 1),
            0,
            "Action",
        ),
        ('<?xml version="1.0"?>\n<Rsop xmlns="urn:other"/>', 2, "not a Group Policy report"),
        (REPORT.replace('"utf-16"', '"Atf-16"'), 1, "cannot decode the XML: unknown encoding"),
        (
            REPORT8.replace("<q1:Value>true</q1:Value>", "<q1:Value>\u00b2</q1:Value>", 1),
            0,
            "DefaultInboundAction is '\u00b2', not true or false",
        ),
        (
            REPORT8.replace(
                "<q1:Action>Allow</q1:Action>", "<q1:Action>Allow<q1:X/></q1:Action>", 1
            ),
            0,
            "holds elements",
        ),
        (REPORT.replace('"utf-16"', '"utf-32"'), 1, "cannot decode the XML"),
    ],
    ids=[
        "unclosed",
        "entity",
        "direction",
        "pipe",
        "action",
        "root",
        "codec",
        "multibyte",
        "switch",
        "nested",
    ],
)
def test_bad_reports_name_their_line(text: str, line: int, message: str) -> None:
    with pytest.raises(ParseError) as caught:
        windows_gpreport.parse(text.encode(), "bad.xml")
    (problem,) = caught.value.problems
    assert problem.file == "bad.xml" and message in problem.message
    if line:
        assert problem.line == line
    else:
        assert problem.line > 1  # the rule's own line, whichever the error names


def test_other_xml_is_not_taken_for_a_report() -> None:
    assert not windows_gpreport.sniff(b'<?xml version="1.0"?>\n<GPO xmlns="urn:other"/>')
    assert not windows_gpreport.sniff(b"<html><body>GPO</body></html>")


def test_a_report_without_firewall_settings_says_so() -> None:
    text = REPORT8.split("<ExtensionData>")[0] + "</Computer>\n</GPO>\n"
    ruleset = windows_gpreport.parse(text.encode(), "empty.xml")
    assert ruleset.rules == () and not ruleset.profiles
    assert "no Windows Firewall settings" in ruleset.warnings[0].message


@given(mutated(utf16(REPORT)))
@FUZZ
def test_mutated_report(data: bytes) -> None:
    parses_or_raises(windows_gpreport, data)


@given(mutated(REPORT8.encode()))
@FUZZ
def test_mutated_utf8_report(data: bytes) -> None:
    parses_or_raises(windows_gpreport, data)


@given(mutated_text(REPORT8.encode(), "utf-8"))
@FUZZ
def test_report_with_tricky_characters(data: bytes) -> None:
    """Unicode digits and line separators in a report: a model or a ParseError, never a crash."""
    parses_or_raises(windows_gpreport, data)
