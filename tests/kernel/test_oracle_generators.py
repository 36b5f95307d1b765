"""The kernel as oracle on rulesets made by the real generators, not by us.

Each generator runs inside the host namespace of a fresh namespace pair with its state in a
private mount namespace (oracle_confine.py: the test's own copies bound over /etc/ufw,
/etc/default/ufw, /etc/firewalld, /etc/shorewall, /etc/fail2ban, /var/lib/shorewall; tmpfs over
/run, /var/log, /var/lib/fail2ban), so the host's /etc and firewall stay untouched; the module's
teardown asserts both. The ruleset is exported like a user would (iptables-save, ip6tables-save,
iptables-legacy-save, `nft -j list ruleset` + `nft list ruleset`, `ipset save`) and every
requirement the generator's rules suggest is checked with fwcheck and probed for real from the
peer namespace (and from the host, outbound): TCP handshakes to listeners, UDP datagrams,
ICMP/ICMPv6 echo, each from several source ports, privileged ones (53, 67, 123) among them;
fwcheck's own counterexample flow is probed too (oracle_real).

Generators (oracle_generators):
- ufw 0.36: the package's default rules, IPV6=yes, `ufw --force enable`, then allow / deny /
  reject / limit rules with addresses, ports, protocols, an interface and an outbound direction.
- firewalld 1.3 (nftables backend): zones, services, ports, rich rules and a source zone set with
  `firewall-offline-cmd`, then the daemon on a private D-Bus system bus; once with
  IPv6_rpfilter=no and once with the default IPv6_rpfilter=yes (a `fib` lookup).
- ferm 2.5: both domains, a @subchain, a user chain with RETURN, a source-port rule, REJECT. ferm
  drives iptables-legacy-restore, so the export is iptables-legacy-save.
- shorewall 5.2: Debian's two-interfaces sample (net = the veth to the peer, loc = a spare veth)
  plus two net->$FW rules; IPv4 only (shorewall, not shorewall6).
- fail2ban 1.0: a jail with the iptables-multiport action and one with iptables-ipset-proto6,
  bans made with `fail2ban-client set JAIL banip` on a private server socket.
- Every example in Debian's /usr/share/doc/nftables/examples/, loaded with `nft -f` as shipped
  (the interfaces they name exist as spare veths); two need kernel features this kernel lacks
  (KERNEL_REFUSES): the test requires that refusal, so an example that starts loading is noticed;
  load_balancing.nft is also loaded without its refused nat table.

- Docker: dockerd is not run (it wants its own cgroups, storage and daemon setup, more than a CI
  job's minutes in a namespace); the chains Docker documents for one container publishing
  8080->80 (plus a documented DOCKER-USER drop) are loaded with iptables-restore, the bridge
  being a veth named docker0 to a third namespace where the "container" listens.
- kube-proxy (iptables mode): bench/kube_proxy.py's rules for 3 services of 2 endpoints loaded
  with iptables-restore; the pods live in a third namespace behind a veth cni0, the peer routes
  the service range through the host, and probes go to the service IPs. Behind a DNAT the kernel's
  verdict is the completed TCP handshake (the backend's listener answers on the translated port).

A disagreement that is a known defect other helpers are fixing is listed in KNOWN_DEFECTS, which
makes exactly that case xfail(strict=True): once the fix is merged it XPASSes, fails, and the entry
is removed.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from oracle_generators import Generator, all_generators
from oracle_netns import netns_pair
from oracle_real import RunResult, label, run_generator

# (generator id, requirement) -> why fwcheck and the kernel disagree today, and who fixes it.
KNOWN_DEFECTS: dict[tuple[str, str], str] = {}

# Indeterminate where the kernel decides, for a reason outside the allowed ones, which no helper
# is fixing yet: xfail(strict=True) like the known defects.
OPEN: dict[tuple[str, str], str] = {}

# Debian examples this kernel will not load, and the error nft gives.
KERNEL_REFUSES = {
    # Its nat chain has priority -300, before conntrack (-200): the kernel refuses nat chains
    # there. Its other tables are loaded as LB.
    "nft-example-load_balancing": "Operation not supported",
    "nft-example-secmark": "No such file or directory",  # SELinux contexts: no SELinux here
}

GENERATORS = all_generators()
HOST_STATE = (
    "/etc/ufw",
    "/etc/default/ufw",
    "/etc/firewalld",
    "/etc/shorewall",
    "/etc/fail2ban",
    "/etc/ferm",
)


def _host_snapshot() -> dict[str, str]:
    """The root namespace's rulesets and the generators' /etc files."""
    out = {}
    for argv in (
        ["nft", "list", "ruleset"],
        ["iptables-save"],
        ["ip6tables-save"],
        ["iptables-legacy-save"],
        ["ipset", "save"],
    ):
        if shutil.which(argv[0]):
            result = subprocess.run(argv, capture_output=True, timeout=30)
            lines = result.stdout.decode(errors="replace").splitlines()
            out[" ".join(argv)] = "\n".join(x for x in lines if not x.startswith("#"))
    for root in HOST_STATE:
        digest = hashlib.sha256()
        paths = [Path(root)] if Path(root).is_file() else sorted(Path(root).rglob("*"))
        for path in paths:
            if path.is_file() and not path.is_symlink():
                digest.update(str(path).encode() + b"\0" + path.read_bytes())
        out[root] = digest.hexdigest()
    return out


@pytest.fixture(scope="module")
def real_runs(oracle_ready: None) -> Iterator[Callable[[Generator], RunResult]]:
    before = _host_snapshot()
    cache: dict[str, RunResult | Exception] = {}

    def run(generator: Generator) -> RunResult:
        if generator.id not in cache:
            missing = [tool for tool in generator.requires if shutil.which(tool) is None]
            if missing:
                reason = f"{generator.id} needs {', '.join(missing)} (see .ci/run)"
                if os.environ.get("FWCHECK_REQUIRE_KERNEL_ORACLE") == "1":
                    pytest.fail(f"FWCHECK_REQUIRE_KERNEL_ORACLE=1 but {reason}")
                pytest.skip(reason)
            with netns_pair() as pair, tempfile.TemporaryDirectory() as work:
                try:
                    cache[generator.id] = run_generator(pair, generator, Path(work))
                except (RuntimeError, subprocess.SubprocessError) as error:
                    cache[generator.id] = error
        found = cache[generator.id]
        if isinstance(found, Exception):
            raise found
        return found

    yield run
    after = _host_snapshot()
    changed = [name for name in before if before[name] != after.get(name)]
    assert not changed, f"the real-generator oracle changed the host's {changed}"


def _cases() -> list:
    out = []
    for generator in GENERATORS:
        if generator.id in KERNEL_REFUSES:
            continue
        for item in generator.needs:
            why = KNOWN_DEFECTS.get((generator.id, item.name)) or OPEN.get(
                (generator.id, item.name)
            )
            marks = [pytest.mark.xfail(reason=why, strict=True)] if why else []
            out.append(
                pytest.param(generator, item.name, id=f"{generator.id}/{item.name}", marks=marks)
            )
    return out


@pytest.mark.parametrize(("generator", "name"), _cases())
def test_real_generator_and_fwcheck_agree(
    real_runs: Callable[[Generator], RunResult], generator: Generator, name: str
) -> None:
    run = real_runs(generator)
    result = run.results[name]
    assert result.probes, "a requirement without probes tests nothing"
    if result.problems:
        rows = "\n".join(
            f"  {label(p)}: kernel {o.kernel} ({o.client}), fwcheck {f}"
            for p, o, f in result.probes
        )
        pytest.fail(
            "\n".join(
                [
                    f"{generator.id} / {name}: fwcheck {result.fwcheck} ({result.message}); "
                    f"kernel {result.kernel}",
                    *result.problems,
                    "probes:",
                    rows,
                    "--- generator log ---",
                    run.log[-4000:],
                    "--- exports ---",
                    run.exports[-12000:],
                ]
            ),
            pytrace=False,
        )


@pytest.mark.parametrize(
    "generator", [g for g in GENERATORS if g.id in KERNEL_REFUSES], ids=lambda g: g.id
)
def test_examples_this_kernel_refuses(
    real_runs: Callable[[Generator], RunResult], generator: Generator
) -> None:
    with pytest.raises(RuntimeError, match=KERNEL_REFUSES[generator.id]):
        real_runs(generator)


def test_every_generator_is_probed_both_ways() -> None:
    """Each generator's requirements include allow and deny or inbound and outbound, so that a
    fwcheck answering always one way cannot pass; and all the Debian examples are here."""
    from oracle_generators import nft_examples

    examples = [g for g in GENERATORS if g.tool == "nft-example"]
    assert {path.stem for path in nft_examples()} <= {g.config for g in examples}
    if os.environ.get("FWCHECK_REQUIRE_KERNEL_ORACLE") == "1":
        assert examples, (
            "FWCHECK_REQUIRE_KERNEL_ORACLE=1 but /usr/share/doc/nftables/examples is empty"
        )
    for generator in GENERATORS:
        kinds = {(n.expect, n.direction) for n in generator.needs}
        assert len(kinds) >= 2, generator.id
