"""What fwcheck assumes of firewalld's own definitions when none can be read.

firewalld ships its zones and services as GPL-2.0 XML files under /usr/lib/firewalld; they are
not copied into this package. When neither the repository's tree (`usr/lib/firewalld` beside
`etc/firewalld`), nor `--firewalld-defaults DIR`, nor the machine's /usr/lib/firewalld has a
definition, fwcheck falls back on this table: the well-known ports of common services (IANA's
service name registry) and what the stock zones allow, as firewalld's documentation describes
them (firewalld.zones(5)). tests/parsers/netfilter/test_firewalld_builtin.py compares every entry with the
real files when they are installed, so a drift fails CI. A name in neither place is an error.
"""

from __future__ import annotations

# service -> ((protocol, port), ...), destination restriction (ipv4, ipv6) or None
SERVICES: dict[str, tuple[tuple[tuple[str, str], ...], tuple[str, str] | None]] = {
    "ssh": ((("tcp", "22"),), None),
    "http": ((("tcp", "80"),), None),
    "https": ((("tcp", "443"),), None),
    "http3": ((("udp", "443"),), None),
    "dns": ((("tcp", "53"), ("udp", "53")), None),
    "dhcp": ((("udp", "67"),), None),
    "dhcpv6-client": ((("udp", "546"),), ("", "fe80::/64")),
    "mdns": ((("udp", "5353"),), ("224.0.0.251", "ff02::fb")),
    "ntp": ((("udp", "123"),), None),
    "smtp": ((("tcp", "25"),), None),
    "smtps": ((("tcp", "465"),), None),
    "imaps": ((("tcp", "993"),), None),
    "pop3s": ((("tcp", "995"),), None),
    "ftp": ((("tcp", "21"),), None),
    "mysql": ((("tcp", "3306"),), None),
    "postgresql": ((("tcp", "5432"),), None),
    "redis": ((("tcp", "6379"),), None),
    "cockpit": ((("tcp", "9090"),), None),
    "ldap": ((("tcp", "389"),), None),
    "ldaps": ((("tcp", "636"),), None),
    "kerberos": ((("tcp", "88"), ("udp", "88")), None),
    "snmp": ((("tcp", "161"), ("udp", "161")), None),
    "nfs": ((("tcp", "2049"),), None),
    "rpc-bind": ((("tcp", "111"), ("udp", "111")), None),
    "mountd": ((("tcp", "20048"), ("udp", "20048")), None),
    "ipp-client": ((("udp", "631"),), None),
}

# zone -> (target, services, masquerade)
ZONES: dict[str, tuple[str, tuple[str, ...], bool]] = {
    "public": ("default", ("ssh", "dhcpv6-client"), False),
    "external": ("default", ("ssh",), True),
    "dmz": ("default", ("ssh",), False),
    "work": ("default", ("ssh", "dhcpv6-client"), False),
    "block": ("%%REJECT%%", (), False),
    "drop": ("DROP", (), False),
    "trusted": ("ACCEPT", (), False),
}
