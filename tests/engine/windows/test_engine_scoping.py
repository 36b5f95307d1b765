"""Program, service, address/port keyword and ICMP scoping of Windows rules.

Sources: MS-FASP 2.2.37 FW_RULE (wszLocalApplication, wszLocalService, address and port
keywords), MS-GPFAS 2.2.2.13 (address keywords), INetFwRule RemoteAddresses ("LocalSubnet
indicates any local address on the local subnet"), "Recognized environment variables"
(Microsoft Learn) for %SystemRoot%/%ProgramFiles% defaults.
"""

from __future__ import annotations

from windows_builders import requirement, ruleset

from checker.engine.windows.engine import check
from checker.findings import Status

ADAPTIVA = r"C:\Program Files\Adaptiva\AdaptivaClient\bin\AdaptivaClientService.exe"
ALLOW_APP = rf"APP=v2.30|Action=Allow|Active=TRUE|Dir=In|Protocol=17|LPort=34324|App={ADAPTIVA}|Name=Adaptiva client|"
PORT = [(34324, 34324)]


def test_program_rule_meets_requirement_by_file_name() -> None:
    """`program: AdaptivaClientService.exe` is met by a rule for that program's full path."""
    verdict = check(
        ruleset(ALLOW_APP),
        requirement(protocol="udp", ports=PORT, program="AdaptivaClientService.exe"),
    )
    assert verdict.status == Status.PASS
    assert "APP" in verdict.evidence[0].text


def test_program_rule_meets_requirement_by_path_case_insensitive() -> None:
    """Windows compares paths case-insensitively."""
    verdict = check(
        ruleset(ALLOW_APP), requirement(protocol="udp", ports=PORT, program=ADAPTIVA.upper())
    )
    assert verdict.status == Status.PASS


def test_program_with_environment_variable() -> None:
    """%ProgramFiles% expands to C:\\Program Files (documented default) on both sides."""
    rule = ALLOW_APP.replace(r"C:\Program Files", "%ProgramFiles%")
    verdict = check(ruleset(rule), requirement(protocol="udp", ports=PORT, program=ADAPTIVA))
    assert verdict.status == Status.PASS
    verdict = check(
        ruleset(ALLOW_APP),
        requirement(
            protocol="udp",
            ports=PORT,
            program=r"%PROGRAMFILES%\Adaptiva\AdaptivaClient\bin\AdaptivaClientService.exe",
        ),
    )
    assert verdict.status == Status.PASS


def test_rule_for_any_program_meets_program_requirement() -> None:
    """A rule without App= matches every program."""
    rule = "ANY=v2.30|Action=Allow|Active=TRUE|Dir=In|Protocol=17|LPort=34324|Name=any program|"
    verdict = check(
        ruleset(rule), requirement(protocol="udp", ports=PORT, program="AdaptivaClientService.exe")
    )
    assert verdict.status == Status.PASS


def test_rule_for_other_program_does_not_meet() -> None:
    """A rule for another program does not allow this program's flows: they fall to the default."""
    other = ALLOW_APP.replace("AdaptivaClientService.exe", "Other.exe")
    verdict = check(
        ruleset(other), requirement(protocol="udp", ports=PORT, program="AdaptivaClientService.exe")
    )
    assert verdict.status == Status.FAIL
    assert verdict.counterexample == (
        "udp 203.0.113.7:49152 -> 192.0.2.10:34324 ipv4 profile domain program AdaptivaClientService.exe"
    )
    assert "default inbound action Block" in verdict.evidence[0].text


def test_program_rule_does_not_meet_requirement_for_every_program() -> None:
    """A requirement without `program` covers every program, including those no rule names."""
    verdict = check(ruleset(ALLOW_APP), requirement(protocol="udp", ports=PORT))
    assert verdict.status == Status.FAIL
    assert "from a program that no rule names" in verdict.counterexample
    assert "any program no rule names" not in verdict.message


def test_program_block_rule_hits_program_requirement() -> None:
    """A block rule for the program beats an allow rule for any program."""
    block = ALLOW_APP.replace("Action=Allow", "Action=Block").replace("APP=", "BLK=", 1)
    allow_any = "ANY=v2.30|Action=Allow|Active=TRUE|Dir=In|Protocol=17|LPort=34324|Name=any|"
    verdict = check(
        ruleset(allow_any, block),
        requirement(protocol="udp", ports=PORT, program="adaptivaclientservice.exe"),
    )
    assert verdict.status == Status.FAIL
    assert verdict.evidence[0].text.startswith("BLK ")
    assert ADAPTIVA.lower() in verdict.counterexample


def test_service_rule() -> None:
    """Svc=name matches that service's flows only (MS-FASP 2.2.37 wszLocalService)."""
    rule = r"SVC=v2.30|Action=Allow|Active=TRUE|Dir=In|Protocol=6|LPort=135|App=%SystemRoot%\system32\svchost.exe|Svc=RpcSs|Name=RPC EPMAP|"
    assert (
        check(ruleset(rule), requirement(ports=[(135, 135)], service="rpcss")).status == Status.PASS
    )
    verdict = check(ruleset(rule), requirement(ports=[(135, 135)], service="Spooler"))
    assert verdict.status == Status.FAIL
    assert "service spooler" in verdict.counterexample
    star = rule.replace("Svc=RpcSs", "Svc=*")
    assert (
        check(
            ruleset(star), requirement(ports=[(135, 135)], service="Spooler", program="svchost.exe")
        ).status
        == Status.PASS
    )


def test_local_subnet_allow_is_indeterminate_for_allow_from_any() -> None:
    """RA4=LocalSubnet is resolved at runtime: whether every remote is allowed is unknown."""
    rule = "LS=v2.30|Action=Allow|Active=TRUE|Dir=In|Protocol=6|LPort=445|RA4=LocalSubnet|Name=SMB local|"
    verdict = check(ruleset(rule), requirement(ports=[(445, 445)]))
    assert verdict.status == Status.INDETERMINATE
    assert "LocalSubnet" in verdict.message and "LS" in verdict.evidence[0].text


def test_local_subnet_allow_surely_fails_deny_from_any() -> None:
    """LocalSubnet is never empty on a networked host: a deny-from-any requirement surely fails."""
    rule = "LS=v2.30|Action=Allow|Active=TRUE|Dir=In|Protocol=6|LPort=445|RA4=LocalSubnet|Name=SMB local|"
    verdict = check(ruleset(rule), requirement(expect="deny", ports=[(445, 445)]))
    assert verdict.status == Status.FAIL
    assert (
        verdict.counterexample
        == "tcp <an address in LocalSubnet>:49152 -> 192.0.2.10:445 ipv4 profile domain"
    )
    assert verdict.evidence[0].text.startswith('LS "SMB local"')


def test_local_subnet_deny_from_specific_remote_is_indeterminate() -> None:
    """Whether 198.51.100.0/24 lies in LocalSubnet is unknown offline."""
    rule = "LS=v2.30|Action=Allow|Active=TRUE|Dir=In|Protocol=6|LPort=445|RA4=LocalSubnet|Name=SMB local|"
    verdict = check(
        ruleset(rule), requirement(expect="deny", ports=[(445, 445)], remote=["198.51.100.0/24"])
    )
    assert verdict.status == Status.INDETERMINATE


def test_ipv4_only_keyword_does_not_match_ipv6() -> None:
    """RA4= constrains IPv4 only; with no RA6= the rule matches no IPv6 flow (MS-GPFAS 2.2.2.19)."""
    rule = "LS=v2.30|Action=Allow|Active=TRUE|Dir=In|Protocol=6|LPort=445|RA4=LocalSubnet|Name=SMB local|"
    verdict = check(
        ruleset(rule), requirement(expect="deny", ports=[(445, 445)], families=frozenset({6}))
    )
    assert verdict.status == Status.PASS


def test_exact_remote_addresses() -> None:
    """Explicit addresses are exact: a deny from outside them passes, from inside fails."""
    rule = "NET=v2.30|Action=Allow|Active=TRUE|Dir=In|Protocol=6|LPort=3389|RA4=10.0.0.0/255.0.0.0|Name=RDP mgmt|"
    assert (
        check(
            ruleset(rule),
            requirement(expect="deny", ports=[(3389, 3389)], except_remote=["10.0.0.0/8"]),
        ).status
        == Status.PASS
    )
    verdict = check(ruleset(rule), requirement(expect="deny", ports=[(3389, 3389)]))
    assert verdict.status == Status.FAIL
    assert verdict.counterexample.startswith("tcp 10.")


def test_rpc_port_keyword_is_indeterminate() -> None:
    """LPort=RPC is the dynamic RPC port set (MS-FASP 2.2.14): unknown offline."""
    rule = "RPC=v2.30|Action=Allow|Active=TRUE|Dir=In|Protocol=6|LPort=RPC|Name=dyn RPC|"
    verdict = check(ruleset(rule), requirement(expect="deny", ports=[(49152, 65535)]))
    assert verdict.status == Status.INDETERMINATE
    assert "RPC" in verdict.message


def test_keyword_rule_outside_requirement_ports_is_irrelevant() -> None:
    """A keyword only matters if the rule could match the requirement's flows at all."""
    rule = "RPC=v2.30|Action=Allow|Active=TRUE|Dir=In|Protocol=17|LPort=RPC|Name=dyn RPC|"
    assert (
        check(ruleset(rule), requirement(expect="deny", ports=[(3389, 3389)])).status == Status.PASS
    )


def test_security_authenticate_allow_rule() -> None:
    """Security=Authenticate: allowed only for IPsec-authenticated peers (NET_FW_AUTHENTICATE_TYPE):
    deny cannot be decided offline; allow surely fails for unauthenticated peers."""
    rule = "SEC=v2.30|Action=Allow|Active=TRUE|Dir=In|Protocol=6|LPort=5985|Security=Authenticate|Name=WinRM secure|"
    assert (
        check(ruleset(rule), requirement(expect="deny", ports=[(5985, 5985)])).status
        == Status.INDETERMINATE
    )
    verdict = check(ruleset(rule), requirement(ports=[(5985, 5985)]))
    assert verdict.status == Status.FAIL
    assert "default inbound action Block" in verdict.message


def test_interface_type_rule_is_indeterminate() -> None:
    """IFType=Wireless: which interface a flow arrives on is unknown offline."""
    rule = "WL=v2.30|Action=Block|Active=TRUE|Dir=In|Protocol=6|LPort=80|IFType=Wireless|Name=no web on wifi|"
    allow = "WEB=v2.30|Action=Allow|Active=TRUE|Dir=In|Protocol=6|LPort=80|Name=web|"
    verdict = check(ruleset(allow, rule), requirement(ports=[(80, 80)]))
    assert verdict.status == Status.INDETERMINATE
    assert "interface types wireless" in verdict.message


def test_icmp_type_scoping() -> None:
    """ICMP4=8:* allows echo requests only (MS-GPFAS 2.2.2.19 ICMP4 type:code)."""
    rule = "PING=v2.30|Action=Allow|Active=TRUE|Dir=In|Protocol=1|ICMP4=8:*|Name=echo|"
    assert check(ruleset(rule), requirement(protocol="icmp", icmp_type=8)).status == Status.PASS
    verdict = check(ruleset(rule), requirement(protocol="icmp", icmp_type=13))
    assert verdict.status == Status.FAIL
    assert (
        verdict.counterexample
        == "icmp 203.0.113.7 -> 192.0.2.10 type 13 code 0 ipv4 profile domain"
    )


def test_loopback_is_out_of_scope() -> None:
    """Remote "any" excludes 127.0.0.0/8: an allow limited to loopback does not fail a deny."""
    rule = "LO=v2.30|Action=Allow|Active=TRUE|Dir=In|Protocol=6|LPort=5672|RA4=127.0.0.1|Name=local amqp|"
    assert (
        check(ruleset(rule), requirement(expect="deny", ports=[(5672, 5672)])).status == Status.PASS
    )
