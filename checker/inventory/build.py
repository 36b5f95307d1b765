"""From one host's merged settings (fwcheck's vocabulary, plain values) to a HostSpec.

Both the fwcheck YAML loader and the Ansible mapper produce the same plain dict per host:
{address, transport, port, timeout_s, roles, params, groups, ssh: {...}, winrm: {...}}.
Defaults < groups (in order) < host, key by key; roles are the union, params are merged.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from checker.errors import Location, PolicyError, Problem
from checker.inventory.model import (
    DEFAULT_TIMEOUT_S,
    HostKeyPolicy,
    HostSpec,
    SshSettings,
    Transport,
    WinrmAuth,
    WinrmSettings,
)

SECTIONS = ("ssh", "winrm")
PATH_KEYS = {"ssh": ("key_file",), "winrm": ("ca_trust_path", "cert_pem", "cert_key_pem")}


def merge(layers: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    merged: dict[str, Any] = {"roles": [], "params": {}, "ssh": {}, "winrm": {}}
    for layer in layers:
        for key, value in layer.items():
            if value is None:
                continue
            if key == "roles":
                merged["roles"].extend(r for r in value if r not in merged["roles"])
            elif key == "params" or key in SECTIONS:
                merged[key].update(value)
            else:
                merged[key] = value
    return merged


def resolve_paths(settings: Mapping[str, Any], base_dir: Path) -> dict[str, Any]:
    """Key and certificate paths relative to the inventory file's folder (~ is expanded later)."""
    resolved = dict(settings)
    for section, keys in PATH_KEYS.items():
        if section not in resolved:
            continue
        values = dict(resolved[section])
        for key in keys:
            value = values.get(key)
            if (
                isinstance(value, str)
                and not value.startswith("~")
                and not Path(value).is_absolute()
            ):
                values[key] = str(base_dir / value)
        resolved[section] = values
    return resolved


def _params(raw: Mapping[str, Any]) -> tuple[tuple[str, int | str], ...]:
    items: list[tuple[str, int | str]] = []
    for key, value in raw.items():
        if isinstance(value, list):
            value = ",".join(str(v) for v in value)
        items.append((str(key), value if isinstance(value, int) else str(value)))
    return tuple(sorted(items))


def host_spec(
    name: str, merged: Mapping[str, Any], origin: Location, groups: tuple[str, ...]
) -> HostSpec:
    transport = Transport(merged.get("transport", "ssh"))
    ssh = dict(merged.get("ssh", {}))
    winrm = dict(merged.get("winrm", {}))
    ssh_settings = SshSettings(
        user=ssh.get("user"),
        key_file=ssh.get("key_file"),
        password_env=ssh.get("password_env"),
        passphrase_env=ssh.get("passphrase_env"),
        use_agent=bool(ssh.get("use_agent", True)),
        sudo=bool(ssh.get("sudo", False)),
        host_key_policy=HostKeyPolicy(ssh.get("host_key_policy", "strict")),
    )
    winrm_settings = WinrmSettings(
        auth=WinrmAuth(winrm.get("auth", "ntlm")),
        user=winrm.get("user"),
        username_env=winrm.get("username_env"),
        password_env=winrm.get("password_env"),
        ca_trust_path=winrm.get("ca_trust_path"),
        cert_pem=winrm.get("cert_pem"),
        cert_key_pem=winrm.get("cert_key_pem"),
        allow_http=bool(winrm.get("allow_http", False)),
        path=winrm.get("path", "/wsman"),
    )
    if transport is Transport.WINRM:
        _check_winrm(winrm_settings, origin)
    port = merged.get("port")
    return HostSpec(
        name=name,
        address=str(merged.get("address") or name),
        transport=transport,
        port=int(port) if port is not None else None,
        roles=tuple(merged.get("roles", ())),
        params=_params(merged.get("params", {})),
        groups=groups,
        timeout_s=float(merged.get("timeout_s", DEFAULT_TIMEOUT_S)),
        ssh=ssh_settings,
        winrm=winrm_settings,
        origin=origin,
    )


def _check_winrm(settings: WinrmSettings, origin: Location) -> None:
    """Refuse settings that cannot work safely, before any host is contacted."""
    problems: list[str] = []
    if settings.allow_http and settings.auth in (WinrmAuth.BASIC, WinrmAuth.CERTIFICATE):
        problems.append(
            f"winrm.allow_http with auth {settings.auth.value} would send data unencrypted: "
            "plain HTTP needs ntlm, kerberos or credssp message encryption"
        )
    if settings.auth is WinrmAuth.CERTIFICATE and not (settings.cert_pem and settings.cert_key_pem):
        problems.append("winrm auth certificate needs cert_pem and cert_key_pem")
    if (
        settings.auth in (WinrmAuth.NTLM, WinrmAuth.CREDSSP, WinrmAuth.BASIC)
        and not settings.password_env
    ):
        problems.append(
            f"winrm auth {settings.auth.value} needs password_env (the variable's name)"
        )
    if problems:
        raise PolicyError(*(Problem.at(origin, "inventory", p) for p in problems))
