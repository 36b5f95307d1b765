"""`transport: ssh`: one paramiko session per host running the constant collection script.

Every step runs under the host's one deadline: DNS (getaddrinfo has no timeout of its own, so it
runs in a daemon thread we stop waiting for), TCP connect, the server's banner, key exchange,
authentication, opening the channel, and reading to EOF. The command line is the constant
`/bin/sh -s` (or `sudo -n -- /bin/sh -s`); the script itself goes to its stdin, so no inventory
value ever reaches a shell. Host keys are checked against `KnownHosts` before any credential is
offered.

Faults become `CollectResult.error` (code + one line, never a password or a key): dns,
refused, unreachable, timeout, no-banner, ssh-protocol, host-key-unknown, host-key-changed,
host-key-revoked, auth-failed, credentials, sudo-password, command-missing, command-failed,
truncated, garbled.
"""

from __future__ import annotations

import getpass
import os
import select
import socket
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import paramiko

from checker.collectors import script
from checker.collectors.hostkeys import KnownHosts
from checker.collectors.result import CollectResult, NotRun, Output, host_problem
from checker.inventory.model import HostSpec, SshSettings

NAME = "ssh"

# Output larger than this is refused: no real firewall dump comes near it, and a hostile host
# must not make fwcheck exhaust memory.
MAX_OUTPUT_BYTES = 256 * 1024 * 1024
DEFAULT_IDENTITIES = ("id_ed25519", "id_ecdsa", "id_rsa")


class _Fault(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class _Deadline:
    def __init__(self, limit_s: float) -> None:
        self.limit_s = limit_s
        self._end = time.monotonic() + limit_s

    def remaining(self, step: str) -> float:
        left = self._end - time.monotonic()
        if left <= 0:
            raise _Fault("timeout", f"{step}: deadline of {self.limit_s:g} s passed")
        return left


def _resolve(address: str, port: int, deadline: _Deadline) -> list[tuple]:
    found: list[list[tuple]] = []
    failed: list[BaseException] = []

    def work() -> None:
        try:
            found.append(socket.getaddrinfo(address, port, type=socket.SOCK_STREAM))
        except OSError as exc:
            failed.append(exc)

    worker = threading.Thread(target=work, name=f"resolve {address}", daemon=True)
    worker.start()
    worker.join(deadline.remaining("DNS resolution"))
    if worker.is_alive():
        raise _Fault("dns", f"DNS resolution of {address!r} did not finish within the deadline")
    if failed or not found or not found[0]:
        reason = getattr(failed[0], "strerror", None) if failed else None
        raise _Fault("dns", f"cannot resolve {address!r}: {reason or 'no address'}")
    return found[0]


def _connect(address: str, port: int, deadline: _Deadline) -> socket.socket:
    last: _Fault | None = None
    for family, kind, proto, _name, sockaddr in _resolve(address, port, deadline):
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(deadline.remaining("TCP connect"))
            sock.connect(sockaddr)
            return sock
        except ConnectionRefusedError:
            last = _Fault("refused", f"connection to {address} port {port} refused")
        except TimeoutError:
            last = _Fault("timeout", f"TCP connect to {address} port {port} timed out")
        except OSError as exc:
            last = _Fault(
                "unreachable", f"cannot connect to {address} port {port}: {exc.strerror or exc}"
            )
        sock.close()
        if last.code == "timeout":
            break
    assert last is not None
    raise last


def _secret(env_name: str, what: str) -> str:
    value = os.environ.get(env_name)
    if value is None:
        raise _Fault("credentials", f"{what}: environment variable {env_name} is not set")
    return value


def _identities(settings: SshSettings) -> list[paramiko.PKey]:
    """The keys to offer: key_file; else the agent's keys, and ~/.ssh's default keys unless a
    password_env says that password login is meant (as ssh(1) tries IdentityFile defaults)."""
    passphrase = (
        _secret(settings.passphrase_env, "passphrase_env") if settings.passphrase_env else None
    )
    if settings.key_file:
        paths = [Path(os.path.expanduser(settings.key_file))]
        explicit = True
    else:
        paths = (
            []
            if settings.password_env
            else [Path(os.path.expanduser(f"~/.ssh/{n}")) for n in DEFAULT_IDENTITIES]
        )
        explicit = False
    keys: list[paramiko.PKey] = []
    if settings.use_agent and not settings.key_file and os.environ.get("SSH_AUTH_SOCK"):
        try:
            keys.extend(paramiko.Agent().get_keys())
        except paramiko.SSHException:
            pass
    for path in paths:
        if not path.exists():
            if explicit:
                raise _Fault("credentials", f"key_file {path} does not exist")
            continue
        try:
            keys.append(paramiko.PKey.from_path(path, passphrase))
        except paramiko.PasswordRequiredException:
            if explicit:
                raise _Fault(
                    "credentials", f"key_file {path} is encrypted: set passphrase_env"
                ) from None
        except (paramiko.SSHException, OSError, ValueError) as exc:
            if explicit:
                raise _Fault(
                    "credentials", f"cannot load key_file {path}: {type(exc).__name__}"
                ) from None
    return keys


def _authenticate(
    transport: paramiko.Transport, settings: SshSettings, deadline: _Deadline
) -> None:
    user = settings.user or getpass.getuser()
    keys = _identities(settings)
    password = _secret(settings.password_env, "password_env") if settings.password_env else None
    tried: list[str] = []
    for key in keys:
        transport.auth_timeout = deadline.remaining("authentication")
        if "publickey" not in tried:
            tried.append("publickey")
        try:
            transport.auth_publickey(user, key)
            return
        except paramiko.BadAuthenticationType:
            break
        except paramiko.AuthenticationException:
            continue
    if password is not None:
        transport.auth_timeout = deadline.remaining("authentication")
        tried.append("password")
        try:
            transport.auth_password(user, password, fallback=True)
            return
        except paramiko.AuthenticationException:
            pass
    if not tried:
        raise _Fault("credentials", f"no SSH key or password_env to log in as {user!r}")
    if not transport.is_active():
        raise _Fault(
            "auth-failed", f"server closed the connection during authentication as {user!r}"
        )
    raise _Fault("auth-failed", f"authentication as {user!r} failed (tried {', '.join(tried)})")


def _run(channel: paramiko.Channel, deadline: _Deadline) -> tuple[bytes, bytes, int]:
    stdout = bytearray()
    stderr = bytearray()
    channel.settimeout(deadline.remaining("sending the script"))
    channel.sendall(script.SCRIPT.encode())
    channel.shutdown_write()
    channel.setblocking(False)
    while True:
        progressed = False
        while channel.recv_ready():
            stdout += channel.recv(65536)
            progressed = True
        while channel.recv_stderr_ready():
            stderr += channel.recv_stderr(65536)
            progressed = True
        if len(stdout) + len(stderr) > MAX_OUTPUT_BYTES:
            raise _Fault("output-too-large", f"output exceeds {MAX_OUTPUT_BYTES // 2**20} MiB")
        if channel.eof_received and not channel.recv_ready() and not channel.recv_stderr_ready():
            break
        if channel.closed and not progressed:
            break
        if not progressed:
            # The channel's fileno is readable when stdout or stderr has data, or on EOF.
            # poll(), not select(): select() cannot watch a descriptor numbered 1024 or more
            # (FD_SETSIZE), which a process holding many connections and files may hand out.
            readable = select.poll()
            readable.register(channel.fileno(), select.POLLIN)
            readable.poll(1000 * min(deadline.remaining("reading the output"), 0.5))
    if not channel.status_event.wait(deadline.remaining("waiting for the exit status")):
        raise _Fault("timeout", "no exit status before the deadline")
    return bytes(stdout), bytes(stderr), channel.recv_exit_status()


def collect(
    host: HostSpec, *, deadline_s: float | None = None, known_hosts: KnownHosts
) -> CollectResult:
    """Collect one host over SSH; never raises for the host's faults."""
    deadline = _Deadline(deadline_s if deadline_s is not None else host.timeout_s)
    started = time.monotonic()
    started_at = datetime.now(UTC).isoformat(timespec="milliseconds")
    port = host.effective_port
    notes: list[str] = []
    outputs: tuple[Output, ...] = ()
    not_run: tuple[NotRun, ...] = ()
    failure: tuple[str, str] | None = None
    sock: socket.socket | None = None
    transport: paramiko.Transport | None = None
    channel: paramiko.Channel | None = None
    try:
        sock = _connect(host.address, port, deadline)
        transport = paramiko.Transport(sock)
        transport.banner_timeout = deadline.remaining("SSH banner")
        transport.handshake_timeout = deadline.remaining("SSH handshake")
        known = known_hosts.known_types(host.address, port)
        if known:
            # Ask for a key type known_hosts holds, as ssh(1) orders HostKeyAlgorithms.
            options = transport.get_security_options()
            options.key_types = tuple(t for t in options.key_types if t in known) + tuple(
                t for t in options.key_types if t not in known
            )
        try:
            transport.start_client(timeout=deadline.remaining("SSH handshake"))
        except paramiko.SSHException as exc:
            if not transport.remote_version:
                raise _Fault(
                    "no-banner",
                    f"{host.address} port {port} accepted TCP but sent no SSH banner in time",
                ) from None
            raise _Fault(
                "ssh-protocol", f"SSH negotiation failed: {str(exc).splitlines()[0][:160]}"
            ) from None
        # start_client() returns quietly when its timeout passes mid-negotiation.
        if not transport.remote_version:
            raise _Fault(
                "no-banner",
                f"{host.address} port {port} accepted TCP but sent no SSH banner in time",
            )
        if not transport.is_active() or not transport.initial_kex_done:
            raise _Fault("timeout", f"SSH key exchange with {host.address} did not finish in time")
        verdict = known_hosts.check(
            host.name,
            host.address,
            port,
            transport.get_remote_server_key(),
            host.ssh.host_key_policy,
        )
        if verdict.code:
            raise _Fault(verdict.code, verdict.message)
        if verdict.note:
            notes.append(verdict.note)
        _authenticate(transport, host.ssh, deadline)
        channel = transport.open_session(timeout=deadline.remaining("opening a session"))
        channel.settimeout(deadline.remaining("starting the script"))
        channel.set_combine_stderr(False)
        channel.exec_command(" ".join(script.launcher(host.ssh.sudo)))
        stdout, stderr, exit_code = _run(channel, deadline)
        outputs, failure, not_run = script.interpret(
            stdout, stderr, exit_code, sudo=host.ssh.sudo, started_at=started_at
        )
    except _Fault as fault:
        failure = (fault.code, fault.message)
    except TimeoutError:
        failure = ("timeout", f"no answer from {host.address} port {port} before the deadline")
    except paramiko.SSHException as exc:
        failure = (
            "ssh-protocol",
            f"SSH error: {(str(exc).splitlines() or [type(exc).__name__])[0][:160]}",
        )
    except (EOFError, OSError) as exc:
        failure = (
            "ssh-protocol",
            f"connection lost: {getattr(exc, 'strerror', None) or type(exc).__name__}",
        )
    finally:
        # A channel's fileno() is a pipe that paramiko closes only on an explicit close(), not
        # with the transport: without this, every host leaked two descriptors until the garbage
        # collector ran, and past descriptor 1024 select() fails (a 2,000-host scan, issue 16).
        if channel is not None:
            channel.close()
        if transport is not None:
            transport.close()
        if sock is not None:
            sock.close()
    return CollectResult(
        host=host.name,
        outputs=outputs,
        error=host_problem(host.name, *failure) if failure else None,
        transport=NAME,
        address=f"{host.address}:{port}",
        started_at=started_at,
        duration_s=round(time.monotonic() - started, 3),
        notes=tuple(notes),
        not_run=not_run,
    )
