"""The README's quick start, run as written on what a fresh Debian 12 / Ubuntu machine has: the
distribution's python3 (externally managed: PEP 668 refuses `pip install` into it) first on a
plain PATH, in a fresh copy of this checkout. Both commands create and use a virtualenv, so they
work there; a bare `pip install .` fails with `externally-managed-environment`, which the first
test shows on the same interpreter (so this test would catch the README going back to it).

Slow (a virtualenv and pip installs of fwcheck and its dependencies): done once per session.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from gates_support import REPO, clean_env, snapshot_checkout

# What a fresh Debian/Ubuntu login has on PATH: the distribution's python3 and pip, nothing
# from pyenv or a virtualenv of the caller's.
FRESH_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
COMMAND_TIMEOUT_S = 900


def quick_start() -> list[str]:
    """The ```sh blocks of the README's Quick start section, in order."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```sh\n(.*?)```", section, re.S)]


def distribution_python() -> Path:
    python = Path("/usr/bin/python3")
    marker = list(Path("/usr/lib").glob("python3*/EXTERNALLY-MANAGED"))
    if not python.is_file() or not marker:
        pytest.skip("no externally managed system python3 here (not Debian 12 / Ubuntu 23.04+)")
    return python


def fresh_env(**extra: str) -> dict[str, str]:
    env = clean_env({"PATH": FRESH_PATH, **extra})
    for name in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "PYENV_VERSION"):
        env.pop(name, None)
    return env


@dataclass(frozen=True)
class Ran:
    returncode: int
    output: str


def sh(command: str, cwd: Path, env: dict[str, str]) -> Ran:
    done = subprocess.run(
        ["/bin/sh", "-c", command],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
    )
    return Ran(done.returncode, done.stdout)


@pytest.fixture(scope="session")
def fresh_checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    distribution_python()
    path = tmp_path_factory.mktemp("readme") / "fwcheck"
    snapshot_checkout(path, clean_env({}))
    return path


@pytest.fixture(scope="session")
def first_command(fresh_checkout: Path) -> Ran:
    return sh(quick_start()[0], fresh_checkout, fresh_env())


def test_the_quick_start_has_two_commands_in_a_virtualenv() -> None:
    commands = quick_start()
    assert len(commands) == 2, commands
    for command in commands:
        assert command.startswith("python3 -m venv .venv && .venv/bin/pip install "), command
        # Every step after the venv runs from it: nothing reaches the system python's pip.
        steps = [step.strip() for step in command.split("&&")]
        assert all(step.startswith(".venv/bin/") for step in steps[1:]), steps


def test_a_bare_pip_install_is_refused_here(tmp_path: Path) -> None:
    """What the README used to say, on the same interpreter: PEP 668 refuses it."""
    python = distribution_python()
    if sh(f"{python} -m pip --version", tmp_path, fresh_env()).returncode != 0:
        pytest.skip("the system python3 has no pip here (Debian without python3-pip)")
    done = sh(f"{python} -m pip install --dry-run --no-deps {REPO}", tmp_path, fresh_env())
    assert done.returncode != 0
    assert "externally-managed-environment" in done.output


def test_the_check_command_runs_as_written(fresh_checkout: Path, first_command: Ran) -> None:
    ran = first_command
    # The README says: expect failures, each with a counterexample and the deciding rule (exit 1).
    assert ran.returncode == 1, ran.output[-3000:]
    # A failure names its flow (the counterexample) once, and the deciding rule's file:line.
    assert re.search(r"FAIL \[\w+\] [\w/-]+: tcp [\d.]+:\d+ -> [\d.]+:\d+ ", ran.output)
    assert re.search(r"deciding rule: examples/\S+:\d+", ran.output)
    assert re.search(r"\d+ passed, \d+ failed, \d+ indeterminate", ran.output)
    fwcheck = fresh_checkout / ".venv" / "bin" / "fwcheck"
    assert fwcheck.is_file()


def test_the_test_command_runs_as_written(fresh_checkout: Path, first_command: Ran) -> None:
    # The whole suite inside a test would run it twice: PYTEST_ADDOPTS narrows what the
    # README's command collects (pytest reads it as extra arguments), the command is verbatim.
    env = fresh_env(PYTEST_ADDOPTS="-p no:cacheprovider tests/test_registries.py")
    ran = sh(quick_start()[1], fresh_checkout, env)
    assert ran.returncode == 0, ran.output[-3000:]
    assert re.search(r"\d+ passed", ran.output), ran.output[-3000:]
    assert os.access(fresh_checkout / ".venv" / "bin" / "pytest", os.X_OK)
