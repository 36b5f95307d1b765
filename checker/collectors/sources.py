"""From a host's raw outputs to the (origin, bytes) sources the checker parses.

Decision on iptables-nft (issue 6): `nft -j list ruleset` shows the tables iptables-nft made,
but their matches as opaque `xt` expressions. The same tables are read exactly by
`iptables-nft-save` / `ip6tables-nft-save`, so here every nft table that those dumps show (their
`*table` lines; family ip for iptables, ip6 for ip6tables) is removed from the nft JSON before it
is checked. Tables iptables-nft-save cannot show ("# Table `x' is incompatible, use 'nft'
tool.") print no `*x` line and stay in the nft JSON. Passing both would evaluate those chains
twice, with the nft copy indeterminate on every xt match. This is exact, not a heuristic: a
table is dropped only because the dump that shows it in full is also checked.

Only outputs that succeeded are sources; firewalld/ufw state is evidence and context, not a
ruleset. iptables dumps holding no table are skipped (a host with nft only), unless nothing else
would remain: then every such dump is kept, each an empty ruleset of its family. A non-empty `ipset save` output goes with the netfilter sources: it gives the
contents of the sets `-m set` rules match (without it those matches are indeterminate); the
`nft list ruleset` text goes with the nft JSON: it names the devices of netdev chains; the
`ip -j addr` output gives the host's addresses (where a DNAT'd flow goes, addrtype LOCAL); the
listening sockets (`ss -H -tulpn`) go with them too, for the exposure results.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from checker.collectors.result import CollectResult, Output
from checker.collectors.script import FIREWALL_DUMPS

NFT = "nft-json"
NFT_LIST = "nft-list"
WINDOWS = "windows-json"
IPSET = "ipset-save"
IP_ADDR = "ip-addr"
# The listening sockets (`ss -H -tulpn`): exposure results (checker.engine.netfilter.exposure).
LISTENING = "ss-listen"
PROC_NET = "proc-net"
# iptables-nft dumps and the nft family their tables live in (xtables-nft(8)).
NFT_COMPAT = {"iptables-nft-save": "ip", "ip6tables-nft-save": "ip6"}
DERIVED_NFT_SUFFIX = ".native.json"
_TABLE_LINE = re.compile(rb"^\*([A-Za-z0-9_-]+)\s*$", re.M)


def file_name(name: str) -> str:
    """The evidence file an output is stored under (the checker detects formats by content)."""
    return f"{name}.json" if name in (NFT, WINDOWS, IP_ADDR) else f"{name}.txt"


def compat_tables(result: CollectResult) -> set[tuple[str, str]]:
    """(family, table) pairs iptables-nft-save / ip6tables-nft-save showed in full."""
    tables: set[tuple[str, str]] = set()
    for name, family in NFT_COMPAT.items():
        output = result.output(name)
        if output is not None and output.ok:
            tables.update((family, t.decode()) for t in _TABLE_LINE.findall(output.data))
    return tables


def _in_tables(item: Any, tables: set[tuple[str, str]]) -> bool:
    if not isinstance(item, dict) or len(item) != 1:
        return False
    ((kind, body),) = item.items()
    if not isinstance(body, dict):
        return False
    table = body.get("name") if kind == "table" else body.get("table")
    return (body.get("family"), table) in tables


def without_tables(nft_json: bytes, tables: set[tuple[str, str]]) -> bytes | None:
    """The nft JSON without the given tables; None when nothing was removed (or not JSON,
    which the nft parser will then report with its own position)."""
    if not tables:
        return None
    try:
        document = json.loads(nft_json)
        items = document["nftables"]
    except (ValueError, KeyError, TypeError):
        return None
    if not isinstance(items, list):
        return None
    kept = [item for item in items if not _in_tables(item, tables)]
    if len(kept) == len(items):
        return None
    return json.dumps({"nftables": kept}, separators=(",", ":")).encode() + b"\n"


def _has_table(output: Output) -> bool:
    return bool(_TABLE_LINE.search(output.data))


def sources_for(result: CollectResult, evidence_dir: Path | None = None) -> list[tuple[str, bytes]]:
    """The sources to check for one collected host, named by their evidence files if written
    (so findings cite files an auditor can open), else `host:output-name`."""

    def origin(file: str) -> str:
        return str(evidence_dir / file) if evidence_dir is not None else f"{result.host}:{file}"

    if result.error is not None:
        return []
    windows = result.output(WINDOWS)
    if windows is not None and windows.ok:
        return [(origin(file_name(WINDOWS)), windows.data)]
    sources: list[tuple[str, bytes]] = []
    nft = result.output(NFT)
    if nft is not None and nft.ok:
        native = without_tables(nft.data, compat_tables(result))
        if native is None:
            sources.append((origin(file_name(NFT)), nft.data))
        else:
            sources.append((origin(NFT + DERIVED_NFT_SUFFIX), native))
        listing = result.output(NFT_LIST)
        if listing is not None and listing.ok and listing.data.strip():
            sources.append((origin(file_name(NFT_LIST)), listing.data))
    dumps = [o for o in result.outputs if o.name in FIREWALL_DUMPS and o.name != NFT and o.ok]
    for output in dumps:
        if _has_table(output):
            sources.append((origin(file_name(output.name)), output.data))
    if not sources:
        sources.extend((origin(file_name(output.name)), output.data) for output in dumps)
    ipsets = result.output(IPSET)
    if sources and ipsets is not None and ipsets.ok and ipsets.data.strip():
        sources.append((origin(file_name(IPSET)), ipsets.data))
    addresses = result.output(IP_ADDR)
    if sources and addresses is not None and addresses.ok and addresses.data.strip():
        sources.append((origin(file_name(IP_ADDR)), addresses.data))
    listening = result.output(LISTENING)
    if sources and listening is not None and listening.ok and listening.data.strip():
        sources.append((origin(file_name(LISTENING)), listening.data))
    tables = result.output(PROC_NET)
    # grep exits 2 when a table is missing (no IPv6): what it printed is still whole.
    if sources and tables is not None and not tables.missing and tables.data.strip():
        sources.append((origin(file_name(PROC_NET)), tables.data))
    return sources
