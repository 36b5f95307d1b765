"""Line-aware, safe YAML loading and JSON Schema validation for every file a user writes.

Positions are kept beside the data, not in it: `YamlDoc.positions` maps a JSON path (a tuple of
keys and indexes) to the 1-based (line, col) of the key (for mapping entries) or of the item (for
sequence items). jsonschema errors are mapped through it, so every problem names file:line:col.
Duplicate keys are errors (PyYAML silently keeps the last one).

Limits (docs/limits.md), each a clear problem at file:line:col instead of a RecursionError, a
MemoryError or minutes of work: a file of at most MAX_FILE_BYTES, at most MAX_NODES nodes as
written, nested at most MAX_DEPTH deep, and aliases that expand to at most MAX_ALIAS_NODES
further nodes (a "billion laughs" document is small but expands without bound).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from checker import quick_schema, resources
from checker.errors import Location, PolicyError, Problem

if TYPE_CHECKING:
    import jsonschema

JsonPath = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class YamlDoc:
    file: str
    data: Any
    positions: dict[JsonPath, tuple[int, int]]

    def location(self, path: JsonPath) -> Location:
        """The closest known position of `path` (walking up to its parents)."""
        path = tuple(path)
        while path:
            if path in self.positions:
                line, col = self.positions[path]
                return Location(self.file, line, col)
            path = path[:-1]
        line, col = self.positions.get((), (1, 1))
        return Location(self.file, line, col)


def _problem(file: str, line: int, col: int, code: str, message: str) -> PolicyError:
    return PolicyError(Problem(file, line, col, code, message))


MAX_FILE_BYTES = 4 * 1024 * 1024
MAX_NODES = 600_000
MAX_DEPTH = 100
MAX_ALIAS_NODES = 100_000


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's composer, counting nodes and depth as it goes, so that an oversized or deeply
    nested file stops at the node that crosses the limit (PyYAML's composer recurses: 600
    levels would otherwise end in RecursionError)."""

    def __init__(self, text: str, file: str) -> None:
        super().__init__(text)
        self.file = file
        self.nodes = 0
        self.depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        mark = self.peek_event().start_mark
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _problem(
                self.file,
                mark.line + 1,
                mark.column + 1,
                "too-large",
                f"more than {MAX_NODES:,} YAML nodes: fwcheck reads files of at most that size",
            )
        if self.depth >= MAX_DEPTH:
            raise _problem(self.file, mark.line + 1, mark.column + 1, "yaml", _too_deep())
        self.depth += 1
        try:
            node = super().compose_node(parent, index)
        finally:
            self.depth -= 1
        return node


def _too_deep() -> str:
    return f"YAML nested more than {MAX_DEPTH} levels deep"


class _Builder:
    """Builds Python data from one document's node graph, recording positions.

    Aliases make the node graph a DAG or even a cycle (`a: &x [*x]`); the nodes built a second
    time (through an alias) are counted and the ones being built tracked, so neither a cycle
    nor an alias bomb gets past a clear error, while a large plain file is not mistaken for one.
    One PyYAML constructor serves every scalar of the document."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.loader = yaml.SafeLoader("")
        self.budget = MAX_ALIAS_NODES
        self.built: set[int] = set()
        self.active: set[int] = set()

    def build(
        self, node: yaml.Node, path: JsonPath, positions: dict[JsonPath, tuple[int, int]]
    ) -> Any:
        mark = node.start_mark
        if id(node) in self.built:
            self.budget -= 1
            if self.budget < 0:
                raise _problem(
                    self.file,
                    mark.line + 1,
                    mark.column + 1,
                    "yaml",
                    f"aliases expand to more than {MAX_ALIAS_NODES:,} nodes (an alias bomb?)",
                )
        else:
            self.built.add(id(node))
        if len(path) > MAX_DEPTH:
            # Aliases can nest what is shallow as written.
            raise _problem(self.file, mark.line + 1, mark.column + 1, "yaml", _too_deep())
        if id(node) in self.active:
            raise _problem(self.file, mark.line + 1, mark.column + 1, "yaml", "recursive alias")
        self.active.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, path, positions)
            if isinstance(node, yaml.SequenceNode):
                items = []
                for index, item_node in enumerate(node.value):
                    item_mark = item_node.start_mark
                    positions[path + (index,)] = (item_mark.line + 1, item_mark.column + 1)
                    items.append(self.build(item_node, path + (index,), positions))
                return items
            return self.loader.construct_object(node, deep=True)
        finally:
            self.active.discard(id(node))

    def _mapping(
        self, node: yaml.MappingNode, path: JsonPath, positions: dict[JsonPath, tuple[int, int]]
    ) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            mark = key_node.start_mark
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise _problem(
                    self.file,
                    mark.line + 1,
                    mark.column + 1,
                    "yaml",
                    "merge keys (<<) are not supported",
                )
            key = self.build(key_node, path, {})
            if not isinstance(key, str | int | bool | float) or isinstance(key, bool):
                key = str(key)
            if key in result:
                first_line, _ = positions.get(path + (key,), (0, 0))
                raise _problem(
                    self.file,
                    mark.line + 1,
                    mark.column + 1,
                    "duplicate-key",
                    f"duplicate key {key!r} (first defined at line {first_line})",
                )
            positions[path + (key,)] = (mark.line + 1, mark.column + 1)
            result[key] = self.build(value_node, path + (key,), positions)
        return result


def _scalar_position(root: yaml.Node) -> tuple[int, int, str]:
    """The first scalar PyYAML cannot construct (a date or number out of range)."""
    loader = yaml.SafeLoader("")
    stack = [root]
    while stack:
        node = stack.pop(0)
        if isinstance(node, yaml.MappingNode):
            stack[:0] = [n for pair in node.value for n in pair]
        elif isinstance(node, yaml.SequenceNode):
            stack[:0] = list(node.value)
        else:
            try:
                loader.construct_object(node, deep=True)
            except (ValueError, OverflowError):
                return node.start_mark.line + 1, node.start_mark.column + 1, str(node.value)
    return 1, 1, ""


def parse_yaml(text: str, file: str) -> YamlDoc:
    """Parse one YAML document; raise PolicyError naming file:line:col on any problem."""
    try:
        loader = _BoundedLoader(text, file)
        try:
            node = loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        col = mark.column + 1 if mark else 1
        what = exc.problem or exc.context or "invalid YAML"
        raise _problem(file, line, col, "yaml", f"YAML syntax error: {what}") from None
    except yaml.YAMLError as exc:
        raise _problem(file, 1, 1, "yaml", f"YAML error: {exc}") from None
    if node is None:
        raise _problem(file, 1, 1, "empty", "the file is empty (expected a YAML mapping)")
    positions: dict[JsonPath, tuple[int, int]] = {
        (): (node.start_mark.line + 1, node.start_mark.column + 1)
    }
    try:
        data = _Builder(file).build(node, (), positions)
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise _problem(file, line, col, "yaml", f"YAML error: {exc.problem}") from None
    except (ValueError, OverflowError) as exc:
        # PyYAML builds dates and numbers eagerly: `2025-02-30` raises ValueError with no mark.
        line, col, value = _scalar_position(node)
        raise _problem(file, line, col, "yaml", f"invalid value {value!r}: {exc}") from None
    return YamlDoc(file, data, positions)


def read_yaml(path: Path | str, display: str | None = None) -> YamlDoc:
    """Read and parse a YAML file; unreadable, binary or non-UTF-8 files are clear errors."""
    file = display or str(path)
    try:
        size = Path(path).stat().st_size
        if size > MAX_FILE_BYTES:
            raise _problem(
                file,
                0,
                0,
                "too-large",
                f"the file is {size / 2**20:.1f} MiB: fwcheck reads YAML files (policies, target"
                f" configs, waivers, inventories) of at most {MAX_FILE_BYTES // 2**20} MiB",
            )
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise _problem(file, 0, 0, "unreadable", f"cannot read: {exc.strerror or exc}") from None
    if b"\x00" in raw:
        raise _problem(file, 1, 1, "binary", "not a YAML file: it contains NUL bytes (binary data)")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise _problem(file, line, 1, "encoding", "not UTF-8 text") from None
    if not text.strip():
        raise _problem(file, 1, 1, "empty", "the file is empty (expected a YAML mapping)")
    return parse_yaml(text, file)


def read_shipped_yaml(path: Path) -> YamlDoc:
    """A YAML file fwcheck itself ships (a policy of its own): the same YamlDoc as read_yaml,
    composed by libyaml when PyYAML has it (a tenth of the pure-Python composer's time, which
    is most of a pre-commit run's policy loading). Only for fwcheck's own files: libyaml's
    composer recurses in C with no depth bound, so a user's file, which may nest without end,
    keeps the bounded pure-Python composer (_BoundedLoader). Positions, duplicate keys and
    values come from the same _Builder (tests/policies/test_shipped_policies.py compares
    both readers on every shipped file)."""
    loader_class = getattr(yaml, "CSafeLoader", None)
    if loader_class is None:
        return read_yaml(path)
    file = str(path)
    try:
        loader = loader_class(path.read_bytes().decode("utf-8-sig"))
        try:
            node = loader.get_single_node()
        finally:
            loader.dispose()
        if node is None:
            return read_yaml(path)
        positions: dict[JsonPath, tuple[int, int]] = {
            (): (node.start_mark.line + 1, node.start_mark.column + 1)
        }
        return YamlDoc(file, _Builder(file).build(node, (), positions), positions)
    except (OSError, UnicodeDecodeError, yaml.YAMLError, ValueError, OverflowError):
        # A shipped file broken in a checkout: read_yaml names the problem at file:line:col.
        return read_yaml(path)


@cache
def load_schema(name: str) -> dict[str, Any]:
    """A shipped JSON Schema by file name, e.g. "policy.schema.json"."""
    return json.loads(resources.schema_path(name).read_text(encoding="utf-8"))


def _properties(error: jsonschema.ValidationError) -> Mapping[str, Any]:
    """The properties the failing schema declares (none for a boolean schema)."""
    schema = error.schema
    return schema.get("properties", {}) if isinstance(schema, Mapping) else {}


def _describe(error: jsonschema.ValidationError) -> str:
    if error.validator == "additionalProperties":
        extra = sorted(
            set(error.instance) - set(_properties(error))
            if isinstance(error.instance, dict)
            else []
        )
        if extra:
            allowed = ", ".join(sorted(_properties(error)))
            return f"unknown key {extra[0]!r} (allowed: {allowed})"
    if error.validator == "required":
        return error.message.replace("is a required property", "is required")
    where = "/".join(str(p) for p in error.absolute_path)
    message = error.message
    if len(message) > 200:
        message = message[:200] + "…"
    return f"{where}: {message}" if where else message


def _error_path(error: jsonschema.ValidationError) -> JsonPath:
    path = tuple(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        extra = sorted(set(error.instance) - set(_properties(error)))
        if extra:
            return path + (extra[0],)
    return path


def schema_problems(doc: YamlDoc, schema_name: str) -> Iterator[Problem]:
    """One problem per jsonschema error (the best match for each failing location)."""
    schema = load_schema(schema_name)
    if quick_schema.verdict(schema, doc.data) is True:
        # Valid, judged without importing jsonschema (a pre-commit run's start-up: see
        # checker/quick_schema.py); jsonschema judges and words everything else.
        return
    import jsonschema
    from jsonschema.exceptions import best_match

    validator = jsonschema.Draft202012Validator(schema)
    by_location: dict[JsonPath, list[jsonschema.ValidationError]] = {}
    for error in validator.iter_errors(doc.data):
        by_location.setdefault(_error_path(error), []).append(error)
    for path in sorted(by_location, key=lambda p: doc.location(p).line):
        error = best_match(by_location[path])
        location = doc.location(_error_path(error))
        yield Problem.at(location, "schema", _describe(error))
