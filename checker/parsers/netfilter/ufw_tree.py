"""A ufw configuration tree (`etc/ufw/` with `etc/default/ufw`), assembled as `ufw enable` loads it.

Source of truth: ufw(8), ufw-framework(8) and the behaviour of ufw 0.36 (`ufw-init start`, run by
`ufw enable` and at boot), which the kernel tests replay in a network namespace. Per family
(iptables, then ip6tables), on a kernel without ufw chains:

1. the primary chains `ufw-before-logging-*`, `ufw-before-*`, `ufw-after-*`,
   `ufw-after-logging-*`, `ufw-reject-*`, `ufw-track-*` are created and INPUT, OUTPUT and
   FORWARD jump to them in that order;
2. a REJECT default policy puts `-j REJECT` into `ufw-reject-<dir>`; an ACCEPT one puts
   "new TCP/UDP connections ACCEPT" into `ufw-track-<dir>`;
3. `ufw-logging-deny`, `ufw-logging-allow` and `ufw-skip-to-policy-<dir>` (whose one rule is
   the default policy of its direction) are created;
4. `before[6].rules`, `after[6].rules` and `user[6].rules` are restored with
   `iptables-restore -n`: tables are not flushed, a declared user chain that exists is
   flushed, a declared built-in chain keeps its rules;
5. `ufw-before-<dir>` jumps to `ufw-user-<dir>` (after the rules of before.rules);
6. the built-in chains get the default policies of `default/ufw` (REJECT becomes DROP: the
   reject chain does the rejecting).

With `IPV6=no` in default/ufw, ip6tables gets only policies DROP and loopback ACCEPT. With
`ENABLED` not yes in ufw.conf, ufw loads nothing: every built-in chain accepts (a warning
says so). The default policies come from `../default/ufw` beside the tree (a repository that
mirrors /etc) or from the file given as `--ufw-defaults` / `ufw_defaults:`.

The logging chains are refilled from LOGLEVEL as `ufw enable` does (ufw_logging); the user
logging chains lose their first bare RETURN, and with LOGLEVEL=off get one first. (At boot
ufw-init alone runs and keeps user.rules' logging rules: LOG and RETURN only, so every verdict
is the same.)
What is left out, with a warning or a note: `before.init`/`after.init` scripts
(run at start; a warning when they hold firewall commands); `sysctl.conf` (kernel settings,
not netfilter rules). A `ufw limit` rule uses `-m recent`, whose outcome depends on the
connection history: flows it matches are indeterminate, the rest are decided.

Every rule cites the file and line it came from: fragments their own lines, the chains ufw
creates in code the `default/ufw` line of the policy they carry or the `ufw.conf` ENABLED line;
rules under a `### tuple ###` line show the `ufw` command that made them (ufw_command).
Errors name file:line; a missing file ufw-init needs is an error, as it is for ufw.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from checker.errors import Location, ParseError, Problem
from checker.model.netfilter import Rule, Ruleset, Table
from checker.parsers.netfilter import iptables_save, ufw_logging
from checker.parsers.options import ParseOptions, ParserOption, text_of

NAME = "ufw"
OPTIONS: tuple[ParserOption, ...] = (
    ParserOption(
        "ufw_defaults",
        "--ufw-defaults",
        "FILE",
        "default/ufw of a ufw tree given as a FILE folder (default: ../default/ufw beside it)",
    ),
)
# Files of a ufw tree (tree_of maps each to its tree).
TREE_FILES = (
    "user.rules",
    "user6.rules",
    "before.rules",
    "before6.rules",
    "after.rules",
    "after6.rules",
    "ufw.conf",
    "sysctl.conf",
)
# Paths whose change re-checks the tree (pre-commit hook `files:`, globs on the path's end).
HOOK_PATTERNS = (
    "ufw/user.rules",
    "ufw/user6.rules",
    "ufw/before.rules",
    "ufw/before6.rules",
    "ufw/after.rules",
    "ufw/after6.rules",
    "ufw/ufw.conf",
    "default/ufw",
)
DIRECTIONS = ("input", "output", "forward")
# ufw-init compares ENABLED and IPV6 with exactly these two spellings.
_YES = ("yes", "YES")
POLICIES = ("ACCEPT", "DROP", "REJECT")
_ASSIGNMENT = re.compile(r"(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)\Z")
_FIREWALL_COMMAND = re.compile(r"\b(ip6?tables|nft|ipset|ebtables)\b")
_PRIMARY = (
    "before-logging-{d}",
    "before-{d}",
    "after-{d}",
    "after-logging-{d}",
    "reject-{d}",
    "track-{d}",
)
_USER = (
    "user-input",
    "user-output",
    "user-forward",
    "user-logging-input",
    "user-logging-output",
    "user-logging-forward",
    "user-limit",
    "user-limit-accept",
)


def claims(folder: Path) -> bool:
    """True for a folder that holds a ufw tree (user.rules beside ufw.conf or before.rules)."""
    return (folder / "user.rules").is_file() and (
        (folder / "ufw.conf").is_file() or (folder / "before.rules").is_file()
    )


def tree_of(file: Path) -> Path | None:
    """The ufw tree a changed file belongs to (a tree file, or the default/ufw beside it)."""
    if file.parent.name == "ufw" and file.name in TREE_FILES and claims(file.parent):
        return file.parent
    if file.name == "ufw" and file.parent.name == "default":
        tree = file.parent.parent / "ufw"
        if claims(tree):
            return tree
    return None


@dataclass(frozen=True, slots=True)
class Setting:
    value: str
    where: Location


def read_settings(path: str, data: bytes) -> dict[str, Setting]:
    """KEY=VALUE lines of a file the shell sources (ufw.conf, default/ufw)."""
    text = _decode(path, data)
    settings: dict[str, Setting] = {}
    for lineno, raw in enumerate(text.split("\n"), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _ASSIGNMENT.match(line)
        if match is None:
            raise ParseError(
                Problem(path, lineno, 1, "ufw-setting", "expected KEY=VALUE (fwcheck reads only assignments here)")
            )  # fmt: skip
        value = match.group(2).strip()
        if value[:1] in ("'", '"'):
            end = value.find(value[0], 1)
            if end < 0:
                raise ParseError(Problem(path, lineno, 1, "ufw-setting", "unterminated quote"))
            value = value[1:end]
        else:
            value = value.split("#", 1)[0].split()[0] if value.split("#", 1)[0].strip() else ""
        settings[match.group(1)] = Setting(value, Location(path, lineno))
    return settings


def _decode(path: str, data: bytes) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise ParseError(Problem(path, line, 0, "encoding", "not UTF-8 text")) from None
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise ParseError(Problem(path, line, 0, "binary", "binary data (NUL byte)"))
    return text


def _read(path: str, needed_by: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise ParseError(Problem(path, 0, 0, "ufw-missing", f"missing: {needed_by}")) from None
    except OSError as error:
        raise ParseError(
            Problem(path, 0, 0, "unreadable", f"cannot read: {error.strerror or error}")
        ) from None


@dataclass(slots=True)
class _Stream:
    """What iptables-restore -n calls leave in one family's tables, as one restore text: per
    table, the lines in load order; declarations are rewritten to what -n does with them."""

    tables: dict[str, list[tuple[str, Location, str | None]]] = field(default_factory=dict)
    opened: dict[str, Location] = field(default_factory=dict)
    chains: dict[str, set[str]] = field(default_factory=dict)

    def lines(self, table: str, where: Location) -> list[tuple[str, Location, str | None]]:
        if table not in self.tables:
            # ufw-init runs on a kernel whose chains ufw does not manage as it left them;
            # fwcheck describes what ufw loads, so the built-in chains start accepting.
            self.opened[table] = where
            self.chains[table] = set()
            self.tables[table] = [
                (f":{name} ACCEPT", where, None) for name in iptables_save.BUILTIN[table]
            ]
        return self.tables[table]

    def add(self, text: str, where: Location, table: str = "filter") -> None:
        out = self.lines(table, where)
        if text.startswith(":"):
            out.append(self._declare(table, text, where))
        else:
            out.append((text, where, None))

    def _declare(self, table: str, text: str, where: Location) -> tuple[str, Location, None]:
        words = text[1:].split()
        name = words[0] if words else ""
        policy = words[1] if len(words) > 1 else "-"
        if name in iptables_save.BUILTIN[table]:
            # -n: a declared built-in chain keeps its rules; a policy other than - is set.
            return (f"-P {name} {policy}" if policy != "-" else "", where, None)
        if name in self.chains[table]:
            return (f"-F {name}", where, None)  # -n flushes a declared chain that exists
        self.chains[table].add(name)
        return (text, where, None)

    def logging_return(self, chain: str, loglevel: Setting) -> None:
        """What ufw's start does to a user logging chain: it deletes the first bare RETURN
        (a `deny log-all` rule's own RETURN goes with it), and with LOGLEVEL=off puts one first."""
        lines = self.tables["filter"]
        for index, (text, _, _) in enumerate(lines):
            words = text.split()
            if words[:1] in (["-A"], ["-I"]) and words[1:] == [chain, "-j", "RETURN"]:
                del lines[index]
                break
        if loglevel.value == "off":
            lines.append((f"-I {chain} -j RETURN", loglevel.where, None))

    def restore(self, path: str, data: bytes) -> None:
        """Replay one fragment file as `iptables-restore -n` reads it."""
        text = _decode(path, data)
        table: str | None = None
        opened = 0
        command: str | None = None
        for lineno, raw in enumerate(text.split("\n"), 1):
            line = raw.strip()
            where = Location(path, lineno)
            if not line:
                continue
            if line.startswith("#"):
                command = _tuple_command(line, command)
                continue
            if line.startswith("*"):
                if table is not None:
                    raise ParseError(
                        Problem(path, lineno, 1, "commit", f"`{line}` inside table {table} (line {opened}) without COMMIT")
                    )  # fmt: skip
                table = line[1:].strip()
                if table not in iptables_save.BUILTIN:
                    raise ParseError(
                        Problem(path, lineno, 2, "table", f"unknown table `{table}` (filter, nat, mangle, raw, security)")
                    )  # fmt: skip
                opened = lineno
                self.lines(table, where)
                continue
            if table is None:
                raise ParseError(
                    Problem(path, lineno, 1, "table", "line outside a table (no *filter/*nat/… line before it)")
                )  # fmt: skip
            if line == "COMMIT":
                table = None
                continue
            if line.startswith(":"):
                self.tables[table].append(self._declare(table, line, where))
                continue
            words = line.split()
            if len(words) > 1 and words[0] in ("-N", "--new-chain", "--new"):
                self.chains[table].add(words[1])
            elif words[0] in ("-X", "--delete-chain"):
                self.chains[table].discard(words[1]) if len(words) > 1 else self.chains[
                    table
                ].clear()
            self.tables[table].append((line, where, command))
        if table is not None:
            raise ParseError(
                Problem(path, opened, 1, "commit", f"table {table} has no COMMIT before the end of the file")
            )  # fmt: skip

    def render(self) -> tuple[str, list[tuple[Location, str | None]]]:
        """The restore text and, per line of it (1-based), where it came from."""
        out: list[str] = []
        where: list[tuple[Location, str | None]] = [(Location("?"), None)]
        for table, lines in self.tables.items():
            out.append(f"*{table}")
            where.append((self.opened[table], None))
            for text, location, command in lines:
                if text:
                    out.append(text)
                    where.append((location, command))
            out.append("COMMIT")
            where.append((self.opened[table], None))
        return "\n".join(out) + "\n", where


def _tuple_command(line: str, current: str | None) -> str | None:
    # Imported here: only a ufw tree needs it, every run imports this module (the registry).
    from checker.parsers.netfilter import ufw_command

    body = line.lstrip("#").strip()
    if line.startswith("### tuple ###"):
        parsed = ufw_command.parse_tuple(line.removeprefix("### tuple ###"))
        return ufw_command.command(parsed) if parsed else None
    if body.startswith("END RULES") or body in ("LOGGING", "RATE LIMITING"):
        return None
    return current


@dataclass(frozen=True, slots=True)
class _Config:
    folder: str
    enabled: Setting
    loglevel: Setting
    ipv6: Setting
    policies: dict[str, Setting]


def _config(folder: Path, options: ParseOptions) -> _Config:
    conf_path = str(folder / "ufw.conf")
    conf = read_settings(conf_path, _read(conf_path, "ufw-init reads ufw.conf (ENABLED)"))
    given = text_of(options, "ufw_defaults")
    defaults_path = given or os.path.normpath(folder.parent / "default" / "ufw")
    if not given and not Path(defaults_path).is_file():
        raise ParseError(
            Problem(
                str(folder), 0, 0, "ufw-defaults",
                f"no {defaults_path} beside the ufw tree: give the default/ufw file with"
                " --ufw-defaults FILE (its DEFAULT_*_POLICY and IPV6 decide the policies)",
            )
        )  # fmt: skip
    defaults = read_settings(
        defaults_path, _read(defaults_path, "the default policies (--ufw-defaults)")
    )
    enabled = conf.get("ENABLED") or Setting("no", Location(conf_path, 0))
    ipv6 = defaults.get("IPV6") or Setting("no", Location(defaults_path, 0))
    policies: dict[str, Setting] = {}
    for direction in DIRECTIONS:
        key = f"DEFAULT_{direction.upper()}_POLICY"
        setting = defaults.get(key)
        if setting is None or setting.value not in POLICIES:
            where = setting.where if setting else Location(defaults_path, 0)
            shown = f"is {setting.value!r}" if setting else "is not set"
            raise ParseError(
                Problem.at(where, "ufw-policy", f"{key} {shown}: ufw needs ACCEPT, DROP or REJECT")
            )
        policies[direction] = setting
    loglevel = conf.get("LOGLEVEL") or Setting("low", Location(conf_path, 0))
    return _Config(str(folder), enabled, loglevel, ipv6, policies)


def _family_stream(folder: Path, config: _Config, family: int) -> _Stream:
    stream = _Stream()
    kind = "" if family == 4 else "6"
    prefix = f"ufw{kind}"
    start = config.enabled.where
    if family == 6 and config.ipv6.value not in _YES:
        where = config.ipv6.where
        for name in ("INPUT", "FORWARD", "OUTPUT"):
            stream.add(f":{name} DROP", where)
        stream.add("-A INPUT -i lo -j ACCEPT", where)
        stream.add("-A OUTPUT -o lo -j ACCEPT", where)
        return stream
    for direction in DIRECTIONS:
        for form in _PRIMARY:
            stream.add(f":{prefix}-{form.format(d=direction)} - [0:0]", start)
    for direction in DIRECTIONS:
        for form in _PRIMARY:
            stream.add(f"-A {direction.upper()} -j {prefix}-{form.format(d=direction)}", start)
    for direction in DIRECTIONS:
        policy = config.policies[direction]
        if policy.value == "REJECT":
            stream.add(f"-A {prefix}-reject-{direction} -j REJECT", policy.where)
        if policy.value == "ACCEPT":
            for proto in ("tcp", "udp"):
                stream.add(
                    f"-A {prefix}-track-{direction} -p {proto} -m conntrack --ctstate NEW -j ACCEPT",
                    policy.where,
                )
    for name in ("logging-deny", "logging-allow"):
        stream.add(f":{prefix}-{name} - [0:0]", start)
    for direction in DIRECTIONS:
        stream.add(f":{prefix}-skip-to-policy-{direction} - [0:0]", start)
    for direction in DIRECTIONS:
        policy = config.policies[direction]
        stream.add(f"-A {prefix}-skip-to-policy-{direction} -j {policy.value}", policy.where)
    for part in ("before", "after"):
        path = str(folder / f"{part}{kind}.rules")
        stream.restore(path, _nonempty(path, f"ufw-init restores {part}{kind}.rules"))
    user_path = str(folder / f"user{kind}.rules")
    user = _nonempty(user_path, f"ufw-init restores user{kind}.rules")
    if f"{prefix}-user-input" not in stream.chains["filter"]:
        for name in _USER:
            stream.add(f":{prefix}-{name} - [0:0]", start)
    stream.restore(user_path, user)
    for direction in DIRECTIONS:
        stream.logging_return(f"{prefix}-user-logging-{direction}", config.loglevel)
    # ufw refills its logging chains from LOGLEVEL when it starts (ufw_logging).
    level = config.loglevel
    for chain in ufw_logging.chains(prefix):
        stream.add(f"-F {chain}", level.where)
    policies = {d: setting.value for d, setting in config.policies.items()}
    for text in ufw_logging.rules(prefix, level.value, policies):
        stream.add(text, level.where)
    for direction in DIRECTIONS:
        stream.add(f"-A {prefix}-before-{direction} -j {prefix}-user-{direction}", start)
    for name, direction in (("INPUT", "input"), ("FORWARD", "forward"), ("OUTPUT", "output")):
        policy = config.policies[direction]
        # The built-in policy cannot reject: REJECT is DROP there, ufw-reject-* rejects first.
        stream.add(f":{name} {'DROP' if policy.value == 'REJECT' else policy.value}", policy.where)
    return stream


def _nonempty(path: str, needed_by: str) -> bytes:
    data = _read(path, needed_by)
    if not data.strip():
        raise ParseError(Problem(path, 1, 0, "ufw-missing", f"empty: {needed_by}"))
    return data


def parse_folder(folder: Path, options: ParseOptions) -> Ruleset:
    """The ruleset (both families) that `ufw enable` loads from the tree in `folder`."""
    config = _config(folder, options)
    warnings = list(_init_warnings(folder))
    if config.enabled.value not in _YES:
        warnings.append(
            f"{config.enabled.where}: ENABLED={config.enabled.value or '(unset)'}: ufw loads no"
            " rules at boot, so every built-in chain accepts"
        )
        tables: list[Table] = []
        for family in (4, 6):
            stream = _Stream()
            stream.lines("filter", config.enabled.where)
            tables.extend(_parse(stream, folder, family, warnings).tables)
        return Ruleset(tuple(tables), frozenset({4, 6}), str(folder), tuple(warnings))
    rulesets = [
        _parse(_family_stream(folder, config, family), folder, family, warnings)
        for family in (4, 6)
    ]
    families = frozenset().union(*(r.families for r in rulesets))
    tables = [table for ruleset in rulesets for table in ruleset.tables]
    return Ruleset(tuple(tables), families, str(folder), tuple(warnings))


def _init_warnings(folder: Path) -> list[str]:
    found = []
    for name in ("before.init", "after.init"):
        path = folder / name
        try:
            text = path.read_text("utf-8", errors="replace")
        except OSError:
            continue
        for lineno, line in enumerate(text.split("\n"), 1):
            if not line.strip().startswith("#") and _FIREWALL_COMMAND.search(line):
                found.append(
                    f"{path}:{lineno}: {name} runs firewall commands when ufw starts; fwcheck"
                    " does not run scripts, so what it adds is not in the model"
                )
                break
    return found


def _parse(stream: _Stream, folder: Path, family: int, warnings: list[str]) -> Ruleset:
    text, where = stream.render()
    origin = str(folder / ("ufw-enable.iptables" if family == 4 else "ufw-enable.ip6tables"))
    try:
        ruleset = iptables_save.parse(text.encode(), origin)
    except ParseError as error:
        raise ParseError(*(_located(p, origin, where) for p in error.problems)) from None
    for warning in ruleset.warnings:
        head, sep, rest = warning.partition(": ")
        name, _, line = head.rpartition(":")
        if name == origin and line.isdigit() and int(line) < len(where):
            warning = f"{where[int(line)][0]}{sep}{rest}"
        warnings.append(warning)
    return replace(
        ruleset, tables=tuple(_relocated(t, where) for t in ruleset.tables), origin=str(folder)
    )


def _located(problem: Problem, origin: str, where: list[tuple[Location, str | None]]) -> Problem:
    if problem.file != origin or not 0 < problem.line < len(where):
        return (
            replace(problem, file=str(Path(origin).parent)) if problem.file == origin else problem
        )
    location = where[problem.line][0]
    return Problem(location.file, location.line, problem.col, problem.code, problem.message)


def _relocated(table: Table, where: list[tuple[Location, str | None]]) -> Table:
    def at(location: Location) -> Location:
        return where[location.line][0] if 0 < location.line < len(where) else location

    def rule(item: Rule) -> Rule:
        location, command = (
            where[item.origin.line] if 0 < item.origin.line < len(where) else (item.origin, None)
        )
        text = f"{command}   [{item.text}]" if command else item.text
        return replace(item, origin=location, text=text)

    chains = tuple(
        replace(
            chain,
            rules=tuple(rule(r) for r in chain.rules),
            policy_origin=at(chain.policy_origin) if chain.policy_origin else None,
        )
        for chain in table.chains
    )
    return replace(table, chains=chains, origin=at(table.origin))
