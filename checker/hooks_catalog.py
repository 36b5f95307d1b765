"""The pre-commit hooks fwcheck offers other repositories, rendered into `.pre-commit-hooks.yaml`.

One source of truth (STYLE.md §9, after check-jsonschema's generated hook file): the `fwcheck`
hook's `files:` regex is built from the PATTERNS of every parser in `PARSERS`, so a new format
reaches the hook by regenerating, and a test (and this repo's own pre-commit hook) fails while the
file is stale:

    python -m checker.hooks_catalog            # rewrite .pre-commit-hooks.yaml
    python -m checker.hooks_catalog --check    # exit 1 and show the diff when it is stale

pre-commit matches `files:` with `re.search` against the repo-relative path with forward slashes
(https://pre-commit.com/#regular-expressions); PATTERNS are `fnmatch` globs on the file name, so
each glob becomes a regex for the last path component.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from checker import generated_file

MANIFEST_NAME = ".pre-commit-hooks.yaml"
GENERATOR = "python -m checker.hooks_catalog"
# Characters to escape outside a class; '#' and blanks because the regex is verbose (re.VERBOSE).
# Fewer escapes than re.escape() so the generated file stays readable ("iptables-save", not
# "iptables\\-save").
_REGEX_SPECIAL = frozenset(".^$*+?{}[]()|\\#")


def glob_to_regex(pattern: str) -> str:
    """The regex (no anchors) matching exactly the file names `fnmatch.fnmatchcase` matches.

    `*` and `?` never cross a `/` (they match within the file name); `[...]` classes are kept,
    with fnmatch's `[!...]` negation. Everything else is literal.
    """
    out: list[str] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[" and (end := _class_end(pattern, i)) is not None:
            body = pattern[i + 1 : end]
            negate = body.startswith("!")
            body = body[1:] if negate else body
            # Escape what re treats specially inside a class (fnmatch does not): a backslash,
            # a leading ^, and [ (a possible nested set). Blanks and '#' stay literal inside a
            # class even in verbose mode (re docs, re.VERBOSE).
            body = body.replace("\\", "\\\\").replace("[", "\\[")
            body = "\\" + body if body.startswith("^") else body
            # A negated class must not match the folder separator either.
            out.append(f"[^/{body}]" if negate else f"[{body}]")
            i = end
        elif char in _REGEX_SPECIAL or char.isspace():
            out.append("\\" + char)
        else:
            out.append(char)
        i += 1
    return "".join(out)


def _class_end(pattern: str, start: int) -> int | None:
    """Index of the `]` closing the class opened at `start`, as fnmatch reads it: a `]` right
    after `[` or `[!` is literal."""
    first = start + 2 if pattern[start + 1 : start + 2] == "!" else start + 1
    end = pattern.find("]", first + 1)
    return end if end != -1 else None


def parser_patterns() -> list[tuple[str, str]]:
    """(parser name, glob) for every registered parser, in registry order, each glob once."""
    from checker.parsers import FOLDERS, PARSERS

    seen: set[str] = set()
    pairs: list[tuple[str, str]] = []
    # A folder format's patterns hold its folder ("ufw/user.rules"): a change there selects the
    # target whose files list the tree (checker.targets.select_targets).
    exports = [(name, module.PATTERNS) for name, module in PARSERS.items()]
    trees = [(name, module.HOOK_PATTERNS) for name, module in FOLDERS.items()]
    for name, globs in exports + trees:
        for glob in globs:
            if glob not in seen:
                seen.add(glob)
                pairs.append((name, glob))
    return pairs


# Files that change what the targets are checked against (fwcheck.yaml, policies, waivers): the
# `fwcheck` hook gets them too, and `fwcheck check --config` then checks every target.
CONFIG_PATTERNS: tuple[tuple[str, str], ...] = (
    ("target config, policy, waiver: every target", "*.yaml"),
    ("target config, policy, waiver: every target", "*.yml"),
)


def hook_files_regex() -> str:
    """The `fwcheck` hook's `files:`: every parser's exports, then the YAML that configures them."""
    return files_regex([*parser_patterns(), *CONFIG_PATTERNS])


def files_regex(pairs: Iterable[tuple[str, str]] | None = None) -> str:
    """The `files:` regex of the `fwcheck` hook: verbose, one alternative per glob, commented."""
    pairs = list(parser_patterns() if pairs is None else pairs)
    if not pairs:
        raise ValueError("no parser declares PATTERNS: the hook would never run")
    width = max(len(glob_to_regex(glob)) for _, glob in pairs) + 4
    lines = [
        "(?x)  # verbose: blanks and comments are ignored",
        "(^|/)  # a file name in any folder, one of:",
        "(",
    ]
    for index, (name, glob) in enumerate(pairs):
        joiner = "    " if index == 0 else "  | "
        lines.append(f"{joiner}{glob_to_regex(glob):<{width}}# {name}: {glob}")
    lines.append(")$")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True, slots=True)
class HookSpec:
    id: str
    name: str
    description: str
    entry: str
    files: str
    pass_filenames: bool
    require_serial: bool
    # Run even when no staged file matches `files` (pre-commit's `always_run`).
    always_run: bool
    # Why the hook is set up this way, written above it in the manifest.
    comment: tuple[str, ...]


def hook_specs() -> tuple[HookSpec, ...]:
    return (
        HookSpec(
            id="fwcheck",
            name="fwcheck (firewall exports against policies)",
            description="Check the firewall exports (iptables-save, nft -j, nftables.conf, ufw and firewalld trees, Windows firewall "
            "exports) of the targets in ./fwcheck.yaml that a commit affects against their "
            "policies.",
            # --config: FILE arguments without it would form one ad-hoc target needing --role;
            # with it, each staged export selects the fwcheck.yaml targets it belongs to, a
            # staged YAML file (fwcheck.yaml, a policy, a waiver file) selects every target, a
            # target with a listed file gone is always checked (an error naming the file), and a
            # staged export that belongs to no target is reported (exit 3), never skipped.
            # A repo keeping its config elsewhere adds `args: [--config, path/fwcheck.yaml]`
            # (argparse keeps the last --config). --quiet: pre-commit shows only the problems.
            entry="fwcheck check --config fwcheck.yaml --quiet",
            files=hook_files_regex(),
            pass_filenames=True,
            require_serial=True,
            # pre-commit passes no deleted files, so a commit that only deletes an export would
            # match nothing and be skipped: the hook runs on every commit, and with no staged
            # export or YAML file it checks every target.
            always_run=True,
            comment=(
                "For firewall-config repos: checks the targets of ./fwcheck.yaml that a commit",
                "affects (each with all of its files): the staged exports' targets, or every",
                "target when fwcheck.yaml, a policy or a waiver file changes or nothing else",
                "matched (a deleted export). `files` is generated from the parsers' PATTERNS.",
            ),
        ),
        HookSpec(
            id="fwcheck-validate",
            name="fwcheck validate (policy files)",
            description="Validate fwcheck policy files (schema, params, includes) when a YAML "
            "file changes.",
            entry="fwcheck validate",
            files=r"\.(yaml|yml)$",
            # Includes name other policies by id, so one staged file cannot be judged alone:
            # any YAML change re-validates the whole policy folder (./policies, or `args:`).
            pass_filenames=False,
            require_serial=False,
            always_run=False,
            comment=(
                "For policy repos: validates ./policies (or the folders given in `args:`) as one",
                "set, because includes and duplicate ids span files. Without ./policies (a",
                "firewall-config repo) it validates fwcheck.yaml, waivers and inventories.",
            ),
        ),
    )


def _scalar(text: str) -> str:
    # Double-quoted YAML scalars: JSON string escaping is a subset YAML 1.1 and 1.2 both read.
    return json.dumps(text)


def render_manifest(specs: Sequence[HookSpec] | None = None) -> str:
    specs = hook_specs() if specs is None else specs
    lines = [
        f"# GENERATED by `{GENERATOR}` from checker/hooks_catalog.py and the parsers'",
        "# PATTERNS: do not edit by hand; regenerate, and a test fails while this file is stale.",
    ]
    for spec in specs:
        lines.append("")
        lines.extend(f"# {text}" for text in spec.comment)
        lines.append(f"- id: {spec.id}")
        lines.append(f"  name: {_scalar(spec.name)}")
        lines.append(f"  description: {_scalar(spec.description)}")
        lines.append(f"  entry: {spec.entry}")
        lines.append("  language: python")
        if "\n" in spec.files:
            lines.append("  files: |")
            lines.extend(
                f"    {line}" if line else "" for line in spec.files.rstrip("\n").split("\n")
            )
        else:
            # Single quotes keep the backslashes literal; a quote inside is doubled (YAML 1.2 §7.3.2).
            quoted = spec.files.replace("'", "''")
            lines.append(f"  files: '{quoted}'")
        lines.append(f"  pass_filenames: {str(spec.pass_filenames).lower()}")
        lines.append(f"  require_serial: {str(spec.require_serial).lower()}")
        if spec.always_run:
            lines.append("  always_run: true")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    return generated_file.main(
        argv,
        prog=GENERATOR,
        description="Render .pre-commit-hooks.yaml from the parser registry.",
        default_path=Path(__file__).resolve().parents[1] / MANIFEST_NAME,
        render=render_manifest,
    )


if __name__ == "__main__":
    raise SystemExit(main())
