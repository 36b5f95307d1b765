"""A fleet run's results kept on disk as hosts finish, read back one host at a time for the
reports: memory stays flat as the fleet grows (issue 16).

Each host's `TargetInfo` and findings are pickled into an anonymous temporary file (removed by
the kernel when it is closed, even if fwcheck is killed) the moment the host is checked. What
stays in memory per host is small: its TargetInfo, the file offset, and the summary view of its
findings (`summary_view`: status, severity and result key; what the summary line, the gate,
drift counts and the exit code read). Reports read the hosts back in inventory order.

The file is private to this process (a pickle is only ever read back by the process that wrote
it, never from a path another user could replace).
"""

from __future__ import annotations

import pickle
import tempfile
from collections.abc import Iterator, Mapping, Sequence

from checker.findings import Finding
from checker.reports.data import TargetInfo


def summary_view(finding: Finding) -> Finding:
    """The finding without its text: target, policy, rule, status and severity."""
    return Finding(
        finding.target, finding.policy, finding.rule, finding.status, finding.severity, ""
    )


class HostSpool:
    def __init__(self, order: Mapping[str, int]) -> None:
        self._order = order
        self._file = tempfile.TemporaryFile(prefix="fwcheck-spool-")
        self._where: dict[str, tuple[int, int]] = {}
        self._infos: dict[str, TargetInfo] = {}
        self._summary: dict[str, list[Finding]] = {}

    def add(self, info: TargetInfo, findings: Sequence[Finding]) -> None:
        data = pickle.dumps((info, tuple(findings)), protocol=pickle.HIGHEST_PROTOCOL)
        self._file.seek(0, 2)
        self._where[info.name] = (self._file.tell(), len(data))
        self._file.write(data)
        self._infos[info.name] = info
        self._summary[info.name] = [summary_view(f) for f in findings]

    def names(self) -> list[str]:
        """The hosts added, in inventory order."""
        return sorted(self._where, key=self._order.__getitem__)

    def __len__(self) -> int:
        return len(self._where)

    def infos(self) -> list[TargetInfo]:
        return [self._infos[name] for name in self.names()]

    def summary(self) -> list[Finding]:
        """Every host's findings' summary views, in report order."""
        return [f for name in self.names() for f in self._summary[name]]

    def hosts(self) -> Iterator[tuple[TargetInfo, tuple[Finding, ...]]]:
        """Each host's info and findings, in inventory order, one host in memory at a time."""
        self._file.flush()
        for name in self.names():
            offset, size = self._where[name]
            self._file.seek(offset)
            info, findings = pickle.loads(self._file.read(size))
            yield info, findings

    def findings(self) -> Iterator[Finding]:
        for _info, findings in self.hosts():
            yield from findings

    def close(self) -> None:
        self._file.close()
