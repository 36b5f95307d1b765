"""`include:` between policies: unknown ids, cycles, and the transitive closure.

A cycle is reported once, as the chain that closes it (``a -> b -> a``), at the include entry
that closes it, as aerleon's include errors print the chain (STYLE.md section 5).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from checker.errors import Problem
from checker.policies.document import PolicyDoc


def include_problems(docs: Mapping[str, PolicyDoc], broken_ids: frozenset[str]) -> list[Problem]:
    """Includes naming unknown policies, and include cycles, across the whole set."""
    problems: list[Problem] = []
    for policy_id, policy_doc in docs.items():
        for index, target in enumerate(policy_doc.policy.include):
            if target not in docs and target not in broken_ids:
                known = ", ".join(sorted(docs)) or "none"
                problems.append(
                    Problem.at(
                        policy_doc.doc.location(("include", index)),
                        "unknown-include",
                        f"policy {policy_id!r} includes {target!r}, which no policy file "
                        f"defines (known: {known})",
                    )
                )
    problems.extend(_cycle_problems(docs))
    return problems


def _cycle_problems(docs: Mapping[str, PolicyDoc]) -> list[Problem]:
    done: set[str] = set()
    reported: set[tuple[str, ...]] = set()
    problems: list[Problem] = []

    def visit(policy_id: str, chain: list[str]) -> None:
        if policy_id in chain:
            cycle = chain[chain.index(policy_id) :]
            # One report per cycle, whichever policy the walk started from.
            start = cycle.index(min(cycle))
            canonical = tuple(cycle[start:] + cycle[:start])
            if canonical not in reported:
                reported.add(canonical)
                closing, target = canonical[-1], canonical[0]
                closing_doc = docs[closing]
                index = closing_doc.policy.include.index(target)
                text = " -> ".join(canonical + (target,))
                problems.append(
                    Problem.at(
                        closing_doc.doc.location(("include", index)),
                        "include-cycle",
                        f"include cycle: {text}",
                    )
                )
            return
        if policy_id in done or policy_id not in docs:
            return
        chain.append(policy_id)
        for target in docs[policy_id].policy.include:
            visit(target, chain)
        chain.pop()
        done.add(policy_id)

    for policy_id in docs:
        visit(policy_id, [])
    return problems


def closure(docs: Mapping[str, PolicyDoc], roots: Iterable[str]) -> list[str]:
    """Roots and everything they include, transitively, each once, in depth-first order."""
    seen: set[str] = set()
    order: list[str] = []

    def visit(policy_id: str) -> None:
        if policy_id in seen or policy_id not in docs:
            return
        seen.add(policy_id)
        order.append(policy_id)
        for target in docs[policy_id].policy.include:
            visit(target)

    for root in roots:
        visit(root)
    return order
