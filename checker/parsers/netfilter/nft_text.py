"""nftables.conf: the nft text language `nft -f` reads (nft(8)), as a netfilter Ruleset.

The script is applied in file order, as nft applies it: tables, chains, sets and maps in block
form (`table inet filter { chain input { … } }`) and as commands (`add|create table|chain|set|map|
element|rule`, `insert rule`, `flush ruleset|table|chain|set|map`, `delete|destroy table|chain|
set|map|element`, `rename chain`); `list`, `reset`, `describe` and `monitor` change nothing. The
result is the ruleset the kernel holds after `nft -f FILE` on an empty ruleset; `nft list
ruleset` output is the same language, so a listing alone is a full source too.

`include` and `define`/`$var` are resolved first (nft_text_source); each rule is translated into
the libnftables-json(5) objects `nft -j` prints for it (nft_text_rule) and read by nft_json, so
the model, the implicit dependencies and what is Unknown are exactly those of the JSON path.
Every table, chain, set and rule keeps the file, line and column where its text starts, in the
included file when it came from one.

Refused, with file:line:col (ParseError, exit 3 for the target only): text that is not nft syntax,
a rule placed by `handle`/`position` or a `replace rule` (handles are given out by the kernel
when the file is loaded), deleting or adding to what is not defined, undefined variables, missing
includes and include cycles, Jinja templates (`{{`, `{%`).
Warned: a table with `flags dormant` is left out (nft(8): its chains see no packets).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from checker.errors import Location, ParseError, Problem
from checker.model.netfilter import Ruleset
from checker.parsers.netfilter.nft_text_cursor import Cursor, TextError
from checker.parsers.netfilter.nft_text_lex import Token
from checker.parsers.netfilter.nft_text_source import Settings, SourceError, included_files, load
from checker.parsers.netfilter.nft_values import BadInput, priority
from checker.parsers.options import NO_OPTIONS, ParseOptions, ParserOption, texts_of

# Imported where used: every run imports this module (the format registry reads its NAME,
# OPTIONS and sniff), only an input of this format needs these (bench/pre_commit.py).
if TYPE_CHECKING:
    from checker.parsers.netfilter import nft_scan

NAME = "nft-text"
OPTIONS: tuple[ParserOption, ...] = (
    ParserOption(
        "nft_include",
        "--nft-include",
        "DIR",
        "folder searched for nftables.conf includes after the including file's own (as nft -I)",
        kind="texts",
    ),
)
PATTERNS = ("nftables.conf", "*.nft", "nftables*.conf", "nftables.d/*.conf")

FAMILIES = frozenset({"ip", "ip6", "inet", "arp", "bridge", "netdev"})
_SNIFF = re.compile(
    rb"\A(?:\xef\xbb\xbf)?(?:\s*(?:#[^\n]*)?\n)*\s*(?:"
    rb"(?:add\s+|create\s+)?table\s+(?:(?:ip|ip6|inet|arp|bridge|netdev)\s+)?[\w\"-]+\s*\{"
    rb"|flush\s+ruleset|include\s+\"|define\s+\w+\s*=|(?:add|insert|create)\s+(?:table|chain|rule)\s)"
)
_SHEBANG = re.compile(rb"\A(?:\xef\xbb\xbf)?#![^\n]*\bnft\b[^\n]*-f")
_JINJA = re.compile(r"\{\{|\{%|\{#")
_NAMED_OBJECTS = frozenset({"counter", "quota", "limit", "ct", "flowtable", "secmark", "synproxy",
                            "tunnel"})  # fmt: skip
_NO_EFFECT = frozenset({"list", "reset", "describe", "monitor", "export"})


def _is_string(token: Token | None) -> bool:
    return token is not None and token.kind == "string"


def sniff(head: bytes) -> bool:
    return _SHEBANG.match(head) is not None or _SNIFF.match(head) is not None


def parse(data: bytes, origin: str, options: ParseOptions = NO_OPTIONS) -> Ruleset:
    """`options["nft_include"]`: where includes are looked for after the including file's
    folder (as `nft -I`)."""
    from checker.parsers.netfilter import nft_json

    include_dirs = texts_of(options, "nft_include")
    try:
        text = data.decode("utf-8", errors="replace")
        jinja = _JINJA.search(text)
        if jinja or origin.endswith(".j2"):
            line = text.count("\n", 0, jinja.start()) + 1 if jinja else 1
            raise ParseError(Problem(origin, line, 0, "template",
                                     "a Jinja template, not nft: check the file it renders to"))  # fmt: skip
        tokens = load(data, origin, Settings(include_dirs))
        state = _Script(origin)
        state.run(tokens)
    except SourceError as error:
        raise ParseError(Problem.at(error.location, error.code, error.message)) from None
    except TextError as error:
        raise ParseError(Problem.at(error.location, error.code, error.message)) from None
    except RecursionError:
        raise ParseError(
            Problem(origin, 1, 0, "structure", "expression nested too deeply")
        ) from None
    ruleset = nft_json.read(state.elements(), origin)
    if state.warnings:
        ruleset = dataclasses.replace(ruleset, warnings=(*ruleset.warnings, *state.warnings))
    return ruleset


def includes(data: bytes, origin: str, include_dirs: tuple[str, ...] = ()) -> frozenset[str]:
    """Real paths of the files this script includes (at any depth)."""
    return included_files(data, origin, Settings(include_dirs))


@dataclass
class _Chain:
    location: Location
    base: dict[str, object] = field(default_factory=dict)
    rules: list[tuple[dict[str, object], Location]] = field(default_factory=list)


@dataclass
class _Set:
    kind: str
    location: Location
    body: dict[str, object] = field(default_factory=dict)
    elements: list[object] = field(default_factory=list)


@dataclass
class _Table:
    location: Location
    chains: dict[str, _Chain] = field(default_factory=dict)
    sets: dict[str, _Set] = field(default_factory=dict)
    dormant: bool = False


class _Script:
    def __init__(self, origin: str) -> None:
        self.origin = origin
        self.tables: dict[tuple[str, str], _Table] = {}
        self.warnings: list[str] = []

    # --- the script, command by command -------------------------------------------------

    def run(self, tokens: list[Token]) -> None:
        for command in Cursor(tokens).statements():
            self._command(command)

    def _command(self, cur: Cursor) -> None:
        at = cur.where()
        verb = cur.text()
        if verb in ("add", "create", "insert", "delete", "destroy", "flush", "rename", "replace"):
            cur.next()
        elif verb in _NO_EFFECT:
            return
        else:
            verb = "add"
        what = cur.word("table, chain, set, map, element, rule or ruleset")
        if verb == "flush" and what == "ruleset":
            family = cur.word("a family") if not cur.at_end() else None
            self.tables = {k: v for k, v in self.tables.items() if family and k[0] != family}
            return
        if what == "table":
            self._table_command(verb, cur, at)
        elif what == "chain":
            self._chain_command(verb, cur, at)
        elif what in ("set", "map"):
            self._set_command(verb, what, cur, at)
        elif what == "element":
            self._element_command(verb, cur)
        elif what == "rule":
            self._rule_command(verb, cur, at)
        elif what in _NAMED_OBJECTS and verb in ("add", "create", "delete", "destroy", "reset"):
            cur.i = cur.stop  # named objects rules refer to: nothing to evaluate
        else:
            raise TextError(at, "syntax", f"unknown command {verb} {what}")
        if not cur.at_end():
            raise cur.fail("unexpected text after the command")

    def _spec(self, cur: Cursor, names: int) -> tuple[str, list[str]]:
        family = "ip"
        if cur.text() in FAMILIES:
            after = cur.peek(1)
            if after is not None and after.kind in ("word", "string"):
                family = cur.next().text
        return family, [cur.name("a name") for _ in range(names)]

    def _table_of(self, cur: Cursor, family: str, name: str, at: Location) -> _Table:
        table = self.tables.get((family, name))
        if table is None:
            raise TextError(at, "reference", f"table {family} {name} does not exist")
        return table

    def _table_command(self, verb: str, cur: Cursor, at: Location) -> None:
        family, (name,) = self._spec(cur, 1)
        key = (family, name)
        if verb in ("delete", "destroy"):
            if key not in self.tables and verb == "delete":
                raise TextError(at, "reference", f"table {family} {name} does not exist")
            self.tables.pop(key, None)
            return
        if verb == "flush":
            table = self._table_of(cur, family, name, at)
            for chain in table.chains.values():
                chain.rules.clear()
            return
        if verb not in ("add", "create"):
            raise TextError(at, "syntax", f"{verb} table is not an nft command")
        if verb == "create" and key in self.tables:
            raise TextError(at, "exists", f"table {family} {name} already exists")
        table = self.tables.setdefault(key, _Table(at))
        if cur.is_sym("{"):
            self._table_body(cur.block(), family, name, table)

    def _table_body(self, cur: Cursor, family: str, name: str, table: _Table) -> None:
        from checker.parsers.netfilter import nft_text_rule

        for item in cur.statements():
            at = item.where()
            word = item.word("chain, set, map, flags or comment")
            if word == "chain":
                chain_name = item.name("a chain name")
                chain = table.chains.setdefault(chain_name, _Chain(at))
                self._chain_block(item, family, name, chain_name, chain)
            elif word in ("set", "map"):
                set_name = item.name(f"a {word} name")
                self._set_block(item, family, word, table, set_name, at)
            elif word == "flags":
                flags = nft_text_rule.list_of_words(item)
                if "dormant" in flags:
                    table.dormant = True
            elif word == "comment":
                item.name("a comment string")
            elif word in _NAMED_OBJECTS:
                item.i = item.stop
            else:
                raise TextError(at, "syntax", f"unexpected {word!r} in a table")

    def _chain_command(self, verb: str, cur: Cursor, at: Location) -> None:
        family, (table_name, name) = self._spec(cur, 2)
        table = self._table_of(cur, family, table_name, at)
        if verb in ("delete", "destroy"):
            if name not in table.chains and verb == "delete":
                raise TextError(at, "reference", f"chain {name} does not exist")
            table.chains.pop(name, None)
        elif verb == "flush":
            self._chain_of(table, name, at).rules.clear()
        elif verb == "rename":
            self._chain_of(table, name, at)
            table.chains[cur.name("the new chain name")] = table.chains.pop(name)
        elif verb in ("add", "create"):
            if verb == "create" and name in table.chains:
                raise TextError(at, "exists", f"chain {name} already exists")
            chain = table.chains.setdefault(name, _Chain(at))
            self._chain_block(cur, family, table_name, name, chain)
        else:
            raise TextError(at, "syntax", f"{verb} chain is not an nft command")

    def _chain_of(self, table: _Table, name: str, at: Location) -> _Chain:
        chain = table.chains.get(name)
        if chain is None:
            raise TextError(at, "reference", f"chain {name} does not exist")
        return chain

    def _chain_block(self, cur: Cursor, family: str, table: str, name: str, chain: _Chain) -> None:
        if not cur.is_sym("{"):
            return
        for item in cur.block().statements():
            word = item.text()
            if word == "type":
                self._base(item, family, chain)
            elif word == "policy":
                item.next()
                chain.base["policy"] = item.word("accept or drop")
            elif word == "comment" and item.stop - item.i == 2 and _is_string(item.peek(1)):
                item.i = item.stop
            elif word == "devices":
                item.next()
                item.expect("=")
                chain.base["dev"] = self._devices(item)
            elif word == "flags":
                item.i = item.stop
            else:
                self._add_rule(item, family, table, name, chain, insert=False, index=None)

    def _base(self, cur: Cursor, family: str, chain: _Chain) -> None:
        cur.next()
        chain.base["type"] = cur.word("a chain type")
        cur.expect("hook")
        chain.base["hook"] = cur.word("a hook")
        if cur.is_word("device"):
            cur.next()
            chain.base["dev"] = cur.name("a device")
        elif cur.is_word("devices"):
            cur.next()
            cur.expect("=")
            chain.base["dev"] = self._devices(cur)
        cur.expect("priority")
        at = cur.where()
        parts = [cur.next().text]
        if cur.text() in ("+", "-"):
            parts += [cur.next().text, cur.word("a number")]
        elif len(parts[0]) > 1 and "-" in parts[0][1:]:
            base, _, offset = parts[0].rpartition("-")
            parts = [base, "-", offset]
        try:
            chain.base["prio"] = priority(" ".join(parts), family)
        except BadInput as error:
            raise TextError(at, "syntax", error.message) from None
        if cur.is_word("policy"):
            cur.next()
            chain.base["policy"] = cur.word("accept or drop")

    def _devices(self, cur: Cursor) -> list[object]:
        from checker.parsers.netfilter import nft_text_rule

        value = nft_text_rule.atom(cur)
        items = value["set"] if isinstance(value, dict) and "set" in value else [value]
        return [str(item) for item in items]

    def _set_command(self, verb: str, kind: str, cur: Cursor, at: Location) -> None:
        family, (table_name, name) = self._spec(cur, 2)
        table = self._table_of(cur, family, table_name, at)
        if verb in ("delete", "destroy"):
            if name not in table.sets and verb == "delete":
                raise TextError(at, "reference", f"{kind} {name} does not exist")
            table.sets.pop(name, None)
        elif verb == "flush":
            self._set_of(table, name, at).elements.clear()
        elif verb in ("add", "create"):
            if verb == "create" and name in table.sets:
                raise TextError(at, "exists", f"{kind} {name} already exists")
            self._set_block(cur, family, kind, table, name, at)
        else:
            raise TextError(at, "syntax", f"{verb} {kind} is not an nft command")

    def _set_of(self, table: _Table, name: str, at: Location) -> _Set:
        found = table.sets.get(name)
        if found is None:
            raise TextError(at, "reference", f"set {name} does not exist")
        return found

    def _set_block(self, cur: Cursor, family: str, kind: str, table: _Table, name: str,
                   at: Location) -> None:  # fmt: skip
        from checker.parsers.netfilter import nft_text_rule

        target = table.sets.setdefault(name, _Set(kind, at))
        for item in cur.block(f"`{{` after the {kind} name").statements():
            word = item.word("a set property")
            if word in ("type", "typeof"):
                words = [t.text for t in item.items[item.i : item.stop]]
                if ":" in words:
                    data = words[words.index(":") + 1 :]
                    target.body["map"] = "verdict" if data == ["verdict"] else " ".join(data)
                    words = words[: words.index(":")]
                target.body["type"] = " ".join(words)
                item.i = item.stop
            elif word == "flags":
                target.body["flags"] = nft_text_rule.list_of_words(item)
            elif word == "timeout":
                target.body["timeout"] = item.word("a timeout")
            elif word == "elements":
                item.expect("=")
                target.elements.extend(nft_text_rule.elements(item.block()))
            elif word in ("size", "gc-interval", "policy", "comment"):
                item.name(f"a {word}")
            elif word in ("counter", "auto-merge"):
                pass
            else:
                raise TextError(item.items[item.i - 1].location, "syntax",
                                f"unexpected {word!r} in a {kind}")  # fmt: skip

    def _element_command(self, verb: str, cur: Cursor) -> None:
        from checker.parsers.netfilter import nft_text_rule

        at = cur.where()
        family, (table_name, name) = self._spec(cur, 2)
        target = self._set_of(self._table_of(cur, family, table_name, at), name, at)
        items = nft_text_rule.elements(cur.block())
        if verb in ("add", "create"):
            target.elements.extend(items)
        elif verb in ("delete", "destroy"):
            flags = target.body.get("flags")
            present = [item for item in items if item in target.elements]
            if isinstance(flags, list) and "interval" in flags and present:
                # Measured with nft 1.0.6 on Linux 6.18: `nft -f` leaves an interval set's
                # element in place when the same file (one transaction) added it, and says
                # nothing; other versions may delete it. Either reading could be wrong.
                raise TextError(at, "batch",
                                f"{verb} element on interval set {name}, which this file fills:"
                                " whether the kernel removes it in the same `nft -f` depends on"
                                " the nft and kernel versions; give `nft -j list ruleset` of the"
                                " loaded host instead")  # fmt: skip
            for item in items:
                if item in target.elements:
                    target.elements.remove(item)
                elif verb == "delete":
                    raise TextError(at, "reference", f"element {item!r} is not in {name}")
        else:
            raise TextError(at, "syntax", f"{verb} element is not an nft command")

    def _rule_command(self, verb: str, cur: Cursor, at: Location) -> None:
        from checker.parsers.netfilter import nft_text_rule

        if verb not in ("add", "insert"):
            raise TextError(at, "handle",
                            f"{verb} rule names a rule by its handle, which the kernel gives out"
                            " when the file is loaded: fwcheck cannot tell which rule it is")  # fmt: skip
        family = cur.next().text if cur.text() in FAMILIES else "ip"
        table_name, name = cur.name("a table name"), cur.name("a chain name")
        table = self._table_of(cur, family, table_name, at)
        chain = self._chain_of(table, name, at)
        index = None
        if cur.is_word("position", "handle"):
            raise TextError(at, "handle",
                            "a rule placed by handle: handles are given out by the kernel when"
                            " the file is loaded, so fwcheck cannot tell where it goes")  # fmt: skip
        if cur.is_word("index"):
            cur.next()
            index = nft_text_rule.number(cur)
        self._add_rule(cur, family, table_name, name, chain, verb == "insert", index, at)

    def _add_rule(self, cur: Cursor, family: str, table: str, name: str, chain: _Chain,
                  insert: bool, index: int | None, at: Location | None = None) -> None:  # fmt: skip
        from checker.parsers.netfilter import nft_text_rule

        at = at or cur.where()
        exprs, comment = nft_text_rule.rule(cur, family)
        if not exprs:
            raise TextError(at, "syntax", "empty rule")
        body: dict[str, object] = {"family": family, "table": table, "chain": name, "expr": exprs}
        if comment is not None:
            body["comment"] = comment
        if index is not None and not 0 <= index < len(chain.rules):
            raise TextError(at, "reference", f"rule index {index} is past the chain's end")
        if index is not None:
            chain.rules.insert(index if insert else index + 1, (body, at))
        elif insert:
            chain.rules.insert(0, (body, at))
        else:
            chain.rules.append((body, at))

    # --- what nft_json reads ------------------------------------------------------------

    def elements(self) -> list[nft_scan.Element]:
        from checker.parsers.netfilter import nft_scan

        out: list[nft_scan.Element] = []
        rules: list[nft_scan.Element] = []
        for (family, name), table in self.tables.items():
            if table.dormant:
                self.warnings.append(
                    f"{table.location}: table {family} {name} is dormant (flags dormant):"
                    " its chains see no packets, left out"
                )
                continue
            out.append(nft_scan.Element({"table": {"family": family, "name": name}},
                                        table.location))  # fmt: skip
            for set_name, named in table.sets.items():
                body = {"family": family, "table": name, "name": set_name, **named.body,
                        "elem": list(named.elements)}  # fmt: skip
                out.append(nft_scan.Element({named.kind: body}, named.location))
            for chain_name, chain in table.chains.items():
                chain_body = {"family": family, "table": name, "name": chain_name, **chain.base}
                if "policy" in chain.base and "hook" not in chain.base:
                    raise ParseError(Problem.at(chain.location, "syntax",
                                                f"chain {chain_name}: a policy without a hook"))  # fmt: skip
                out.append(nft_scan.Element({"chain": chain_body}, chain.location))
                rules.extend(nft_scan.Element({"rule": body}, at) for body, at in chain.rules)
        return out + rules
