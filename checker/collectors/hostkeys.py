"""SSH host keys: the user's known_hosts plus the inventory's, loaded once per scan.

A host whose key is not known is refused, and so is a host whose key differs from the one known
(ssh(1) "HOST IDENTIFICATION HAS CHANGED"). `host_key_policy: accept-new` (ssh_config(5)
StrictHostKeyChecking=accept-new) accepts an unknown key, logs it with its fingerprint, and
appends it to the first inventory known_hosts file (else the user's), so the next scan is strict
for that host; a changed key is refused whatever the policy.

Entries are looked up as ssh(1) writes them: `address` for port 22, `[address]:port` otherwise.
A host may have several lines (sshd(8), "SSH_KNOWN_HOSTS FILE FORMAT": "It is permissible (but
not recommended) to have several lines or different host keys for the same names ...
authentication is accepted if valid information can be found from either file"): a key is
accepted when any line of its type for the host holds it.

The files are indexed once per scan: plain names in a dictionary; hashed names (`|1|salt|hmac`,
ssh-keygen -H) in a list with their salts decoded, each tried with one HMAC-SHA1 (the only way to
test a salted name). paramiko.HostKeys scanned every entry on every lookup and on every line it
loaded: quadratic in the fleet (issue 16: 1.8 s of CPU for 2,000 plain entries, an HMAC per
hashed entry per lookup), and an entry with a malformed salt raised on lookup.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
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
        # name -> keys, in file order; hashed names: (salt, HMAC-SHA1 of the name, key).
        self._plain: dict[str, list[paramiko.PKey]] = {}
        self._hashed: list[tuple[bytes, bytes, paramiko.PKey]] = []
        self._found: dict[str, tuple[paramiko.PKey, ...]] = {}
        self._revoked: list[paramiko.PKey] = []
        self._lock = threading.Lock()
        self._accept_new_file = accept_new_file
        self.files = tuple(files)
        for file in self.files:
            try:
                with open(file, encoding="utf-8") as handle:
                    for number, line in enumerate(handle, 1):
                        self._add_line(line.strip(), number)
            except FileNotFoundError:
                continue
            except (OSError, ValueError) as exc:
                raise CollectError(
                    Problem(str(file), 0, 0, "known-hosts", f"cannot read known_hosts: {exc}")
                ) from None

    def _add_line(self, line: str, number: int) -> None:
        """One known_hosts line; lines paramiko cannot read (markers such as @cert-authority,
        key types it does not know, bad base64) are skipped, as ssh(1) skips what it cannot
        use."""
        if not line or line.startswith("#"):
            return
        marker, _, rest = line.partition(" ") if line.startswith("@") else ("", "", line)
        if marker and marker != "@revoked":
            # @cert-authority: paramiko cannot check host certificates; such hosts stay unknown.
            return
        try:
            entry = paramiko.hostkeys.HostKeyEntry.from_line(rest.strip(), number)
        except (paramiko.SSHException, paramiko.hostkeys.InvalidHostKey):
            # paramiko.HostKeys.load let InvalidHostKey through (a `@cert-authority` or
            # `@revoked` line ended the scan with a traceback); a bad line is skipped, as ssh(1)
            # skips what it cannot read.
            return
        if entry is None or entry.key is None:
            return
        if marker:
            # sshd(8): a @revoked key "must not ever be accepted", whatever names the line gives.
            self._revoked.append(entry.key)
            return
        for name in entry.hostnames:
            if not name.startswith("|1|"):
                self._plain.setdefault(name, []).append(entry.key)
                continue
            parts = name.split("|")
            try:
                salt, digest = (base64.b64decode(p, validate=True) for p in parts[2:4])
            except (binascii.Error, ValueError):
                continue
            if len(parts) == 4 and len(salt) == hashlib.sha1().digest_size:
                self._hashed.append((salt, digest, entry.key))

    def _keys_for(self, name: str) -> tuple[paramiko.PKey, ...]:
        """Every key known for `name`, in file order. Call with the lock held."""
        found = self._found.get(name)
        if found is None:
            encoded = name.encode()
            hashed = (
                key
                for salt, digest, key in self._hashed
                if hmac.compare_digest(hmac.digest(salt, encoded, "sha1"), digest)
            )
            found = self._found[name] = (*self._plain.get(name, ()), *hashed)
        return found

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
            keys = self._keys_for(host_entry_name(address, port))
        return tuple(dict.fromkeys(key.get_name() for key in keys))

    def check(
        self, host: str, address: str, port: int, key: paramiko.PKey, policy: HostKeyPolicy
    ) -> KeyCheck:
        name = host_entry_name(address, port)
        printed = f"{key.get_name()} {fingerprint(key)}"
        with self._lock:
            if any(k == key for k in self._revoked):
                return KeyCheck(
                    "host-key-revoked",
                    f"host key for {name} ({printed}) is marked @revoked in known_hosts: refused",
                )
            known = self._keys_for(name)
            same_type = [k for k in known if k.get_name() == key.get_name()]
            if same_type:
                if any(k == key for k in same_type):
                    return KeyCheck("", "")
                return KeyCheck(
                    "host-key-changed",
                    f"host key for {name} has CHANGED (now {printed}): refused; "
                    "if the change is expected, replace its known_hosts entry",
                )
            if known:
                return KeyCheck(
                    "host-key-changed",
                    f"host {name} offered a {key.get_name()} key but known_hosts holds "
                    f"only {', '.join(sorted({k.get_name() for k in known}))}: refused",
                )
            if policy is not HostKeyPolicy.ACCEPT_NEW:
                return KeyCheck(
                    "host-key-unknown",
                    f"host key for {name} is not in known_hosts ({printed}): refused "
                    "(add it, or set host_key_policy: accept-new)",
                )
            self._plain.setdefault(name, []).append(key)
            self._found.pop(name, None)
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
