"""Input that no field may hold, refused at the edge with the field's name (issue #18, finding 3).

Text with a NUL character (PostgreSQL's text and JSON columns cannot store it) or a lone UTF-16
surrogate (`"\\ud800"` in JSON is not a character; storing it fails), numbers that are not finite
(NaN, Infinity, and 1e999, which reads as infinity) and JSON nested absurdly deep. webapp.input_hygiene
checks every page, API and cron request's form fields, query and JSON body with these functions before
any view runs; an incoming webhook is checked by its service once its signature holds.
"""
import json
import math
import re

MAX_DEPTH = 64
BODY = "_body"
NAMED_PARTS = 4  # a path into absurd nesting is named by its first parts
_SURROGATE = re.compile("[\ud800-\udfff]")

NUL_MESSAGE = "Contains a NUL character (\\u0000), which cannot be stored."
SURROGATE_MESSAGE = "Contains a lone UTF-16 surrogate (like \\ud800), which is not text."
NON_FINITE_MESSAGE = "Must be a finite number (not NaN, Infinity or beyond ±1.8e308)."
DEPTH_MESSAGE = f"Nested more than {MAX_DEPTH} levels deep."


class HostileInput(Exception):
    """`field` (a dotted path) holds something no field may hold; `message` says what."""

    def __init__(self, field: str, message: str):
        field = printable(field)  # a field name may itself hold the NUL or surrogate; the name is shown and logged
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def printable(name: str) -> str:
    """The name, with a NUL or lone surrogate written as its JSON escape."""
    return json.dumps(name)[1:-1] if text_problem(name) else name


def text_problem(value: str) -> str | None:
    if "\x00" in value:
        return NUL_MESSAGE
    if _SURROGATE.search(value):
        return SURROGATE_MESSAGE
    return None


def check_text(field: str, value: str) -> None:
    problem = text_problem(value)
    if problem:
        raise HostileInput(field or BODY, problem)


def check_document(document, field: str = "") -> None:
    """Walk a decoded JSON document (iteratively: it may be deep); HostileInput at the first bad value."""
    pending = [(field, document, 0)]
    while pending:
        path, value, depth = pending.pop()
        if isinstance(value, str):
            check_text(path, value)
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise HostileInput(path or BODY, NON_FINITE_MESSAGE)
        elif isinstance(value, (dict, list)):
            if depth >= MAX_DEPTH:
                raise HostileInput(path or BODY, DEPTH_MESSAGE)
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                child = f"{path}.{key}" if path else str(key)
                if isinstance(key, str):
                    check_text(child, key)
                pending.append((child, item, depth + 1))


def loads(raw: bytes | str, field: str = ""):
    """Decode JSON and check it: the document, HostileInput naming the field, or ValueError when it is not
    JSON at all (the caller's own parsing says so). NaN and Infinity are read, so that they can be named."""
    try:
        document = json.loads(raw, parse_constant=float)
    except RecursionError:
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        deep = _too_deep_at(text)
        raise HostileInput(".".join(part for part in (field, deep) if part) or BODY, DEPTH_MESSAGE) from None
    check_document(document, field)
    return document


def _too_deep_at(text: str) -> str:
    """Where JSON text nests past MAX_DEPTH, by its first NAMED_PARTS parts (a scan of the raw text: the parser gave up)."""
    stack: list = []  # per open container: [key or index, is_object]
    position, key = 0, None
    while position < len(text):
        character = text[position]
        if character == '"':
            end = position + 1
            while end < len(text) and text[end] != '"':
                end += 2 if text[end] == "\\" else 1
            key = text[position + 1:end]
            position = end
        elif character in "[{":
            if len(stack) >= MAX_DEPTH:
                break
            stack.append([0 if character == "[" else None, character == "{"])
        elif character in "]}":
            if stack:
                stack.pop()
        elif character == ":" and stack and stack[-1][1]:
            stack[-1][0] = key
        elif character == "," and stack and not stack[-1][1]:
            stack[-1][0] += 1
        position += 1
    path = [str(entry[0]) for entry in stack if entry[0] is not None]
    return ".".join(path[:NAMED_PARTS])
