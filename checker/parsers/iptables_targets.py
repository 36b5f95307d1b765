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

from checker.model.netfilter import Verdict

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
