"""The `fwcheck` command: argument parsing and exit codes only; the work is in checker.commands.

Exit codes (one enum, documented in README and --help):
  0  every check passed
  1  violations: a fail or indeterminate at or above --fail-on
  2  usage error, or an invalid policy / target config / waiver / inventory file
  3  a target could not be read or collected (the other targets are still checked)
  4  internal error: a bug in fwcheck (versions and traceback are printed)
"""

from __future__ import annotations

import argparse
import gc
import sys
import traceback
from collections.abc import Sequence
from typing import TYPE_CHECKING

from checker import __version__, numbers
from checker.errors import INTERRUPTED_EXIT, ExitCode, FwcheckError, UsageError, format_problem

if TYPE_CHECKING:
    from checker.commands.outputs import Outputs
    from checker.parsers.options import OptionValue


EXIT_CODES_HELP = """exit codes:
  0  all checks passed
  1  violations: a fail or indeterminate at or above --fail-on
  2  usage error, or an invalid policy / config / waiver / inventory file
  3  a target could not be read or collected (others are still checked)
  4  internal error (a bug: please report it with the printed traceback)
"""

SEVERITIES = ("critical", "high", "medium", "low", "info")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # argparse exits 2 by itself; route through UsageError so nothing else calls sys.exit.
        self.print_usage(sys.stderr)
        raise _ArgparseExit(f"{self.prog}: error: {message}")


class _ArgparseExit(Exception):
    pass


def _param(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name, value


def _positive_int(text: str) -> int:
    try:
        # int() reads "١" (Arabic-Indic) as 1 and refuses 4,300+ digits with its own message.
        if not numbers.is_decimal(text.strip()):
            raise ValueError(text)
        value = numbers.to_int(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1, got {value}")
    return value


def _seconds(text: str) -> float:
    try:
        if not text.isascii():
            raise ValueError(text)  # float() reads Unicode digits too
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected more than 0 seconds, got {text!r}")
    return value


def _budget(text: str) -> int | str:
    from checker.engine.budget import AUTO

    if text.strip() == AUTO:
        return AUTO
    try:
        return _positive_int(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"expected {AUTO} or a whole number of at least 1, got {text!r}"
        ) from None


def _add_budget_option(parser: argparse.ArgumentParser) -> None:
    from checker.engine.budget import AUTO, DEFAULT_BUDGET, PER_RULE

    parser.add_argument(
        "--budget",
        type=_budget,
        default=AUTO,
        metavar="N",
        help="work budget per target: what is not decided within N steps is indeterminate"
        f" ('too complex to decide within N steps'); default ({AUTO}): {DEFAULT_BUDGET}"
        f" plus {PER_RULE} per rule of the target",
    )


def _add_history_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--history",
        metavar="PATH",
        default="reports/history.sqlite",
        help="history database recording every run, for drift against the previous run "
        "(default: reports/history.sqlite)",
    )
    parser.add_argument(
        "--no-history", action="store_true", help="do not record this run (e.g. in CI shards)"
    )
    parser.add_argument(
        "--scope",
        "--history-scope",
        dest="history_scope",
        metavar="NAME",
        help="name of the fleet runs are compared within (default: the inventory's resolved path)",
    )


def _add_policy_options(parser: argparse.ArgumentParser, *, control: bool = True) -> None:
    parser.add_argument(
        "--policies",
        action="append",
        metavar="PATH",
        help="policy file or folder (repeatable), read with the shipped policies; "
        "default: ./policies if it exists",
    )
    parser.add_argument(
        "--no-builtin-policies",
        action="store_true",
        help="leave out the policies shipped with fwcheck (read only --policies or ./policies)",
    )
    parser.add_argument(
        "--param",
        action="append",
        type=_param,
        default=[],
        metavar="NAME=VALUE",
        help="override a policy parameter (repeatable)",
    )
    if not control:
        return
    parser.add_argument(
        "--control",
        action="append",
        default=[],
        metavar="PATTERN",
        help="only the rules with a control id matching PATTERN (repeatable): FRAMEWORK:ID with "
        "shell wildcards, case-insensitive, e.g. 'disa-stig:WNFWA-*', 'nist-800-53:SC-7*', "
        "or a bare framework ('cis-ubuntu-22.04'); see docs/controls.md",
    )


def _add_parser_options(parser: argparse.ArgumentParser, command: str) -> None:
    """The options parsers declare (checker.parsers.options): a new one needs no edit here."""
    from checker.parsers import options_for

    for option in options_for(command):
        if option.kind == "texts":
            parser.add_argument(
                option.flag,
                dest=option.key,
                action="append",
                default=[],
                metavar=option.metavar,
                help=option.help,
            )
        else:
            parser.add_argument(
                option.flag,
                dest=option.key,
                type=_mib if option.kind == "mib" else str,
                metavar=option.metavar,
                help=option.help,
            )


def _mib(text: str) -> int:
    return _positive_int(text) * 2**20


def _parse_options(args: argparse.Namespace, command: str) -> dict[str, OptionValue]:
    """The parser options given (checker.parsers.options.ParseOptions); absent ones are left
    out, so a target config's own value holds."""
    from checker.parsers import options_for

    given: dict[str, OptionValue] = {}
    for option in options_for(command):
        value = getattr(args, option.key)
        if value:
            given[option.key] = tuple(value) if isinstance(value, list) else value
    return given


def _add_report_options(parser: argparse.ArgumentParser) -> None:
    # One flag per registered reporter (checker.reports.REPORTERS): a new one needs no edit here.
    from checker.reports import flagged

    for _, flag in flagged():
        parser.add_argument(flag.flag, dest=flag.dest, metavar="FILE", help=flag.help)
    parser.add_argument(
        "--color",
        choices=("auto", "always", "never"),
        default="auto",
        help="colour the console output (default: auto: on a terminal, unless NO_COLOR is set)",
    )
    parser.add_argument(
        "--fail-on",
        choices=SEVERITIES,
        default="info",
        help="lowest severity that fails the run (exit 1); default: info (any)",
    )
    parser.add_argument(
        "--indeterminate",
        choices=("fail", "skip"),
        default="fail",
        help="how JUnit shows indeterminate results (default: as failures)",
    )
    parser.add_argument(
        "--waivers", metavar="FILE", help="waiver file (policy/rule, reason, owner, expires)"
    )
    parser.add_argument(
        "--quiet", "-q", action="store_true", help="print only problems and the summary"
    )


def _add_inventory_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--inventory",
        required=True,
        metavar="FILE",
        help="fwcheck YAML or Ansible INI/YAML inventory",
    )
    parser.add_argument(
        "--role-map",
        metavar="FILE",
        help="YAML {ansible group: [roles]} (default: group names are roles)",
    )
    parser.add_argument(
        "--host",
        action="append",
        default=[],
        metavar="NAME",
        help="collect only this inventory host (repeatable)",
    )
    parser.add_argument(
        "--concurrency",
        "--jobs",
        dest="jobs",
        type=_positive_int,
        default=None,
        metavar="N",
        help="hosts collected at once (default: 32)",
    )
    parser.add_argument(
        "--no-user-known-hosts",
        action="store_true",
        help="do not read ~/.ssh/known_hosts (only the inventory's)",
    )


def build_parser() -> argparse.ArgumentParser:
    from checker.parsers import format_names

    parser = _Parser(
        prog="fwcheck",
        description="Check firewalls (netfilter, Windows Defender Firewall) against YAML policies, "
        "exactly: every failure comes with a counterexample flow and the deciding rule.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"fwcheck {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    validate = sub.add_parser(
        "validate",
        help="validate policy, target config, waiver and inventory files",
        description="Validate policy files (and fwcheck.yaml target configs, waiver files and "
        "inventories). Prints one line per problem as file:line:col: [code] message.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    validate.add_argument(
        "paths", nargs="*", metavar="PATH", help="files or folders (default: ./policies)"
    )

    policies = sub.add_parser(
        "policies",
        help="list the policies and rules a role gets",
        description="List the policies and rules that targets with the given roles get, after "
        "includes and params are resolved.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_policy_options(policies)
    policies.add_argument(
        "--role",
        action="append",
        default=[],
        metavar="ROLE",
        help="role (repeatable); default: all policies",
    )
    policies.add_argument(
        "--controls",
        action="store_true",
        help="list the control ids instead: each control, then the rules that check it",
    )

    check = sub.add_parser(
        "check",
        help="check exported firewall rules against the policies",
        description="Check firewall exports (iptables-save, ip6tables-save, nft -j list ruleset, "
        "Windows .reg/.wfw/Registry.pol/netsh/collector JSON) against the policies of the given "
        "roles. The FILEs given together form one target (an evidence run folder is read through "
        "its manifest.json). With no FILE, every target of the nearest fwcheck.yaml (this folder "
        "or a parent, up to the repository root) is checked.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_policy_options(check)
    check.add_argument(
        "--role",
        action="append",
        default=[],
        metavar="ROLE",
        help="role of the target (repeatable)",
    )
    check.add_argument(
        "--format", choices=format_names(), help="input format (default: detected from content)"
    )
    check.add_argument(
        "--config",
        metavar="FILE",
        help="target config (default: the nearest fwcheck.yaml, up to the repository root)",
    )
    check.add_argument(
        "--target",
        metavar="NAME",
        help="with FILEs and --role: the target's name; with fwcheck.yaml: check only this target",
    )
    check.add_argument(
        "--explain",
        metavar="RULE_ID",
        help="instead of reports, print why RULE_ID has its verdict (as `fwcheck explain`)",
    )
    _add_parser_options(check, "check")
    _add_report_options(check)
    _add_budget_option(check)
    check.add_argument(
        "--cache",
        metavar="FILE",
        help="verdict cache: reuse the results of targets whose files, policies, params and"
        " fwcheck are unchanged since an earlier check with the same FILE (a history database,"
        " as scan's --history); default: no cache",
    )
    check.add_argument(
        "--no-cache", action="store_true", help="check every target even when --cache is given"
    )
    check.add_argument("files", nargs="*", metavar="FILE")

    scan = sub.add_parser(
        "scan",
        help="collect every inventory host (SSH, WinRM, local) and check it",
        description="Collect each inventory host's firewall in one round trip (SSH, WinRM or the local machine) "
        "and check it against the policies of its roles. A host that cannot be collected is an error for that "
        "host only (exit 3); the others are still checked.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_inventory_options(scan)
    _add_policy_options(scan)
    scan.add_argument(
        "--evidence",
        metavar="DIR",
        help="keep every raw output with a manifest under DIR/<host>/<run>/",
    )
    scan.add_argument(
        "--shard",
        metavar="K/N",
        help="scan only shard K of N (a stable hash of the host name): for CI matrices; "
        "join the shards' --json reports with `fwcheck merge`",
    )
    scan.add_argument(
        "--scan-timeout",
        type=_seconds,
        metavar="S",
        help="deadline for the whole scan, collection and evaluation; hosts not collected by"
        " then are errors, requirements not decided by then indeterminate (default: none)",
    )
    scan.add_argument(
        "--host-timeout",
        type=_seconds,
        metavar="S",
        help="deadline per host (collection, then evaluation), when shorter than the"
        " inventory's timeout_s (default 60)",
    )
    _add_history_options(scan)
    _add_parser_options(scan, "scan")
    _add_report_options(scan)
    _add_budget_option(scan)
    scan.add_argument(
        "--no-cache",
        action="store_true",
        help="check every host even when its firewall, the policies, params and fwcheck are"
        " unchanged since an earlier scan (default: reuse those results from the history"
        " database)",
    )

    collect = sub.add_parser(
        "collect",
        help="collect every inventory host into an evidence folder (no check)",
        description="Collect each inventory host's firewall and keep the raw outputs with a manifest (command, "
        "exit code, time, sha256, fwcheck version) under DIR/<host>/<run>/; `fwcheck check` on a run folder's "
        "check_sources later gives the scan's verdicts offline.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_inventory_options(collect)
    collect.add_argument("--evidence", required=True, metavar="DIR", help="evidence folder")
    collect.add_argument("--quiet", "-q", action="store_true", help="print only problems")

    merge = sub.add_parser(
        "merge",
        help="join the JSON reports of scan shards into one run",
        description="Join the --json reports of `fwcheck scan --shard K/N` jobs into one JSON, "
        "JUnit, SARIF and HTML report and one history entry (drift against the previous run of "
        "the whole inventory).",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    merge.add_argument("reports", nargs="+", metavar="REPORT.json")
    _add_history_options(merge)
    _add_report_options(merge)

    history = sub.add_parser(
        "history",
        help="list recorded runs, their trends and changes; prune old runs",
        description="List the runs recorded in the history database (newest first) with their "
        "counts and drift, the trend of open results, one run's changes (--show), or prune old "
        "runs.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    history.add_argument(
        "--history",
        metavar="PATH",
        default="reports/history.sqlite",
        help="history database (default: reports/history.sqlite)",
    )
    history.add_argument("--scope", metavar="NAME", help="only runs of this scope")
    history.add_argument(
        "--limit", type=_positive_int, default=20, metavar="N", help="runs to list (default: 20)"
    )
    history.add_argument(
        "--show",
        type=_positive_int,
        metavar="RUN",
        help="list one run's new, fixed and absent results",
    )
    history.add_argument("--json", action="store_true", help="print JSON instead of a table")
    history.add_argument(
        "--prune-keep",
        type=_positive_int,
        metavar="N",
        help="delete all but the newest N runs of each scope",
    )
    history.add_argument(
        "--prune-before",
        metavar="DATE",
        help="delete runs started before DATE (ISO 8601, e.g. 2024-01-31)",
    )
    _add_explain_parser(sub)
    return parser


def _add_explain_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from checker.parsers import format_names

    explain = sub.add_parser(
        "explain",
        help="show why one rule has its verdict: the walk of one packet, hop by hop",
        description="Check one policy rule on one target and print the walk behind the verdict: "
        "the flow it names (the counterexample, or a sample flow), and every chain and rule that "
        "packet met with file:line (netfilter), or the matching rules by precedence (Windows). "
        "The last argument is the rule (policy/rule, or rule when unique).",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_policy_options(explain, control=False)
    explain.add_argument(
        "--role",
        action="append",
        default=[],
        metavar="ROLE",
        help="role of the target (repeatable)",
    )
    explain.add_argument(
        "--format", choices=format_names(), help="input format (default: detected from content)"
    )
    explain.add_argument("--config", metavar="FILE", help="target config (as for check)")
    explain.add_argument("--target", metavar="NAME", help="target name (as for check)")
    explain.add_argument("files", nargs="*", metavar="FILE")
    explain.add_argument("rule", metavar="RULE_ID")


def _outputs(args: argparse.Namespace) -> Outputs:
    """The report and gate options that check, scan and merge share (_add_report_options)."""
    # Imported here, as the commands are: `validate` and `--help` need no command code.
    from checker.commands.outputs import Outputs
    from checker.reports import flagged

    asked = ((name, getattr(args, flag.dest)) for name, flag in flagged())
    return Outputs(
        reports=tuple((name, path) for name, path in asked if path),
        fail_on=args.fail_on,
        indeterminate_as=args.indeterminate,
        waivers_path=args.waivers,
        quiet=args.quiet,
        color=args.color,
    )


def _run(args: argparse.Namespace) -> int:
    if args.command == "validate":
        from checker.commands import validate

        return validate.run(paths=args.paths)
    if args.command == "policies":
        from checker.commands import policies

        return policies.run(
            policy_paths=args.policies,
            roles=args.role,
            params=dict(args.param),
            builtin_policies=not args.no_builtin_policies,
            controls=args.control,
            by_control=args.controls,
        )
    if args.command == "explain" or (args.command == "check" and args.explain):
        from checker.commands import explain

        return explain.run(
            files=args.files,
            rule_id=args.rule if args.command == "explain" else args.explain,
            policy_paths=args.policies,
            roles=args.role,
            params=dict(args.param),
            format_name=args.format,
            config_path=args.config,
            target_name=args.target,
            builtin_policies=not args.no_builtin_policies,
        )
    if args.command == "check":
        from checker.commands import check

        return check.run(
            files=args.files,
            policy_paths=args.policies,
            roles=args.role,
            params=dict(args.param),
            format_name=args.format,
            config_path=args.config,
            target_name=args.target,
            outputs=_outputs(args),
            builtin_policies=not args.no_builtin_policies,
            parse_options=_parse_options(args, "check"),
            controls=args.control,
            budget=args.budget,
            cache_path=None if args.no_cache else args.cache,
        )
    if args.command == "scan":
        from checker.commands import scan

        return scan.run(
            inventory=args.inventory,
            evidence_dir=args.evidence,
            policy_paths=args.policies,
            params=dict(args.param),
            role_map=args.role_map,
            hosts=args.host,
            jobs=args.jobs,
            user_known_hosts=not args.no_user_known_hosts,
            shard=args.shard,
            history_path=None if args.no_history else args.history,
            history_scope=args.history_scope,
            scan_timeout_s=args.scan_timeout,
            host_timeout_s=args.host_timeout,
            outputs=_outputs(args),
            builtin_policies=not args.no_builtin_policies,
            parse_options=_parse_options(args, "scan"),
            controls=args.control,
            budget=args.budget,
            use_cache=not args.no_cache,
        )
    if args.command == "collect":
        from checker.commands import collect
        from checker.fleet.runner import DEFAULT_CONCURRENCY

        return collect.run(
            inventory=args.inventory,
            evidence_dir=args.evidence,
            role_map=args.role_map,
            hosts=args.host,
            jobs=args.jobs or DEFAULT_CONCURRENCY,
            user_known_hosts=not args.no_user_known_hosts,
            quiet=args.quiet,
        )
    if args.command == "merge":
        from checker.commands import merge

        return merge.run(
            reports=args.reports,
            history_path=None if args.no_history else args.history,
            history_scope=args.history_scope,
            outputs=_outputs(args),
        )
    if args.command == "history":
        from checker.commands import history

        return history.run(
            history_path=args.history,
            scope=args.scope,
            limit=args.limit,
            show=args.show,
            as_json=args.json,
            prune_keep=args.prune_keep,
            prune_before=args.prune_before,
        )
    raise UsageError()


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:  # --help and --version end parsing on purpose
            return int(exc.code or 0)
        if not args.command:
            parser.print_help(sys.stderr)
            return ExitCode.USAGE
        return _run(args)
    except _ArgparseExit as exc:
        print(exc, file=sys.stderr)
        return ExitCode.USAGE
    except FwcheckError as exc:
        for problem in exc.problems:
            print(format_problem(problem), file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("fwcheck: interrupted", file=sys.stderr)
        return INTERRUPTED_EXIT
    except BrokenPipeError:
        return ExitCode.OK
    except Exception:
        import platform

        print(
            f"fwcheck: internal error (a bug). fwcheck {__version__}, Python {platform.python_version()}, "
            f"{platform.platform()}",
            file=sys.stderr,
        )
        traceback.print_exc(file=sys.stderr)
        return ExitCode.INTERNAL


def collect_rarely() -> None:
    """Set this process's garbage collector to run rarely.

    A run builds hundreds of thousands of small long-lived objects (rules, interval sets) and
    little cyclic garbage; the collector's default thresholds rescan them all over and over, a
    third of a large ruleset's check time. The process is short, so collecting rarely is safe.
    bench/kube_proxy.py measures with the same setting."""
    gc.set_threshold(200_000, 50, 100)


def entry() -> None:
    collect_rarely()
    raise SystemExit(main())
