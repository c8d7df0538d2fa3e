"""Field mapping: `{{ trigger.path }}`, `{{ steps.<id>.output.path }}` and `{{ steps.N.output.path }}` substitution.

A plain path lookup into dicts and lists. Nothing a workflow author writes is evaluated:
any other `{{ ... }}` or `{% ... %}` text stays exactly as written.
"""
from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from typing import Any

from engine.core.conditions import MISSING, get_path

_SEGMENT = r"[A-Za-z0-9_-]+"
PLACEHOLDER_RE = re.compile(
    r"\{\{\s*((?:trigger|steps\.[a-z0-9_]+\.output)(?:\." + _SEGMENT + r")+)\s*\}\}"
)


@dataclass
class RenderResult:
    value: Any
    missing: list[str] = field(default_factory=list)


def is_placeholder(value: Any) -> bool:
    """The whole string (ignoring outer spaces) is one placeholder."""
    return isinstance(value, str) and PLACEHOLDER_RE.fullmatch(value.strip()) is not None


def contains_placeholder(value: Any) -> bool:
    return isinstance(value, str) and PLACEHOLDER_RE.search(value) is not None


def placeholders(value: Any) -> list[str]:
    """The paths referenced anywhere in a value (strings, dicts, lists), in order."""
    found: list[str] = []
    for text in _strings(value):
        for match in PLACEHOLDER_RE.finditer(text):
            if match.group(1) not in found:
                found.append(match.group(1))
    return found


def _strings(value: Any):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item)


def render(value: Any, context: dict) -> RenderResult:
    """Substitute placeholders in every string of `value`.

    context = {"trigger": payload, "steps": {id or index: {"output": {...}}}}.
    """
    missing: list[str] = []
    return RenderResult(_render(value, context, missing), missing)


def _render(value: Any, context: dict, missing: list[str]) -> Any:
    if isinstance(value, str):
        return _render_string(value, context, missing)
    if isinstance(value, dict):
        return {key: _render(item, context, missing) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_render(item, context, missing) for item in value]
    return value


def _render_string(text: str, context: dict, missing: list[str]) -> Any:
    whole = PLACEHOLDER_RE.fullmatch(text.strip())
    if whole:
        found = _lookup(whole, context, missing)
        return "" if found is MISSING else copy.deepcopy(found)

    def substitute(match: re.Match) -> str:
        return _as_text(_lookup(match, context, missing))

    return PLACEHOLDER_RE.sub(substitute, text)


def _lookup(match: re.Match, context: dict, missing: list[str]) -> Any:
    found = get_path(context, match.group(1))
    if found is MISSING and match.group(0) not in missing:
        missing.append(match.group(0))
    return found


def _as_text(value: Any) -> str:
    if value is MISSING or value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=str, ensure_ascii=False)
    return str(value)


def step_reference(path: str) -> str | None:
    """The step id (or top-level index, as text) a placeholder path or condition field reads, or None."""
    parts = path.split(".") if isinstance(path, str) else []
    if len(parts) >= 3 and parts[0] == "steps" and parts[2] == "output":
        return parts[1]
    return None
