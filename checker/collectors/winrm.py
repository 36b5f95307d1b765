"""`transport: winrm`: one WS-Management shell per host running the constant PowerShell script.

HTTPS (5986) with certificate validation is the default: the CA bundle is `ca_trust_path`, else
the default bundle of requests; there is no switch to skip validation. Plain HTTP (5985) only
with `allow_http: true`, and then pywinrm's message encryption is forced ("always"), which
exists for NTLM, Kerberos and CredSSP only (the inventory loader refuses the other auths).
Proxies from the environment are not used (proxy=None): a scan talks to the host directly.

pywinrm's `get_command_output` retries operation timeouts forever, so fwcheck drives the shell
itself (MS-WSMV 3.1.4: Create, Command, Receive..., Signal terminate, Delete) and bounds every
HTTP request by the time left; a worker thread is the backstop for a peer that dribbles bytes
(requests' timeout is per socket read, not per request), so `collect` returns by the deadline
plus a short grace whatever the peer does.
"""

from __future__ import annotations

import math
import os
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import requests
from winrm.exceptions import (
    InvalidCredentialsError,
    WinRMError,
    WinRMOperationTimeoutError,
    WinRMTransportError,
    WSManFaultError,
)
from winrm.protocol import Protocol

from checker.collectors import powershell
from checker.collectors.result import CollectResult, Output, host_problem
from checker.inventory.model import HostSpec, WinrmAuth

NAME = "winrm"
GRACE_S = 2.0
MAX_OUTPUT_BYTES = 512 * 1024 * 1024
_PYWINRM_AUTH = {
    WinrmAuth.NTLM: "ntlm",
    WinrmAuth.KERBEROS: "kerberos",
    WinrmAuth.CREDSSP: "credssp",
    WinrmAuth.CERTIFICATE: "certificate",
    WinrmAuth.BASIC: "basic",
}


class _Fault(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class _Run:
    stdout: bytes
    stderr: bytes
    exit_code: int


def endpoint(host: HostSpec) -> str:
    scheme = "http" if host.winrm.allow_http else "https"
    address = f"[{host.address}]" if ":" in host.address else host.address
    return f"{scheme}://{address}:{host.effective_port}{host.winrm.path}"


def _env(name: str | None, what: str) -> str | None:
    if name is None:
        return None
    value = os.environ.get(name)
    if value is None:
        raise _Fault("credentials", f"{what}: environment variable {name} is not set")
    return value


def protocol_for(host: HostSpec, timeout_s: float) -> Protocol:
    """The pywinrm Protocol for a host (no network traffic yet)."""
    settings = host.winrm
    username = _env(settings.username_env, "username_env") or settings.user
    password = _env(settings.password_env, "password_env")
    if settings.auth is WinrmAuth.BASIC and host.winrm.allow_http:
        raise _Fault("config", "basic auth over plain HTTP is refused")
    read_s = max(2, math.ceil(timeout_s))
    try:
        return Protocol(
            endpoint(host),
            transport=_PYWINRM_AUTH[settings.auth],  # type: ignore[arg-type]
            username=username,
            password=password,
            ca_trust_path=settings.ca_trust_path,  # type: ignore[arg-type]
            cert_pem=settings.cert_pem,
            cert_key_pem=settings.cert_key_pem,
            server_cert_validation="validate",
            read_timeout_sec=read_s,
            operation_timeout_sec=read_s - 1,
            message_encryption="always" if settings.allow_http else "auto",
            proxy=None,
        )
    except (WinRMError, InvalidCredentialsError) as exc:
        raise _Fault("config", f"WinRM settings: {exc}") from None


def _bound(protocol: Protocol, end: float, step: str) -> None:
    """Give the next request only the time left (its WS-Man OperationTimeout one second less)."""
    left = end - time.monotonic()
    if left < 1.0:
        raise _Fault("timeout", f"{step}: deadline passed")
    read_s = max(2, math.floor(left))
    protocol.read_timeout_sec = read_s
    protocol.transport.read_timeout_sec = read_s
    protocol.operation_timeout_sec = max(1, min(20, read_s - 1))


def _session(protocol: Protocol, end: float) -> _Run:
    _bound(protocol, end, "creating the shell")
    shell_id = protocol.open_shell(noprofile=True)
    command_id = None
    try:
        _bound(protocol, end, "starting the command")
        command_id = protocol.run_command(shell_id, powershell.EXECUTABLE, powershell.ARGUMENTS)
        stdout, stderr = bytearray(), bytearray()
        while True:
            _bound(protocol, end, "reading the output")
            try:
                out, err, exit_code, done = protocol.get_command_output_raw(shell_id, command_id)
            except WinRMOperationTimeoutError:
                continue  # Receive long-poll ended with no output: ask again, within our deadline.
            stdout += out
            stderr += err
            if len(stdout) + len(stderr) > MAX_OUTPUT_BYTES:
                raise _Fault("output-too-large", f"output exceeds {MAX_OUTPUT_BYTES // 2**20} MiB")
            if done:
                return _Run(bytes(stdout), bytes(stderr), exit_code)
    finally:
        # Best effort: a host that stops answering must not hold the result beyond the deadline.
        try:
            if command_id is not None:
                _bound(protocol, end + GRACE_S, "cleanup")
                protocol.cleanup_command(shell_id, command_id)
            _bound(protocol, end + GRACE_S, "cleanup")
            protocol.close_shell(shell_id)
        except Exception:  # noqa: BLE001 - cleanup must never mask the real outcome
            pass


def _first_line(text: str) -> str:
    for line in str(text).splitlines():
        if line.strip():
            return line.strip()[:200]
    return ""


def _classify(exc: BaseException, url: str) -> tuple[str, str]:
    text = str(exc)
    if isinstance(exc, _Fault):
        return exc.code, exc.message
    if isinstance(exc, requests.exceptions.SSLError):
        reason = (
            "certificate verify failed"
            if "CERTIFICATE_VERIFY_FAILED" in text
            else "TLS handshake failed"
        )
        detail = (
            text.split("certificate verify failed:", 1)[-1].split(")")[0].strip(" '\"")
            if "certificate verify failed:" in text
            else ""
        )
        detail = f" ({detail})" if detail else ""
        return "tls", f"{url}: {reason}{detail}; trust its CA with winrm.ca_trust_path"
    if isinstance(exc, requests.exceptions.Timeout):
        return "timeout", f"no answer from {url} before the deadline"
    if isinstance(exc, requests.exceptions.ConnectionError):
        if "refused" in text.lower():
            return "refused", f"connection to {url} refused"
        if (
            "resolve" in text.lower()
            or "name or service" in text.lower()
            or "getaddrinfo" in text.lower()
        ):
            return "dns", f"cannot resolve the host of {url}"
        return "unreachable", f"cannot connect to {url}"
    if isinstance(exc, InvalidCredentialsError):
        return "auth-failed", f"{url} rejected the credentials"
    if isinstance(exc, WSManFaultError):
        return "winrm-fault", f"WS-Management fault: {_first_line(exc.reason)}"
    if isinstance(exc, WinRMTransportError):
        return "winrm-fault", f"HTTP {exc.code} from {url}"
    if isinstance(exc, WinRMError | requests.exceptions.RequestException):
        return "winrm-fault", f"WinRM error: {_first_line(text) or type(exc).__name__}"
    if isinstance(exc, ValueError | StopIteration | KeyError):
        # pywinrm parses replies with ElementTree and next(): a malformed reply lands here.
        return "garbled", "malformed WS-Management reply"
    raise exc


def collect(
    host: HostSpec, *, deadline_s: float | None = None, known_hosts: object = None
) -> CollectResult:
    """Collect one Windows host over WinRM; never raises for the host's faults."""
    del known_hosts
    limit_s = deadline_s if deadline_s is not None else host.timeout_s
    started = time.monotonic()
    end = started + limit_s
    started_at = datetime.now(UTC).isoformat(timespec="milliseconds")
    url = endpoint(host)
    box: dict[str, object] = {}

    def work() -> None:
        try:
            protocol = protocol_for(host, limit_s)
            box["run"] = _session(protocol, end)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            box["error"] = exc

    worker = threading.Thread(target=work, name=f"winrm {host.name}", daemon=True)
    worker.start()
    worker.join(max(0.0, end - time.monotonic()) + GRACE_S)
    outputs: tuple[Output, ...] = ()
    failure: tuple[str, str] | None = None
    if worker.is_alive():
        failure = ("timeout", f"{url} did not finish within {limit_s:g} s")
    elif "error" in box:
        failure = _classify(box["error"], url)  # type: ignore[arg-type]
    else:
        run: _Run = box["run"]  # type: ignore[assignment]
        try:
            document = powershell.decode_output(run.stdout)
        except powershell.DecodeError as exc:
            if run.exit_code != 0:
                detail = powershell.error_line(run.stderr) or f"exit {run.exit_code}"
                failure = (
                    "command-failed",
                    f"the collection script failed (exit {run.exit_code}): {detail}",
                )
            else:
                failure = (exc.code, exc.message)
        else:
            output = Output(
                name="windows-json",
                command=powershell.COMMAND_LABEL,
                exit_code=run.exit_code,
                data=document,
                started_at=started_at,
                duration_s=round(time.monotonic() - started, 3),
                stderr=run.stderr,
            )
            outputs = (output,)
            if run.exit_code != 0:
                failure = ("command-failed", f"the collection script exited {run.exit_code}")
    return CollectResult(
        host=host.name,
        outputs=outputs,
        error=host_problem(host.name, *failure) if failure else None,
        transport=NAME,
        address=url,
        started_at=started_at,
        duration_s=round(time.monotonic() - started, 3),
    )
