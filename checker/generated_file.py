"""The command line of a file generated from the registries (`python -m checker.hooks_catalog`,
`python -m checker.formats_doc`): write it, or with `--check` show how it is stale."""

from __future__ import annotations

import argparse
import difflib
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from checker.errors import ExitCode


def main(
    argv: Sequence[str] | None,
    *,
    prog: str,
    description: str,
    default_path: Path,
    render: Callable[[], str],
) -> int:
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is stale")
    parser.add_argument(
        "--output",
        default=str(default_path),
        help=f"path (default: {default_path.name} of this checkout)",
    )
    args = parser.parse_args(argv)
    wanted = render()
    path = Path(args.output)
    current = path.read_text(encoding="utf-8") if path.is_file() else ""
    if args.check:
        if current == wanted:
            return ExitCode.OK
        sys.stdout.writelines(
            difflib.unified_diff(
                current.splitlines(keepends=True),
                wanted.splitlines(keepends=True),
                str(path),
                f"{path} (regenerated)",
            )
        )
        print(f"{path} is stale: run `{prog}`", file=sys.stderr)
        return ExitCode.VIOLATIONS
    if current != wanted:
        path.write_text(wanted, encoding="utf-8")
    return ExitCode.OK
