"""A folder that mirrors /etc/firewalld, as the netfilter Ruleset firewalld's nftables backend
would load from it (firewalld 1.x, `FirewallBackend=nftables`).

The folder given may be `etc/firewalld` itself or a repository root holding `etc/firewalld/`.
Read: firewalld.conf (DefaultZone, IPv6_rpfilter, RFC3964_IPv4, LogDenied), zones/*.xml,
policies/*.xml, services/*.xml, ipsets/*.xml, icmptypes/*.xml and direct.xml. As firewalld does,
a file under etc/firewalld replaces the definition of the same name under /usr/lib/firewalld. The
stock definitions (GPL-2.0 data, never copied into fwcheck) are read, first found wins, from
`--firewalld-defaults DIR`, from `usr/lib/firewalld` beside `etc/firewalld` in the repository, or
from the machine's /usr/lib/firewalld; failing those, from fwcheck's own table of well-known
service ports and stock zones (firewalld_builtin), with a warning.

How the definitions become rules is firewalld_compile's concern. ParseError (file:line): XML that
is not well formed, a DTD or entity, a service, zone, ipset or icmptype referenced but defined
nowhere, a DefaultZone that does not exist.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from checker.errors import Location, ParseError, Problem
from checker.model.netfilter import Ruleset
from checker.parsers.netfilter import firewalld_builtin
from checker.parsers.options import ParseOptions, ParserOption, text_of

# Imported where used: every run imports this module (the format registry reads its NAME,
# OPTIONS and claims), only a firewalld tree needs the XML reader (bench/pre_commit.py).
if TYPE_CHECKING:
    from checker.parsers.netfilter.firewalld_xml import Node

NAME = "firewalld-tree"
OPTIONS: tuple[ParserOption, ...] = (
    ParserOption(
        "firewalld_defaults",
        "--firewalld-defaults",
        "DIR",
        "firewalld's stock definitions (a copy of /usr/lib/firewalld) for etc/firewalld trees",
    ),
)
# Files under these folders belong to a firewalld tree (pre-commit's `files:` regex is built from
# PATTERNS; the folder itself is the target's file).
PATTERNS = ("firewalld/firewalld.conf", "firewalld/direct.xml", "firewalld/*/*.xml")
SYSTEM_DEFAULTS = Path("/usr/lib/firewalld")
BUILTIN = "(fwcheck built-in firewalld defaults)"
MAX_FILE_BYTES = 4 << 20
KINDS = ("zones", "services", "policies", "ipsets", "icmptypes")


def etc_dir(path: Path) -> Path | None:
    for candidate in (path, path / "etc" / "firewalld", path / "firewalld"):
        if (candidate / "firewalld.conf").is_file() or (candidate / "zones").is_dir():
            return candidate
    return None


# The folder-parser protocol of checker.parsers (FolderParser): the globs a change to which
# re-checks the tree are the same as the files the tree is read from.
HOOK_PATTERNS = PATTERNS


def sniff_folder(path: str) -> bool:
    return Path(path).is_dir() and etc_dir(Path(path)) is not None


def claims(folder: Path) -> bool:
    return sniff_folder(str(folder))


def tree_of(file: Path) -> Path | None:
    """The etc/firewalld folder a file of the tree (zones/public.xml, firewalld.conf) is in."""
    folder = file.parent
    if folder.name in KINDS:
        folder = folder.parent
    return folder if etc_dir(folder) == folder else None


def parse_folder(folder: Path, options: ParseOptions) -> tuple[Ruleset, ...]:
    """The tree's rulesets; `options["firewalld_defaults"]` names firewalld's stock definitions
    (--firewalld-defaults or a target's `firewalld_defaults:`)."""
    return parse_tree(str(folder), text_of(options, "firewalld_defaults"))


def parse_tree(
    path: str, defaults: str | None = None, system: Path | None = SYSTEM_DEFAULTS
) -> tuple[Ruleset, ...]:
    from checker.parsers.netfilter import firewalld_compile

    tree = load(path, defaults, system)
    return firewalld_compile.compile_tree(tree)


@dataclass
class Tree:
    origin: str
    etc: Path
    conf: dict[str, tuple[str, Location]]
    conf_file: str
    defaults: list[Path]
    zones: dict[str, Node] = field(default_factory=dict)
    policies: dict[str, Node] = field(default_factory=dict)
    direct: Node | None = None
    warnings: list[str] = field(default_factory=list)
    _cache: dict[tuple[str, str], Node | None] = field(default_factory=dict)

    def definition(self, kind: str, name: str, where: Location) -> Node:
        """The service/ipset/icmptype/zone NAME as firewalld would find it, or a ParseError."""
        key = (kind, name)
        if key not in self._cache:
            self._cache[key] = self._find(kind, name)
        node = self._cache[key]
        if node is None:
            raise ParseError(
                Problem.at(where, "firewalld", f"{kind[:-1]} {name!r} is defined nowhere "
                           f"(looked in {self.etc / kind} and {', '.join(map(str, self.defaults)) or 'no defaults folder'})")
            )  # fmt: skip
        return node

    def _find(self, kind: str, name: str) -> Node | None:
        if "/" in name or name.startswith("."):
            return None
        for folder in (self.etc, *self.defaults):
            file = folder / kind / f"{name}.xml"
            if file.is_file():
                return read_file(file)
        if kind == "services" and name in firewalld_builtin.SERVICES:
            self.warnings.append(
                f"service {name!r}: no definition file; used fwcheck's built-in ports"
            )
            return _builtin_service(name)
        return None


def read_file(file: Path) -> Node:
    from checker.parsers.netfilter import firewalld_xml

    origin = str(file)
    try:
        with file.open("rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        raise ParseError(
            Problem(origin, 0, 0, "unreadable", f"cannot read: {error.strerror or error}")
        ) from None
    if len(data) > MAX_FILE_BYTES:
        raise ParseError(Problem(origin, 0, 0, "too-large", f"larger than {MAX_FILE_BYTES} bytes"))
    return firewalld_xml.read(data, origin)


def _defaults(etc: Path, given: str | None, system: Path | None) -> list[Path]:
    found: list[Path] = []
    if given:
        if not Path(given).is_dir():
            raise ParseError(
                Problem(given, 0, 0, "firewalld", "--firewalld-defaults is not a folder")
            )
        found.append(Path(given))
    if etc.name == "firewalld" and etc.parent.name == "etc":
        beside = etc.parent.parent / "usr" / "lib" / "firewalld"
        if beside.is_dir():
            found.append(beside)
    if system is not None and system.is_dir():
        found.append(system)
    return found


def _conf(file: Path) -> dict[str, tuple[str, Location]]:
    settings: dict[str, tuple[str, Location]] = {}
    if not file.is_file():
        return settings
    try:
        text = file.read_bytes()[:MAX_FILE_BYTES].decode("utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ParseError(Problem(str(file), 0, 0, "firewalld", f"cannot read: {error}")) from None
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise ParseError(
                Problem(str(file), number, 0, "firewalld", f"not KEY=value: {line[:60]!r}")
            )
        settings[key.strip()] = (value.strip().strip('"'), Location(str(file), number))
    return settings


def load(path: str, defaults: str | None = None, system: Path | None = SYSTEM_DEFAULTS) -> Tree:
    etc = etc_dir(Path(path))
    if etc is None:
        raise ParseError(
            Problem(path, 0, 0, "firewalld", "no firewalld.conf or zones/ folder here")
        )
    conf_file = etc / "firewalld.conf"
    tree = Tree(path, etc, _conf(conf_file), str(conf_file), _defaults(etc, defaults, system))
    if not tree.defaults:
        tree.warnings.append(
            "no firewalld defaults folder (usr/lib/firewalld beside the tree, --firewalld-defaults,"
            " /usr/lib/firewalld): stock zones and services come from fwcheck's built-in table"
        )
    for kind, into in (("zones", tree.zones), ("policies", tree.policies)):
        for folder in (*reversed(tree.defaults), etc):
            directory = folder / kind
            if directory.is_dir():
                for file in sorted(directory.glob("*.xml")):
                    into[file.stem] = read_file(file)
    if not tree.defaults:
        for name in firewalld_builtin.ZONES:
            tree.zones.setdefault(name, _builtin_zone(name))
    if not tree.defaults and "allow-host-ipv6" not in tree.policies:
        tree.policies["allow-host-ipv6"] = _builtin_allow_host_ipv6()
    direct = etc / "direct.xml"
    if direct.is_file():
        tree.direct = read_file(direct)
    return tree


def _node(tag: str, children: Sequence[Node] = (), **attrs: str) -> Node:
    from checker.parsers.netfilter.firewalld_xml import Node

    return Node(
        tag, {k.replace("_", "-"): v for k, v in attrs.items()}, Location(BUILTIN), list(children)
    )


def _builtin_service(name: str) -> Node:
    ports, destination = firewalld_builtin.SERVICES[name]
    children = [_node("port", protocol=proto, port=port) for proto, port in ports]
    if destination:
        ipv4, ipv6 = destination
        where = {k: v for k, v in (("ipv4", ipv4), ("ipv6", ipv6)) if v}
        children.append(_node("destination", (), **where))
    return _node("service", children)


def _builtin_zone(name: str) -> Node:
    target, services, masquerade = firewalld_builtin.ZONES[name]
    children = [_node("service", name=s) for s in services]
    if masquerade:
        children.append(_node("masquerade"))
    return _node("zone", children, **({"target": target} if target != "default" else {}))


def _builtin_allow_host_ipv6() -> Node:
    rules = [
        _node("rule", [_node("icmp-type", name=name), _node("accept")], family="ipv6")
        for name in (
            "neighbour-advertisement",
            "neighbour-solicitation",
            "router-advertisement",
            "redirect",
        )
    ]
    return _node("policy", [_node("ingress-zone", name="ANY"), _node("egress-zone", name="HOST"), *rules],
                 target="CONTINUE", priority="-15000")  # fmt: skip
