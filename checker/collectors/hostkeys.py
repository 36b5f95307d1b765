"""SSH host keys: the user's known_hosts plus the inventory's, loaded once per scan.

A host whose key is not known is refused, and so is a host whose key differs from the one known
(ssh(1) "HOST IDENTIFICATION HAS CHANGED"). `host_key_policy: accept-new` (ssh_config(5)
StrictHostKeyChecking=accept-new) accepts an unknown key, logs it with its fingerprint, and
appends it to the first inventory known_hosts file (else the user's), so the next scan is strict
for that host; a changed key is refused whatever the policy.

Entries are looked up as ssh(1) writes them: `address` for port 22, `[address]:port` otherwise.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import paramiko

from checker.errors import CollectError, Problem
from checker.inventory.model import HostKeyPolicy

LOG = logging.getLogger("fwcheck.collect")


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH's SHA256 fingerprint (ssh-keygen -l): base64 without padding."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def host_entry_name(address: str, port: int) -> str:
    return address if port == 22 else f"[{address}]:{port}"


@dataclass(frozen=True, slots=True)
class KeyCheck:
    """The outcome of checking a server's key: `code` is "" when accepted."""

    code: str
    message: str
    note: str = ""


class KnownHosts:
    """The known host keys of one scan. Thread-safe: fleet scans check hosts in parallel."""

    def __init__(self, files: Sequence[Path], *, accept_new_file: Path | None) -> None:
        self._keys = paramiko.HostKeys()
        self._lock = threading.Lock()
        self._accept_new_file = accept_new_file
        self.files = tuple(files)
        for file in self.files:
            try:
                self._keys.load(str(file))
            except FileNotFoundError:
                continue
            except (OSError, paramiko.SSHException, ValueError) as exc:
                raise CollectError(
                    Problem(str(file), 0, 0, "known-hosts", f"cannot read known_hosts: {exc}")
                ) from None

    @classmethod
    def for_scan(
        cls, inventory_files: Sequence[str] = (), *, include_user: bool = True
    ) -> KnownHosts:
        """The user's ~/.ssh/known_hosts (unless include_user is False) plus the inventory's.

        An inventory-named file that does not exist is created on the first accept-new, and is
        otherwise just empty; a file that exists but cannot be read is a CollectError.
        """
        files: list[Path] = []
        user_file = Path(os.path.expanduser("~/.ssh/known_hosts"))
        if include_user:
            files.append(user_file)
        files.extend(Path(f) for f in inventory_files)
        accept_into = (
            Path(inventory_files[0]) if inventory_files else (user_file if include_user else None)
        )
        return cls(files, accept_new_file=accept_into)

    def known_types(self, address: str, port: int) -> tuple[str, ...]:
        """Key types known for the host, so the client can ask the server for one of those."""
        with self._lock:
            entry = self._keys.lookup(host_entry_name(address, port))
            return tuple(entry.keys()) if entry else ()

    def check(
        self, host: str, address: str, port: int, key: paramiko.PKey, policy: HostKeyPolicy
    ) -> KeyCheck:
        name = host_entry_name(address, port)
        printed = f"{key.get_name()} {fingerprint(key)}"
        with self._lock:
            entry = self._keys.lookup(name)
            if entry is not None and key.get_name() in entry:
                if entry[key.get_name()] == key:
                    return KeyCheck("", "")
                return KeyCheck(
                    "host-key-changed",
                    f"host key for {name} has CHANGED (now {printed}): refused; "
                    "if the change is expected, replace its known_hosts entry",
                )
            if entry:
                return KeyCheck(
                    "host-key-changed",
                    f"host {name} offered a {key.get_name()} key but known_hosts holds "
                    f"only {', '.join(sorted(entry))}: refused",
                )
            if policy is not HostKeyPolicy.ACCEPT_NEW:
                return KeyCheck(
                    "host-key-unknown",
                    f"host key for {name} is not in known_hosts ({printed}): refused "
                    "(add it, or set host_key_policy: accept-new)",
                )
            self._keys.add(name, key.get_name(), key)
            note = f"accepted new host key for {name}: {printed} (host_key_policy: accept-new)"
            LOG.warning("%s: %s", host, note)
            if self._accept_new_file is not None:
                self._append(name, key)
            return KeyCheck("", "", note)

    def _append(self, name: str, key: paramiko.PKey) -> None:
        line = f"{name} {key.get_name()} {key.get_base64()}\n"
        path = self._accept_new_file
        assert path is not None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            with os.fdopen(fd, "a", encoding="ascii") as handle:
                handle.write(line)
        except OSError as exc:
            # The key was accepted for this scan; only remembering it failed.
            LOG.warning("cannot record the new host key in %s: %s", path, exc.strerror or exc)
