"""Workflow conditions: a field of the trigger payload compared with a value.

Evaluation never raises: a missing field or a type mismatch makes a condition false
(except the negative operators, see `_ON_MISSING`).
"""
from __future__ import annotations

import operator
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Callable

from models.vocabulary import FALSE_WORDS, TRUE_WORDS


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Any = _Missing()



def get_path(payload: Any, path: Any) -> Any:
    """The value at a dotted path ("deal.value", "items.0.id"), or MISSING.

    Only mapping keys and list indices are followed, never attributes.
    A numeric segment also matches an integer mapping key (steps are keyed by int).
    """
    if not isinstance(path, str) or not path:
        return MISSING
    node = payload
    for segment in path.split("."):
        node = _step(node, segment)
        if node is MISSING:
            return MISSING
    return node


def _is_index(segment: str) -> bool:
    return segment.isascii() and segment.isdigit() and len(segment) < 19


def _step(node: Any, segment: str) -> Any:
    if isinstance(node, Mapping):
        if segment in node:
            return node[segment]
        if _is_index(segment) and int(segment) in node:
            return node[int(segment)]
        return MISSING
    if isinstance(node, (list, tuple)) and _is_index(segment):
        index = int(segment)
        return node[index] if index < len(node) else MISSING
    return MISSING


# --- Coercions ------------------------------------------------------------------------

def _as_number(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal, str)):
        return None
    try:
        number = Decimal(value.strip()) if isinstance(value, str) else Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        return None
    return number if number.is_finite() else None


def _as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        word = value.strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
    return None


def _loose_equal(actual: Any, expected: Any) -> bool:
    if isinstance(actual, bool) or isinstance(expected, bool):
        left, right = _as_bool(actual), _as_bool(expected)
        return left is not None and left == right
    left, right = _as_number(actual), _as_number(expected)
    if left is not None and right is not None:
        return left == right
    try:
        return bool(actual == expected)
    except Exception:  # exotic objects with a raising __eq__
        return False


def _is_empty(value: Any) -> bool:
    if value is MISSING or value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, (list, tuple, dict, set)):
        return not value
    return False


def _options(expected: Any) -> list:
    if isinstance(expected, (list, tuple, set)):
        return list(expected)
    if isinstance(expected, str):
        return [part.strip() for part in expected.split(",")]
    return [expected]


# --- Operators ------------------------------------------------------------------------

def _compare(compare: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def check(actual: Any, expected: Any) -> bool:
        left, right = _as_number(actual), _as_number(expected)
        if left is not None and right is not None:
            return compare(left, right)
        if isinstance(actual, str) and isinstance(expected, str):
            return compare(actual, expected)
        return False
    return check


def _contains(actual: Any, expected: Any) -> bool:
    if actual is None:
        actual = ""
    if isinstance(actual, str):
        return expected is not None and str(expected).lower() in actual.lower()
    if isinstance(actual, (list, tuple, set)):
        return any(_loose_equal(item, expected) for item in actual)
    if isinstance(actual, Mapping):
        return str(expected) in actual
    return False


def _not_contains(actual: Any, expected: Any) -> bool:
    if actual is None or isinstance(actual, (str, list, tuple, set, Mapping)):
        return not _contains(actual, expected)
    return False


def _in(actual: Any, expected: Any) -> bool:
    return any(_loose_equal(actual, option) for option in _options(expected))


_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": _loose_equal,
    "neq": lambda actual, expected: not _loose_equal(actual, expected),
    "gt": _compare(operator.gt),
    "gte": _compare(operator.ge),
    "lt": _compare(operator.lt),
    "lte": _compare(operator.le),
    "contains": _contains,
    "not_contains": _not_contains,
    "in": _in,
    "not_in": lambda actual, expected: not _in(actual, expected),
    "is_empty": lambda actual, _expected: _is_empty(actual),
    "is_not_empty": lambda actual, _expected: not _is_empty(actual),
}

# What each operator says about a field the payload does not have.
_ON_MISSING = {"neq": True, "is_empty": True}


STEPS_PREFIX = "steps."
MATCH_ALL, MATCH_ANY = "all", "any"
MATCH_MODES = (MATCH_ALL, MATCH_ANY)


def evaluate_condition(condition: Any, payload: Any, steps: Any = None) -> bool:
    """Whether one condition {"field", "op", "value"} holds for the payload. A field starting with
    `steps.` reads an earlier step's output from `steps` ({id or index: {"output": {...}}})."""
    if not isinstance(condition, Mapping):
        return False
    op = condition.get("op")
    check = _OPERATORS.get(op) if isinstance(op, str) else None
    if check is None:
        return False
    field = condition.get("field")
    if isinstance(field, str) and field.startswith(STEPS_PREFIX):
        actual = get_path({"steps": steps or {}}, field)
    else:
        actual = get_path(payload, field)
    if actual is MISSING:
        return _ON_MISSING.get(op, False)
    return check(actual, condition.get("value"))


def conditions_hold(conditions: Any, payload: Any, match: Any = MATCH_ALL, steps: Any = None) -> bool:
    """All conditions hold (`match` "all", the default) or at least one does ("any"). An empty or absent
    list holds either way."""
    if not conditions:
        return True
    results = (evaluate_condition(c, payload, steps) for c in conditions)
    return any(results) if match == MATCH_ANY else all(results)
