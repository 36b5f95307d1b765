"""Inventories: fwcheck YAML, Ansible INI and YAML, literal-password refusal with positions."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checker.errors import PolicyError
from checker.inventory import load_inventory, load_role_map
from checker.inventory.ansible import expand_pattern
from checker.inventory.model import HostKeyPolicy, Transport, WinrmAuth
from checker.inventory.secrets import is_secret_key

FWCHECK = """\
version: 1
known_hosts: keys/known_hosts
defaults:
  timeout_s: 20
  ssh: {user: audit, key_file: keys/audit}
groups:
  web:
    roles: [web-server]
    params: {http_port: 8080}
    ssh: {sudo: true, host_key_policy: accept-new}
  windows:
    transport: winrm
    roles: [adaptiva-client]
    winrm: {auth: ntlm, username_env: WIN_USER, password_env: WIN_PASS, ca_trust_path: ca.pem}
hosts:
  web1:
    address: 192.0.2.10
    groups: [web]
    roles: [baseline]
    ssh: {user: root}
  dc1:
    groups: [windows]
    port: 5987
  here:
    transport: local
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_fwcheck_yaml_merges_defaults_groups_and_host(tmp_path: Path) -> None:
    inventory = load_inventory(_write(tmp_path, "inventory.yaml", FWCHECK))
    assert inventory.format == "fwcheck"
    assert inventory.known_hosts_files == (str(tmp_path.resolve() / "keys/known_hosts"),)
    web1, dc1, here = inventory.hosts
    assert (web1.name, web1.address, web1.transport, web1.effective_port) == (
        "web1",
        "192.0.2.10",
        Transport.SSH,
        22,
    )
    assert web1.roles == ("web-server", "baseline")
    assert web1.params == (("http_port", 8080),)
    assert (
        web1.ssh.user == "root"
        and web1.ssh.sudo
        and web1.ssh.host_key_policy is HostKeyPolicy.ACCEPT_NEW
    )
    assert web1.ssh.key_file == str(tmp_path.resolve() / "keys/audit")
    assert web1.timeout_s == 20 and web1.groups == ("web",)
    assert web1.origin is not None and web1.origin.line == 16
    assert (dc1.address, dc1.transport, dc1.effective_port) == ("dc1", Transport.WINRM, 5987)
    assert dc1.winrm.auth is WinrmAuth.NTLM and dc1.winrm.ca_trust_path == str(
        tmp_path.resolve() / "ca.pem"
    )
    assert here.transport is Transport.LOCAL


@pytest.mark.parametrize(
    ("text", "where", "needle"),
    [
        (
            "hosts:\n  a:\n    ssh: {user: x, password: hunter2}\n",
            (3, 20),
            "literal password refused",
        ),
        ("hosts:\n  a:\n    winrm:\n      passphrase: x\n", (4, 7), "'passphrase'"),
        ("hosts:\n  a:\n    prot: ssh\n", (3, 5), "unknown key 'prot'"),
        ("hosts:\n  a:\n    groups: [nope]\n", (3, 14), "unknown group 'nope'"),
        (
            "hosts:\n  a:\n    ssh: {password_env: 'hunter2 x'}\n",
            (3, 11),
            "NAME of an environment variable",
        ),
        (
            "hosts:\n  a:\n    transport: winrm\n    winrm: {auth: basic, password_env: P, allow_http: true}\n",
            (2, 3),
            "unencrypted",
        ),
    ],
)
def test_fwcheck_yaml_problems_name_file_line_col(
    tmp_path: Path, text: str, where: tuple[int, int], needle: str
) -> None:
    path = _write(tmp_path, "inv.yaml", text)
    with pytest.raises(PolicyError) as caught:
        load_inventory(path)
    problem = caught.value.problems[0]
    assert (problem.file, problem.line, problem.col) == (str(path), *where), problem
    assert needle in problem.message
    assert "hunter2" not in str(caught.value)


ANSIBLE_INI = """\
# fleet
jump.example.org

[web]
web[01:03].example.org ansible_user=deploy
web09 ansible_host=192.0.2.9 ansible_port=2222 fwcheck_sudo=yes

[web:vars]
ansible_become=true
fwcheck_host_key_policy=accept-new

[windows]
dc1 ansible_host=10.1.1.1
[windows:vars]
ansible_connection=winrm
ansible_winrm_transport=kerberos,ntlm
ansible_winrm_ca_trust_path=/etc/fwcheck/ca.pem

[prod:children]
web
windows
[all:vars]
fwcheck_known_hosts=known_hosts
"""


def test_ansible_ini_maps_groups_to_roles_and_vars_to_settings(tmp_path: Path) -> None:
    inventory = load_inventory(_write(tmp_path, "hosts", ANSIBLE_INI))
    assert inventory.format == "ansible-ini"
    by_name = {h.name: h for h in inventory.hosts}
    assert sorted(by_name) == [
        "dc1",
        "jump.example.org",
        "web01.example.org",
        "web02.example.org",
        "web03.example.org",
        "web09",
    ]
    web = by_name["web02.example.org"]
    assert web.roles == ("prod", "web") and web.ssh.user == "deploy" and web.ssh.sudo
    assert (
        web.ssh.host_key_policy is HostKeyPolicy.ACCEPT_NEW and web.address == "web02.example.org"
    )
    web09 = by_name["web09"]
    assert (web09.address, web09.port) == ("192.0.2.9", 2222)
    dc1 = by_name["dc1"]
    assert dc1.transport is Transport.WINRM and dc1.winrm.auth is WinrmAuth.KERBEROS
    assert dc1.winrm.ca_trust_path == "/etc/fwcheck/ca.pem" and dc1.effective_port == 5986
    assert by_name["jump.example.org"].roles == ()
    assert inventory.known_hosts_files == (str(tmp_path.resolve() / "known_hosts"),)
    assert web.origin is not None and web.origin.line == 5


def test_ansible_role_map(tmp_path: Path) -> None:
    role_map = load_role_map(
        _write(tmp_path, "roles.yaml", "web: [web-server, baseline]\nwindows: adaptiva-client\n")
    )
    inventory = load_inventory(_write(tmp_path, "hosts.ini", ANSIBLE_INI), role_map=role_map)
    by_name = {h.name: h for h in inventory.hosts}
    assert by_name["web01.example.org"].roles == ("web-server", "baseline")
    assert by_name["dc1"].roles == ("adaptiva-client",)


ANSIBLE_YAML = """\
all:
  vars:
    ansible_user: audit
  children:
    linux:
      vars:
        ansible_user: root
      hosts:
        fw1:
          ansible_host: 198.51.100.1
        fw2:
      children:
        edge:
          hosts:
            fw2:
              ansible_port: 2200
    win:
      hosts:
        ws1:
          ansible_connection: winrm
          ansible_winrm_scheme: http
          fwcheck_allow_http: true
          fwcheck_password_env: WIN_PW
"""


def test_ansible_yaml_precedence_and_nested_children(tmp_path: Path) -> None:
    inventory = load_inventory(_write(tmp_path, "inv.yml", ANSIBLE_YAML))
    assert inventory.format == "ansible-yaml"
    by_name = {h.name: h for h in inventory.hosts}
    assert by_name["fw1"].ssh.user == "root" and by_name["fw1"].address == "198.51.100.1"
    assert by_name["fw2"].roles == ("linux", "edge") and by_name["fw2"].port == 2200
    ws1 = by_name["ws1"]
    assert ws1.transport is Transport.WINRM and ws1.winrm.allow_http and ws1.effective_port == 5985
    assert ws1.winrm.user == "audit" and ws1.winrm.password_env == "WIN_PW"


@pytest.mark.parametrize(
    ("name", "text", "line", "col"),
    [
        ("hosts.ini", "[web]\nweb1 ansible_host=1.2.3.4 ansible_ssh_pass=hunter2\n", 2, 27),
        ("hosts.ini", "[web:vars]\nansible_become_password=hunter2\n", 2, 1),
        ("inv.yml", "all:\n  hosts:\n    a:\n      ansible_password: hunter2\n", 4, 7),
        ("inv.yml", "all:\n  vars:\n    ansible_winrm_password: hunter2\n", 3, 5),
    ],
)
def test_ansible_literal_passwords_are_refused_with_position(
    tmp_path: Path, name: str, text: str, line: int, col: int
) -> None:
    path = _write(tmp_path, name, text)
    with pytest.raises(PolicyError) as caught:
        load_inventory(path)
    problem = caught.value.problems[0]
    assert (problem.code, problem.line, problem.col) == ("literal-password", line, col)
    assert "hunter2" not in str(caught.value)


def test_ansible_http_without_opt_in_is_refused(tmp_path: Path) -> None:
    text = "[w]\nh1 ansible_connection=winrm ansible_winrm_scheme=http fwcheck_password_env=P\n"
    with pytest.raises(PolicyError, match="fwcheck_allow_http"):
        load_inventory(_write(tmp_path, "hosts.ini", text))


def test_ansible_bad_port_points_at_the_variable(tmp_path: Path) -> None:
    path = _write(tmp_path, "hosts.ini", "[web]\nweb1 ansible_port=99999\n")
    with pytest.raises(PolicyError) as caught:
        load_inventory(path)
    problem = caught.value.problems[0]
    assert (problem.line, problem.col) == (2, 6) and "99999" in problem.message


def test_expand_pattern() -> None:
    assert expand_pattern("web[08:10].x") == ["web08.x", "web09.x", "web10.x"]
    assert expand_pattern("db-[a:c]") == ["db-a", "db-b", "db-c"]
    assert expand_pattern("h[1:7:3]") == ["h1", "h4", "h7"]
    assert expand_pattern("r[1:2]-[a:b]") == ["r1-a", "r1-b", "r2-a", "r2-b"]


def test_secret_key_words() -> None:
    for key in (
        "password",
        "ansible_ssh_pass",
        "ansible_become_password",
        "winrm-passphrase",
        "api.secret",
    ):
        assert is_secret_key(key), key
    for key in ("password_env", "passive_ports", "bypass", "username_env", "compass"):
        assert not is_secret_key(key), key


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_random_ini_text_never_crashes(tmp_path_factory: pytest.TempPathFactory, text: str) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "hosts"
    path.write_text(text, encoding="utf-8", errors="replace")
    try:
        inventory = load_inventory(path)
    except PolicyError as exc:
        assert exc.problems and all(p.message for p in exc.problems)
    else:
        assert all(h.name for h in inventory.hosts)
