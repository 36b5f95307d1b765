"""Load a policy set (format v1.1, docs/policy-format.md) and resolve what a role must satisfy.

A whole set is validated together and every problem is reported at once: per-file problems
(YAML, schema, duplicate rule ids, bad ports, addresses and params with their defaults), then
set problems (duplicate policy ids, unknown includes, include cycles).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType

from checker import resources
from checker.errors import Location, PolicyError, Problem
from checker.policies.discovery import yaml_files
from checker.policies.document import PolicyDoc, declared_id, read_policy
from checker.policies.exclusive import exclusive_requirements
from checker.policies.includes import closure, include_problems
from checker.policies.model import Policy, Requirement
from checker.policies.params import ParamValue, coerce_override
from checker.policies.rules import resolve_rule
from checker.yamlfile import YamlDoc, read_shipped_yaml, read_yaml

_NO_PARAMS: Mapping[str, ParamValue] = MappingProxyType({})
# Where problems with --param values point: they come from the command line or a target config.
PARAMS_ORIGIN = Location("--param")


def default_policy_paths(*, builtin: bool = True) -> list[Path]:
    """The shipped policies, then ./policies when it exists (a user's own policies add to the
    shipped ones; a shipped id redefined there is a duplicate-policy problem)."""
    return policy_search_paths((), builtin=builtin)


def policy_search_paths(given: Sequence[str | Path] | None, *, builtin: bool = True) -> list[Path]:
    """The policy files and folders a run reads: the shipped policies unless `builtin` is
    False, then `given` (--policies, or fwcheck.yaml's `policies:`), or ./policies when nothing
    is given and it exists. The shipped folder named again (a checkout's own policies/) is read
    once: discovery skips files already seen."""
    local = [Path(path) for path in given or ()]
    if not local and Path("policies").is_dir():
        local = [Path("policies")]
    return ([resources.shipped_policies_dir()] if builtin else []) + local


def is_shipped(file: str) -> bool:
    """Is this policy file one fwcheck ships (installed, or a checkout's policies/)?"""
    try:
        Path(file).resolve().relative_to(resources.shipped_policies_dir().resolve())
    except ValueError:
        return False
    return True


def read_doc(path: Path | str) -> YamlDoc:
    """read_yaml, with self-referencing anchors (``&a [*a]``) reported as a problem."""
    try:
        return read_yaml(path)
    except RecursionError:
        raise PolicyError(
            Problem(str(path), 1, 1, "yaml", "YAML nests too deeply (a recursive anchor?)")
        ) from None


def _sort_key(problem: Problem) -> tuple[str, int, int]:
    return (problem.file, problem.line, problem.col)


@dataclass(frozen=True)
class PolicySet:
    """Policies by id, with their rules as written (resolved on demand with params)."""

    policies: Mapping[str, Policy]
    policy_docs: Mapping[str, PolicyDoc] = field(repr=False)

    def policies_for(self, roles: Iterable[str]) -> list[Policy]:
        """The policies targets with these roles get: direct matches, then what they include,
        transitively, each once."""
        # A bare string is one role, not a set of one-letter roles.
        wanted = {roles} if isinstance(roles, str) else set(roles)
        roots = [pid for pid, policy in self.policies.items() if wanted & set(policy.roles)]
        return [self.policies[pid] for pid in closure(self.policy_docs, roots)]

    def roles(self) -> list[str]:
        return sorted({role for policy in self.policies.values() for role in policy.roles})

    def requirements_for(
        self, roles: Iterable[str], params: Mapping[str, str | int] = _NO_PARAMS
    ) -> tuple[Requirement, ...]:
        """Every rule of policies_for(roles), with param defaults overridden by `params`.

        Each Requirement keeps the id of the policy that wrote the rule. A param that none of
        these policies declares is an error (a typo must not leave a default in force).
        """
        return self.requirements_of(self.policies_for(roles), params)

    def requirements_of(
        self, selected: Sequence[Policy], params: Mapping[str, str | int] = _NO_PARAMS
    ) -> tuple[Requirement, ...]:
        """The rules of exactly these policies (no include expansion), as requirements_for."""
        declared = {name for policy in selected for name, _ in policy.params}
        unknown = sorted(set(params) - declared)
        if unknown:
            known = ", ".join(sorted(declared)) or "none"
            raise PolicyError(
                *(
                    Problem.at(
                        PARAMS_ORIGIN,
                        "unknown-param",
                        f"unknown param {name!r}: no policy of these roles declares it "
                        f"(declared: {known})",
                    )
                    for name in unknown
                )
            )
        requirements: list[Requirement] = []
        problems: list[Problem] = []
        for policy in selected:
            values = {
                name: coerce_override(params[name], default) if name in params else default
                for name, default in policy.params
            }
            own: list[Requirement] = []
            for spec in self.policy_docs[policy.id].rules:
                try:
                    own.append(resolve_rule(spec, policy, values))
                except PolicyError as exc:
                    problems.extend(exc.problems)
            own.extend(exclusive_requirements(policy))
            # The policy's exposure severity travels with its rules to the engine, which sees
            # requirements only (checker.engine.netfilter.exposure.severity_of).
            if policy.exposure_severity is not None:
                own = [replace(r, exposure_severity=policy.exposure_severity) for r in own]
            requirements.extend(own)
        if problems:
            raise PolicyError(*problems)
        return tuple(requirements)


def load_policy_docs(
    docs: Sequence[YamlDoc], schema_checked: Collection[str] = frozenset()
) -> PolicySet:
    """The policy set of already-parsed files; PolicyError lists every problem found. Files
    named in `schema_checked` skip the JSON Schema check (load_policy_set says when)."""
    problems: list[Problem] = []
    good: dict[str, PolicyDoc] = {}
    broken_ids: set[str] = set()
    first_file: dict[str, Location] = {}
    first_data: dict[str, object] = {}
    for doc in docs:
        policy_id = declared_id(doc)
        if policy_id is not None and policy_id in first_file:
            first = first_file[policy_id]
            if is_shipped(first.file) and first_data[policy_id] == doc.data:
                # The shipped policy itself, read again from a checkout's policies/ (an
                # installed fwcheck run in its own repository): one policy, not a clash.
                continue
            message = f"duplicate policy id {policy_id!r} (first defined at {first})"
            if is_shipped(first.file) and not is_shipped(doc.file):
                message = (
                    f"policy id {policy_id!r} is already the id of the shipped policy {first}: "
                    "rename this one, or leave the shipped policies out with "
                    "--no-builtin-policies"
                )
            problems.append(Problem.at(doc.location(("id",)), "duplicate-policy", message))
            continue
        if policy_id is not None:
            first_file[policy_id] = doc.location(("id",))
            first_data[policy_id] = doc.data
        policy_doc, file_problems = read_policy(doc, schema=doc.file not in schema_checked)
        problems.extend(file_problems)
        if policy_doc is None:
            if policy_id is not None:
                broken_ids.add(policy_id)
            continue
        good[policy_doc.policy.id] = policy_doc
    problems.extend(include_problems(good, frozenset(broken_ids)))
    for policy_doc in good.values():
        policy = policy_doc.policy
        defaults = dict(policy.params)
        for spec in policy_doc.rules:
            try:
                resolve_rule(spec, policy, defaults)
            except PolicyError as exc:
                problems.extend(exc.problems)
    if problems:
        raise PolicyError(*sorted(problems, key=_sort_key))
    return PolicySet(
        policies=MappingProxyType({pid: pdoc.policy for pid, pdoc in good.items()}),
        policy_docs=MappingProxyType(dict(good)),
    )


def load_policy_set(paths: Sequence[str | Path]) -> PolicySet:
    """Every policy file under `paths` (files, or folders searched recursively), validated
    together; PolicyError lists ALL problems (file:line:col each)."""
    files, problems = yaml_files(paths)
    docs: list[YamlDoc] = []
    # fwcheck's own policies are read by libyaml and not checked against the JSON Schema on
    # every run: together that was nearly all of a pre-commit run's policy loading
    # (bench/pre_commit.py: 91 ms -> 15 ms). They are fwcheck's data, not the user's input: the test suite checks
    # each against the schema (tests/policies/test_shipped_policies.py), and `fwcheck validate`
    # still does. A user's policies get the full check.
    shipped: set[str] = set()
    for path in files:
        try:
            if is_shipped(str(path)):
                docs.append(read_shipped_yaml(path))
                shipped.add(docs[-1].file)
            else:
                docs.append(read_doc(path))
        except PolicyError as exc:
            problems.extend(exc.problems)
    try:
        try:
            policy_set = load_policy_docs(docs, shipped)
        except (LookupError, TypeError, ValueError, AttributeError):
            # Only a shipped file that breaks the schema (edited in a checkout) gets here:
            # checked in full, it is a problem at file:line:col instead of a traceback.
            policy_set = load_policy_docs(docs)
    except PolicyError as exc:
        problems.extend(exc.problems)
    if problems:
        raise PolicyError(*sorted(problems, key=_sort_key))
    return policy_set
