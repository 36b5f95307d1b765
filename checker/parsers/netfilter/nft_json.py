"""`nft -j list ruleset` (libnftables-json(5), JSON schema version 1) as a netfilter Ruleset.

Source: libnftables-json(5) and nft(8) of nftables 1.0.6, checked against the output of the real
`nft -j` (tests/parsers/netfilter/data/nft/ holds rulesets loaded into a network namespace and listed back).

Kept: tables of every family (ip, ip6, inet, arp, bridge, netdev; the engine looks at the IP
ones), chains (base chains: type, hook, numeric priority, policy, device), named sets and maps with
their elements, and rules with their matches and verdict, each rule pointing at the line and
column where its `{"rule": …}` object starts, with an nft-like text plus `# handle N`. A chain's
policy points at the chain object. An `nft -j` export describes the whole ruleset, so the
Ruleset covers IPv4 and IPv6 (families {4, 6}); a family with no table has no base chain, which
means accept.

Facts of the format this parser relies on:
- `prio` is a number in nft's output (`priority filter + 10` is printed as 10); named priorities
  ("filter", "dstnat - 5") are accepted too, mapped through nft(8)'s table.
- A base chain without `policy` has policy accept (nft(8)).
- nft 1.0.6 leaves `dev` out of netdev chains; such a chain gets device None and a warning.
  The `nft list ruleset` text names it (nft_list); without it the engine cannot place what the
  chain drops, which is then indeterminate.
  A chain bound to several devices becomes one Chain per device, all with the same name.
- `nft list` hides the dependencies nft added on load (`tcp dport` implies `meta l4proto tcp`,
  `ip saddr` in inet/netdev/bridge tables implies IPv4, `icmpv6 type` there IPv6 and protocol
  58): nft_match puts them back.
- The unary `"op": "!"` (`tcp flags ! fin,syn`, iptables-nft's `--tcp-flags … NONE`) is read
  as "none of these bits set".
- nft 1.0.6 lists `tcp dport < 1024 tcp dport > 999` as `tcp dport != 1024-999`; a `!=` range
  with reversed bounds is read as what the kernel runs (1000-1023), see nft_match.
- Element objects (`{"element": …}`) and `add`/`create` command wrappers are read as well, so a
  hand-written `nft -j -f` input describing a ruleset parses; other commands are refused.

Unknown (indeterminate, with the reason) — never guessed, see nft_match and nft_rule: matches on
fields the model lacks (mark, skuid, pkttype, ttl, ct mark/direction…), limit/quota/ct count/meter,
`xt` compat matches (advice: use iptables-nft-save for that table), lookups in sets the packet path
can change (flags dynamic/timeout, elements with timeouts, sets written by `add @set`), symbols
missing from our tables. Target UNKNOWN: queue, notrack, header rewrites, fwd to an ifb or computed device, tproxy, synproxy,
`xt` targets.

ParseError (exit 3 for the target, `file:line:col: [code] message`): not UTF-8, invalid JSON,
no "nftables" array, objects or statements not shaped as the man page says, a statement kind we do
not know (it could end the rule in a way we cannot tell), jumps to chains that do not exist,
lookups of sets or maps that do not exist, rules in tables or chains that do not exist. An unknown
*match* expression is not an error: it only narrows its rule, so it becomes Unknown.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from checker.errors import Location, ParseError, Problem
from checker.model.netfilter import Chain, Hook, Rule, Ruleset, Table, Verdict
from checker.parsers.netfilter.nft_values import BadInput, priority
from checker.parsers.options import NO_OPTIONS, ParseOptions, ParserOption

# Imported where used: every run imports this module (the format registry reads its NAME,
# OPTIONS and sniff), only an input of this format needs these (bench/pre_commit.py).
if TYPE_CHECKING:
    from checker.parsers.netfilter import nft_scan
    from checker.parsers.netfilter.nft_match import NamedSet

NAME = "nft-json"
OPTIONS: tuple[ParserOption, ...] = ()  # reads no option
PATTERNS = ("*.nft.json", "*.nftables.json", "nft*.json", "ruleset.json")

FAMILIES = frozenset({"ip", "ip6", "inet", "arp", "bridge", "netdev"})
_HOOKS = {hook.value: hook for hook in Hook}
_POLICIES = {"accept": Verdict.ACCEPT, "drop": Verdict.DROP}
# Named objects a ruleset may hold that rules only reference by name: nothing to evaluate.
_INERT = frozenset({
    "metainfo", "flowtable", "counter", "quota", "ct helper", "limit", "ct timeout",
    "ct expectation", "secmark", "synproxy", "tunnel",
})  # fmt: skip
_SNIFF = re.compile(rb'\A(?:\xef\xbb\xbf)?\s*\{\s*"nftables"\s*:\s*\[')


def sniff(head: bytes) -> bool:
    return _SNIFF.match(head) is not None


def parse(data: bytes, origin: str, options: ParseOptions = NO_OPTIONS) -> Ruleset:
    from checker.parsers.netfilter import nft_scan

    try:
        text = nft_scan.decode(data, origin)
        items = nft_scan.elements(text, origin)
    except nft_scan.ScanError as error:
        raise ParseError(Problem.at(error.location, error.code, error.message)) from None
    return _Reader(origin).read(items)


def read(items: list[nft_scan.Element], origin: str) -> Ruleset:
    """Objects shaped as `nft -j` prints them, each with where its text starts (nft_text)."""
    return _Reader(origin).read(items)


@dataclass
class _ChainDraft:
    name: str
    location: Location
    base: dict[str, object] | None
    rules: list[Rule] = field(default_factory=list)


@dataclass
class _SetDraft:
    body: dict[str, object]
    is_map: bool
    location: Location
    elements: list[object] = field(default_factory=list)


@dataclass
class _TableDraft:
    family: str
    name: str
    location: Location
    chains: dict[str, _ChainDraft] = field(default_factory=dict)
    sets: dict[str, _SetDraft] = field(default_factory=dict)
    updated: set[str] = field(default_factory=set)
    named: dict[str, NamedSet] = field(default_factory=dict)


class _Reader:
    def __init__(self, origin: str) -> None:
        self.origin = origin
        self.tables: dict[tuple[str, str], _TableDraft] = {}
        self.warnings: list[str] = []

    def read(self, items: list[nft_scan.Element]) -> Ruleset:
        from checker.parsers.netfilter import nft_rule

        rules: list[tuple[dict[str, object], Location]] = []
        for item in items:
            with _located(item.location):
                kind, body = _object(item.value)
                if kind == "rule":
                    self._table_of(body)
                    rules.append((body, item.location))
                    _note_updates(body, self._table_of(body))
                elif kind not in _INERT:
                    self._declare(kind, body, item.location)
        for table in self.tables.values():
            for name, draft in table.sets.items():
                with _located(draft.location):
                    table.named[name] = _named(name, draft, table)
        for body, location in rules:
            with _located(location):
                table = self._table_of(body)
                chain = table.chains.get(_text(body, "chain"))
                if chain is None:
                    raise BadInput(f"rule in unknown chain {body['chain']!r}", "reference")
                names = frozenset(table.chains)
                chain.rules.extend(nft_rule.build(body, table.family, table.named, names, location))
        tables = tuple(self._table(table) for table in self.tables.values())
        return Ruleset(tables, frozenset({4, 6}), self.origin, tuple(self.warnings))

    def _table_of(self, body: dict[str, object]) -> _TableDraft:
        key = (_text(body, "family"), _text(body, "table"))
        table = self.tables.get(key)
        if table is None:
            raise BadInput(f"unknown table {key[0]} {key[1]}", "reference")
        return table

    def _declare(self, kind: str, body: dict[str, object], location: Location) -> None:
        if kind == "table":
            family, name = _text(body, "family"), _text(body, "name")
            if family not in FAMILIES:
                raise BadInput(f"unknown table family {family!r}")
            if (family, name) in self.tables:
                raise BadInput(f"table {family} {name} appears twice")
            self.tables[(family, name)] = _TableDraft(family, name, location)
        elif kind == "chain":
            table, name = self._table_of(body), _text(body, "name")
            if name in table.chains:
                raise BadInput(f"chain {name!r} appears twice in table {table.name}")
            base = body if "hook" in body else None
            table.chains[name] = _ChainDraft(name, location, base)
        elif kind in ("set", "map"):
            table, name = self._table_of(body), _text(body, "name")
            if name in table.sets:
                raise BadInput(f"set {name!r} appears twice in table {table.name}")
            draft = _SetDraft(body, kind == "map", location)
            draft.elements.extend(_elements(body.get("elem")))
            table.sets[name] = draft
        elif kind == "element":
            table, name = self._table_of(body), _text(body, "name")
            if name not in table.sets:
                raise BadInput(f"elements for unknown set {name!r}", "reference")
            table.sets[name].elements.extend(_elements(body.get("elem")))
        else:
            raise BadInput(f"unknown object kind {kind!r}", "unknown-object")

    def _table(self, draft: _TableDraft) -> Table:
        chains: list[Chain] = []
        for chain in draft.chains.values():
            with _located(chain.location):
                chains.extend(self._chains(draft, chain))
        return Table(draft.family, draft.name, tuple(chains), draft.location)

    def _chains(self, table: _TableDraft, chain: _ChainDraft) -> list[Chain]:
        rules = tuple(chain.rules)
        if chain.base is None:
            return [Chain(chain.name, rules)]
        base = chain.base
        hook_name = _text(base, "hook")
        where = f"{chain.location}: chain {table.family} {table.name} {chain.name}"
        hook = _HOOKS.get(hook_name)
        if hook is None:
            raise BadInput(f"unknown hook {hook_name!r}")
        if "prio" not in base:
            raise BadInput('base chain without "prio"')
        prio = priority(base["prio"], table.family)
        policy_name = base.get("policy", "accept")
        policy = _POLICIES.get(policy_name) if isinstance(policy_name, str) else None
        if policy is None:
            raise BadInput(f"chain policy {policy_name!r} is neither accept nor drop")
        kind = base.get("type", "filter")
        if not isinstance(kind, str):
            raise BadInput("chain type is not a string")
        devices = _devices(base.get("dev"))
        if hook in (Hook.INGRESS, Hook.EGRESS) and not devices:
            self.warnings.append(
                f"{where}: no device in the JSON (nft 1.0.6 omits it); give `nft list ruleset`"
                " text too, or what the chain drops is indeterminate"
            )
        bound: list[str | None] = [*devices] or [None]
        return [
            Chain(chain.name, rules, hook, prio, policy, chain.location, kind, device)
            for device in bound
        ]


class _located:
    """Turn BadInput raised while reading one object into a ParseError at its location."""

    def __init__(self, location: Location) -> None:
        self.location = location

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: object
    ) -> None:
        if isinstance(error, BadInput):
            raise ParseError(Problem.at(self.location, error.code, error.message)) from None
        if isinstance(error, RecursionError):
            raise ParseError(
                Problem.at(self.location, "structure", "expression nested too deeply")
            ) from None


def _object(value: object) -> tuple[str, dict[str, object]]:
    if not isinstance(value, dict) or len(value) != 1:
        raise BadInput('an "nftables" element is not an object with one key')
    ((kind, body),) = value.items()
    if kind in ("add", "create"):
        return _object(body)
    if kind in ("insert", "replace", "delete", "list", "reset", "flush", "rename"):
        raise BadInput(
            f'the "{kind}" command is not a ruleset listing: give `nft -j list ruleset` output'
        )
    if not isinstance(body, dict):
        raise BadInput(f"{kind} is not an object")
    return kind, body


def _text(body: dict[str, object], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str):
        raise BadInput(f'"{key}" is missing or not a string')
    return value


def _elements(value: object) -> list[object]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _devices(value: object) -> list[str]:
    devices = [value] if isinstance(value, str) else value if value is not None else []
    if not isinstance(devices, list) or not all(isinstance(d, str) for d in devices):
        raise BadInput('chain "dev" is neither a name nor a list of names')
    return devices


def _note_updates(body: dict[str, object], table: _TableDraft) -> None:
    """Remember sets that `add @set`/`update @set` statements write from the packet path."""
    exprs = body.get("expr")
    for stmt in exprs if isinstance(exprs, list) else []:
        if isinstance(stmt, dict) and len(stmt) == 1:
            ((kind, value),) = stmt.items()
            if kind in ("set", "map") and isinstance(value, dict):
                target = value.get(kind)
                if isinstance(target, str) and target.startswith("@"):
                    table.updated.add(target[1:])


def _named(name: str, draft: _SetDraft, table: _TableDraft) -> NamedSet:
    from checker.parsers.netfilter.nft_match import NamedSet

    flags = draft.body.get("flags", [])
    flags = [flags] if isinstance(flags, str) else flags
    if not isinstance(flags, list):
        raise BadInput(f'set {name!r}: "flags" is not a list')
    volatile = ""
    if "dynamic" in flags or "timeout" in flags or "timeout" in draft.body:
        volatile = "elements are added or expire at run time (dynamic/timeout set)"
    elif name in table.updated:
        volatile = "rules add elements to it from the packet path"
    elif any(isinstance(e, dict) and isinstance(e.get("elem"), dict) and
             ("timeout" in e["elem"] or "expires" in e["elem"]) for e in draft.elements):  # fmt: skip
        volatile = "elements expire at run time"
    return NamedSet(name, draft.is_map, draft.body.get("map"), tuple(draft.elements), volatile)
