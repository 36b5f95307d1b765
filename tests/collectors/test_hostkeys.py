"""The scan's known_hosts index (checker/collectors/hostkeys.py) against OpenSSH's own reading
of the same files (`ssh-keygen -F NAME -f FILE`, the real tool, plain and `ssh-keygen -H`
hashed) and against paramiko.HostKeys (which it replaced: quadratic in the fleet) on random and
malformed files."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import paramiko
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checker.collectors.hostkeys import KnownHosts, host_entry_name
from checker.inventory.model import HostKeyPolicy


def _key(kind: str) -> paramiko.PKey:
    """A fresh public host key (cryptography makes it; paramiko reads its OpenSSH form)."""
    import base64

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519

    private = (
        ed25519.Ed25519PrivateKey.generate()
        if kind == "ed25519"
        else ec.generate_private_key(ec.SECP256R1())
    )
    kind_name, blob = (
        private.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .split()
    )
    return paramiko.PKey.from_type_string(kind_name.decode(), base64.b64decode(blob))


KEYS = [_key("ed25519"), _key("ed25519"), _key("ecdsa")]


def _line(names: str, key: paramiko.PKey) -> str:
    return f"{names} {key.get_name()} {key.get_base64()}\n"


def _known(tmp: Path, text: str) -> KnownHosts:
    path = tmp / "known_hosts"
    path.write_text(text)
    return KnownHosts.for_scan([str(path)], include_user=False)


def _accepts(known: KnownHosts, address: str, port: int, key: paramiko.PKey) -> str:
    return known.check("h", address, port, key, HostKeyPolicy.STRICT).code


@pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="ssh-keygen (openssh-client)")
def test_plain_and_hashed_files_find_what_ssh_keygen_finds(tmp_path: Path) -> None:
    hosts = [(f"10.0.{i // 200}.{i % 200 + 1}", 22 if i % 3 else 2200 + i) for i in range(300)]
    text = "".join(_line(host_entry_name(a, p), KEYS[i % 3]) for i, (a, p) in enumerate(hosts))
    plain = tmp_path / "plain"
    plain.write_text(text)
    hashed = tmp_path / "hashed"
    hashed.write_text(text)
    subprocess.run(["ssh-keygen", "-q", "-H", "-f", str(hashed)], check=True, timeout=60)
    assert "|1|" in hashed.read_text() and "10.0.0.1" not in hashed.read_text()
    asked = hosts[::7] + [("10.9.9.9", 22), (hosts[1][0], 2222), (hosts[0][0], 22)]
    for path in (plain, hashed):
        known = KnownHosts.for_scan([str(path)], include_user=False)
        for address, port in asked:
            name = host_entry_name(address, port)
            found = subprocess.run(
                ["ssh-keygen", "-F", name, "-f", str(path)], capture_output=True, timeout=30
            )
            types = known.known_types(address, port)
            assert bool(types) == (found.returncode == 0), (path.name, name)
            if types:
                # The key ssh-keygen found is the one accepted, another of its type refused.
                index = hosts.index((address, port))
                assert types == (KEYS[index % 3].get_name(),)
                assert _accepts(known, address, port, KEYS[index % 3]) == ""
                other = KEYS[(index + 1) % 2] if index % 3 < 2 else KEYS[2]
                if other is not KEYS[index % 3]:
                    assert _accepts(known, address, port, other) == "host-key-changed"


def test_any_line_of_the_host_may_hold_the_key(tmp_path: Path) -> None:
    """sshd(8), SSH_KNOWN_HOSTS FILE FORMAT: several lines for the same names are permitted and
    authentication is accepted if valid information can be found in either (paramiko.HostKeys
    took the first line of a key type only: the rotated key was refused)."""
    known = _known(tmp_path, _line("a.example", KEYS[0]) + _line("b.example,a.example", KEYS[1]))
    assert known.known_types("a.example", 22) == ("ssh-ed25519",)
    assert _accepts(known, "a.example", 22, KEYS[0]) == ""
    assert _accepts(known, "a.example", 22, KEYS[1]) == ""
    assert _accepts(known, "b.example", 22, KEYS[0]) == "host-key-changed"
    assert _accepts(known, "a.example", 22, KEYS[2]) == "host-key-changed"
    assert _accepts(known, "c.example", 22, KEYS[2]) == "host-key-unknown"


def test_malformed_and_marker_lines_are_skipped_not_fatal(tmp_path: Path) -> None:
    text = (
        "|1|bm90IGEgc2FsdA==|AAAA ssh-ed25519 " + KEYS[0].get_base64() + "\n"  # 9-byte salt
        "|1|%%%|%%% ssh-ed25519 " + KEYS[0].get_base64() + "\n"
        "@cert-authority *.example ssh-ed25519 " + KEYS[0].get_base64() + "\n"
        "x.example ssh-ed25519 !!notbase64!!\n"
        "y.example ssh-unknown-type AAAA\n"
        "short line\n"
        "# comment\n\n" + _line("z.example", KEYS[2])
    )
    known = _known(tmp_path, text)
    for name in ("x.example", "y.example", "short", "*.example"):
        assert known.known_types(name, 22) == ()
    assert _accepts(known, "z.example", 22, KEYS[2]) == ""


def test_a_revoked_key_is_refused_under_every_policy(tmp_path: Path) -> None:
    """sshd(8): a @revoked key "must not ever be accepted" (paramiko.HostKeys raised on the
    line: the whole scan ended with a traceback)."""
    known = _known(
        tmp_path,
        _line("a.example", KEYS[0]) + "@revoked * " + _line("", KEYS[0]).lstrip(),
    )
    for policy in HostKeyPolicy:
        check = known.check("h", "a.example", 22, KEYS[0], policy)
        assert check.code == "host-key-revoked" and "@revoked" in check.message
        assert known.check("h", "new.example", 22, KEYS[0], policy).code == "host-key-revoked"
    assert _accepts(known, "a.example", 22, KEYS[1]) == "host-key-changed"


NAMES = st.sampled_from(["a", "b", "10.0.0.1", "[10.0.0.1]:2222", "host.example", "c"])


@st.composite
def _files(draw: st.DrawFn) -> str:
    lines = []
    for _ in range(draw(st.integers(0, 8))):
        kind = draw(st.sampled_from(["plain", "hashed", "junk", "comment"]))
        key = draw(st.sampled_from(KEYS))
        names = draw(st.lists(NAMES, min_size=1, max_size=3))
        if kind == "hashed":
            names = [paramiko.HostKeys.hash_host(n) for n in names]
        if kind == "junk":
            lines.append(
                draw(
                    st.text(
                        st.characters(
                            codec="utf-8",
                            exclude_characters="\r\n\x85\u2028\u2029\x0b\x0c\x1c\x1d\x1e",
                        ),
                        max_size=40,
                    )
                )
                + "\n"
            )
        elif kind == "comment":
            lines.append("# " + ",".join(names) + "\n")
        else:
            lines.append(_line(",".join(names), key))
    return "".join(lines)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=_files())
def test_same_key_types_as_paramiko_hostkeys(tmp_path: Path, text: str) -> None:
    path = tmp_path / "random_known_hosts"
    path.write_text(text)
    reference = paramiko.HostKeys()
    reference.load(str(path))
    known = KnownHosts.for_scan([str(path)], include_user=False)
    for name in ("a", "b", "10.0.0.1", "host.example", "c", "nowhere"):
        entry = reference.lookup(name)
        assert set(known.known_types(name, 22)) == set(entry.keys() if entry else ()), name
    # [10.0.0.1]:2222 is how port 2222 is written.
    entry = reference.lookup("[10.0.0.1]:2222")
    assert set(known.known_types("10.0.0.1", 2222)) == set(entry.keys() if entry else ())
    # Every key a line gives the name is accepted (any line, as sshd(8) says).
    for line in text.splitlines():
        fields = line.split(" ")
        if len(fields) == 3 and not line.startswith("#") and "a" in fields[0].split(","):
            key = next(k for k in KEYS if k.get_base64() == fields[2])
            assert _accepts(known, "a", 22, key) == ""
