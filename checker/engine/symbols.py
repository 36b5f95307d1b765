"""Symbol tables: map name-valued fields (interface names, program paths) onto integers so the
packet-space algebra can treat them as ordinary dimensions.

Interface names follow iptables/nft wildcards: a name ending in "+" (nft: "*") matches every
name with that prefix. The universe is partitioned exactly: each literal name is one symbol; each
listed prefix p gets a phantom symbol standing for "some other name starting with p, but with no
longer listed prefix and equal to no literal"; the root phantom stands for names matching nothing
listed. A special NONE symbol is the interface of a packet that has none on that side (the output
interface of an inbound packet): it matches no interface condition, positive or negated, as
iptables refuses `-o` in INPUT and nft's meta load breaks the rule.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

NONE = "\x00none"
ROOT = ""


@dataclass(frozen=True, slots=True)
class InterfaceSymbols:
    literals: tuple[str, ...]
    prefixes: tuple[str, ...]
    # Symbol index -> (kind, text): kind "lit", "phantom" or "none".
    symbols: tuple[tuple[str, str], ...]

    @classmethod
    def build(cls, names: Iterable[str]) -> InterfaceSymbols:
        literals = {"lo"}
        prefixes = {ROOT}
        for name in names:
            if name.endswith("+"):
                prefixes.add(name[:-1])
            else:
                literals.add(name)
        symbols = [("none", NONE)]
        symbols += [("lit", name) for name in sorted(literals)]
        symbols += [("phantom", prefix) for prefix in sorted(prefixes)]
        return cls(tuple(sorted(literals)), tuple(sorted(prefixes)), tuple(symbols))

    @property
    def size(self) -> int:
        return len(self.symbols)

    def index_of(self, name: str) -> int:
        for i, (kind, text) in enumerate(self.symbols):
            if kind == "lit" and text == name:
                return i
        # An unlisted name belongs to the phantom of its longest listed prefix.
        best = max((p for p in self.prefixes if name.startswith(p)), key=len)
        return self.symbols.index(("phantom", best))

    def matching(self, names: Iterable[str]) -> list[int]:
        """Symbols that a positive interface condition listing `names` matches."""
        out = []
        wanted = list(names)
        for i, (kind, text) in enumerate(self.symbols):
            if kind == "none":
                continue
            for name in wanted:
                if name.endswith("+"):
                    if text.startswith(name[:-1]):
                        out.append(i)
                        break
                elif kind == "lit" and text == name:
                    out.append(i)
                    break
        return out

    def real(self) -> list[int]:
        return [i for i, (kind, _) in enumerate(self.symbols) if kind != "none"]

    def describe(self, index: int) -> str:
        kind, text = self.symbols[index]
        if kind == "lit":
            return text
        if kind == "none":
            return "-"
        # A concrete name for the phantom: the prefix plus a suffix that no listed name is and
        # no longer listed prefix starts (the root phantom's "fwc<n>" too: naming an interface
        # the rules list would describe a flow the phantom does not stand for).
        longer = [p for p in self.prefixes if p.startswith(text) and len(p) > len(text)]
        for stem in (f"{text}x",) if text else ("fwc", "if", "x"):
            if any(stem.startswith(p) for p in longer):
                continue  # every name on this stem is the longer prefix's
            # Bounded: ten longer prefixes stem0 … stem9 would take every number.
            for n in range(len(self.literals) + 10 * len(longer) + 1):
                name = f"{stem}{n}"
                if name not in self.literals and not any(name.startswith(p) for p in longer):
                    return name
        return f"{text}*"
