"""The constant Linux collection script and the parser of its framed output.

One script per host, one round trip (issue 6). The script is a constant: no inventory or policy
value is ever put into it or into the command line that starts it; it reaches the host on the
session's stdin (`/bin/sh -s`, or `sudo -n -- /bin/sh -s`).

It dumps everything that may filter packets, since legacy and nft tables both apply
(iptables-extensions(8), "iptables-nft" in xtables-nft(8)): `nft -j list ruleset`, the legacy and
nft variants of iptables-save and ip6tables-save, `ipset save`, and firewalld / ufw state as
context (on a host where firewalld runs, also its runtime and permanent zones and policies, for
the drift note: checker/collectors/firewalld_drift.py), and the listening sockets (`ss -H -tulpn`, or /proc/net/{tcp,udp}[6] without ss:
exposure, docs/policy-format.md); on hosts with netdev ingress/egress chains also `nft list
ruleset`, whose text names their devices (nft 1.0.6 leaves them out of the JSON); and `ip -j
addr`, the host's own addresses (`-m addrtype --dst-type LOCAL`, where a DNAT'd flow goes). A
command that does not exist gives a
"missing" section (exit 127); plain `iptables-save` / `ip6tables-save` are run only on hosts
that have neither variant (iptables before 1.8), else they would dump one of the variants twice.
Dumps that cannot show anything are skipped (issue 16): iptables-nft-save / ip6tables-nft-save
when the nft JSON (nft exited 0) has no table of family ip / ip6, iptables-legacy-save /
ip6tables-legacy-save when /proc/net/ip_tables_names / ip6_tables_names (the list those tools
read) is absent or readable and empty; firewall-cmd (a D-Bus client of firewalld) when there is
no D-Bus system bus to reach firewalld through. Where that cannot be known, the command runs.
A section not run says why (its body); the evidence manifest and the scan report list them.

Framing: each section is a header line with the section's name, status, exit code and the exact
byte lengths of its stdout and stderr, then those bytes, then an end line naming the section; a
final line counts the sections. Lengths come from `wc -c` of temporary files, so output holding
anything (marker-like lines, NUL bytes, no trailing newline) is framed exactly, and a truncated
or garbled stream is detected instead of being half-parsed. The frames are printed once every
section has run (one `wc` and one `cat` for all: a section costs its command and a `date`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from checker.collectors.result import MISSING, NotRun, Output

FRAMING_VERSION = "1"

# (section name, argv). argv[0] is looked up with `command -v`; names are what Output.name holds.
SECTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("nft-json", ("nft", "-j", "list", "ruleset")),
    ("nft-list", ("nft", "list", "ruleset")),
    ("iptables-nft-save", ("iptables-nft-save",)),
    ("iptables-legacy-save", ("iptables-legacy-save",)),
    ("iptables-save", ("iptables-save",)),
    ("ip6tables-nft-save", ("ip6tables-nft-save",)),
    ("ip6tables-legacy-save", ("ip6tables-legacy-save",)),
    ("ip6tables-save", ("ip6tables-save",)),
    ("ipset-save", ("ipset", "save")),
    ("ip-addr", ("ip", "-j", "addr")),
    ("firewalld", ("firewall-cmd", "--state")),
    ("firewalld-zones", ("firewall-cmd", "--list-all-zones")),
    ("firewalld-zones-permanent", ("firewall-cmd", "--permanent", "--list-all-zones")),
    ("firewalld-policies", ("firewall-cmd", "--list-all-policies")),
    ("firewalld-policies-permanent", ("firewall-cmd", "--permanent", "--list-all-policies")),
    ("ufw", ("ufw", "status", "verbose")),
    ("ss-listen", ("ss", "-H", "-tulpn")),
    (
        "proc-net",
        ("grep", "-H", "", "/proc/net/tcp", "/proc/net/tcp6", "/proc/net/udp", "/proc/net/udp6"),
    ),
)
SECTION_NAMES = tuple(name for name, _ in SECTIONS)
COMMANDS = dict(SECTIONS)

# firewall-cmd and ufw get at most this long on the host (coreutils timeout(1), where present): a
# wedged firewalld (firewall-cmd waits on D-Bus) must not eat the whole host deadline.
PER_COMMAND_LIMIT_S = 60

SCRIPT = r"""PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
LC_ALL=C
export PATH LC_ALL
umask 077
d=$(mktemp -d 2>/dev/null || mktemp -d -t fwcheck.XXXXXX) || { echo '@@fwcheck-fail mktemp'; exit 90; }
trap 'rm -rf "$d"' EXIT
trap 'exit 129' HUP INT TERM
if command -v timeout >/dev/null 2>&1; then T="timeout __LIMIT__"; else T=""; fi
have() { command -v "$1" >/dev/null 2>&1; }
cd "$d" || { echo '@@fwcheck-fail cd'; exit 90; }
n=0
files=
# Section N writes N.o and N.e; its header waits in variable hN. The frames are printed at the
# end: one wc(1) measures every file and one cat(1) prints them all, so a section costs its
# command (issue 16: hosts are scanned by the hundred; each process counts).
# Sections run one after another: one clock reading ends a section and starts the next. One
# date(1) at the start; later readings add the time since boot from /proc/uptime (proc(5):
# seconds with two decimals), read by the shell itself: no process per section (10 ms steps).
base=
if read -r up _ </proc/uptime 2>/dev/null; then
  d0=$(date +%s%N 2>/dev/null)
  case $d0 in ''|*[!0-9]*) up= ;; esac
  case $up in *[!0-9.]*|*.*.*) ;; [0-9]*.[0-9][0-9]) f=${up#*.}; base=$((d0 - ${up%.*} * 1000000000 - ${f#0} * 10000000)) ;; esac
fi
now() {
  if [ -n "$base" ] && read -r up _ </proc/uptime 2>/dev/null; then
    f=${up#*.}; t_prev=$((base + ${up%.*} * 1000000000 + ${f#0} * 10000000))
  else
    t_prev=$(date +%s%N 2>/dev/null)
  fi
}
now
section() {
  name=$1; shift
  n=$((n + 1))
  files="$files $n.o $n.e"
  if ! have "$1"; then
    rc=127
    : >$n.o; : >$n.e
    eval "h$n='$name missing 127 _ _ 0 0'"
  else
    t0=$t_prev
    # Only the D-Bus clients can wedge (firewall-cmd waits on firewalld); the dumps read the
    # kernel directly, and the scanner's own per-host deadline still bounds them.
    case $name in firewalld*|ufw) L=$T ;; *) L= ;; esac
    $L "$@" </dev/null >$n.o 2>$n.e
    rc=$?
    now
    eval "h$n='$name ran $rc _ _ ${t0:-0} ${t_prev:-0}'"
  fi
}
# A section not run: its stdout says why (the report lists what was not collected).
skip() {
  n=$((n + 1))
  files="$files $n.o $n.e"
  printf '%s' "$2" >$n.o; : >$n.e
  eval "h$n='$1 skipped 0 _ _ 0 0'"
}
# The firewall dumps: their files (ufw and ipset are asked only when a dump names them) and
# whether every one that ran succeeded (else nothing is known from their absence).
dumps=
dumps_ok=1
dump() {
  section "$@"
  dumps="$dumps $n.o"
  case $rc in 0|127) ;; *) dumps_ok=0 ;; esac
}
dump nft-json nft -j list ruleset
j=$n.o
# Only the dumps that can show something run (issue 16: the script is most of a scan's cost).
# iptables-nft-save shows tables of family ip (ip6: ip6) in the nft ruleset: none in a JSON
# that nft gave without error, nothing to show. iptables-legacy-save lists the tables named in
# /proc/net/ip_tables_names (per network namespace; absent while no legacy table was ever
# made): none there, nothing to show. Unknown (nft failed, the file unreadable): run as before.
nv4=1; nv6=1
if have nft && [ "$rc" = 0 ]; then
  grep -Eq '"family": ?"ip"' $j 2>/dev/null || nv4=0
  grep -Eq '"family": ?"ip6"' $j 2>/dev/null || nv6=0
fi
none() { l=; [ ! -e "$1" ] || { [ -r "$1" ] && ! { read -r l || [ -n "$l" ]; } <"$1"; } 2>/dev/null; }
lv4=1; lv6=1
none /proc/net/ip_tables_names && lv4=0
none /proc/net/ip6_tables_names && lv6=0
# nft 1.0.6 leaves the device of netdev chains out of the JSON; the text names it. Only hosts
# with such chains pay for a second listing.
if have nft && grep -Eq '"hook": ?"(ingress|egress)"' $j 2>/dev/null; then section nft-list nft list ruleset; else skip nft-list "no netdev ingress/egress chain in the nft ruleset"; fi
if [ $nv4 = 1 ]; then dump iptables-nft-save iptables-nft-save; else skip iptables-nft-save "no nft table of family ip"; fi
if [ $lv4 = 1 ]; then dump iptables-legacy-save iptables-legacy-save; else skip iptables-legacy-save "no legacy table (/proc/net/ip_tables_names)"; fi
if have iptables-nft-save || have iptables-legacy-save; then skip iptables-save "iptables-nft-save or iptables-legacy-save exists"; else dump iptables-save iptables-save; fi
if [ $nv6 = 1 ]; then dump ip6tables-nft-save ip6tables-nft-save; else skip ip6tables-nft-save "no nft table of family ip6"; fi
if [ $lv6 = 1 ]; then dump ip6tables-legacy-save ip6tables-legacy-save; else skip ip6tables-legacy-save "no legacy table (/proc/net/ip6_tables_names)"; fi
if have ip6tables-nft-save || have ip6tables-legacy-save; then skip ip6tables-save "ip6tables-nft-save or ip6tables-legacy-save exists"; else dump ip6tables-save ip6tables-save; fi
# A dump names every set a rule reads or writes (iptables-extensions(8): `-m set --match-set`,
# `-j SET --add-set/--del-set/--map-set`); sets no rule names change no verdict.
named() { grep -qE -e "$1" /dev/null $dumps </dev/null 2>/dev/null; [ $? != 1 ] || [ $dumps_ok = 0 ]; }
if have ipset && ! named '--(match|add|del|map)-set '; then skip ipset-save "no rule names an ipset set (--match-set, --add-set, --del-set, --map-set)"; else section ipset-save ipset save; fi
section ip-addr ip -j addr
# firewall-cmd reaches firewalld over the D-Bus system bus only (firewalld(1), "CONCEPTS"): at
# DBUS_SYSTEM_BUS_ADDRESS, else the well-known unix:path=/var/run/dbus/system_bus_socket (D-Bus
# specification, "Well-known Message Bus Instances"). No such socket: no firewalld to ask.
fw=1
if [ -z "${DBUS_SYSTEM_BUS_ADDRESS-}" ] && [ ! -S /var/run/dbus/system_bus_socket ] && [ ! -S /run/dbus/system_bus_socket ]; then fw=0; fi
if have firewall-cmd && [ $fw = 0 ]; then skip firewalld "no D-Bus system bus (/var/run/dbus/system_bus_socket): firewalld cannot run"; else section firewalld firewall-cmd --state; fi
# A running firewalld's runtime and permanent configuration: a scan checks the runtime ruleset
# and notes what the next reload or reboot would change (checker/collectors/firewalld_drift.py).
if have firewall-cmd && [ $fw = 1 ] && [ "$rc" = 0 ]; then
  section firewalld-zones firewall-cmd --list-all-zones
  section firewalld-zones-permanent firewall-cmd --permanent --list-all-zones
  section firewalld-policies firewall-cmd --list-all-policies
  section firewalld-policies-permanent firewall-cmd --permanent --list-all-policies
else
  for fw in firewalld-zones firewalld-zones-permanent firewalld-policies firewalld-policies-permanent; do skip "$fw" "firewalld is not running"; done
fi
# `ufw status` lists iptables' ufw-user-input chain first and says only "Status: inactive"
# where that chain does not exist (ufw 0.36, tests/collectors/test_collect_trim.py runs it): no
# dump holding that chain, ufw's Python start-up (half the script) buys nothing.
if have ufw && ! named 'ufw-user-input'; then skip ufw "no ufw-user-input chain in the iptables and nft dumps: ufw is not active"; else section ufw ufw status verbose; fi
# Without ss, the kernel's socket tables (no process names; a host without IPv6 has no tcp6).
if have ss; then section ss-listen ss -H -tulpn; skip proc-net "ss exists"; else skip ss-listen "ss is not installed"; section proc-net grep -H "" /proc/net/tcp /proc/net/tcp6 /proc/net/udp /proc/net/udp6; fi
# The frames: a header with the exact byte lengths (wc -c), the bytes, an end line.
wc -c $files >sizes || { echo '@@fwcheck-fail wc'; exit 90; }
while read -r size file; do
  case $file in *.o) eval "o${file%.o}=$size" ;; *.e) eval "e${file%.e}=$size" ;; esac
done <sizes
all=
i=0
while [ $i -lt $n ]; do
  i=$((i + 1))
  eval "set -- \$h$i; ol=\$o$i; el=\$e$i"
  printf '@@fwcheck-section %s %s %d %d %d %s %s\n' "$1" "$2" "$3" "$ol" "$el" "$6" "$7" >$i.h
  printf '\n@@fwcheck-end %s\n' "$1" >$i.f
  all="$all $i.h $i.o $i.e $i.f"
done
echo '@@fwcheck-begin __VERSION__'
cat $all || exit 90
echo "@@fwcheck-done $n"
""".replace("__LIMIT__", str(PER_COMMAND_LIMIT_S)).replace("__VERSION__", FRAMING_VERSION)

# How the script is started. Constants: the script itself travels on stdin.
SHELL_ARGV: tuple[str, ...] = ("/bin/sh", "-s")
# sudo(8) -n: "non-interactive: avoid prompting the user for input of any kind. If a password is
# required for the command to run, sudo will display an error message and exit." No hang.
SUDO_ARGV: tuple[str, ...] = ("sudo", "-n", "--", "/bin/sh", "-s")

# Linux firewall dumps: a host where none of them succeeded has given us nothing to check.
FIREWALL_DUMPS = frozenset(
    {
        "nft-json",
        "iptables-nft-save",
        "iptables-legacy-save",
        "iptables-save",
        "ip6tables-nft-save",
        "ip6tables-legacy-save",
        "ip6tables-save",
    }
)


def launcher(sudo: bool) -> tuple[str, ...]:
    return SUDO_ARGV if sudo else SHELL_ARGV


class FramingError(Exception):
    """The script's output is truncated or garbled; the message is one line for the user."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class _Header:
    name: str
    status: str
    exit_code: int
    out_len: int
    err_len: int
    t0_ns: int
    t1_ns: int


_BEGIN = f"@@fwcheck-begin {FRAMING_VERSION}\n".encode()
_HEADER = re.compile(
    rb"@@fwcheck-section ([a-z0-9-]{1,40}) (ran|missing|skipped) (\d{1,3}) (\d{1,12}) (\d{1,12}) "
    rb"(\d{1,25}|[^\s]{0,25}) (\d{1,25}|[^\s]{0,25})\n"
)
_DONE = re.compile(rb"@@fwcheck-done (\d{1,3})\n\Z")


def _ns(text: bytes) -> int:
    # GNU date prints nanoseconds for %s%N; other dates print a literal "%N" or nothing.
    return int(text) if text.isdigit() else 0


def _iso(ns: int, fallback: str) -> str:
    if ns <= 0:
        return fallback
    try:
        return datetime.fromtimestamp(ns / 1e9, UTC).isoformat(timespec="milliseconds")
    except (ValueError, OverflowError, OSError):
        # A clock (or a garbled header) past year 9999: the host's time is no use here.
        return fallback


def parse_framed(stream: bytes, *, started_at: str) -> tuple[Output, ...]:
    """Split the script's stdout into Outputs; raise FramingError if it is truncated or garbled.

    Bytes before the begin marker are ignored: a login shell's rc files may print there (the
    marker line is only ever written by the script). Nothing may follow the final line.
    `started_at` is used for sections whose host `date` cannot give nanoseconds.
    """
    return parse_sections(stream, started_at=started_at)[0]


def parse_sections(
    stream: bytes, *, started_at: str
) -> tuple[tuple[Output, ...], tuple[NotRun, ...]]:
    """parse_framed's Outputs and the sections the script did not run, with its reason."""
    start = stream.find(_BEGIN)
    if start < 0:
        if not stream:
            raise FramingError("no-output", "the collection script printed nothing")
        raise FramingError("garbled", "the collection script's start marker is missing")
    pos = start + len(_BEGIN)
    outputs: list[Output] = []
    not_run: list[NotRun] = []
    for expected in SECTION_NAMES:
        match = _HEADER.match(stream, pos)
        if match is None:
            if b"\n" not in stream[pos:]:
                raise FramingError("truncated", f"output ends before section {expected!r}")
            raise FramingError("garbled", f"section {expected!r}: malformed header")
        header = _Header(
            match.group(1).decode(),
            match.group(2).decode(),
            int(match.group(3)),
            int(match.group(4)),
            int(match.group(5)),
            _ns(match.group(6)),
            _ns(match.group(7)),
        )
        if header.name != expected:
            raise FramingError("garbled", f"expected section {expected!r}, got {header.name!r}")
        body_start = match.end()
        body_end = body_start + header.out_len + header.err_len
        end_line = f"\n@@fwcheck-end {expected}\n".encode()
        if body_end + len(end_line) > len(stream):
            raise FramingError("truncated", f"section {expected!r} is cut short")
        if stream[body_end : body_end + len(end_line)] != end_line:
            raise FramingError(
                "garbled", f"section {expected!r}: length does not match its end marker"
            )
        pos = body_end + len(end_line)
        argv = COMMANDS[expected]
        out = stream[body_start : body_start + header.out_len]
        if header.status == "skipped":
            not_run.append(NotRun(expected, " ".join(argv), one_line(out) or "not needed"))
            continue
        err = stream[body_start + header.out_len : body_end]
        duration_s = max(0.0, (header.t1_ns - header.t0_ns) / 1e9) if header.t0_ns else 0.0
        outputs.append(
            Output(
                name=expected,
                command=" ".join(argv),
                exit_code=MISSING if header.status == "missing" else header.exit_code,
                data=out,
                started_at=_iso(header.t0_ns, started_at),
                duration_s=round(duration_s, 6),
                stderr=err,
            )
        )
    done = _DONE.match(stream, pos)
    if done is None:
        if not stream[pos:]:
            raise FramingError("truncated", "output ends before the final marker")
        raise FramingError("garbled", "unexpected bytes after the last section")
    if int(done.group(1)) != len(SECTION_NAMES):
        raise FramingError("garbled", "the section count does not match")
    return tuple(outputs), tuple(not_run)


def one_line(data: bytes, limit: int = 160) -> str:
    """The first non-empty line of a host's message, printable and short (for error reasons)."""
    for raw in data.splitlines():
        text = raw.decode("utf-8", "replace").strip()
        if text:
            text = "".join(ch if ch.isprintable() else "?" for ch in text)
            return text if len(text) <= limit else text[:limit] + "…"
    return ""


def launch_failure(exit_code: int, stderr: bytes, sudo: bool) -> tuple[str, str]:
    """(code, reason) when the script never started (no begin marker): sudo refusals first."""
    message = one_line(stderr)
    lowered = stderr.lower()
    if sudo:
        if b"password is required" in lowered or b"a terminal is required" in lowered:
            return (
                "sudo-password",
                "sudo -n refused: a password is required (sudo: true needs a NOPASSWD rule)",
            )
        if b"must have a tty" in lowered:
            return "sudo-tty", "sudo refused: the sudoers policy requires a tty (requiretty)"
        if (
            exit_code == MISSING
            or b"sudo: not found" in lowered
            or b"sudo: command not found" in lowered
        ):
            return "command-missing", "sudo is not installed on the host"
        if message.startswith("sudo:"):
            return "sudo-refused", message
    if exit_code == MISSING:
        return "command-missing", "/bin/sh is missing on the host"
    detail = f": {message}" if message else ""
    return "no-output", f"the collection script did not start (exit {exit_code}){detail}"


def check_outputs(outputs: tuple[Output, ...]) -> tuple[str, str] | None:
    """(code, reason) when the dumps do not show the whole firewall, else None.

    Every dump that exists must succeed: legacy and nft tables both filter, so checking the
    ones that worked while another failed could pass a host on half its rules.
    """
    dumps = [o for o in outputs if o.name in FIREWALL_DUMPS]
    if all(o.missing for o in dumps):
        return "command-missing", "neither nft nor iptables-save exists on the host"
    for failed in dumps:
        if not failed.missing and not failed.ok:
            detail = one_line(failed.stderr) or f"exit {failed.exit_code}"
            return "command-failed", f"{failed.command} failed (exit {failed.exit_code}): {detail}"
    return None


def interpret(
    stdout: bytes, stderr: bytes, exit_code: int, *, sudo: bool, started_at: str
) -> tuple[tuple[Output, ...], tuple[str, str] | None, tuple[NotRun, ...]]:
    """The outputs of one run of the script, (code, reason) if the host must be an error, and
    the sections the script did not run."""
    if b"@@fwcheck-begin" not in stdout:
        return (), launch_failure(exit_code, stderr, sudo), ()
    try:
        outputs, not_run = parse_sections(stdout, started_at=started_at)
    except FramingError as exc:
        return (), (exc.code, exc.message), ()
    return outputs, check_outputs(outputs), not_run
