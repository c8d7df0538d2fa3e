"""Token authentication for /api/v1: `Authorization: Bearer wk_...` acts as the token's user in its workspace.

A login session cookie never counts here: a request without a valid, unrevoked token is a 401
whatever cookies it carries (which is also why the blueprint can be CSRF-exempt).
"""
from flask import current_app, g, request

from services import api_token_service
from webapp.api.blueprint import api_error, bp
from webapp.extensions import db

OPEN_ENDPOINTS = {"api_v1.openapi_document"}  # the OpenAPI document describes the API; it holds no data


def bearer_secret() -> str | None:
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        return None
    return secret.strip()


def unauthorized(message: str):
    response = api_error(401, message)
    response.headers["WWW-Authenticate"] = 'Bearer realm="workestra-api"'
    return response


@bp.before_request
def authenticate_request():
    g.workspace = None
    g.membership = None
    g.api_token = None
    current_app.login_manager._update_request_context_with_user(None)  # forget any session user
    if request.endpoint in OPEN_ENDPOINTS:
        return None
    secret = bearer_secret()
    if secret is None:
        return unauthorized("Send an API token: Authorization: Bearer <token>.")
    found = api_token_service.authenticate(secret)
    if found is None:
        return unauthorized("The API token is invalid or has been revoked.")
    token, membership = found
    if api_token_service.mark_used(token):
        db.session.commit()  # at most once a minute per token; kept even when the request itself fails
    current_app.login_manager._update_request_context_with_user(membership.user)
    g.api_token = token
    g.membership = membership
    g.workspace = membership.workspace
    return None
