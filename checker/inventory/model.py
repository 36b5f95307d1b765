"""The inventory model: which hosts to collect, how to reach them, and which roles they have.

Credentials appear only by reference (an environment variable's name, a key file's path, the SSH
agent, a Kerberos ticket): the model has no field that could hold a password.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from checker.errors import Location


class Transport(StrEnum):
    SSH = "ssh"
    WINRM = "winrm"
    LOCAL = "local"


class HostKeyPolicy(StrEnum):
    # OpenSSH's StrictHostKeyChecking names (ssh_config(5)): "accept-new" adds unknown keys but
    # refuses changed ones.
    STRICT = "strict"
    ACCEPT_NEW = "accept-new"


class WinrmAuth(StrEnum):
    NTLM = "ntlm"
    KERBEROS = "kerberos"
    CREDSSP = "credssp"
    CERTIFICATE = "certificate"
    # HTTP Basic, only ever over HTTPS (WinRM's AllowBasic; local accounts only).
    BASIC = "basic"


DEFAULT_PORTS = {Transport.SSH: 22, Transport.WINRM: 5986, Transport.LOCAL: 0}
WINRM_HTTP_PORT = 5985
DEFAULT_TIMEOUT_S = 60.0


@dataclass(frozen=True, slots=True)
class SshSettings:
    user: str | None = None
    key_file: str | None = None
    # Environment variables holding a password or a key's passphrase: names, never values.
    password_env: str | None = None
    passphrase_env: str | None = None
    use_agent: bool = True
    sudo: bool = False
    host_key_policy: HostKeyPolicy = HostKeyPolicy.STRICT


@dataclass(frozen=True, slots=True)
class WinrmSettings:
    auth: WinrmAuth = WinrmAuth.NTLM
    user: str | None = None
    username_env: str | None = None
    password_env: str | None = None
    # PEM bundle of CAs to trust for the host's certificate; None: the default bundle.
    ca_trust_path: str | None = None
    cert_pem: str | None = None
    cert_key_pem: str | None = None
    # Plain HTTP (5985) only when the inventory says so, and then only with message encryption.
    allow_http: bool = False
    path: str = "/wsman"


@dataclass(frozen=True, slots=True)
class HostSpec:
    name: str
    address: str
    transport: Transport = Transport.SSH
    # None: the transport's default (22, 5986 — or 5985 with allow_http).
    port: int | None = None
    roles: tuple[str, ...] = ()
    params: tuple[tuple[str, int | str], ...] = ()
    groups: tuple[str, ...] = ()
    # The whole collection of this host (connect, auth, command, read) must end within this.
    timeout_s: float = DEFAULT_TIMEOUT_S
    ssh: SshSettings = field(default_factory=SshSettings)
    winrm: WinrmSettings = field(default_factory=WinrmSettings)
    origin: Location | None = None

    @property
    def effective_port(self) -> int:
        if self.port is not None:
            return self.port
        if self.transport is Transport.WINRM and self.winrm.allow_http:
            return WINRM_HTTP_PORT
        return DEFAULT_PORTS[self.transport]


@dataclass(frozen=True, slots=True)
class Inventory:
    file: str
    # "fwcheck", "ansible-ini" or "ansible-yaml".
    format: str
    hosts: tuple[HostSpec, ...]
    # known_hosts files named by the inventory (absolute paths), read besides the user's own.
    known_hosts_files: tuple[str, ...] = ()

    def host(self, name: str) -> HostSpec | None:
        for host in self.hosts:
            if host.name == name:
                return host
        return None
