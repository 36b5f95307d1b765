"""Exposure on Windows (checker.engine.windows.exposure), at the protocol edge: no Windows host
exists in CI. The firewall is the recorded collector JSON of tests/parsers/windows/data; its
`listening` entries are written as Get-NetTCPConnection -State Listen / Get-NetUDPEndpoint
document their objects (LocalAddress, LocalPort, OwningProcess: "Get-NetTCPConnection",
"Get-NetUDPEndpoint" on Microsoft Learn), with the owning process's path and service added by
the collector. Precedence facts are the Windows engine's (test_engine_precedence): an enabled
allow rule allows its flows unless a block rule matches, and the default inbound action blocks.
"""

from __future__ import annotations

import json
from pathlib import Path

from checker.findings import Severity, Status
from checker.pipeline import evaluate_target
from checker.policies.loader import load_policy_set

REPO = Path(__file__).resolve().parents[3]
DATA = (
    Path(__file__).resolve().parents[2]
    / "parsers"
    / "windows"
    / "data"
    / "onesite-patch-client-noncompliant.windows.json"
)
CLIENT = r"C:\Program Files\Adaptiva\AdaptivaClient\bin\AdaptivaClientService.exe"
LISTENING = [
    {
        "Protocol": "TCP",
        "LocalAddress": "0.0.0.0",
        "LocalPort": 445,
        "OwningProcess": 4,
        "ProcessPath": "System",
        "Service": None,
    },
    {
        "Protocol": "UDP",
        "LocalAddress": "0.0.0.0",
        "LocalPort": 34324,
        "OwningProcess": 2210,
        "ProcessPath": CLIENT,
        "Service": "AdaptivaClient",
    },
    {
        "Protocol": "TCP",
        "LocalAddress": "127.0.0.1",
        "LocalPort": 5939,
        "OwningProcess": 3120,
        "ProcessPath": r"C:\Program Files\Tool\tool.exe",
        "Service": None,
    },
    {
        "Protocol": "TCP",
        "LocalAddress": "::",
        "LocalPort": 8888,
        "OwningProcess": 3121,
        "ProcessPath": r"C:\Program Files\Tool\other.exe",
        "Service": None,
    },
    {
        "Protocol": "TCP",
        "LocalAddress": "0.0.0.0",
        "LocalPort": 34760,
        "OwningProcess": 3300,
        "ProcessPath": r"C:\Tools\listener.exe",
        "Service": None,
    },
]


def results(listening=LISTENING, leave_out: str = ""):
    document = json.loads(DATA.read_text(encoding="utf-8"))
    document["listening"] = listening
    requirements = load_policy_set([REPO / "policies"]).requirements_for(["onesite-patch-client"])
    requirements = tuple(r for r in requirements if r.rule_id != leave_out)
    findings, platform, problems = evaluate_target(
        "w", [("w.json", json.dumps(document, indent=1).encode())], list(requirements)
    )
    assert platform == "windows" and not problems, problems
    return {f.rule: f for f in findings if f.policy == "exposure"}


def test_windows_exposure() -> None:
    found = results()
    print({k: (v.status.value, v.message) for k, v in found.items()})
    # Rule ...0003 allows tcp 34760 for any program, and in-tcp-34760 names no program: a
    # declaration of that port whatever listens there.
    assert found["tcp-34760"].status is Status.PASS
    assert dict(found["tcp-34760"].details)["declared by"] == "onesite-patch-client/in-tcp-34760"
    # Without that declaration the socket is exposed and undeclared.
    extra = results(leave_out="in-tcp-34760")["tcp-34760"]
    assert extra.status is Status.FAIL and extra.severity is Severity.HIGH, extra.message
    assert "no allow rule declares it" in extra.message
    assert any("4B1E2C33-0A11-4C8B-9F00-000000000003" in e.text for e in extra.evidence)
    # SMB listens, but its rule (FPS-SMB-In-TCP) is disabled: the default blocks it.
    assert "tcp-445" not in found
    adaptiva = found["udp-34324"]
    assert adaptiva.status is Status.PASS
    assert "onesite-patch-client/in-udp-34324" in dict(adaptiva.details)["declared by"]
    # Loopback only, and refused by the default inbound action: no result.
    assert "tcp-5939" not in found and "tcp-8888" not in found


def test_without_listening_there_is_no_exposure_result() -> None:
    document = json.loads(DATA.read_text(encoding="utf-8"))
    requirements = load_policy_set([REPO / "policies"]).requirements_for(["onesite-patch-client"])
    findings, _, _ = evaluate_target("w", [("w.json", DATA.read_bytes())], list(requirements))
    assert not [f for f in findings if f.policy == "exposure"]
    assert "listening" not in document
