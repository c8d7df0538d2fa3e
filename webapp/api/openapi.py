"""/api/v1/openapi.json: the OpenAPI 3 document, generated with apispec from the declared operations."""
from decimal import Decimal

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from apispec.ext.marshmallow.common import resolve_schema_cls
from flask import current_app, jsonify, request

from services.idempotency_service import MAX_KEY_LENGTH
from webapp.api.blueprint import IDEMPOTENCY_HEADER, OPERATIONS, Operation, bp, max_id
from webapp.api.schemas import ErrorSchema

TITLE = "Workestra Automations API"
VERSION = "1.0.0"
OPENAPI_VERSION = "3.0.3"
ERROR_DESCRIPTIONS = {
    400: "The body is not valid JSON.",
    401: "No API token, or an invalid or revoked one.",
    403: "Your role in this workspace does not allow this.",
    404: "Not found in this workspace.",
    409: "Conflicts with the current state.",
    413: "The body is too large.",
    422: "Invalid input: `errors` holds the messages by field path.",
}
SUCCESS_DESCRIPTIONS = {200: "OK", 201: "Created", 202: "Accepted: the run starts in the background", 204: "Done"}


def schema_name(schema) -> str:
    cls = resolve_schema_cls(schema)
    name = cls.__name__.removesuffix("Schema") or cls.__name__
    return name + ("Patch" if getattr(schema, "partial", False) and not name.endswith("Patch") else "")


def build_spec(server_url: str = "/api/v1") -> dict:
    spec = APISpec(
        title=TITLE, version=VERSION, openapi_version=OPENAPI_VERSION,
        plugins=[MarshmallowPlugin(schema_name_resolver=schema_name)],
        info={"description": "Drive Workestra without a browser. Authenticate every request with "
                             "`Authorization: Bearer <token>` (create tokens in Settings → API tokens)."},
        servers=[{"url": server_url}],
    )
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    spec.components.schema("Error", schema=ErrorSchema)
    paths: dict[str, dict] = {}
    for op in OPERATIONS:
        paths.setdefault(op.openapi_path, {})[op.method] = _operation(op)
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    return _plain_numbers(spec.to_dict())


def _plain_numbers(value):
    """Range validators on Decimal fields give Decimal bounds; JSON Schema wants numbers, not strings."""
    if isinstance(value, dict):
        return {key: _plain_numbers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain_numbers(item) for item in value]
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def _operation(op: Operation) -> dict:
    document = {
        "operationId": op.endpoint.split(".", 1)[1],
        "summary": op.summary,
        "tags": [op.tag],
        "security": [{"bearer": []}],
        "responses": _responses(op),
    }
    if op.description:
        document["description"] = op.description
    parameters = [{"in": "path", "name": name, "required": True,
                   "schema": {"type": "integer", "minimum": 0, "maximum": max_id(name)}} for name in op.path_parameters]
    if op.query is not None:
        parameters.append({"in": "query", "schema": op.query})
    if op.method == "post":
        parameters.append({
            "in": "header", "name": IDEMPOTENCY_HEADER, "required": False,
            "description": "Send the same key again (within 24 h) to get the first response instead of doing the "
                           "work twice; the same key with another request is a 422.",
            "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH, "pattern": "^[!-~]+$"}})
    if parameters:
        document["parameters"] = parameters
    if op.body is not None:
        document["requestBody"] = {"required": False, "content": {"application/json": {"schema": op.body}}}
    return document


def _responses(op: Operation) -> dict:
    success = {"description": SUCCESS_DESCRIPTIONS.get(op.status, "OK")}
    if op.response is not None and op.status != 204:
        success["content"] = {"application/json": {"schema": op.response}}
    responses = {str(op.status): success}
    codes = {401, *op.errors}
    if op.body is not None:
        codes |= {400, 413, 422}
    if op.query is not None:
        codes.add(422)
    if op.path_parameters:
        codes.add(404)
    if op.flagged:
        codes.add(404)
    for code in sorted(codes):
        responses[str(code)] = {"description": ERROR_DESCRIPTIONS[code],
                                "content": {"application/json": {"schema": "Error"}}}
    return responses


@bp.get("/openapi.json", endpoint="openapi_document")
def openapi_document():
    """The document is public: it describes the API and holds no workspace data."""
    if "api_openapi_document" not in current_app.extensions:
        current_app.extensions["api_openapi_document"] = build_spec(request.script_root + bp.url_prefix)
    return jsonify(current_app.extensions["api_openapi_document"])
