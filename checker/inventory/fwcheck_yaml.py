"""fwcheck's own YAML inventory (schemas/inventory.schema.json).

```yaml
version: 1
known_hosts: known_hosts            # besides ~/.ssh/known_hosts; relative to this file
defaults: {transport: ssh, timeout_s: 60, ssh: {user: audit, sudo: true}}
groups:
  web: {roles: [web-server], ssh: {host_key_policy: accept-new}}
hosts:
  web1: {address: 192.0.2.10, groups: [web]}
  dc1: {address: dc1.example.org, transport: winrm, winrm: {auth: kerberos}}
```
Settings merge defaults < groups (in the host's order) < host; roles are the union.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from checker.errors import PolicyError, Problem
from checker.inventory.build import host_spec, merge, resolve_paths
from checker.inventory.model import Inventory
from checker.yamlfile import YamlDoc, schema_problems

SCHEMA = "inventory.schema.json"
TOP_KEYS = frozenset({"version", "known_hosts", "defaults", "groups", "hosts"})


def looks_like(data: Any) -> bool:
    """fwcheck's form: a mapping of only our top-level keys, with `hosts` a mapping.

    An Ansible YAML inventory's top level is group names (normally `all`) whose values hold
    hosts/children/vars; one whose only group is literally called `hosts` with no other of our
    keys would be read as ours and then fail the schema with a precise message.
    """
    return (
        isinstance(data, dict)
        and bool(data)
        and set(data) <= TOP_KEYS
        and "all" not in data
        and (isinstance(data.get("hosts"), dict) or "version" in data)
    )


def load(doc: YamlDoc, base_dir: Path) -> Inventory:
    problems = list(schema_problems(doc, SCHEMA))
    if problems:
        raise PolicyError(*problems)
    data = doc.data
    known = data.get("known_hosts") or []
    known_files = [known] if isinstance(known, str) else list(known)
    defaults = resolve_paths(data.get("defaults") or {}, base_dir)
    groups = {
        name: resolve_paths(g or {}, base_dir) for name, g in (data.get("groups") or {}).items()
    }
    hosts = []
    for name, raw in data["hosts"].items():
        raw = resolve_paths(raw or {}, base_dir)
        member_of = list(raw.get("groups", []))
        for index, group in enumerate(member_of):
            if group not in groups:
                location = doc.location(("hosts", name, "groups", index))
                known_groups = ", ".join(sorted(groups)) or "none defined"
                raise PolicyError(
                    Problem.at(
                        location,
                        "unknown-group",
                        f"unknown group {group!r} (groups: {known_groups})",
                    )
                )
        own = {k: v for k, v in raw.items() if k != "groups"}
        merged = merge([defaults, *(groups[g] for g in member_of), own])
        hosts.append(host_spec(str(name), merged, doc.location(("hosts", name)), tuple(member_of)))
    return Inventory(
        file=doc.file,
        format="fwcheck",
        hosts=tuple(hosts),
        known_hosts_files=tuple(str(base_dir / Path(f).expanduser()) for f in known_files),
    )
