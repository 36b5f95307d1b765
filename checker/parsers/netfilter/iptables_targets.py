"""iptables targets (`-j NAME --option …`) as model verdicts.

Terminating verdicts map directly (ACCEPT DROP REJECT RETURN, TARPIT drops). Targets that only
log, mark or rewrite header fields let evaluation continue (CONTINUE). Address translation is
DNAT (DNAT REDIRECT, NETMAP in PREROUTING/OUTPUT) or SNAT (SNAT MASQUERADE, NETMAP elsewhere),
with the destination as written in `detail`. Targets that hand the packet to userspace (QUEUE,
NFQUEUE) or change how conntrack sees it (NOTRACK, `CT --notrack`: the flow becomes UNTRACKED
and later `--ctstate` tests change) are UNKNOWN with the reason. A target we have never heard
of is UNKNOWN naming it. Sources: iptables(8) TARGETS, iptables-extensions(8) TARGET EXTENSIONS.
"""

from __future__ import annotations

from dataclasses import dataclass

from checker.model.netfilter import MarkOp, NatTo, Verdict
from checker.parsers.netfilter import iptables_values as values
from checker.parsers.netfilter.iptables_lexer import LineError

# name -> (verdict, option name -> number of arguments)
TARGETS: dict[str, tuple[Verdict, dict[str, int]]] = {
    "ACCEPT": (Verdict.ACCEPT, {}),
    "DROP": (Verdict.DROP, {}),
    "RETURN": (Verdict.RETURN, {}),
    "REJECT": (Verdict.REJECT, {"--reject-with": 1}),
    "TARPIT": (Verdict.DROP, {"--tarpit": 0, "--honeypot": 0, "--reset": 0}),
    "QUEUE": (Verdict.UNKNOWN, {}),
    "NFQUEUE": (
        Verdict.UNKNOWN,
        {
            "--queue-num": 1,
            "--queue-balance": 1,
            "--queue-bypass": 0,
            "--fail-open": 0,
            "--queue-cpu-fanout": 0,
        },
    ),
    "NOTRACK": (Verdict.UNKNOWN, {}),
    "DNAT": (
        Verdict.DNAT,
        {"--to-destination": 1, "--random": 0, "--persistent": 0, "--random-fully": 0},
    ),
    "REDIRECT": (Verdict.DNAT, {"--to-ports": 1, "--random": 0}),
    "NETMAP": (Verdict.DNAT, {"--to": 1}),
    "SNAT": (
        Verdict.SNAT,
        {"--to-source": 1, "--random": 0, "--random-fully": 0, "--persistent": 0},
    ),
    "MASQUERADE": (Verdict.SNAT, {"--to-ports": 1, "--random": 0, "--random-fully": 0}),
    "LOG": (
        Verdict.CONTINUE,
        {
            "--log-level": 1,
            "--log-prefix": 1,
            "--log-tcp-sequence": 0,
            "--log-tcp-options": 0,
            "--log-ip-options": 0,
            "--log-uid": 0,
            "--log-macdecode": 0,
        },
    ),
    "NFLOG": (
        Verdict.CONTINUE,
        {
            "--nflog-group": 1,
            "--nflog-prefix": 1,
            "--nflog-range": 1,
            "--nflog-size": 1,
            "--nflog-threshold": 1,
        },
    ),
    "ULOG": (
        Verdict.CONTINUE,
        {"--ulog-nlgroup": 1, "--ulog-prefix": 1, "--ulog-cprange": 1, "--ulog-qthreshold": 1},
    ),
    "MARK": (
        Verdict.CONTINUE,
        {"--set-mark": 1, "--set-xmark": 1, "--and-mark": 1, "--or-mark": 1, "--xor-mark": 1},
    ),
    "CONNMARK": (
        Verdict.CONTINUE,
        {
            "--set-mark": 1,
            "--set-xmark": 1,
            "--and-mark": 1,
            "--or-mark": 1,
            "--xor-mark": 1,
            "--save-mark": 0,
            "--restore-mark": 0,
            "--nfmask": 1,
            "--ctmask": 1,
            "--mask": 1,
        },
    ),
    "CLASSIFY": (Verdict.CONTINUE, {"--set-class": 1}),
    "DSCP": (Verdict.CONTINUE, {"--set-dscp": 1, "--set-dscp-class": 1}),
    "TOS": (Verdict.CONTINUE, {"--set-tos": 1, "--and-tos": 1, "--or-tos": 1, "--xor-tos": 1}),
    "TCPMSS": (Verdict.CONTINUE, {"--set-mss": 1, "--clamp-mss-to-pmtu": 0}),
    "AUDIT": (Verdict.CONTINUE, {"--type": 1}),
    "SET": (
        Verdict.CONTINUE,
        {"--add-set": 2, "--del-set": 2, "--map-set": 2, "--exist": 0, "--timeout": 1},
    ),
    "CHECKSUM": (Verdict.CONTINUE, {"--checksum-fill": 0}),
    "TTL": (Verdict.CONTINUE, {"--ttl-set": 1, "--ttl-dec": 1, "--ttl-inc": 1}),
    "HL": (Verdict.CONTINUE, {"--hl-set": 1, "--hl-dec": 1, "--hl-inc": 1}),
    "SECMARK": (Verdict.CONTINUE, {"--selctx": 1}),
    "CONNSECMARK": (Verdict.CONTINUE, {"--save": 0, "--restore": 0}),
    "TRACE": (Verdict.CONTINUE, {}),
    "LED": (Verdict.CONTINUE, {"--led-trigger-id": 1, "--led-delay": 1, "--led-always-blink": 0}),
    "IDLETIMER": (Verdict.CONTINUE, {"--timeout": 1, "--label": 1, "--alarm": 0}),
    "CT": (
        Verdict.CONTINUE,
        {
            "--notrack": 0,
            "--helper": 1,
            "--ctevents": 1,
            "--expevents": 1,
            "--zone": 1,
            "--zone-orig": 1,
            "--zone-reply": 1,
            "--timeout": 1,
        },
    ),
}
# Options of the SET target that change a set: its first argument is the set's name.
SET_WRITES = ("--add-set", "--del-set")
USERSPACE = "userspace decides (QUEUE/NFQUEUE)"
NOTRACK = "changes conntrack state: the flow becomes UNTRACKED"


@dataclass(slots=True)
class TargetUse:
    """`-j NAME` / `-g NAME` with the options given after it, as written."""

    name: str
    goto: bool
    options: list[tuple[str, list[str]]]
    # Options the target does not have.
    strange: list[str]

    def option(self, name: str) -> list[str] | None:
        for option_name, args in self.options:
            if option_name == name:
                return args
        return None


def extension_verdict(use: TargetUse, chain: str) -> tuple[Verdict, str]:
    """Verdict and detail of a target extension (`use.name` is in TARGETS)."""
    verdict, _ = TARGETS[use.name]
    detail = ""
    if use.name in ("QUEUE", "NFQUEUE"):
        detail = USERSPACE
    elif use.name == "NOTRACK" or (use.name == "CT" and use.option("--notrack") is not None):
        verdict, detail = Verdict.UNKNOWN, NOTRACK
    elif use.name == "NETMAP" and chain in ("POSTROUTING", "INPUT"):
        # xt_NETMAP maps the source in POSTROUTING/INPUT, the destination elsewhere.
        verdict = Verdict.SNAT
    if verdict in (Verdict.DNAT, Verdict.SNAT):
        detail = " ".join(" ".join([name, *args]) for name, args in use.options)
    if use.strange:
        verdict = Verdict.UNKNOWN
        detail = f"unknown option {' '.join(use.strange)} of target {use.name}"
    return verdict, detail


_ALL = values.MARK_MAX


def _xmark(dst: str, value: int, mask: int) -> MarkOp:
    """--set-xmark VALUE/MASK: zero the bits of MASK, XOR VALUE in."""
    return MarkOp(dst, _ALL & ~mask, xor=value)


def mark_ops(use: TargetUse) -> tuple[MarkOp, ...]:
    """The mark writes of a MARK or CONNMARK target (iptables-extensions(8)): --set-mark V/M
    zeroes M and ORs V in, --and/--or/--xor-mark are --set-xmark 0/~B, B/B, B/0; CONNMARK
    --save-mark is ctmark = (ctmark & ~ctmask) ^ (nfmark & nfmask), --restore-mark
    nfmark = (nfmark & ~nfmask) ^ (ctmark & ctmask), both masks 0xFFFFFFFF unless given."""
    if use.name not in ("MARK", "CONNMARK") or use.strange:
        return ()
    dst = "mark" if use.name == "MARK" else "ctmark"
    ops: list[MarkOp] = []

    def mask_option(name: str) -> int:
        args = use.option(name) or use.option("--mask")
        return values.mark_value(args[0], use.name.lower())[0] if args else _ALL

    for name, args in use.options:
        if name in ("--nfmask", "--ctmask", "--mask"):
            continue
        if name == "--save-mark":
            ops.append(
                MarkOp("ctmark", _ALL & ~mask_option("--ctmask"), "mark", mask_option("--nfmask"))
            )
            continue
        if name == "--restore-mark":
            ops.append(
                MarkOp("mark", _ALL & ~mask_option("--nfmask"), "ctmark", mask_option("--ctmask"))
            )
            continue
        value, mask = values.mark_value(args[0], use.name.lower())
        if name == "--set-xmark":
            ops.append(_xmark(dst, value, mask))
        elif name == "--set-mark":
            # Zero MASK, OR VALUE in: the bits of VALUE are cleared too, then XORed in.
            ops.append(_xmark(dst, value, mask | value))
        elif name == "--and-mark":
            ops.append(_xmark(dst, 0, _ALL & ~value))
        elif name == "--or-mark":
            ops.append(_xmark(dst, value, value))
        elif name == "--xor-mark":
            ops.append(_xmark(dst, value, 0))
        else:
            raise LineError(use.name.lower(), f"unexpected option {name}")
    return tuple(ops)


def _port_span(text: str) -> tuple[int, int]:
    low, _, high = text.partition("-")
    first = values.port(low, "tcp")
    last = values.port(high, "tcp") if high else first
    if first > last:
        raise LineError("port", f"invalid port range `{text}` (min > max)")
    return first, last


def nat_to(use: TargetUse, family: int) -> NatTo | None:
    """Where DNAT (`--to-destination [ADDR[-ADDR]][:PORT[-PORT]]`, IPv6 `[ADDR]:PORT`) or
    REDIRECT (`--to-ports PORT[-PORT]`: this host's address) sends the flow
    (iptables-extensions(8)); None for NETMAP and other forms the engine does not follow."""
    if use.name == "REDIRECT":
        given = use.option("--to-ports")
        return NatTo(None, (_port_span(given[0]),) if given else None)
    where = use.option("--to-destination")
    given = [name for name, _ in use.options if name == "--to-destination"]
    if use.name != "DNAT" or not where or len(given) > 1:
        return None  # several ranges (kernels before 2.6.11 took turns): not followed
    text = where[0]
    if family == 6 and text.startswith("["):
        address_text, _, rest = text[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    elif family == 6:
        address_text, port_text = text, ""
    else:
        address_text, _, port_text = text.partition(":")
    addresses = None
    if address_text:
        low, _, high = address_text.partition("-")
        first = values.address_spans(low, family)
        last = values.address_spans(high, family) if high else first
        if not first or not last or first[0][0] != first[0][1] or last[0][0] != last[0][1]:
            raise LineError("target", f"bad --to-destination `{text}`")
        addresses = ((first[0][0], last[0][0]),)
    ports = (_port_span(port_text),) if port_text else None
    if addresses is None:
        return None
    return NatTo(addresses, ports)
