"""The logging rules ufw puts into its logging chains when it starts, from LOGLEVEL (ufw.conf).

ufw (0.36) flushes `ufw-before-logging-*`, `ufw-after-logging-*`, `ufw-logging-deny` and
`ufw-logging-allow` after loading the files and fills them from the log level and the default
policies (ufw(8), LOGGING): `low` logs packets blocked by the policy, invalid packets are
skipped and the rest of `ufw-logging-deny`/`-allow` logged, all rate-limited; `medium` also
logs packets the policy allows, invalid packets and new connections; `high` logs every packet
rate-limited; `full` without a limit; `off` logs nothing. A LOGLEVEL ufw does not know becomes
`low` (ufw writes it so when it starts). Only LOG and RETURN rules are made: they decide no
packet's fate, but the model holds what the kernel holds.
"""

from __future__ import annotations

LEVELS = {"off": 0, "low": 100, "medium": 200, "high": 300, "full": 400}
_LIMIT = "-m limit --limit 3/min --limit-burst 10"
DIRECTIONS = ("input", "output", "forward")


def chains(prefix: str) -> tuple[str, ...]:
    """The chains ufw flushes and refills (the user logging chains are not among them)."""
    return (
        *(f"{prefix}-before-logging-{d}" for d in DIRECTIONS),
        *(f"{prefix}-after-logging-{d}" for d in DIRECTIONS),
        f"{prefix}-logging-deny",
        f"{prefix}-logging-allow",
    )


def rules(prefix: str, loglevel: str, policies: dict[str, str]) -> list[str]:
    """The rules (iptables commands) ufw adds for `loglevel`; `policies` maps each direction to
    its DEFAULT_*_POLICY (ACCEPT, DROP or REJECT)."""
    level = LEVELS.get(loglevel, LEVELS["low"])
    out: list[str] = []
    if level < LEVELS["low"]:
        return out
    limit = f" {_LIMIT}" if level < LEVELS["high"] else ""
    for direction in DIRECTIONS:
        chain = f"{prefix}-after-logging-{direction}"
        if policies[direction] in ("DROP", "REJECT"):
            out.append(f'-A {chain} -j LOG --log-prefix "[UFW BLOCK] "{limit}')
        elif level >= LEVELS["medium"]:
            out.append(f'-A {chain} -j LOG --log-prefix "[UFW ALLOW] "{limit}')
    deny, allow = f"{prefix}-logging-deny", f"{prefix}-logging-allow"
    if level < LEVELS["medium"]:
        out.append(f"-I {deny} -m conntrack --ctstate INVALID -j RETURN{limit}")
    else:
        out.append(
            f'-A {deny} -m conntrack --ctstate INVALID -j LOG --log-prefix "[UFW AUDIT INVALID] "{limit}'
        )
    out.append(f'-A {deny} -j LOG --log-prefix "[UFW BLOCK] "{limit}')
    out.append(f'-A {allow} -j LOG --log-prefix "[UFW ALLOW] "{limit}')
    if level >= LEVELS["medium"]:
        audit = ""
        if level < LEVELS["full"]:
            audit = f" {_LIMIT}"
        if level < LEVELS["high"]:
            audit = f" -m conntrack --ctstate NEW {_LIMIT}"
        for direction in DIRECTIONS:
            out.append(
                f'-I {prefix}-before-logging-{direction} -j LOG --log-prefix "[UFW AUDIT] "{audit}'
            )
    return out
