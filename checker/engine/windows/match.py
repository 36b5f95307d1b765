"""What a Windows firewall rule matches, as a lower and an upper bound in the packet space.

Dimensions (checker.engine.space): family (4/6), proto, remote, local (addresses; IPv4 uses
0..2**32-1), rport, lport (remote/local ports, as Windows names them: LPort is this host's port
in either direction), icmp (type << 8 | code), program, service, package (symbol indexes).

Symbols. Program, service and package are names; each becomes a dimension whose values are the
names some rule (or the requirement) mentions, plus catch-alls:
- program: 0 = any program no rule names; 1.. = each program named (normalized: environment
  variables expanded with the documented defaults below, `/` -> `\\`, lower-cased, because
  Windows compares paths case-insensitively).
- service: 0 = not a service, 1 = a service no rule names, 2.. = each named service (lower-case).
  `Svc=*` means "any service" (MS-FASP 2.2.37 wszLocalService "*"): every value but 0.
- package: 0 = not in an app container, 1 = another package, 2.. = each named package SID.
A requirement without `program` spans every program value (so it includes programs no rule
names); with `program`, it spans the named programs with that full path or, when only a file
name is given, with that file name; when no rule names it, the catch-all 0 (so a rule for
another program never meets it). A requirement naming a service but no program spans the programs that rules for that service
name (the service's host process, usually svchost.exe), or every program when no rule names one.
A program named by path is taken to be a desktop program
outside any app container (package 0): the policy format has no package field.

Bounds. `lower` is what the rule surely matches, `upper` what it may match; they differ when the
rule depends on something only the live host knows:
- address keywords (LocalSubnet, DNS, DHCP, WINS, DefaultGateway, Intranet, Internet,
  PlayToDevice, IntranetRemoteAccess, CaptivePortal): unknown address sets, so the keyword part
  adds nothing to `lower` and the whole family's range to `upper`;
- port keywords (RPC, RPC-EPMap, Teredo, IPHTTPS, PlayToDiscovery, mDNS …): the same on ports;
- interface types/interfaces, IPsec requirements (Security=, authenticated bypass), remote or
  local user/machine authorization, trust tuple keywords, network names, unknown keys: the rule
  may match less than written, so `lower` is empty and `upper` is what is written.
Authentication is the one condition whose negative is certain: every peer can send flows
without IPsec, and an authenticated-only rule (bypass, Security=, RMauth/RUAuth) matches none of
them. So such rules never rescue an `expect: allow` (the unauthenticated variant of the flow is
blocked), while for `expect: deny` they leave the verdict indeterminate (an authenticated peer
may or may not exist).
One more certainty is kept: LocalSubnet is never empty. Any host whose network exposure is checked
has a non-loopback address of the family asked about, and the subnet of that address is in
LocalSubnet (INetFwRule RemoteAddresses: "LocalSubnet indicates any local address on the local
subnet"). So a rule whose only uncertainty is a LocalSubnet remote address surely matches *some*
remote address of that family: `witness` keeps that part for the engine.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from checker.engine.space import Dim, Interval, Space
from checker.model.windows import (
    WindowsRule,
    ascii_digits,
    parse_address,
    parse_icmp,
    parse_port,
)
from checker.policies.model import Direction, Requirement

V4_MAX = 2**32 - 1
V6_MAX = 2**128 - 1
FAMILY_MAX = {4: V4_MAX, 6: V6_MAX}
LOOPBACK = {4: (0x7F000000, 0x7FFFFFFF), 6: (1, 1)}

# Defaults of the system environment variables rules use, as a default installation sets them
# ("Recognized environment variables", Microsoft Learn). Per-user variables (%USERPROFILE%,
# %APPDATA%) have no machine-wide value and stay unexpanded.
ENVIRONMENT_DEFAULTS = {
    "systemroot": r"C:\Windows",
    "windir": r"C:\Windows",
    "systemdrive": "C:",
    "programfiles": r"C:\Program Files",
    "programw6432": r"C:\Program Files",
    "programfiles(x86)": r"C:\Program Files (x86)",
    "commonprogramfiles": r"C:\Program Files\Common Files",
    "commonprogramw6432": r"C:\Program Files\Common Files",
    "commonprogramfiles(x86)": r"C:\Program Files (x86)\Common Files",
    "programdata": r"C:\ProgramData",
    "allusersprofile": r"C:\ProgramData",
    "public": r"C:\Users\Public",
}
_VARIABLE = re.compile(r"%([^%\\]+)%")
# Rule conditions that narrow a rule on the live host; Platform is handled apart.
_PLATFORM_CERTAIN_MAX = (10, 0)


def normalize_program(path: str) -> str:
    expanded = _VARIABLE.sub(
        lambda match: ENVIRONMENT_DEFAULTS.get(match.group(1).lower(), match.group(0)),
        path.strip().strip('"'),
    )
    return expanded.replace("/", "\\").lower()


def program_file_name(normalized: str) -> str:
    return normalized.rsplit("\\", 1)[-1]


@dataclass(frozen=True, slots=True)
class Symbols:
    programs: tuple[str, ...]  # index 0 = "" (any other program)
    services: tuple[str, ...]  # 0 = "" (no service), 1 = "*" (another service)
    packages: tuple[str, ...]  # 0 = "" (no package), 1 = "*" (another package)
    # Service (lower-case) -> the programs rules for that service name (its host process).
    service_hosts: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @classmethod
    def build(cls, rules: Iterable[WindowsRule], requirement: Requirement) -> Symbols:
        programs: set[str] = set()
        services: set[str] = set()
        packages: set[str] = set()
        hosts: dict[str, set[str]] = {}
        for rule in rules:
            if rule.program and rule.program.strip().lower() not in ("*", "any"):
                programs.add(normalize_program(rule.program))
                if rule.service:
                    hosts.setdefault(rule.service.strip().lower(), set()).add(
                        normalize_program(rule.program)
                    )
            if (
                rule.service
                and rule.service.strip() not in ("*",)
                and rule.service.lower() != "any"
            ):
                services.add(rule.service.strip().lower())
            if (
                rule.package
                and rule.package.strip() not in ("*",)
                and rule.package.lower() != "any"
            ):
                packages.add(rule.package.strip().lower())
        if requirement.service:
            services.add(requirement.service.lower())
        return cls(
            ("",) + tuple(sorted(programs)),
            ("", "*") + tuple(sorted(services)),
            ("", "*") + tuple(sorted(packages)),
            tuple((service, tuple(sorted(paths))) for service, paths in sorted(hosts.items())),
        )

    def service_host_programs(self, service: str) -> list[int]:
        """The program symbols of the process hosting `service`, as rules for it name it."""
        for name, paths in self.service_hosts:
            if name == service.lower():
                return [self.programs.index(path) for path in paths]
        return []

    def dims(self) -> tuple[Dim, ...]:
        return (
            ("family", 4, 6),
            ("proto", 0, 255),
            ("remote", 0, V6_MAX),
            ("local", 0, V6_MAX),
            ("rport", 0, 65535),
            ("lport", 0, 65535),
            ("icmp", 0, 65535),
            ("program", 0, len(self.programs) - 1),
            ("service", 0, len(self.services) - 1),
            ("package", 0, len(self.packages) - 1),
        )

    def requirement_programs(self, program: str) -> list[int]:
        wanted = normalize_program(program)
        if "\\" in wanted:
            found = [i for i, name in enumerate(self.programs) if i and name == wanted]
        else:
            found = [
                i for i, name in enumerate(self.programs) if i and program_file_name(name) == wanted
            ]
        return found or [0]

    def program_text(self, index: int) -> str:
        return self.programs[index] if index else "any program no rule names"


@dataclass(frozen=True, slots=True)
class RuleMatch:
    rule: WindowsRule
    lower: Space
    upper: Space
    # Why lower and upper differ (empty when they are equal).
    reasons: tuple[str, ...]
    # Flows of which the rule surely matches some remote address (see module docstring).
    witness: Space
    # The rule matches only IPsec-authenticated peers (bypass, Security=, RMauth/RUAuth): it
    # surely matches no flow of an unauthenticated peer, and any peer can send such flows.
    authenticated_only: bool = False


def _value_ranges(
    items: Sequence[str], parse: object, full: Interval
) -> tuple[list[Interval], list[str]]:
    """Exact ranges and keywords of a port/ICMP list; an empty list means the full range."""
    if not items:
        return [full], []
    ranges: list[Interval] = []
    keywords: list[str] = []
    for item in items:
        parsed = parse(item)  # type: ignore[operator]
        if parsed is None:
            return [full], []
        if isinstance(parsed, str):
            keywords.append(parsed)
        else:
            ranges.append(parsed)
    return ranges, keywords


def _address_ranges(items: Sequence[str], family: int) -> tuple[list[Interval], list[str], bool]:
    """(exact ranges, keywords, matches this family at all) for one side's address list."""
    if not items:
        return [(0, FAMILY_MAX[family])], [], True
    ranges: list[Interval] = []
    keywords: list[str] = []
    for item in items:
        parsed = parse_address(item)
        if parsed is None:
            return [(0, FAMILY_MAX[family])], [], True
        if parsed.keyword is not None:
            if parsed.family in (None, family):
                keywords.append(parsed.keyword)
        elif parsed.family == family:
            ranges.append((parsed.first, parsed.last))
    return ranges, keywords, bool(ranges or keywords)


def _platform_certain(value: str) -> bool:
    """`Platform=2:6:2` + `Platform2=GTEQ`: valid on Windows 6.2 (8/2012) and later. Versions up to
    10.0 hold on every supported Windows; a later minimum may exclude the host."""
    parts = value.split(":")
    if len(parts) != 3 or not all(ascii_digits(part) for part in parts):
        return False
    return (int(parts[1]), int(parts[2])) <= _PLATFORM_CERTAIN_MAX


def _rule_uncertainties(rule: WindowsRule) -> list[str]:
    reasons: list[str] = []
    if rule.action == "bypass":
        reasons.append("authenticated bypass (applies only to IPsec-authenticated peers)")
    if rule.security:
        reasons.append(f"requires IPsec ({', '.join(rule.security)})")
    if rule.interface_types:
        reasons.append(f"interface types {', '.join(rule.interface_types)}")
    if rule.interfaces:
        reasons.append("specific interfaces")
    platform_gteq = any(
        key.lower() == "platform2" and value.strip().upper() == "GTEQ"
        for key, value in rule.conditions
    )
    for key, value in rule.conditions:
        if key.lower() == "platform2":
            continue
        if key.lower() == "platform" and platform_gteq and _platform_certain(value):
            continue
        reasons.append(f"{key}={value[:40]}")
    for key, _ in rule.unknown:
        reasons.append(f"unknown key {key}")
    return reasons


def compile_rule(rule: WindowsRule, symbols: Symbols, dims: tuple[Dim, ...]) -> RuleMatch:
    lower = Space.empty(dims)
    upper = Space.empty(dims)
    witness = Space.empty(dims)
    reasons = _rule_uncertainties(rule)
    whole_rule_uncertain = bool(reasons)
    common: dict[str, list[Interval]] = {}
    if rule.protocol is not None:
        common["proto"] = [(rule.protocol, rule.protocol)]
    local_ports, local_port_keywords = _value_ranges(rule.local_ports, parse_port, (0, 65535))
    remote_ports, remote_port_keywords = _value_ranges(rule.remote_ports, parse_port, (0, 65535))
    icmp, _ = _value_ranges(rule.icmp_types, parse_icmp, (0, 65535))
    common["icmp"] = icmp
    if rule.program and rule.program.strip().lower() not in ("*", "any"):
        common["program"] = [(symbols.programs.index(normalize_program(rule.program)),) * 2]
    if rule.service and rule.service.lower() != "any":
        service = rule.service.strip().lower()
        index = 1 if service == "*" else symbols.services.index(service)
        common["service"] = [(1, len(symbols.services) - 1)] if service == "*" else [(index, index)]
    if rule.package and rule.package.lower() != "any":
        package = rule.package.strip().lower()
        common["package"] = (
            [(1, len(symbols.packages) - 1)]
            if package == "*"
            else [(symbols.packages.index(package),) * 2]
        )
    for keywords, name in (
        (local_port_keywords, "local port"),
        (remote_port_keywords, "remote port"),
    ):
        if keywords:
            reasons.append(f"{name} keyword {', '.join(keywords)}")
    for family in (4, 6):
        remote, remote_keywords, remote_any = _address_ranges(rule.remote_addresses, family)
        local, local_keywords, local_any = _address_ranges(rule.local_addresses, family)
        if not (remote_any and local_any):
            continue
        full = [(0, FAMILY_MAX[family])]
        exact = {
            **common,
            "family": [(family, family)],
            "remote": remote,
            "local": local,
            "lport": local_ports,
            "rport": remote_ports,
        }
        loose = {
            **exact,
            "remote": full if remote_keywords else remote,
            "local": full if local_keywords else local,
            "lport": [(0, 65535)] if local_port_keywords else local_ports,
            "rport": [(0, 65535)] if remote_port_keywords else remote_ports,
        }
        for keyword_list, side in ((remote_keywords, "remote"), (local_keywords, "local")):
            if keyword_list:
                reasons.append(
                    f"{side} address keyword {', '.join(sorted(set(keyword_list)))} (IPv{family})"
                )
        upper = upper.union(Space.where(dims, loose))
        if not whole_rule_uncertain:
            if remote and local and local_ports and remote_ports:
                lower = lower.union(Space.where(dims, exact))
            only_local_subnet = set(remote_keywords) == {"LocalSubnet"}
            if only_local_subnet and not (
                local_keywords or local_port_keywords or remote_port_keywords
            ):
                witness = witness.union(Space.where(dims, {**exact, "remote": full}))
    authenticated_only = (
        rule.action == "bypass"
        or bool(rule.security)
        or any(key.lower() in ("rmauth", "ruauth") for key, _ in rule.conditions)
    )
    return RuleMatch(rule, lower, upper, tuple(dict.fromkeys(reasons)), witness, authenticated_only)


def requirement_space(requirement: Requirement, symbols: Symbols, dims: tuple[Dim, ...]) -> Space:
    """The flows the requirement speaks of (remote loopback excluded: out of scope)."""
    space = Space.empty(dims)
    inbound = requirement.direction == Direction.INBOUND
    for family in sorted(requirement.families):
        full = (0, FAMILY_MAX[family])
        if requirement.remote is None:
            remote = [full]
        else:
            remote = [(lo, hi) for fam, lo, hi in requirement.remote if fam == family]
        if requirement.local is None:
            local = [full]
        else:
            local = [(lo, hi) for fam, lo, hi in requirement.local if fam == family]
        if not remote or not local:
            continue
        constraints: dict[str, list[Interval]] = {
            "family": [(family, family)],
            "remote": remote,
            "local": local,
        }
        if requirement.protocol is not None:
            constraints["proto"] = [(requirement.protocol, requirement.protocol)]
        if requirement.ports is not None:
            constraints["lport" if inbound else "rport"] = list(requirement.ports)
        if requirement.source_ports is not None:
            # The initiator's port: the remote port of an inbound flow, the local of an outbound.
            constraints["rport" if inbound else "lport"] = list(requirement.source_ports)
        if requirement.icmp_type is not None:
            constraints["icmp"] = [(requirement.icmp_type << 8, requirement.icmp_type << 8 | 0xFF)]
        if requirement.program:
            constraints["program"] = [
                (i, i) for i in symbols.requirement_programs(requirement.program)
            ]
            constraints["package"] = [(0, 0)]
        if requirement.service:
            index = symbols.services.index(requirement.service.lower())
            constraints["service"] = [(index, index)]
            hosts = symbols.service_host_programs(requirement.service)
            if hosts and not requirement.program:
                # A service runs in its host process (svchost.exe …), the program rules for
                # that service name; other programs do not carry its flows.
                constraints["program"] = [(i, i) for i in hosts]
        part = Space.where(dims, constraints)
        carve = [LOOPBACK[family]] + [
            (lo, hi) for fam, lo, hi in requirement.except_remote if fam == family
        ]
        part = part.subtract(Space.where(dims, {"family": [(family, family)], "remote": carve}))
        space = space.union(part)
    return space


def widen(space: Space, name: str) -> Space:
    """The same flows with dimension `name` unconstrained (a cylinder over that dimension)."""
    index = space.index(name)
    _, low, high = space.dims[index]
    return Space(
        space.dims, (box[:index] + (((low, high),),) + box[index + 1 :] for box in space.boxes)
    ).compact()
