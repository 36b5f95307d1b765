"""load_inventory(): detect the inventory's form and return the hosts to collect.

Forms: fwcheck's YAML (schemas/inventory.schema.json), Ansible YAML, Ansible INI. Files named
*.ini are INI; *.yaml/*.yml/*.json are YAML; anything else is YAML when it parses as a mapping,
else INI. Every problem names file:line:col; a literal password anywhere is refused.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from checker.errors import PolicyError, Problem
from checker.inventory import ansible, fwcheck_yaml
from checker.inventory.model import Inventory
from checker.inventory.secrets import is_secret_key, secret_problem, walk_keys
from checker.yamlfile import YamlDoc, parse_yaml, read_yaml

# An Ansible INI of 200,000 hosts with a few variables each stays well below this; a YAML
# inventory meets yamlfile's node and depth limits too (docs/limits.md).
MAX_INVENTORY_BYTES = 32 * 1024 * 1024


def _read_text(path: Path, display: str) -> str:
    try:
        size = path.stat().st_size
        if size > MAX_INVENTORY_BYTES:
            raise PolicyError(
                Problem(
                    display,
                    0,
                    0,
                    "too-large",
                    f"the inventory is {size / 2**20:.1f} MiB: fwcheck reads inventories of at"
                    f" most {MAX_INVENTORY_BYTES // 2**20} MiB",
                )
            )
        raw = path.read_bytes()
    except OSError as exc:
        raise PolicyError(
            Problem(display, 0, 0, "unreadable", f"cannot read: {exc.strerror or exc}")
        ) from None
    if b"\x00" in raw:
        raise PolicyError(
            Problem(display, 1, 1, "binary", "not an inventory: it contains NUL bytes")
        )
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise PolicyError(Problem(display, line, 1, "encoding", "not UTF-8 text")) from None


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _value_at(data: object, path: tuple[str | int, ...]) -> object:
    for part in path:
        data = data[part]  # type: ignore[index]
    return data


def _refuse_secrets(doc: YamlDoc) -> None:
    problems = [
        secret_problem(key, doc.location(path))
        for key, path in walk_keys(doc.data)
        if is_secret_key(key)
    ]
    for key, path in walk_keys(doc.data):
        value = _value_at(doc.data, path)
        if key.endswith("_env") and isinstance(value, str) and not _ENV_NAME.fullmatch(value):
            # Not echoed: a value that is no variable name may well be the password itself.
            problems.append(
                Problem.at(
                    doc.location(path),
                    "literal-password",
                    f"{key} must be the NAME of an environment variable (value not shown)",
                )
            )
    if problems:
        raise PolicyError(*problems)


def load_role_map(path: str | Path) -> dict[str, list[str]]:
    """A role map: YAML {ansible group: role or [roles]}."""
    doc = read_yaml(path)
    if not isinstance(doc.data, dict):
        raise PolicyError(
            Problem.at(doc.location(()), "role-map", "a role map is a mapping {group: [roles]}")
        )
    result: dict[str, list[str]] = {}
    for group, roles in doc.data.items():
        items = [roles] if isinstance(roles, str) else roles
        if not isinstance(items, list) or not all(isinstance(r, str) and r for r in items):
            raise PolicyError(
                Problem.at(
                    doc.location((group,)),
                    "role-map",
                    f"{group}: expected a role name or a list of them",
                )
            )
        result[str(group)] = list(items)
    return result


def load_inventory(
    path: str | Path, *, role_map: Mapping[str, list[str]] | None = None, display: str | None = None
) -> Inventory:
    path = Path(path)
    file = display or str(path)
    suffix = path.suffix.lower()
    text = _read_text(path, file)
    if not text.strip():
        raise PolicyError(Problem(file, 1, 1, "empty", "the inventory is empty"))
    if suffix == ".ini":
        return ansible.build(ansible.parse_ini(text, file), "ansible-ini", role_map)
    try:
        doc = parse_yaml(text, file)
    except PolicyError:
        if suffix in (".yaml", ".yml", ".json"):
            raise
        return ansible.build(ansible.parse_ini(text, file), "ansible-ini", role_map)
    if not isinstance(doc.data, dict):
        if suffix in (".yaml", ".yml", ".json"):
            raise PolicyError(
                Problem.at(doc.location(()), "inventory", "an inventory is a YAML mapping")
            )
        return ansible.build(ansible.parse_ini(text, file), "ansible-ini", role_map)
    _refuse_secrets(doc)
    if fwcheck_yaml.looks_like(doc.data):
        return fwcheck_yaml.load(doc, path.resolve().parent)
    return ansible.build(ansible.parse_yaml_tree(doc), "ansible-yaml", role_map)
