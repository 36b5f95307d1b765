"""One iptables rule specification (what follows `-A CHAIN`) as model matches plus a target.

Options are resolved the way iptables(8) does (iptables/xshared.c `command_default`): an
option that is not a core option (-p -s -d -i -o -f -m -j -g -c) belongs to the target if the
target has it, else to the latest loaded match that has it, else to the module the protocol
implies (`-p tcp --dport 22` loads tcp), else — for modules and targets fwcheck does not know —
to the latest of those, with its arguments taken up to the next option. Negation is `! --opt`,
or the pre-1.4.3 `--opt ! value` form (old iptables-save output still in git).

`-s a,b` / `-d c,d` are expanded by iptables into one kernel rule per address pair. They are
kept as ONE model rule whose address `Ranges` hold all the items: every expanded rule has the
same matches and target, so the first of them that matches decides exactly as the union does
(a `-j CHAIN` that RETURNs would be walked again for an overlapping pair, with the same result,
since the model's matches have no state). `! -s a,b` is refused, as iptables refuses it.
"""

from __future__ import annotations

from dataclasses import dataclass
from sys import intern

from checker.model.netfilter import Iface, Match, Ranges, Unknown
from checker.parsers.netfilter import iptables_matches as matches_mod
from checker.parsers.netfilter import iptables_values as values
from checker.parsers.netfilter.iptables_lexer import LineError
from checker.parsers.netfilter.iptables_matches import (
    IMPLICIT,
    MODULE_ALIASES,
    MODULES,
    ModuleUse,
    OptionUse,
    RuleContext,
)
from checker.parsers.netfilter.iptables_targets import TARGETS, TargetUse

CORE: dict[str, str] = {
    "-p": "p",
    "--protocol": "p",
    "-s": "s",
    "--source": "s",
    "--src": "s",
    "-d": "d",
    "--destination": "d",
    "--dst": "d",
    "-i": "i",
    "--in-interface": "i",
    "-o": "o",
    "--out-interface": "o",
    "-f": "f",
    "--fragment": "f",
    "-m": "m",
    "--match": "m",
    "-j": "j",
    "--jump": "j",
    "-g": "g",
    "--goto": "g",
    "-c": "c",
    "--set-counters": "c",
    "-4": "4",
    "--ipv4": "4",
    "-6": "6",
    "--ipv6": "6",
}
_CORE_LABEL = {
    "p": "-p",
    "s": "-s",
    "d": "-d",
    "i": "-i",
    "o": "-o",
    "f": "-f",
    "j": "-j",
    "g": "-g",
}
# `-f` matches second and later fragments only; the engine asks about a connection's first
# packet, which never is one, so `-f` never matches it and `! -f` always does.
NEVER = Ranges("proto", ())


@dataclass(slots=True)
class ParsedRule:
    matches: tuple[Match, ...]
    target: TargetUse | None
    # `-6` in an iptables file (or `-4` in ip6tables): iptables-restore skips the line.
    skipped: bool


class RuleParser:
    """Parses rule specifications of one file; holds the caches for that file only."""

    def __init__(self, family: int) -> None:
        self.family = family
        self._max = values.V4_MAX if family == 4 else values.V6_MAX
        self._addresses: dict[tuple[str, str, bool], Match] = {}
        self._ifaces: dict[tuple[str, str, bool], Iface] = {}
        self._protos: dict[tuple[str, bool], tuple[int, Match | None]] = {}
        self._modules: dict[tuple[object, ...], tuple[Match, ...]] = {}
        self._contexts: dict[tuple[int | None, bool], RuleContext] = {}

    def parse(self, words: list[str], start: int) -> ParsedRule:
        core: dict[str, tuple[str, bool]] = {}
        modules: list[ModuleUse] = []
        target: TargetUse | None = None
        # Modules given before -j/-g: options after the target go to a module named after it.
        before_target = 0
        fragment: bool | None = None
        skipped = False
        negate = False
        count = len(words)
        index = start
        while index < count:
            word = words[index]
            index += 1
            if word == "!":
                if negate:
                    raise LineError("negation", "`!` given twice", near=word)
                negate = True
                continue
            kind = CORE.get(word)
            if kind is not None:
                if negate and kind in "mjgc46":
                    raise LineError("negation", f"unexpected `!` before {word}", near=word)
                if kind == "m" and index < count:
                    argument = words[index]
                    index += 1
                    if argument.startswith("-"):
                        raise LineError("argument", f"{word} needs a module name", near=word)
                    name = MODULE_ALIASES.get(argument, argument)
                    spec = MODULES.get(name)
                    modules.append(
                        ModuleUse(intern(name), False, [], [], spec.options if spec else None)
                    )
                    continue
                if kind == "f":
                    if self.family == 6:
                        raise LineError(
                            "option",
                            "`-f` is not supported in IPv6 (ip6tables uses -m frag)",
                            near=word,
                        )
                    if fragment is not None:
                        raise LineError("option", "multiple -f flags not allowed", near=word)
                    fragment, negate = not negate, False
                    continue
                if kind in "46":
                    skipped = skipped or int(kind) != self.family
                    continue
                if index >= count:
                    raise LineError("argument", f"option {word} needs an argument", near=word)
                argument = words[index]
                index += 1
                if kind == "c":
                    index += 1  # -c PACKETS BYTES: counters, nothing to evaluate
                    if index > count:
                        raise LineError("argument", "-c needs packet and byte counts", near=word)
                    continue
                if kind in "jg":
                    if target is not None:
                        raise LineError("option", "multiple -j/-g flags not allowed", near=word)
                    target = TargetUse(argument, kind == "g", [], [])
                    before_target = len(modules)
                    continue
                if argument == "!" and not negate and _legacy_negation(words, index - 1, 1):
                    # Pre-1.4.3 intrapositioned negation: `-s ! 10.0.0.1`.
                    negate = True
                    argument = words[index]
                    index += 1
                if kind in core:
                    raise LineError(
                        "option", f"multiple {_CORE_LABEL[kind]} flags not allowed", near=word
                    )
                core[kind] = (argument, negate)
                negate = False
                continue
            if not word.startswith("-") or len(word) < 2:
                raise LineError(
                    "argument", f"unexpected argument `{word}` (not an option)", near=word
                )
            index = self._option(words, index, word, negate, core, modules, target, before_target)
            negate = False
        if negate:
            raise LineError("negation", "`!` at the end of the rule, before no option")
        return ParsedRule(self._build(core, fragment, modules), target, skipped)

    def _option(
        self,
        words: list[str],
        index: int,
        name: str,
        negated: bool,
        core: dict[str, tuple[str, bool]],
        modules: list[ModuleUse],
        target: TargetUse | None,
        before_target: int = 0,
    ) -> int:
        """Attach option `name` (its arguments start at words[index]); return the next index."""
        if target is not None:
            spec = TARGETS.get(target.name)
            if spec is not None and name in spec[1]:
                args, index = _take(words, index, spec[1][name], name)
                target.options.append((name, args))
                return index
        for module in reversed(modules):
            known = module.spec
            if known is not None and name in known:
                return self._module_option(words, index, name, negated, module, known[name])
        proto = core.get("p")
        if proto is not None and not proto[1]:
            implicit = IMPLICIT.get(self._proto(proto[0], False)[0])
            if implicit is not None and name in MODULES[implicit].options:
                module = ModuleUse(implicit, True, [], [], MODULES[implicit].options)
                modules.append(module)
                return self._module_option(
                    words, index, name, negated, module, MODULES[implicit].options[name]
                )
        if target is not None and len(modules) > before_target and modules[-1].name not in MODULES:
            # `-j LOG --log-prefix X -m limit --limit 3/min` (ufw writes it so): iptables gives
            # an option the target does not take to the matches, the last one loaded first.
            args, index = _take_greedy(words, index)
            modules[-1].options.append(OptionUse(name, negated, args))
            return index
        if target is not None:
            args, index = _take_greedy(words, index)
            target.strange.append(" ".join(["!", name, *args] if negated else [name, *args]))
            target.options.append((name, args))
            return index
        if modules:
            unknown = [module for module in modules if module.name not in MODULES]
            module = unknown[-1] if unknown else modules[-1]
            args, index = _take_greedy(words, index)
            use = OptionUse(name, negated, args)
            (module.strange if module.name in MODULES else module.options).append(use)
            return index
        raise LineError("option", f"unknown option `{name}`", near=name)

    def _module_option(
        self, words: list[str], index: int, name: str, negated: bool, module: ModuleUse, arity: int
    ) -> int:
        if arity and not negated and _legacy_negation(words, index, arity) and name != "--comment":
            negated = True  # `--dport ! 22`, the pre-1.4.3 form
            index += 1
        args, index = _take(words, index, arity, name)
        for option in module.options:
            if option.name == name:
                raise LineError(
                    "option", f"only one `{name}` allowed per -m {module.name}", near=name
                )
        module.options.append(OptionUse(name, negated, args))
        return index

    def _proto(self, text: str, negated: bool) -> tuple[int, Match | None]:
        key = (text, negated)
        found = self._protos.get(key)
        if found is None:
            number = values.protocol(text)
            match: Match | None = None
            if number == 0:
                if negated:
                    raise LineError("protocol", "`! -p all` would never match", near=text)
            else:
                spans = ((number, number),)
                match = Ranges(
                    "proto", values.complement(spans, values.PROTO_MAX) if negated else spans
                )
            found = self._protos[key] = (number, match)
        return found

    def _address(self, field: str, text: str, negated: bool) -> Match:
        key = (field, text, negated)
        found = self._addresses.get(key)
        if found is None:
            if negated and "," in text:
                raise LineError(
                    "address",
                    "! not allowed with multiple source or destination addresses",
                    near=text,
                )
            spans = values.address_list(text, self.family)
            if spans is None:
                found = Unknown(
                    f"{'! ' if negated else ''}{'-s' if field == 'saddr' else '-d'} {text}: non-contiguous netmask with too many ranges"
                )
            else:
                found = Ranges(field, values.complement(spans, self._max) if negated else spans)
            self._addresses[key] = found
        return found

    def _iface(self, field: str, text: str, negated: bool) -> Iface:
        key = (field, text, negated)
        found = self._ifaces.get(key)
        if found is None:
            found = self._ifaces[key] = Iface(field, (intern(values.interface(text)),), negated)
        return found

    def _build(
        self, core: dict[str, tuple[str, bool]], fragment: bool | None, modules: list[ModuleUse]
    ) -> tuple[Match, ...]:
        result: list[Match] = []
        proto_number: int | None = None
        proto_negated = False
        text = ""
        try:
            if "p" in core:
                text, proto_negated = core["p"]
                proto_number, proto_match = self._proto(text, proto_negated)
                if proto_match is not None:
                    result.append(proto_match)
            for kind, field in (("s", "saddr"), ("d", "daddr")):
                if kind in core:
                    text, negated = core[kind]
                    address = self._address(field, text, negated)
                    if not (isinstance(address, Ranges) and address.ranges == ((0, self._max),)):
                        result.append(address)
            for kind, field in (("i", "iif"), ("o", "oif")):
                if kind in core:
                    text, negated = core[kind]
                    result.append(self._iface(field, text, negated))
        except LineError as error:
            error.near = error.near or text
            raise
        if fragment:
            result.append(NEVER)
        if modules:
            context_key = (proto_number, proto_negated)
            context = self._contexts.get(context_key)
            if context is None:
                context = self._contexts[context_key] = RuleContext(
                    self.family, proto_number, proto_negated
                )
            for module in modules:
                try:
                    result.extend(self._module(module, context))
                except LineError as error:
                    error.near = error.near or _first_word(module)
                    raise
        return tuple(result)

    def _module(self, module: ModuleUse, context: RuleContext) -> tuple[Match, ...]:
        if module.name == "comment" and len(module.options) == 1 and not module.strange:
            return ()
        key = (
            module.name,
            module.implicit,
            context.proto,
            context.proto_negated,
            tuple((o.name, o.negated, *o.args) for o in module.options),
            tuple((o.name, o.negated, *o.args) for o in module.strange),
        )
        found = self._modules.get(key)
        if found is None:
            found = self._modules[key] = tuple(matches_mod.convert(module, context))
        return found


def _first_word(module: ModuleUse) -> str:
    if module.implicit and module.options:
        return module.options[0].name
    return module.name


def _legacy_negation(words: list[str], index: int, arity: int) -> bool:
    """Is words[index] the `!` of `--opt ! value` (and not a value that happens to be `!`)?"""
    if index >= len(words) or words[index] != "!" or index + arity >= len(words):
        return False
    return not words[index + 1].startswith("-")


def _take(words: list[str], index: int, arity: int, name: str) -> tuple[list[str], int]:
    end = index + arity
    if end > len(words):
        raise LineError(
            "argument", f"option {name} needs {arity} argument{'s' if arity > 1 else ''}", near=name
        )
    return words[index:end], end


def _take_greedy(words: list[str], index: int) -> tuple[list[str], int]:
    """Arguments of an option we have no table for: up to the next option or `!`."""
    end = index
    while end < len(words) and not words[end].startswith("-") and words[end] != "!":
        end += 1
    return words[index:end], end
