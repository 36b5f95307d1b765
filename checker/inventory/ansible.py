"""Ansible inventories (INI and YAML), read as they are, mapped onto fwcheck hosts.

Format: Ansible's "How to build your inventory" (INI sections `[g]`, `[g:vars]`, `[g:children]`,
host ranges `web[01:20]`, `host:port`; YAML `all: {hosts, vars, children}`). Host-line values
are Python literals where they parse as one, `:vars` values are strings (as Ansible does).
Variables merge all < parent groups < child groups (by depth, then name) < host, like Ansible
without `ansible_group_priority`. host_vars/ and group_vars/ folders are NOT read.

Mapping: group names -> roles (all/ungrouped excepted; or through a role map {group: [roles]}),
ansible_host -> address, ansible_port -> port, ansible_user -> user, ansible_connection
(ssh/paramiko/smart -> ssh, winrm/psrp -> winrm, local -> local), ansible_ssh_private_key_file
-> ssh.key_file, ansible_become (method sudo) -> ssh.sudo, ansible_winrm_transport -> winrm.auth,
ansible_winrm_ca_trust_path/cert_pem/cert_key_pem/path. `ansible_winrm_scheme: http` needs
`fwcheck_allow_http: true`. fwcheck-only settings come from `fwcheck_*` variables: fwcheck_roles,
fwcheck_sudo, fwcheck_password_env, fwcheck_username_env, fwcheck_passphrase_env,
fwcheck_host_key_policy, fwcheck_timeout_s, fwcheck_allow_http, fwcheck_auth, fwcheck_use_agent,
fwcheck_known_hosts. Literal passwords (ansible_password, ansible_ssh_pass,
ansible_become_password, ...) are refused. ansible_winrm_server_cert_validation=ignore is not
honoured: fwcheck always validates (trust a CA with ansible_winrm_ca_trust_path).
"""

from __future__ import annotations

import ast
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

from checker import numbers
from checker.errors import Location, PolicyError, Problem
from checker.inventory.build import host_spec, merge
from checker.inventory.model import HostSpec, Inventory
from checker.inventory.secrets import is_secret_key, secret_problem
from checker.yamlfile import YamlDoc, load_schema

Var = tuple[Any, Location]


@dataclass
class _Group:
    name: str
    vars: dict[str, Var] = field(default_factory=dict)
    children: list[str] = field(default_factory=list)
    # An ordered set: membership tests stay O(1) in groups of tens of thousands of hosts.
    hosts: dict[str, None] = field(default_factory=dict)


@dataclass
class _Tree:
    file: str
    groups: dict[str, _Group] = field(default_factory=dict)
    host_vars: dict[str, dict[str, Var]] = field(default_factory=dict)
    host_origin: dict[str, Location] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    expanded: int = 0

    def group(self, name: str) -> _Group:
        return self.groups.setdefault(name, _Group(name))

    def add_host(self, group: str, host: str, where: Location) -> dict[str, Var]:
        self.group(group).hosts.setdefault(host)
        self.host_origin.setdefault(host, where)
        return self.host_vars.setdefault(host, {})

    def set_var(self, target: dict[str, Var], key: str, value: Any, where: Location) -> None:
        if is_secret_key(key):
            self.problems.append(secret_problem(key, where))
            return
        target[key] = (value, where)


_RANGE = re.compile(r"\[([0-9]+|[a-z]):([0-9]+|[a-z])(?::([0-9]+))?\]")
# Most hosts one pattern (`web[01:20]`, `h[0:9][a:z]`) may name, and all patterns of one
# inventory together: `h[0:9999][0:9999]` would otherwise build 10^8 names (minutes, then
# MemoryError). Documented in docs/limits.md.
MAX_PATTERN_HOSTS = 100_000
MAX_INVENTORY_HOSTS = 200_000


def _range_values(match: re.Match[str], pattern: str) -> list[str]:
    first, last = match.group(1), match.group(2)
    if first.isdigit() != last.isdigit():
        raise ValueError(f"bad host range in {pattern!r}")
    try:
        stride = numbers.to_int(match.group(3) or "1")
        if first.isdigit():
            low, high = numbers.to_int(first), numbers.to_int(last)
        else:
            low, high = ord(first), ord(last)
    except numbers.NumberTooLong as error:
        raise ValueError(f"bad host range in {pattern[:60]!r}…: {error}") from None
    if stride < 1:
        raise ValueError(f"bad host range in {pattern!r}")
    count = len(range(low, high + 1, stride))
    if count > MAX_PATTERN_HOSTS:
        raise ValueError(_too_many(pattern))
    if first.isdigit():
        width = len(first) if first.startswith("0") else 0
        return [str(n).zfill(width) for n in range(low, high + 1, stride)]
    return [chr(c) for c in range(low, high + 1, stride)]


def _too_many(pattern: str) -> str:
    return f"host pattern {pattern!r} names more than {MAX_PATTERN_HOSTS:,} hosts"


def expand_pattern(pattern: str) -> list[str]:
    """Ansible host ranges: `web[01:03]` -> web01, web02, web03; `db-[a:c]`; `[1:9:2]` strides.

    Every range is sized before any name is built: ValueError when together they name more
    than MAX_PATTERN_HOSTS hosts."""
    pieces: list[list[str]] = []
    position = 0
    total = 1
    for match in _RANGE.finditer(pattern):
        values = _range_values(match, pattern)
        total *= len(values)
        if total > MAX_PATTERN_HOSTS:
            raise ValueError(_too_many(pattern))
        pieces += [[pattern[position : match.start()]], values]
        position = match.end()
    names = [""]
    for choices in pieces + [[pattern[position:]]]:
        names = [name + choice for name in names for choice in choices]
    return names


def _expand(tree: _Tree, pattern: str) -> list[str]:
    """expand_pattern, counting the hosts all patterns of the inventory name."""
    names = expand_pattern(pattern)
    tree.expanded += len(names)
    if tree.expanded > MAX_INVENTORY_HOSTS:
        raise ValueError(
            f"the host patterns of this inventory name more than {MAX_INVENTORY_HOSTS:,} hosts"
        )
    return names


def _literal(text: str) -> Any:
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return text
    return value if isinstance(value, str | int | float | bool | list) else text


_SECTION = re.compile(r"\[([^\[\]:\s]+)(?::(vars|children))?\]\s*(?:[#;].*)?")


def parse_ini(text: str, file: str) -> _Tree:
    tree = _Tree(file)
    tree.group("all")
    group, kind = "ungrouped", "hosts"
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        col = raw.find(line[0]) + 1
        where = Location(file, number, col)
        if line.startswith("["):
            match = _SECTION.fullmatch(line)
            if match is None:
                tree.problems.append(Problem.at(where, "ini", f"malformed section header {line!r}"))
                continue
            group, kind = match.group(1), match.group(2) or "hosts"
            tree.group(group)
            continue
        if kind == "children":
            child = line.split()[0]
            tree.group(child)
            if child not in tree.group(group).children:
                tree.group(group).children.append(child)
        elif kind == "vars":
            key, sep, value = line.partition("=")
            if not sep or not key.strip():
                tree.problems.append(
                    Problem.at(where, "ini", f"expected key=value in [{group}:vars]")
                )
                continue
            tree.set_var(tree.group(group).vars, key.strip(), value.strip(), where)
        else:
            _ini_host_line(tree, group, raw, number, file)
    return tree


def _ini_host_line(tree: _Tree, group: str, raw: str, number: int, file: str) -> None:
    where = Location(file, number, raw.find(raw.strip()[0]) + 1)
    try:
        tokens = shlex.split(raw, comments=True)
    except ValueError as exc:
        tree.problems.append(Problem.at(where, "ini", f"cannot split host line: {exc}"))
        return
    if not tokens:
        return
    pattern, port = tokens[0], None
    port_match = re.fullmatch(r"([^:\[\]]+):([0-9]+)", pattern)
    try:
        if port_match:
            pattern, port = port_match.group(1), numbers.to_int(port_match.group(2))
        names = _expand(tree, pattern)
    except ValueError as exc:
        tree.problems.append(Problem.at(where, "ini", str(exc)))
        return
    for token in tokens[1:]:
        key, sep, _ = token.partition("=")
        if not sep or not key:
            tree.problems.append(Problem.at(where, "ini", f"expected key=value, got {token!r}"))
            return
    for name in names:
        host_vars = tree.add_host(group, name, where)
        if port is not None:
            tree.set_var(host_vars, "ansible_port", port, where)
        for token in tokens[1:]:
            key, _, value = token.partition("=")
            column = raw.find(key + "=") + 1
            tree.set_var(host_vars, key, _literal(value), Location(file, number, max(column, 1)))


def parse_yaml_tree(doc: YamlDoc) -> _Tree:
    tree = _Tree(doc.file)
    tree.group("all")
    if not isinstance(doc.data, dict):
        raise PolicyError(
            Problem.at(
                doc.location(()), "inventory", "an Ansible YAML inventory is a mapping of groups"
            )
        )
    for name, body in doc.data.items():
        _yaml_group(tree, doc, str(name), body, (name,))
    return tree


def _yaml_group(
    tree: _Tree, doc: YamlDoc, name: str, body: Any, path: tuple[str | int, ...]
) -> None:
    group = tree.group(name)
    if body is None:
        return
    if not isinstance(body, dict):
        tree.problems.append(
            Problem.at(doc.location(path), "inventory", f"group {name!r} must be a mapping")
        )
        return
    for key in body:
        if key not in ("hosts", "vars", "children"):
            tree.problems.append(
                Problem.at(
                    doc.location(path + (key,)),
                    "inventory",
                    f"unknown key {key!r} in group {name!r} (allowed: children, hosts, vars)",
                )
            )
    for key, value in (body.get("vars") or {}).items():
        tree.set_var(group.vars, str(key), value, doc.location(path + ("vars", key)))
    for pattern, host_body in (body.get("hosts") or {}).items():
        where = doc.location(path + ("hosts", pattern))
        try:
            names = _expand(tree, str(pattern))
        except ValueError as exc:
            tree.problems.append(Problem.at(where, "inventory", str(exc)))
            continue
        for host in names:
            host_vars = tree.add_host(name, host, where)
            for key, value in (host_body or {}).items():
                tree.set_var(
                    host_vars, str(key), value, doc.location(path + ("hosts", pattern, key))
                )
    for child, child_body in (body.get("children") or {}).items():
        if str(child) not in group.children:
            group.children.append(str(child))
        _yaml_group(tree, doc, str(child), child_body, path + ("children", child))


def _depths(tree: _Tree) -> dict[str, int]:
    depth = {"all": 0}
    # Bounded relaxation: a cycle in children cannot loop forever.
    for _ in range(len(tree.groups) + 1):
        changed = False
        for group in tree.groups.values():
            for child in group.children:
                new = depth.get(group.name, 1) + 1
                if depth.get(child, 1) < new and new <= len(tree.groups) + 1:
                    depth[child] = new
                    changed = True
        if not changed:
            break
    return {name: depth.get(name, 1) for name in tree.groups}


def _memberships(tree: _Tree) -> dict[str, set[str]]:
    parents: dict[str, set[str]] = {}
    for group in tree.groups.values():
        for child in group.children:
            parents.setdefault(child, set()).add(group.name)
    direct_groups: dict[str, set[str]] = {}
    for group in tree.groups.values():
        for member in group.hosts:
            direct_groups.setdefault(member, set()).add(group.name)
    result: dict[str, set[str]] = {}
    for host in tree.host_vars:
        direct = direct_groups.get(host, set())
        seen: set[str] = set()
        todo = list(direct)
        while todo:
            name = todo.pop()
            if name not in seen:
                seen.add(name)
                todo.extend(parents.get(name, ()))
        seen.add("all")
        if seen <= {"all", "ungrouped"}:
            seen.add("ungrouped")
        result[host] = seen
    return result


_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})
_CONNECTIONS = {
    "ssh": "ssh",
    "paramiko": "ssh",
    "smart": "ssh",
    "winrm": "winrm",
    "psrp": "winrm",
    "local": "local",
}
_AUTH = {
    "ntlm": "ntlm",
    "kerberos": "kerberos",
    "credssp": "credssp",
    "certificate": "certificate",
    "basic": "basic",
    "ssl": "basic",
}


def _bool(value: Any, key: str, where: Location) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise PolicyError(
        Problem.at(where, "inventory", f"{key}: expected true or false, got {value!r}")
    )


def _list(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    return [part.strip() for part in str(value).split(",") if part.strip()]


def _number(value: Any, key: str, where: Location) -> int | float:
    text = str(value).strip()
    try:
        if not text.isascii():
            # float() reads "١" (an Arabic-Indic digit) as 1.0; Ansible's own int() would too,
            # but a port or timeout written so is far likelier garbled than meant.
            raise ValueError(text)
        return numbers.to_int(text) if numbers.is_decimal(text) else float(text)
    except (TypeError, ValueError):
        raise PolicyError(
            Problem.at(where, "inventory", f"{key}: expected a number, got {value!r}")
        ) from None


def _settings(
    name: str, v: Mapping[str, Var], roles: list[str]
) -> tuple[dict[str, Any], dict[str, Location]]:
    """fwcheck settings for one host from its merged Ansible variables, and where each came from."""
    out: dict[str, Any] = {"ssh": {}, "winrm": {}}
    origin: dict[str, Location] = {}

    def value(key: str) -> Any:
        return v[key][0]

    def put(path: str, key: str, item: Any) -> None:
        section, _, leaf = path.rpartition(".")
        (out[section] if section else out)[leaf] = item
        origin[path] = v[key][1]

    connection = "ssh"
    if "ansible_connection" in v:
        raw = str(value("ansible_connection")).lower()
        if raw not in _CONNECTIONS:
            where = v["ansible_connection"][1]
            raise PolicyError(
                Problem.at(
                    where,
                    "inventory",
                    f"ansible_connection {raw!r} is not supported (ssh, winrm, psrp, local)",
                )
            )
        connection = _CONNECTIONS[raw]
        put("transport", "ansible_connection", connection)
    user_section = "winrm" if connection == "winrm" else "ssh"
    for key in ("ansible_host", "ansible_ssh_host"):
        if key in v:
            put("address", key, str(value(key)))
            break
    for key in ("ansible_port", "ansible_ssh_port"):
        if key in v:
            put("port", key, _number(value(key), key, v[key][1]))
            break
    for key in ("ansible_user", "ansible_ssh_user"):
        if key in v:
            put(f"{user_section}.user", key, str(value(key)))
            break
    for key in ("ansible_ssh_private_key_file", "ansible_private_key_file"):
        if key in v:
            put("ssh.key_file", key, str(value(key)))
            break
    if "ansible_become" in v and _bool(
        value("ansible_become"), "ansible_become", v["ansible_become"][1]
    ):
        method = (
            str(value("ansible_become_method")).lower() if "ansible_become_method" in v else "sudo"
        )
        if connection == "ssh" and method != "sudo":
            where = v["ansible_become_method"][1]
            raise PolicyError(
                Problem.at(
                    where,
                    "inventory",
                    f"become method {method!r} is not supported: fwcheck uses sudo -n",
                )
            )
        if connection == "ssh":
            put("ssh.sudo", "ansible_become", True)
    if "ansible_winrm_transport" in v:
        wanted = [
            _AUTH[t.lower()] for t in _list(value("ansible_winrm_transport")) if t.lower() in _AUTH
        ]
        if wanted:
            put("winrm.auth", "ansible_winrm_transport", wanted[0])
    for key, leaf in (
        ("ansible_winrm_ca_trust_path", "ca_trust_path"),
        ("ansible_winrm_cert_pem", "cert_pem"),
        ("ansible_winrm_cert_key_pem", "cert_key_pem"),
        ("ansible_winrm_path", "path"),
    ):
        if key in v:
            put(f"winrm.{leaf}", key, str(value(key)))
    bools = {
        "fwcheck_sudo": "ssh.sudo",
        "fwcheck_use_agent": "ssh.use_agent",
        "fwcheck_allow_http": "winrm.allow_http",
    }
    for key, path in bools.items():
        if key in v:
            put(path, key, _bool(value(key), key, v[key][1]))
    strings = {
        "fwcheck_password_env": f"{user_section}.password_env",
        "fwcheck_username_env": "winrm.username_env",
        "fwcheck_passphrase_env": "ssh.passphrase_env",
        "fwcheck_host_key_policy": "ssh.host_key_policy",
        "fwcheck_auth": "winrm.auth",
    }
    for key, path in strings.items():
        if key in v:
            put(path, key, str(value(key)))
    if "fwcheck_timeout_s" in v:
        put(
            "timeout_s",
            "fwcheck_timeout_s",
            _number(value("fwcheck_timeout_s"), "fwcheck_timeout_s", v["fwcheck_timeout_s"][1]),
        )
    if "ansible_winrm_scheme" in v and str(value("ansible_winrm_scheme")).lower() == "http":
        if not out["winrm"].get("allow_http"):
            where = v["ansible_winrm_scheme"][1]
            raise PolicyError(
                Problem.at(
                    where,
                    "inventory",
                    f"{name}: ansible_winrm_scheme=http sends data over plain HTTP; set fwcheck_allow_http=true to allow it (message encryption is then required)",
                )
            )
    if "fwcheck_roles" in v:
        roles = roles + [r for r in _list(value("fwcheck_roles")) if r not in roles]
        origin["roles"] = v["fwcheck_roles"][1]
    out["roles"] = roles
    return out, origin


@cache
def _host_validator() -> jsonschema.Draft202012Validator:
    schema = load_schema("inventory.schema.json")
    return jsonschema.Draft202012Validator({"$ref": "#/$defs/host", "$defs": schema["$defs"]})


def build(tree: _Tree, fmt: str, role_map: Mapping[str, list[str]] | None) -> Inventory:
    if tree.problems:
        raise PolicyError(*tree.problems)
    depths = _depths(tree)
    memberships = _memberships(tree)
    hosts: list[HostSpec] = []
    problems: list[Problem] = []
    known_hosts: list[str] = []
    for name in tree.host_vars:
        groups = sorted(memberships[name] - {"all"}, key=lambda g: (depths[g], g))
        layers: dict[str, Var] = dict(tree.groups["all"].vars)
        for group in groups:
            layers.update(tree.groups[group].vars)
        layers.update(tree.host_vars[name])
        named = [g for g in groups if g != "ungrouped"]
        if role_map is None:
            roles = named
        else:
            roles = [r for g in named for r in role_map.get(g, [])]
        roles = list(dict.fromkeys(roles))
        where = tree.host_origin[name]
        try:
            settings, origin = _settings(name, layers, roles)
        except PolicyError as exc:
            problems.extend(exc.problems)
            continue
        if "fwcheck_known_hosts" in layers:
            for file in _list(layers["fwcheck_known_hosts"][0]):
                if file not in known_hosts:
                    known_hosts.append(file)
        for error in _host_validator().iter_errors(settings):
            path = ".".join(str(p) for p in error.absolute_path)
            at = origin.get(path) or where
            if path.endswith("_env"):
                # Never echo it: a value that is no variable name may be the password itself.
                error.message = "must be the NAME of an environment variable (value not shown)"
            problems.append(
                Problem.at(at, "inventory", f"{name}: {path or 'host'}: {error.message}")
            )
        if problems:
            continue
        try:
            hosts.append(host_spec(name, merge([settings]), where, tuple(named)))
        except PolicyError as exc:
            problems.extend(exc.problems)
    if problems:
        raise PolicyError(*problems)
    base = Path(tree.file).resolve().parent
    return Inventory(
        file=tree.file,
        format=fmt,
        hosts=tuple(hosts),
        known_hosts_files=tuple(str(base / Path(f).expanduser()) for f in known_hosts),
    )
