"""The package's shape (docs/architecture.md): the data path runs one way, collectors -> parsers ->
model -> engine -> findings -> reports, with commands and the cli on top. The test reads every
module of checker/ with `ast` (imports at module level and inside functions alike, since a
function-level import is a dependency too) and fails on an import cycle or an upward import."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "checker"

# Packages of the data path and the shared ground below the commands: none of them may reach up.
LOWER = ("collectors", "parsers", "model", "engine", "findings", "reports")
UPPER = ("commands", "cli", "fleet")
# Modules of checker/commands/ that are shared option types, not commands (no `run`).
COMMAND_SHARED = frozenset({"checker.commands", "checker.commands.outputs"})


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _resolve(name: str, level: int, current: str, is_package: bool) -> str:
    if level == 0:
        return name
    base = current.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join([*base, name] if name else base)


def _type_only(tree: ast.Module) -> set[int]:
    """ids of the import nodes under `if TYPE_CHECKING:`: read by mypy, never run."""
    guarded: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            guarded.update(id(inner) for stmt in node.body for inner in ast.walk(stmt))
    return guarded


@cache
def _graphs() -> tuple[dict[str, frozenset[str]], dict[str, frozenset[str]]]:
    """(every import, the imports that run): each checker module -> the checker modules it
    imports anywhere in its body."""
    known = modules()
    every: dict[str, frozenset[str]] = {}
    running: dict[str, frozenset[str]] = {}
    for name, path in known.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        type_only = _type_only(tree)
        found: dict[str, bool] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(node.module or "", node.level, name, path.name == "__init__.py")
                # `from checker.reports import console` imports the module checker.reports.console.
                targets = [
                    f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                    for alias in node.names
                ]
            else:
                continue
            for target in targets:
                while target and target not in known:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    found[target] = found.get(target, False) or id(node) not in type_only
        every[name] = frozenset(found)
        running[name] = frozenset(t for t, runs in found.items() if runs)
    return every, running


def imports() -> dict[str, frozenset[str]]:
    """Every import, type-only ones too: a layer may not even name a higher one's types."""
    return _graphs()[0]


def runtime_imports() -> dict[str, frozenset[str]]:
    """The imports that run. A type-only back reference (a parser's helper annotating with
    its caller's dataclass) is no cycle: nothing is imported twice half-initialised."""
    return _graphs()[1]


def in_area(module: str, area: str) -> bool:
    return module == f"checker.{area}" or module.startswith(f"checker.{area}.")


def is_command(module: str) -> bool:
    return in_area(module, "commands") and module not in COMMAND_SHARED


def find_cycle(graph: dict[str, frozenset[str]]) -> list[str] | None:
    """One import cycle, as the list of modules along it, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state:
            found = visit(start)
            if found:
                return found
    return None


def test_the_walk_sees_the_package() -> None:
    graph = imports()
    assert "checker.cli" in graph and "checker.commands.check" in graph
    assert "checker.errors" in graph["checker.cli"]
    # A function-level import counts: cli imports each command inside _run.
    assert "checker.commands.scan" in graph["checker.cli"]


def test_no_import_cycle() -> None:
    cycle = find_cycle(runtime_imports())
    assert cycle is None, " -> ".join(cycle or ())


def test_the_cycle_finder_finds_cycles() -> None:
    graph = {"a": frozenset({"b"}), "b": frozenset({"c"}), "c": frozenset({"a"}), "d": frozenset()}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": frozenset({"b"}), "b": frozenset()}) is None


def upward_imports(graph: dict[str, frozenset[str]]) -> list[str]:
    bad = []
    for module, targets in graph.items():
        for target in sorted(targets):
            if in_area(module, "commands") and in_area(target, "cli"):
                bad.append(f"{module} -> {target}: commands do not import the cli")
            if is_command(module) and is_command(target):
                bad.append(f"{module} -> {target}: commands do not import each other")
            if in_area(module, "reports") and in_area(target, "fleet"):
                bad.append(f"{module} -> {target}: reports are below fleet")
            if any(in_area(module, low) for low in LOWER) and any(
                in_area(target, up) for up in UPPER
            ):
                bad.append(f"{module} -> {target}: a lower layer imports a higher one")
    return bad


def test_no_upward_import() -> None:
    assert upward_imports(imports()) == []


def test_the_rules_catch_upward_imports() -> None:
    """The checks above would pass on an empty graph: each rule fires on a made-up edge."""
    graph = dict(imports())
    graph["checker.reports.console"] = graph["checker.reports.console"] | {"checker.fleet.history"}
    graph["checker.commands.scan"] = graph["checker.commands.scan"] | {
        "checker.cli",
        "checker.commands.collect",
    }
    found = "\n".join(upward_imports(graph))
    for rule in ("below fleet", "lower layer", "do not import the cli", "each other"):
        assert rule in found, rule


def literal_exit_codes() -> list[str]:
    """`return 2` in a command's `run` or a `main`: exit codes come from errors.ExitCode."""
    found = []
    for name, path in modules().items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for func in ast.walk(tree):
            if not isinstance(func, ast.FunctionDef) or func.name not in ("run", "main"):
                continue
            for node in ast.walk(func):
                value = node.value if isinstance(node, ast.Return) else None
                if isinstance(value, ast.Constant) and type(value.value) is int:
                    found.append(f"{name}:{node.lineno}: return {value.value}")
    return found


def test_no_literal_exit_code() -> None:
    assert literal_exit_codes() == []


def test_test_module_names_are_unique() -> None:
    """Test folders have no __init__.py (pytest's prepend import mode), so two test modules
    with one basename cannot both be collected: the second fails with "import file mismatch"."""
    seen: dict[str, Path] = {}
    clashes = []
    for path in sorted(Path(__file__).parent.rglob("*.py")):
        if "data" in path.parts or path.name in ("__init__.py", "conftest.py"):
            continue
        if path.name in seen:
            clashes.append(f"{seen[path.name]} and {path}")
        seen[path.name] = path
    assert clashes == []
