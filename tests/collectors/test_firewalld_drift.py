"""firewalld's runtime vs permanent configuration, as `firewall-cmd --list-all-zones` /
`--list-all-policies` print them (the texts below are in the shape firewalld 1.3.3 prints;
tests/kernel/test_firewalld_drift_live.py runs the real daemon and the real collection script)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from checker.collectors import firewalld_drift
from checker.collectors.result import Output

PERMANENT = """\
block
  target: %%REJECT%%
  icmp-block-inversion: no
  interfaces:
  sources:
  services:
  ports:
  rich rules:

public (active)
  target: default
  icmp-block-inversion: no
  interfaces: veth0
  sources:
  services: dhcpv6-client ssh
  ports:
  rich rules:
\trule family="ipv4" source address="10.0.0.1" accept

"""
RUNTIME = (
    PERMANENT.replace("block\n", "block (active)\n")
    .replace("interfaces: veth0", "interfaces: eth9 veth0")
    .replace("services: dhcpv6-client ssh\n  ports:", "services: dhcpv6-client\n  ports: 8080/tcp")
    .replace('address="10.0.0.1" accept', 'address="10.0.0.2" accept')
)


def output(name: str, text: str, code: int = 0) -> Output:
    return Output(name, f"firewall-cmd ({name})", code, text.encode(), "t", 0.1)


def test_listing_is_read_per_zone_and_key() -> None:
    zones = firewalld_drift.parse_listing(RUNTIME)
    assert set(zones) == {"block", "public"}
    assert zones["public"]["services"] == {"dhcpv6-client"}
    assert zones["public"]["rich rules"] == {'rule family="ipv4" source address="10.0.0.2" accept'}


def test_drift_names_what_the_next_reload_undoes() -> None:
    (note,) = firewalld_drift.notes(
        [output("firewalld-zones", RUNTIME), output("firewalld-zones-permanent", PERMANENT)]
    )
    assert "zone public: ports +8080/tcp" in note
    assert 'zone public: rich rules +rule family="ipv4" source address="10.0.0.2" accept' in note
    assert "-rule family" in note and "zone public: services -ssh" in note
    # NetworkManager's run-time interface bindings and the (active) marks are not drift.
    assert "eth9" not in note and "block" not in note


def test_no_note_without_both_listings_or_when_they_agree() -> None:
    same = [output("firewalld-zones", PERMANENT), output("firewalld-zones-permanent", PERMANENT)]
    assert firewalld_drift.notes(same) == ()
    assert firewalld_drift.notes([output("firewalld-zones", RUNTIME)]) == ()
    failed = [output("firewalld-policies", "", 2), output("firewalld-policies-permanent", "")]
    assert firewalld_drift.notes(failed) == ()


def test_zones_only_on_one_side_and_a_long_note_is_cut() -> None:
    extra = "".join(f"z{i}\n  ports: {i}/tcp\n\n" for i in range(12))
    (note,) = firewalld_drift.notes(
        [
            output("firewalld-zones", PERMANENT + extra),
            output("firewalld-zones-permanent", PERMANENT),
        ]
    )
    assert "zone z0 exists only at run time" in note and note.endswith("and 4 more")


@given(st.text(max_size=400), st.text(max_size=400))
def test_any_text_gives_a_note_or_none(runtime: str, permanent: str) -> None:
    found = firewalld_drift.notes(
        [output("firewalld-zones", runtime), output("firewalld-zones-permanent", permanent)]
    )
    assert len(found) <= 1
