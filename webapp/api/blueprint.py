"""The api_v1 blueprint and its `operation` decorator.

Every endpoint is declared once with `operation(...)`: that registers the Flask route and records
what the OpenAPI document says about it (body, query, response schemas, status, errors), so the
document cannot drift from the routes. The decorator is also the request boundary: it parses and
checks the JSON body and the query, maps service errors to JSON errors, commits, and dumps the
result with the response schema.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from functools import wraps
from typing import Callable

from flask import Blueprint, abort, current_app, g, jsonify, make_response, request
from marshmallow import Schema, ValidationError
from sqlalchemy.exc import DataError, IntegrityError

from engine.core.schemas import flatten_errors
from models import Role
from services import idempotency_service
from services.errors import NotFound, PermissionDenied, ValidationFailed
from services.idempotency_service import KeyConflict, Replay
from webapp.errors import TITLES
from webapp.extensions import csrf, db
from webapp.security import has_role, public

MAX_ID = 2**31 - 1  # ids of INTEGER keys
MAX_BIG_ID = 2**63 - 1  # ids of BIGINT keys (executions)
BIG_ID_ARGUMENTS = frozenset({"execution_id"})
ID = "int"  # path ids past what their column holds are a 404 (see `operation`), not a database error
MAX_BODY_BYTES = 1024 * 1024
UNKNOWN_FIELD = "Unknown field."
_RULE_ARGUMENT = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")
IDEMPOTENCY_HEADER = "Idempotency-Key"


class ApiBlueprint(Blueprint):
    """A blueprint whose views authenticate by token (its own before_request), never by the login session."""

    def add_url_rule(self, rule, endpoint=None, view_func=None, **options):
        if view_func is not None:
            public(view_func)  # the app-wide login check steps aside; authenticate_request does the work
        super().add_url_rule(rule, endpoint, view_func, **options)


bp = ApiBlueprint("api_v1", __name__, url_prefix="/api/v1")
csrf.exempt(bp)  # safe: a request without a valid bearer token is refused whatever cookies it carries


@dataclass(frozen=True)
class Operation:
    rule: str
    method: str
    endpoint: str
    summary: str
    tag: str
    body: Schema | None = None
    query: Schema | None = None
    response: Schema | type[Schema] | None = None
    status: int = 200
    errors: tuple[int, ...] = ()
    min_role: Role = Role.MEMBER
    flagged: bool = False
    description: str = ""
    path_parameters: tuple[str, ...] = field(default=())

    @property
    def openapi_path(self) -> str:
        return _RULE_ARGUMENT.sub(r"{\1}", self.rule)


OPERATIONS: list[Operation] = []


def max_id(argument: str) -> int:
    return MAX_BIG_ID if argument in BIG_ID_ARGUMENTS else MAX_ID


def api_error(status: int, message: str, errors: dict | None = None):
    """A JSON error response: {"error": title, "message": ..., "errors": {"field.path": [...]}}."""
    payload = {"error": TITLES.get(status, "Error"), "message": message}
    if errors is not None:
        payload["errors"] = errors
    return make_response(jsonify(payload), status)


def fail(status: int, message: str, errors: dict | None = None):
    """Stop the request with a JSON error (abort with a ready response: Flask returns it unchanged)."""
    abort(api_error(status, message, errors))


def invalid(errors: dict):
    fail(422, "Some fields are invalid.", flatten_errors(errors))


def json_body(schema: Schema) -> dict:
    """The request's JSON object, with fields the schema does not know refused (422). An empty body is {}."""
    if request.content_length and request.content_length > MAX_BODY_BYTES:
        fail(413, f"The body must be at most {MAX_BODY_BYTES} bytes.")
    raw = request.get_data(cache=True)
    if len(raw) > MAX_BODY_BYTES:
        fail(413, f"The body must be at most {MAX_BODY_BYTES} bytes.")
    if not raw.strip():
        data = {}
    else:
        try:  # strict JSON: NaN/Infinity (or 1e999, read as inf) cannot be stored in a JSON column
            data = current_app.json.loads(raw, parse_constant=_not_json_constant, parse_float=_finite_number)
        except (ValueError, RecursionError):
            fail(400, "The body is not valid JSON.")
    if not isinstance(data, dict):
        invalid({"_schema": ["The body must be a JSON object."]})
    known = {f.data_key or name for name, f in schema.load_fields.items()}
    unknown = sorted(key for key in data if key not in known)
    if unknown:
        invalid({key: [UNKNOWN_FIELD] for key in unknown})
    return data


def _not_json_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def _finite_number(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number out of range: {text}")
    return value


def query_args(schema: Schema) -> dict:
    try:
        return schema.load(request.args.to_dict())
    except ValidationError as error:
        invalid(error.normalized_messages())


def dump(schema, result):
    if result is None:
        return None
    instance = schema() if isinstance(schema, type) else schema
    return instance.dump(result, many=isinstance(result, (list, tuple)))


def operation(rule: str, method: str, *, summary: str, tag: str, body: Schema | None = None,
              query: Schema | None = None, response=None, status: int = 200, errors: tuple[int, ...] = (),
              min_role: Role = Role.MEMBER, flagged: bool = False, description: str = "") -> Callable:
    """Declare an endpoint. The view gets its path arguments, plus `body` / `query` when declared,
    calls one service and returns the object(s) to dump with `response` (None for an empty 204).
    A POST with an Idempotency-Key header answers the same response for the same key (see
    services.idempotency_service)."""
    # One instance, built once: building a marshmallow schema costs more than dumping an object with it.
    response_schema = response() if isinstance(response, type) else response

    def decorator(view):
        @wraps(view)
        def handle(**kwargs):
            if any(isinstance(value, int) and value > max_id(name) for name, value in kwargs.items()):
                fail(404, "Not found.")
            if flagged and not current_app.config["AUTOMATIONS_ENABLED"]:
                fail(404, "Automations are not enabled on this deployment.")
            if not has_role(min_role):
                fail(403, f"This needs the {min_role.value} role or higher in this workspace.")
            if body is not None:
                kwargs["body"] = json_body(body)
            if query is not None:
                kwargs["query"] = query_args(query)
            reserved = _reserve_idempotency_key() if method == "POST" else None
            if isinstance(reserved, Replay):
                replay = make_response(reserved.body, reserved.status_code)
                replay.headers["Idempotent-Replayed"] = "true"
                if reserved.body:
                    replay.mimetype = "application/json"
                return replay
            try:
                result = view(**kwargs)
                db.session.flush()  # a database error is raised here, inside this block
                # Dumped before the commit, which would expire the result: after it, the dump reloads it.
                response = _response(status, response_schema, result)
                if reserved is not None:
                    idempotency_service.store(reserved, status, response.get_data(as_text=True))
                db.session.commit()
            except ValidationFailed as failure:
                db.session.rollback()
                invalid(failure.errors)
            except NotFound as missing:
                db.session.rollback()
                fail(404, str(missing) or "Not found.")
            except PermissionDenied as denied:
                db.session.rollback()
                fail(403, str(denied))
            except (DataError, OverflowError):  # a number or text past what its column holds
                db.session.rollback()
                fail(422, "A value is too large or too long for the database.",
                     {"_schema": ["A value is too large or too long."]})
            except IntegrityError:
                db.session.rollback()
                fail(409, "The change conflicts with another one; try again.")
            except BaseException:
                db.session.rollback()
                raise
            return response

        endpoint = f"{view.__module__.rsplit('.', 1)[-1]}_{view.__name__}"
        bp.add_url_rule(rule, endpoint, handle, methods=[method])
        OPERATIONS.append(Operation(
            rule=rule, method=method.lower(), endpoint=f"{bp.name}.{endpoint}", summary=summary, tag=tag,
            body=body, query=query, response=response, status=status, errors=errors, min_role=min_role,
            flagged=flagged, description=description or (view.__doc__ or "").strip(),
            path_parameters=tuple(_RULE_ARGUMENT.findall(rule)),
        ))
        return handle

    return decorator


def _response(status: int, schema, result):
    if status == 204:
        return make_response("", 204)
    return make_response(jsonify(dump(schema, result) if isinstance(schema, (type, Schema)) else result), status)


def _reserve_idempotency_key():
    """None without the header; else the reserved key row, or the Replay of the request that used it first."""
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        return None
    problem = idempotency_service.key_problem(key)
    if problem:
        invalid({IDEMPOTENCY_HEADER: [problem]})
    fingerprint = idempotency_service.request_hash(request.method, request.path, request.get_data(cache=True))
    try:
        return idempotency_service.reserve(g.workspace.id, key, fingerprint)
    except KeyConflict as conflict:
        db.session.rollback()
        fail(conflict.status, conflict.message, {IDEMPOTENCY_HEADER: [conflict.message]})
