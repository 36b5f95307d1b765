"""The drift note of a firewalld host: where its runtime configuration differs from its
permanent one.

A scan checks the runtime ruleset, which is what the kernel runs. A change made with
`firewall-cmd` without `--permanent` is in it but not in /etc/firewalld, so the next
`firewall-cmd --reload` or reboot undoes it; a permanent change not yet reloaded is the other
way round (firewall-cmd(1): "--permanent ... changes ... will only be used after a reload or
restart"). On a host where firewalld runs, the collection script lists both with firewall-cmd
(`--list-all-zones`, `--list-all-policies`, each with and without `--permanent`); this module
compares them element by element and says what differs, as a note of the host (not a finding:
the verdicts stand on the runtime ruleset).

Not compared: `interfaces`, which NetworkManager binds to zones at run time from its own
connection settings (firewalld.zones(5), "How to set or change a zone for a connection?"), so
they differ on most hosts without any drift; and the `(active)`/`(default)` marks of a zone's
heading. A listing that failed or was not collected gives no note.
"""

from __future__ import annotations

from collections.abc import Iterable

from checker.collectors.result import Output

PAIRS = (
    ("zone", "firewalld-zones", "firewalld-zones-permanent"),
    ("policy", "firewalld-policies", "firewalld-policies-permanent"),
)
IGNORED = frozenset({"interfaces"})
# At most this many differences are spelled out in the note.
SHOWN = 8

Listing = dict[str, dict[str, frozenset[str]]]


def parse_listing(text: str) -> Listing:
    """`firewall-cmd --list-all-zones` (or -policies) as {name: {key: values}}: a heading line
    per object (`public (active)`), `  key: v1 v2` lines, rich rules one per tab-indented line
    under `  rich rules:`."""
    raw: dict[str, dict[str, set[str]]] = {}
    current: dict[str, set[str]] | None = None
    key = ""
    for line in text.splitlines():
        if not line.strip():
            continue
        if line.startswith("\t") and current is not None and key:
            current[key].add(line.strip())
        elif line.startswith(" ") and current is not None:
            key, _, value = line.strip().partition(":")
            current[key] = set(value.split()) if key != "rich rules" else set()
        elif not line.startswith((" ", "\t")):
            current = raw[line.split()[0]] = {}
            key = ""
    return {name: {k: frozenset(v) for k, v in keys.items()} for name, keys in raw.items()}


def differences(kind: str, runtime: Listing, permanent: Listing) -> list[str]:
    """`zone public: ports +8080/tcp -443/tcp` (+ only at run time, - only in the permanent
    configuration), one per object and key that differs."""
    found = []
    for name in sorted(runtime.keys() | permanent.keys()):
        if name not in permanent:
            found.append(f"{kind} {name} exists only at run time")
            continue
        if name not in runtime:
            found.append(f"{kind} {name} exists only in the permanent configuration")
            continue
        now, saved = runtime[name], permanent[name]
        for key in sorted((now.keys() | saved.keys()) - IGNORED):
            added = sorted(now.get(key, frozenset()) - saved.get(key, frozenset()))
            removed = sorted(saved.get(key, frozenset()) - now.get(key, frozenset()))
            if added or removed:
                change = " ".join([*(f"+{v}" for v in added), *(f"-{v}" for v in removed)])
                found.append(f"{kind} {name}: {key} {change}")
    return found


def notes(outputs: Iterable[Output]) -> tuple[str, ...]:
    """The host's drift note, or none when both configurations agree or were not listed."""
    by_name = {output.name: output for output in outputs}
    found: list[str] = []
    for kind, runtime_name, permanent_name in PAIRS:
        runtime, permanent = by_name.get(runtime_name), by_name.get(permanent_name)
        if runtime is None or permanent is None or not runtime.ok or not permanent.ok:
            continue
        found += differences(
            kind,
            parse_listing(runtime.data.decode(errors="replace")),
            parse_listing(permanent.data.decode(errors="replace")),
        )
    if not found:
        return ()
    more = f"; and {len(found) - SHOWN} more" if len(found) > SHOWN else ""
    return (
        "firewalld: the runtime configuration (checked here) differs from the permanent one,"
        " which the next reload or reboot loads (+ only at run time, - only permanent): "
        + "; ".join(found[:SHOWN])
        + more,
    )
