"""Exposure on Windows Defender Firewall: which listening sockets can a remote peer reach?

The Windows counterpart of checker.engine.netfilter.exposure, from the collector JSON's `listening`
(Get-NetTCPConnection -State Listen, Get-NetUDPEndpoint, with the owning process's path and
service). A socket's flows are asked of the Windows engine (checker.engine.windows.engine, whose
precedence is cited there: "Windows Firewall rules" on Microsoft Learn, MS-FASP 2.2.37/2.2.38)
as "deny inbound <protocol> <port> to <address> for <program> <service>" over the profiles the
host is in: a failing deny means some peer's flow is surely allowed (exposed), a passing one
that none is, an indeterminate one that the export cannot tell.

Declared: an inbound `expect: allow` rule of the target's policies for the socket's protocol and
port, whose program (if it names one) is the socket's program (same path, or same file name
when the rule gives a bare name). Sockets on loopback (127.0.0.0/8, ::1) are never exposed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from checker.engine.netfilter.exposure import (
    ExposureResult,
    rule_id,
    severity_of,
    socket_requirement,
    unused,
)
from checker.engine.verdict import PROTOCOL_NAMES, Verdict
from checker.engine.windows import engine as windows
from checker.engine.windows.match import normalize_program, program_file_name
from checker.findings import Severity, Status
from checker.model.listening import ListeningSocket
from checker.model.windows import WindowsRuleset
from checker.policies.model import Direction, Expect, Requirement


def _same_program(wanted: str | None, program: str | None) -> bool:
    if wanted is None:
        return True
    if program is None:
        return False
    rule, socket = normalize_program(wanted), normalize_program(program)
    if "\\" in rule:
        return rule == socket
    return program_file_name(socket) == rule


def declaring(socket: ListeningSocket, requirements: Sequence[Requirement]) -> list[str]:
    keys = []
    for requirement in requirements:
        if requirement.expect is not Expect.ALLOW or requirement.exclusive:
            continue
        if requirement.direction is not Direction.INBOUND:
            continue
        if requirement.protocol not in (None, socket.protocol):
            continue
        if requirement.ports is not None and not any(
            lo <= socket.port <= hi for lo, hi in requirement.ports
        ):
            continue
        if not socket.families & requirement.families:
            continue
        if _same_program(requirement.program, socket.program):
            keys.append(requirement.key)
    return keys


def exposed(
    rulesets: Sequence[WindowsRuleset],
    socket: ListeningSocket,
    requirements: Sequence[Requirement],
    severity: Severity = Severity.HIGH,
) -> ExposureResult | None:
    asked = replace(socket_requirement(socket), program=socket.program, service=socket.service)
    verdict = windows.check(list(rulesets), asked)
    title = f"{socket.label()} is reachable only if declared"
    if verdict.status is Status.PASS:
        return None
    if verdict.status is not Status.FAIL:
        return ExposureResult(
            rule_id(socket),
            title,
            severity,
            Verdict(
                verdict.status,
                f"cannot decide whether {socket.label()} is reachable: {verdict.message}",
                verdict.counterexample,
                verdict.evidence,
            ),
            socket.origin,
        )
    keys = declaring(socket, requirements)
    profiles = verdict.message.split(" profile", 1)[0]
    row = (
        str(socket.port),
        PROTOCOL_NAMES.get(socket.protocol, str(socket.protocol)),
        socket.program or "-",
        f"remote peers ({profiles} profile)",
        ", ".join(keys) or "-",
    )
    if keys:
        message = (
            f"{socket.label()} is reachable ({verdict.message}) and declared by {', '.join(keys)}"
        )
        status = Status.PASS
    else:
        message = f"{socket.label()} is exposed and no allow rule declares it: {verdict.message}"
        status = Status.FAIL
    return ExposureResult(
        rule_id(socket),
        title,
        severity,
        Verdict(status, message, verdict.counterexample, verdict.evidence),
        socket.origin,
        row,
    )


def check(
    rulesets: Sequence[WindowsRuleset], requirements: Sequence[Requirement]
) -> list[ExposureResult]:
    sockets = [s for r in rulesets for s in r.listening]
    results: dict[str, ExposureResult] = {}
    order = {Status.FAIL: 0, Status.INDETERMINATE: 1, Status.PASS: 2}
    severity = severity_of(requirements)
    for socket in sockets:
        if socket.loopback_only:
            continue
        result = exposed(rulesets, socket, requirements, severity)
        if result is None:
            continue
        kept = results.get(result.rule)
        if kept is None or order[result.verdict.status] < order[kept.verdict.status]:
            results[result.rule] = result
    return list(results.values()) + (unused(sockets, requirements) if sockets else [])
