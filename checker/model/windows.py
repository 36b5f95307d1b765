"""The Windows Defender Firewall model: rules and profile settings as the exports state them.

Every parser (.reg, .wfw, Registry.pol, netsh text, collector JSON) produces a `WindowsRuleset`;
the engine (checker/engine/windows/engine.py) decides flows on it. Values are normalized (lower-case
enums, canonical keyword spellings) but never resolved: an address keyword such as LocalSubnet
or a port keyword such as RPC stays a keyword, because only the live host knows what it holds.

Canonical spellings follow the PowerShell NetSecurity module (Get-NetFirewall*Filter), which is
what the WinRM collector emits; the rule-string parser maps MS-GPFAS 2.2.2.13 tokens onto them
(IntrAnet -> Intranet, Ply2Renders -> PlayToDevice, IPTLSIn -> IPHTTPSIn …). An address keyword
limited to one family carries a 4 or 6 suffix ("LocalSubnet4"), as PowerShell writes it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field

from checker.errors import Location, Problem
from checker.model.listening import ListeningSocket

PROFILE_NAMES = ("domain", "private", "public")
ALL_PROFILES = frozenset(PROFILE_NAMES)

ACTIONS = ("allow", "block", "bypass")
DIRECTIONS = ("in", "out")
STORES = ("local", "gpo")

# Address keywords, canonical (PowerShell) spelling. MS-GPFAS 2.2.2.13, MS-FASP 2.2.21.
ADDRESS_KEYWORDS = (
    "LocalSubnet",
    "DNS",
    "DHCP",
    "WINS",
    "DefaultGateway",
    "Intranet",
    "Internet",
    "PlayToDevice",
    "IntranetRemoteAccess",
    "CaptivePortal",
)
# Port keywords, canonical spelling. MS-GPFAS 2.2.2.19 (LPORT-KEYWORD-VAL…), MS-FASP 2.2.14.
PORT_KEYWORDS = (
    "RPC",
    "RPC-EPMap",
    "Teredo",
    "IPHTTPSIn",
    "IPHTTPSOut",
    "DHCP",
    "PlayToDiscovery",
    "mDNS",
    "Cortana",
    "ProximalTcpCdp",
)


@dataclass(frozen=True, slots=True)
class WindowsRule:
    """One firewall rule (MS-FASP 2.2.37 FW_RULE), as written.

    Empty tuples mean "any" (the field is absent). Addresses, ports and ICMP entries are kept as
    written, after normalization: "10.0.0.0/8", "192.0.2.1-192.0.2.9", "LocalSubnet4", "80",
    "5000-5020", "RPC", "8:*".
    """

    id: str
    name: str
    action: str  # allow | block | bypass
    direction: str  # in | out
    enabled: bool
    # The profiles the rule applies in; all three when the rule names none.
    profiles: frozenset[str]
    protocol: int | None  # None = any
    local_ports: tuple[str, ...] = ()
    remote_ports: tuple[str, ...] = ()
    local_addresses: tuple[str, ...] = ()
    remote_addresses: tuple[str, ...] = ()
    icmp_types: tuple[str, ...] = ()  # "type:code", code may be "*"
    program: str | None = None  # as written, e.g. %SystemRoot%\system32\svchost.exe, or "System"
    service: str | None = None  # short name, or "*" (any service)
    package: str | None = None  # AppContainer SID, or "*"
    interface_types: tuple[str, ...] = ()  # lan | wireless | remoteaccess
    interfaces: tuple[str, ...] = ()  # interface GUIDs / aliases
    # IPsec requirements on an allow rule: authenticate, encrypt, authenticate-no-encapsulation,
    # negotiate-encryption … (Security=, Security2_9=, Security2= and the collector's
    # Authentication/Encryption). Empty = none.
    security: tuple[str, ...] = ()
    edge_traversal: str | None = None  # None (block) | allow | defer-app | defer-user
    # Conditions only the live host can evaluate: remote machine/user authorization (RMauth,
    # RUAuth), local user (LUAuth, LUOwn), trust tuple keywords (TTK), platform, network names …
    # as (key, value) pairs.
    conditions: tuple[tuple[str, str], ...] = ()
    # Keys this version of fwcheck does not know, kept as written (key, value).
    unknown: tuple[tuple[str, str], ...] = ()
    store: str = "local"  # local | gpo
    origin: Location = field(default_factory=lambda: Location(""))
    text: str = ""  # the raw rule as written (rule string, netsh block, JSON object)
    description: str = ""
    group: str = ""  # EmbedCtxt / DisplayGroup
    version: str = ""  # rule-string version, e.g. "2.30"

    def label(self) -> str:
        """`ID "Name"` for messages and evidence."""
        if self.name and self.name != self.id:
            return f'{self.id} "{self.name}"'
        return self.id


@dataclass(frozen=True, slots=True)
class ProfileSettings:
    """The settings of one profile in one store; None = not set in this store.

    Windows defaults when no store sets them (MS-FASP 2.2.38, INetFwPolicy2): firewall on,
    inbound Block, outbound Allow, shields down, local policy merge allowed.
    """

    profile: str  # domain | private | public
    store: str = "local"
    enabled: bool | None = None  # EnableFirewall
    default_inbound: str | None = None  # allow | block (DefaultInboundAction)
    default_outbound: str | None = None  # allow | block (DefaultOutboundAction)
    shields_up: bool | None = None  # DoNotAllowExceptions / AllowInboundRules=False
    allow_local_policy_merge: bool | None = None  # AllowLocalPolicyMerge / AllowLocalFirewallRules
    origin: Location = field(default_factory=lambda: Location(""))
    # Where each set value is written: ("enabled", Location), ("default_inbound", …) …
    setting_origins: tuple[tuple[str, Location], ...] = ()
    # Other values of the profile key, kept as written (notifications, logging …).
    other: tuple[tuple[str, str], ...] = ()

    def origin_of(self, setting: str) -> Location:
        for name, location in self.setting_origins:
            if name == setting:
                return location
        return self.origin


@dataclass(frozen=True, slots=True)
class ShadowedRule:
    """A rule written in an export that Windows does not apply, because another copy with the
    same rule ID replaces it (a later value of the same name, or a Group Policy rule)."""

    rule: WindowsRule  # the copy that is not applied
    by: WindowsRule  # the copy that applies
    reason: str  # why `by` replaces `rule`, for the warning


@dataclass(frozen=True)
class WindowsRuleset:
    rules: tuple[WindowsRule, ...]
    # domain/private/public -> settings stated by this export (absent = nothing stated).
    profiles: Mapping[str, ProfileSettings]
    # The profiles the host's networks are in (collector JSON); None = not known.
    active_profiles: frozenset[str] | None = None
    origin: str = ""
    warnings: tuple[Problem, ...] = ()
    format: str = ""
    # Rules the export writes but that are replaced within it (a value written twice: the last
    # one wins); the engine names them in a warning when they concern a requirement.
    shadowed: tuple[ShadowedRule, ...] = ()
    # False when the export has no real rule IDs (netsh text, GPO reports): its rules then never
    # override another store's rule of the same name.
    has_rule_ids: bool = True
    # The host's listening sockets (collector JSON `listening`): exposure results.
    listening: tuple[ListeningSocket, ...] = ()


# Value parsing shared by every parser and the engine --------------------------------------------
def ascii_digits(text: str) -> bool:
    """True for a non-empty run of 0-9 only. `str.isdigit()` also accepts "²" (which `int()`
    refuses) and other scripts' digits such as "١" (which `int()` reads as 1): Windows writes
    ASCII digits, so anything else is not a number here."""
    return text.isascii() and text.isdigit()


# Rule-string tokens (MS-GPFAS 2.2.2.13) and PowerShell names, lower-cased, to canonical names.
_ADDRESS_KEYWORD_ALIASES = {
    **{name.lower(): name for name in ADDRESS_KEYWORDS},
    "ply2renders": "PlayToDevice",
    "playtorenderers": "PlayToDevice",
    "rmtintranet": "IntranetRemoteAccess",
    "defaultgateway": "DefaultGateway",
}
_PORT_KEYWORD_ALIASES = {
    **{name.lower(): name for name in PORT_KEYWORDS},
    "rpcepmap": "RPC-EPMap",
    "rpc-epmap": "RPC-EPMap",
    "iptlsin": "IPHTTPSIn",
    "iptlsout": "IPHTTPSOut",
    "iphttps": "IPHTTPSIn",
    "ply2disc": "PlayToDiscovery",
    "cortanaout": "Cortana",
}


@dataclass(frozen=True, slots=True)
class AddressValue:
    """One address entry: an inclusive range of one family, or a keyword (family None = both)."""

    family: int | None
    first: int = 0
    last: int = 0
    keyword: str | None = None

    def text(self) -> str:
        if self.keyword is not None:
            return self.keyword + (str(self.family) if self.family else "")

        make = ipaddress.IPv4Address if self.family == 4 else ipaddress.IPv6Address
        first, last = make(self.first), make(self.last)
        if first == last:
            return str(first)
        size = self.last - self.first + 1
        if size & (size - 1) == 0 and self.first % size == 0:
            bits = 32 if self.family == 4 else 128
            return f"{first}/{bits - size.bit_length() + 1}"
        return f"{first}-{last}"


def address_keyword(token: str) -> tuple[str, int | None] | None:
    """`LocalSubnet4` -> ("LocalSubnet", 4); `intranet` -> ("Intranet", None); else None."""
    lowered = token.strip().lower()
    if lowered in _ADDRESS_KEYWORD_ALIASES:
        return _ADDRESS_KEYWORD_ALIASES[lowered], None
    if lowered[-1:] in ("4", "6") and lowered[:-1] in _ADDRESS_KEYWORD_ALIASES:
        return _ADDRESS_KEYWORD_ALIASES[lowered[:-1]], int(lowered[-1])
    return None


def parse_address(token: str, family: int | None = None) -> AddressValue | None:
    """An address entry as Windows writes it: an IP, a subnet (`a/len` or `a/mask`), a range
    `a-b`, or a keyword. None means "any" (`*`, `Any`). Raises ValueError on anything else.
    `family` (4 or 6) is the family the field allows (RA4=, RA6=), None for either."""

    text = token.strip()
    if text in ("*", "") or text.lower() == "any":
        return None
    keyword = address_keyword(text)
    if keyword is not None:
        name, keyword_family = keyword
        if family is not None and keyword_family not in (None, family):
            raise ValueError(f"{text!r} is an IPv{keyword_family} keyword in an IPv{family} field")
        return AddressValue(keyword_family or family, keyword=name)
    if "-" in text and "/" not in text:
        low_text, high_text = text.split("-", 1)
        low = ipaddress.ip_address(low_text.strip())
        high = ipaddress.ip_address(high_text.strip())
        if low.version != high.version or int(low) > int(high):
            raise ValueError(f"bad address range {text!r}")
        value = AddressValue(low.version, int(low), int(high))
    else:
        network = ipaddress.ip_network(text, strict=False)
        value = AddressValue(
            network.version, int(network.network_address), int(network.broadcast_address)
        )
    if family is not None and value.family != family:
        raise ValueError(f"{text!r} is not an IPv{family} address")
    return value


def parse_port(token: str) -> tuple[int, int] | str | None:
    """`80` -> (80, 80); `5000-5020` -> (5000, 5020); `RPC` -> "RPC"; `*`/`Any` -> None."""
    text = token.strip()
    if text in ("*", "") or text.lower() == "any":
        return None
    keyword = _PORT_KEYWORD_ALIASES.get(text.lower())
    if keyword is not None:
        return keyword
    low_text, _, high_text = text.partition("-")
    if not ascii_digits(low_text.strip()) or (high_text and not ascii_digits(high_text.strip())):
        raise ValueError(f"bad port {text!r}")
    low = int(low_text)
    high = int(high_text) if high_text else low
    if not 0 <= low <= high <= 65535:
        raise ValueError(f"bad port range {text!r}")
    return low, high


def parse_icmp(token: str) -> tuple[int, int] | None:
    """`8:*` / `8` -> (0x0800, 0x08FF); `3:4` -> (0x0304, 0x0304); `*`/`Any` -> None.
    The packed value is type << 8 | code, as checker.engine.verdict.format_flow reads it."""
    text = token.strip()
    if text in ("*", "") or text.lower() == "any":
        return None
    type_text, _, code_text = text.partition(":")
    if not ascii_digits(type_text) or int(type_text) > 255:
        raise ValueError(f"bad ICMP type {text!r}")
    icmp_type = int(type_text)
    if code_text in ("", "*") or code_text.lower() == "any":
        return icmp_type << 8, icmp_type << 8 | 0xFF
    if not ascii_digits(code_text) or int(code_text) > 255:
        raise ValueError(f"bad ICMP code {text!r}")
    return icmp_type << 8 | int(code_text), icmp_type << 8 | int(code_text)


PROTOCOL_NUMBERS = {
    "icmp": 1,
    "icmpv4": 1,
    "igmp": 2,
    "tcp": 6,
    "udp": 17,
    "ipv6": 41,
    "gre": 47,
    "esp": 50,
    "ah": 51,
    "icmpv6": 58,
    "vrrp": 112,
    "pgm": 113,
    "l2tp": 115,
    "sctp": 132,
}


def parse_protocol(token: str) -> int | None:
    """A protocol number or name (`6`, `TCP`, `ICMPv6`); None for any."""
    text = token.strip().lower()
    if text in ("", "*", "any", "256"):
        return None
    if ascii_digits(text):
        number = int(text)
        if number > 255:
            raise ValueError(f"bad protocol number {token!r}")
        return number
    if text in PROTOCOL_NUMBERS:
        return PROTOCOL_NUMBERS[text]
    raise ValueError(f"unknown protocol {token!r}")
