"""Parsers for the three vendor port tables in ../shared/seeds, and the coverage check.

Each seed row becomes a `SeedRow`: the role it belongs to, the flows it names, and what the
policy must say about them. `missing_rows()` lists the rows the resolved requirements of their
role do not cover, so a dropped rule shows up as a missing row.

Readings of the tables (each also documented in the shipped policy that encodes the row):
- "HTTP" means TCP (seeds/README.md); PADS4's NTP row names no protocol: UDP 123.
- "Inbound / Outbound", "Incoming Outgoing", "Outgoing and Incoming": one flow per direction.
- "4525 or 443", "80 and/or 443": alternatives; the row is covered when one of them is.
- Local-only ports (PADS4 "local used ports", the 1E Client service <-> UI port 7766) must not be
  reachable from other hosts: covered by an inbound `expect: deny` rule.
- 1E "TCP 400n" and the portless poke row are the Switch poke port, switch port + 1 = 4001.
- Adaptiva's Process column: every program named must have its own rule ("N/A": no program).
- The 1E table of "ports used within the 1E Platform ... should not affect firewall
  requirements" is not a firewall requirement and is not parsed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from checker.policies.model import Requirement

TCP, UDP, ICMP = 6, 17, 1
PROTOCOLS = {"TCP": TCP, "HTTP": TCP, "UDP": UDP, "ICMP": ICMP}
DIRECTIONS = {
    "inbound": "inbound",
    "incoming": "inbound",
    "outbound": "outbound",
    "outgoing": "outbound",
}
SWITCH_POKE_PORT = 4001


@dataclass(frozen=True)
class SeedRow:
    table: str
    role: str
    text: str
    # Every listed port must be covered, unless any_port (alternatives). None: a portless row.
    ports: tuple[int, ...] | None
    any_port: bool
    protocol: int
    directions: tuple[str, ...]
    # No direction in the table: either direction covers the row.
    any_direction: bool = False
    expect: str = "allow"
    # None: not checked; otherwise each program (None = no program scope) needs its own rule.
    programs: tuple[str | None, ...] | None = None


def _directions(text: str) -> tuple[str, ...]:
    found = [DIRECTIONS[word] for word in re.findall(r"[a-z]+", text.lower()) if word in DIRECTIONS]
    return tuple(dict.fromkeys(found))


# --- Adaptiva OneSite Patch: markdown tables -------------------------------------------------

ADAPTIVA_SECTIONS = {
    "OneSite Patch Server port configuration": "onesite-patch-server",
    "OneSite Patch Client port configuration": "onesite-patch-client",
}


def _adaptiva_programs(process: str) -> tuple[str | None, ...]:
    if process == "N/A":
        return (None,)
    if process.endswith(" and the system process"):
        return (process.removesuffix(" and the system process"), "System")
    return tuple(part.strip() for part in process.split("/"))


def parse_adaptiva(text: str) -> list[SeedRow]:
    rows: list[SeedRow] = []
    role = None
    for line in text.splitlines():
        if line.startswith("## "):
            role = ADAPTIVA_SECTIONS.get(line[3:].strip())
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if role is None or len(cells) != 5 or cells[0] in ("Port", "") or cells[0].startswith("-"):
            continue
        port, protocol, direction, process, description = cells
        rows.append(
            SeedRow(
                table="adaptiva",
                role=role,
                text=line.strip(),
                ports=None if port == "N/A" else (int(port),),
                any_port=False,
                protocol=PROTOCOLS[protocol],
                directions=_directions(direction),
                programs=_adaptiva_programs(process),
            )
        )
    return rows


# --- PADS4: run-together text -----------------------------------------------------------------

PADS4_SECTIONS = {
    "PADS4 Server ports used with external connections": ("pads4-server", False),
    "PADS4 Server local used ports": ("pads4-server", True),
    "PADS4 Viewer ports": ("pads4-viewer", False),
    "PADS4 HTML5 Viewer ports": ("pads4-html5-viewer", False),
}
PADS4_ROW = re.compile(
    r"^(?P<ports>\d+(?: (?:or|and/or|and) \d+)*)"
    r"(?P<protocol>TCP|UDP|HTTP)?"
    r"(?P<direction>Inbound / Outbound|Inbound|Outbound)?"
    r"(?P<description>.+)$"
)
PADS4_HTML5 = re.compile(r"^Port (?P<ports>\d+(?: (?:or|and/or|and) \d+)*) \((?P<protocol>HTTP)\)$")


def parse_pads4(text: str) -> list[SeedRow]:
    rows: list[SeedRow] = []
    section: tuple[str, bool] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if line in PADS4_SECTIONS:
            section = PADS4_SECTIONS[line]
            continue
        if section is None:
            continue
        role, local_only = section
        match = PADS4_ROW.match(line) or PADS4_HTML5.match(line)
        if match is None:
            continue
        ports = tuple(int(p) for p in re.findall(r"\d+", match["ports"]))
        alternatives = " or " in match["ports"] or " and/or " in match["ports"]
        groups = match.groupdict()
        # "123Inbound / Outbound Required for NTP": no protocol given; NTP is UDP.
        protocol = PROTOCOLS[groups["protocol"]] if groups["protocol"] else UDP
        if local_only:
            directions, expect, any_direction = ("inbound",), "deny", False
        elif groups.get("direction"):
            directions, expect, any_direction = _directions(groups["direction"]), "allow", False
        else:
            directions, expect, any_direction = ("inbound", "outbound"), "allow", True
        rows.append(
            SeedRow(
                table="pads4",
                role=role,
                text=line,
                ports=ports,
                any_port=alternatives,
                protocol=protocol,
                directions=directions,
                any_direction=any_direction,
                expect=expect,
            )
        )
    return rows


# --- 1E Platform: one table cell per line ---------------------------------------------------

ONE_E_TABLES = (
    ("single-server where Tachyon Master Stack", "single"),
    ("Catalog Web Server is on a different server", "catalog"),
    ("1E Response Stack that is remote", "remote-rs"),
    ("hosting 1E Switch and Background Channel components on a DMZ", "dmz"),
)
ONE_E_ROLES = {
    ("single", "1E Server (Master Stack)"): "1e-master-stack",
    ("single", "1E Server (Response Stack)"): "1e-response-stack",
    ("single", "SQL Server (TachyonMaster database)"): "1e-sql-server",
    ("single", "SQL Server (TachyonResponses database)"): "1e-sql-server",
    ("single", "Clients"): "1e-client",
    ("single", "Browsers"): "1e-console-workstation",
    ("catalog", "1E Server (Master Stack)"): "1e-master-stack-remote-catalog",
    ("catalog", "Catalog Server"): "1e-catalog-server",
    ("catalog", "SQL Server (1E Catalog database)"): "1e-sql-server",
    ("catalog", "Browsers"): "1e-console-workstation",
    ("remote-rs", "1E Server (Response Stack)"): "1e-remote-response-stack",
    ("remote-rs", "1E Server (Master Stack)"): "1e-master-stack-remote-switches",
    ("remote-rs", "SQL Server (TachyonMaster database)"): "1e-sql-server",
    ("dmz", "DMZ Server"): "1e-dmz-server",
    ("dmz", "1E Server (Response Stack)"): "1e-response-stack-dmz",
    ("dmz", "1E Server (Master Stack)"): "1e-master-stack-remote-switches",
    # Internet-facing clients are 1E clients: the same two outbound flows.
    ("dmz", "Internet-facing clients"): "1e-client",
}
# Both ends on one device (the 1E Client service and its UI): local only.
ONE_E_LOCAL_ONLY = {("1e-client", 7766)}
COLUMNS = 6


def _table_cells(lines: Sequence[str], start: int) -> list[str]:
    """The cells after a |---| line, up to the first line that is not part of the table."""
    body: list[str] = []
    for line in lines[start:]:
        if not line.rstrip().endswith("|"):
            break
        body.append(line)
    return [cell.strip() for cell in "\n".join(body).split("|")][:-1]


def parse_1e(text: str) -> list[SeedRow]:
    lines = text.splitlines()
    rows: list[SeedRow] = []
    context: str | None = "single"
    for index, line in enumerate(lines):
        for marker, name in ONE_E_TABLES:
            if marker in line:
                context = name
        if "not listed in the Single-Server table" in line:
            context = None  # internal ports: "should not affect firewall requirements"
        if not line.startswith("|---") or line.count("|") - 1 != COLUMNS or context is None:
            continue
        cells = _table_cells(lines, index + 1)
        for first in range(0, len(cells) - COLUMNS, COLUMNS + 1):
            row = cells[first : first + COLUMNS + 1]
            _, device, port_text, _protocol, direction, usage, _configurable = row
            role = ONE_E_ROLES[(context, device)]
            protocol_word, *rest = port_text.split(" ", 1)
            numbers = re.findall(r"\b\d+\b", rest[0]) if rest else []
            if not numbers:  # "TCP" alone (the poke row) or "TCP 400n"
                ports: tuple[int, ...] = (SWITCH_POKE_PORT,)
            else:
                ports = tuple(int(n) for n in numbers)
            local_only = any((role, port) in ONE_E_LOCAL_ONLY for port in ports)
            rows.append(
                SeedRow(
                    table=f"1e/{context}",
                    role=role,
                    text=f"{device} | {port_text} | {direction} | {usage[:60]}",
                    ports=ports,
                    any_port=False,
                    protocol=PROTOCOLS[protocol_word],
                    directions=("inbound",) if local_only else _directions(direction),
                    expect="deny" if local_only else "allow",
                )
            )
    return rows


def parse_seeds(seeds_dir: Path) -> list[SeedRow]:
    def read(name: str) -> str:
        return (seeds_dir / name).read_text(encoding="utf-8")

    return (
        parse_adaptiva(read("adaptiva-onesite-patch-ports.md"))
        + parse_pads4(read("pads4-ports.txt"))
        + parse_1e(read("1e-platform-ports.txt"))
    )


# --- coverage ---------------------------------------------------------------------------------


def _covers(
    requirement: Requirement,
    row: SeedRow,
    port: int | None,
    direction: str,
    program: str | None,
    check_program: bool,
) -> bool:
    if requirement.direction.value != direction or requirement.expect.value != row.expect:
        return False
    if requirement.protocol != row.protocol:
        return False
    if port is None:
        if requirement.ports is not None:
            return False
    elif requirement.ports is not None and not any(
        lo <= port <= hi for lo, hi in requirement.ports
    ):
        return False
    if check_program:
        if program is None:
            return requirement.program is None
        return (requirement.program or "").lower() == program.lower()
    return True


def row_covered(row: SeedRow, requirements: Iterable[Requirement]) -> bool:
    requirements = list(requirements)
    ports: Sequence[int | None] = row.ports if row.ports is not None else (None,)
    programs: Sequence[str | None] = row.programs if row.programs is not None else (None,)
    check_program = row.programs is not None

    def flow_covered(port: int | None, direction: str) -> bool:
        return all(
            any(_covers(r, row, port, direction, program, check_program) for r in requirements)
            for program in programs
        )

    def direction_covered(direction: str) -> bool:
        hits = [flow_covered(port, direction) for port in ports]
        return any(hits) if row.any_port else all(hits)

    hits = [direction_covered(direction) for direction in row.directions]
    return any(hits) if row.any_direction else all(hits)


def missing_rows(rows: Iterable[SeedRow], requirements_of_role) -> list[SeedRow]:
    """Rows not covered by the resolved requirements of their role (default params)."""
    return [row for row in rows if not row_covered(row, requirements_of_role(row.role))]
