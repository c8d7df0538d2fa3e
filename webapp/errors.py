"""Error pages in the layout for browsers, JSON for API and webhook callers."""
from flask import jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from webapp.extensions import db

TITLES = {
    400: "Bad request",
    401: "Sign-in required",
    403: "Not allowed",
    404: "Page not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Too large",
    422: "Invalid input",
    429: "Too many requests",
    500: "Something went wrong",
    503: "Unavailable",
}


def wants_json() -> bool:
    return request.path.startswith(("/api/", "/hooks/")) or (
        request.accept_mimetypes.best == "application/json"
    )


def render_error(code: int, description: str):
    title = TITLES.get(code, "Error")
    if wants_json():
        return jsonify({"error": title, "message": description}), code
    return render_template("errors/error.html", code=code, title=title, description=description), code


def register(app) -> None:
    @app.errorhandler(CSRFError)
    def csrf_failed(error):
        return render_error(400, "The form expired or was not sent from this site (CSRF check failed). Reload the page and try again.")

    @app.errorhandler(HTTPException)
    def http_error(error):
        if error.code is None or error.code < 400:
            return error
        return render_error(error.code, error.description or TITLES.get(error.code, ""))

    @app.errorhandler(InternalServerError)
    def internal_error(error):
        db.session.rollback()
        return render_error(500, "An unexpected error happened. It has been logged; nothing was saved.")
