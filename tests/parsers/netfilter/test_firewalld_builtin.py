"""fwcheck's own table of firewalld's stock services and zones (firewalld_builtin, used when no
definitions can be read) agrees with the real definition files, read at test time from the
installed firewalld (/usr/lib/firewalld; CI installs the `firewalld` package). Without them the
test skips, or fails under FWCHECK_REQUIRE_KERNEL_ORACLE=1 (CI)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from checker.parsers.netfilter import firewalld_builtin, firewalld_tree

LIB = Path("/usr/lib/firewalld")


@pytest.fixture(scope="module")
def lib() -> Path:
    if not (LIB / "services").is_dir():
        if os.environ.get("FWCHECK_REQUIRE_KERNEL_ORACLE") == "1":
            pytest.fail("FWCHECK_REQUIRE_KERNEL_ORACLE=1 but /usr/lib/firewalld is missing")
        pytest.skip("firewalld is not installed")
    return LIB


@pytest.mark.parametrize("name", sorted(firewalld_builtin.SERVICES))
def test_service_ports_match_the_real_file(lib: Path, name: str) -> None:
    node = firewalld_tree.read_file(lib / "services" / f"{name}.xml")
    ports, destination = firewalld_builtin.SERVICES[name]
    assert tuple((p.get("protocol"), p.get("port")) for p in node.all("port")) == ports
    assert not node.all("include") and not node.all("protocol") and not node.all("source-port")
    dest = node.first("destination")
    assert (None if dest is None else (dest.get("ipv4"), dest.get("ipv6"))) == destination


@pytest.mark.parametrize("name", sorted(firewalld_builtin.ZONES))
def test_zones_match_the_real_file(lib: Path, name: str) -> None:
    node = firewalld_tree.read_file(lib / "zones" / f"{name}.xml")
    target, services, masquerade = firewalld_builtin.ZONES[name]
    assert node.get("target", "default") == target
    assert tuple(s.get("name") for s in node.all("service")) == services
    assert (node.first("masquerade") is not None) == masquerade
    assert not node.all("port") and not node.all("rule") and not node.all("icmp-block")
