"""A quick, partial JSON Schema (draft 2020-12) check that can say "valid" without jsonschema.

Importing jsonschema costs about as much as a pre-commit run's whole check of a 500-rule export
(bench/pre_commit.py), and that run validates one file, the target config, which is nearly
always valid. `verdict(schema, instance)` answers True (valid), False (invalid) or None (not
sure: a keyword or a value this module does not judge exactly). Only True is acted on:
checker.yamlfile.schema_problems then has no problem to report; on False or None it runs
jsonschema, which also words the problems. So this module need not know all of JSON Schema,
only be exact where it answers: tests/test_quick_schema.py compares it with jsonschema on every
shipped schema over generated and mutated documents.

The semantics are those of jsonschema's Draft202012Validator with no format checker (as
yamlfile uses it): `format` is an annotation, `integer` admits 1.0, `bool` is no number, and
`enum`/`const` tell True from 1 (jsonschema._utils.equal).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sized
from typing import Any

Verdict = bool | None

# The Python types YAML and JSON loading give; anything else (a YAML date, !!binary bytes) is
# left to jsonschema.
_PLAIN = frozenset({dict, list, str, int, float, bool, type(None)})
# Keywords that do not constrain the instance ($id only names the root: verdict() leaves a
# schema with a nested one to jsonschema).
_ANNOTATIONS = frozenset(
    {"$schema", "$id", "$comment", "$defs", "title", "description", "default", "examples"}
    | {"format", "deprecated", "readOnly", "writeOnly"}
)


def _is_type(value: Any, name: str) -> Verdict:
    kind = type(value)
    if name == "object":
        return kind is dict
    if name == "array":
        return kind is list
    if name == "string":
        return kind is str
    if name == "boolean":
        return kind is bool
    if name == "null":
        return value is None
    if name == "integer":
        return kind is int or (kind is float and value.is_integer())
    if name == "number":
        return kind in (int, float)
    return None


def _all(verdicts: list[Verdict]) -> Verdict:
    if False in verdicts:
        return False
    return None if None in verdicts else True


def _equal_to_one(value: Any, options: list[Any]) -> Verdict:
    if type(value) in (dict, list):
        # Python's == is coarser than jsonschema's (1 == True): no equal option is sure.
        return False if not any(option == value for option in options) else None
    if any(type(option) is type(value) and option == value for option in options):
        return True
    return False if not any(option == value or option is value for option in options) else None


def _unique(items: list[Any]) -> Verdict:
    if any(type(item) in (dict, list) for item in items):
        return None
    # Items distinct under Python's == (coarser than jsonschema's) are distinct for both.
    return True if len(set(items)) == len(items) else None


class _Checker:
    def __init__(self, root: Mapping[str, Any]) -> None:
        self.root = root

    def check(self, schema: Any, value: Any) -> Verdict:
        if schema is True:
            return True
        if schema is False:
            return False
        if type(schema) is not dict or type(value) not in _PLAIN:
            return None
        verdicts: list[Verdict] = []
        for keyword, argument in schema.items():
            if keyword in _ANNOTATIONS:
                continue
            rule = _KEYWORDS.get(keyword)
            verdict = rule(self, argument, value, schema) if rule is not None else None
            if verdict is False:
                return False
            verdicts.append(verdict)
        return _all(verdicts)

    def ref(self, target: Any, value: Any, schema: Any) -> Verdict:
        if not isinstance(target, str) or not target.startswith("#/"):
            return None
        node: Any = self.root
        for part in target[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, dict) or part not in node:
                return None
            node = node[part]
        return self.check(node, value)


def _type(checker: _Checker, names: Any, value: Any, schema: Any) -> Verdict:
    verdicts = [_is_type(value, name) for name in (names if type(names) is list else [names])]
    if True in verdicts:
        return True
    return None if None in verdicts else False


def _properties(checker: _Checker, properties: Any, value: Any, schema: Any) -> Verdict:
    if type(value) is not dict:
        return True
    return _all(
        [checker.check(sub, value[name]) for name, sub in properties.items() if name in value]
    )


def _additional(checker: _Checker, extra: Any, value: Any, schema: Any) -> Verdict:
    if type(value) is not dict:
        return True
    if "patternProperties" in schema:
        return None
    named = schema.get("properties", {})
    return _all([checker.check(extra, value[key]) for key in value if key not in named])


def _required(checker: _Checker, names: Any, value: Any, schema: Any) -> Verdict:
    return type(value) is not dict or all(name in value for name in names)


def _property_names(checker: _Checker, names: Any, value: Any, schema: Any) -> Verdict:
    return True if type(value) is not dict else _all([checker.check(names, key) for key in value])


def _items(checker: _Checker, items: Any, value: Any, schema: Any) -> Verdict:
    if type(value) is not list:
        return True
    start = len(schema.get("prefixItems", []))
    return _all([checker.check(items, item) for item in value[start:]])


def _prefix_items(checker: _Checker, prefix: Any, value: Any, schema: Any) -> Verdict:
    if type(value) is not list:
        return True
    return _all([checker.check(sub, item) for sub, item in zip(prefix, value, strict=False)])


def _any_of(checker: _Checker, options: Any, value: Any, schema: Any) -> Verdict:
    verdicts = [checker.check(option, value) for option in options]
    if True in verdicts:
        return True
    return None if None in verdicts else False


def _one_of(checker: _Checker, options: Any, value: Any, schema: Any) -> Verdict:
    verdicts = [checker.check(option, value) for option in options]
    if verdicts.count(True) > 1:
        return False
    if None in verdicts:
        return None
    return verdicts.count(True) == 1


def _not(checker: _Checker, sub: Any, value: Any, schema: Any) -> Verdict:
    verdict = checker.check(sub, value)
    return None if verdict is None else not verdict


def _if(checker: _Checker, condition: Any, value: Any, schema: Any) -> Verdict:
    verdict = checker.check(condition, value)
    if verdict is None:
        return None
    branch = schema.get("then" if verdict else "else", True)
    return checker.check(branch, value)


def _branch(checker: _Checker, sub: Any, value: Any, schema: Any) -> Verdict:
    # then/else are judged by `if`; without an `if` they have no effect.
    return True


def _sized(kind: type[Sized], test: Callable[[int, Any], bool]) -> Callable[..., Verdict]:
    def rule(checker: _Checker, bound: Any, value: Any, schema: Any) -> Verdict:
        # check() admits only the plain types, so no subclass (a bool for an int) gets here.
        if not isinstance(value, kind):
            return True
        return test(len(value), bound) if type(bound) is int else None

    return rule


def _numeric(test: Callable[[Any, Any], bool]) -> Callable[..., Verdict]:
    def rule(checker: _Checker, bound: Any, value: Any, schema: Any) -> Verdict:
        if type(value) not in (int, float):
            return True
        return test(value, bound) if type(bound) in (int, float) else None

    return rule


def _pattern(checker: _Checker, pattern: Any, value: Any, schema: Any) -> Verdict:
    return type(value) is not str or re.search(pattern, value) is not None


def _enum(checker: _Checker, options: Any, value: Any, schema: Any) -> Verdict:
    return _equal_to_one(value, list(options))


def _const(checker: _Checker, option: Any, value: Any, schema: Any) -> Verdict:
    return _equal_to_one(value, [option])


def _unique_items(checker: _Checker, wanted: Any, value: Any, schema: Any) -> Verdict:
    if type(value) is not list or wanted is False:
        return True
    return _unique(value) if wanted is True else None


def _all_of(checker: _Checker, options: Any, value: Any, schema: Any) -> Verdict:
    return _all([checker.check(option, value) for option in options])


_KEYWORDS: dict[str, Callable[[_Checker, Any, Any, Any], Verdict]] = {
    "$ref": _Checker.ref,
    "type": _type,
    "properties": _properties,
    "additionalProperties": _additional,
    "required": _required,
    "propertyNames": _property_names,
    "minProperties": _sized(dict, lambda size, bound: size >= bound),
    "maxProperties": _sized(dict, lambda size, bound: size <= bound),
    "items": _items,
    "prefixItems": _prefix_items,
    "minItems": _sized(list, lambda size, bound: size >= bound),
    "maxItems": _sized(list, lambda size, bound: size <= bound),
    "uniqueItems": _unique_items,
    "minLength": _sized(str, lambda size, bound: size >= bound),
    "maxLength": _sized(str, lambda size, bound: size <= bound),
    "pattern": _pattern,
    "minimum": _numeric(lambda value, bound: value >= bound),
    "maximum": _numeric(lambda value, bound: value <= bound),
    "exclusiveMinimum": _numeric(lambda value, bound: value > bound),
    "exclusiveMaximum": _numeric(lambda value, bound: value < bound),
    "enum": _enum,
    "const": _const,
    "allOf": _all_of,
    "anyOf": _any_of,
    "oneOf": _one_of,
    "not": _not,
    "if": _if,
    "then": _branch,
    "else": _branch,
}


def verdict(schema: Mapping[str, Any], instance: Any) -> Verdict:
    """True when `instance` is valid under `schema`, False when it is not, None when this
    module cannot tell (then only jsonschema can)."""
    if any(isinstance(sub, dict) and "$id" in sub for sub in _subschemas(schema)):
        return None  # a nested $id moves the base that "#/..." references resolve against
    return _Checker(schema).check(schema, instance)


def _subschemas(schema: Any) -> list[Any]:
    found: list[Any] = []
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            stack.extend(node.values())
            if node is not schema:
                found.append(node)
        elif isinstance(node, list):
            stack.extend(node)
    return found
