"""The one check of request input at the edge, before any view: form fields, query arguments and JSON
bodies of pages, the API and the cron route (services.input_hygiene says what is refused and why).

A refusal is a 422 naming the field: `{"error", "message", "errors": {"field": [...]}}` for the API and
other JSON callers, the error page for browsers (for htmx, a toast added to the page's #toasts, so the form
that was sent stays as it is). Form fields that hold
JSON (Run now's payload) are checked as JSON. Incoming webhooks (/hooks/<token>) are checked by their
service after the signature, so that an unsigned request learns nothing.
"""
from flask import jsonify, render_template, request

from services.input_hygiene import HostileInput, check_text, loads
from webapp.errors import TITLES, wants_json

MAX_CHECKED_BODY = 1024 * 1024  # larger bodies are refused by the views' own limits
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
CHECKED_ELSEWHERE = frozenset({"hooks.receive", "static"})


def refuse_hostile_input():
    """before_request: None, or the 422 response naming the first bad field."""
    if request.endpoint in CHECKED_ELSEWHERE:
        return None
    try:
        check_request()
    except HostileInput as hostile:
        return refusal(hostile)
    return None


def check_request() -> None:
    for name, value in request.args.items(multi=True):
        check_text(name, name)
        check_text(name, value)
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    if request.mimetype in FORM_TYPES:
        for name, value in request.form.items(multi=True):
            check_text(name, name)
            check_form_value(name, value)
        for name, upload in request.files.items(multi=True):
            check_text(name, upload.filename or "")
        return
    length = request.content_length
    if length is None or length > MAX_CHECKED_BODY:
        return
    if request.is_json or request.path.startswith("/api/"):
        raw = request.get_data(cache=True)
        if raw.strip():
            try:
                loads(raw)
            except ValueError:
                return  # not JSON: the view answers that


def check_form_value(name: str, value: str) -> None:
    check_text(name, value)
    if value.lstrip()[:1] in ("{", "["):
        try:
            loads(value, name)
        except ValueError:
            pass  # not JSON after all: the view reads the field as it means to


def refusal(hostile: HostileInput):
    message = f"{hostile.field}: {hostile.message}"
    if wants_json():
        return jsonify({"error": TITLES[422], "message": message, "errors": {hostile.field: [hostile.message]}}), 422
    if request.headers.get("HX-Request"):  # a toast: the form that was sent stays as it is, to be corrected
        fragment = render_template("errors/_input_refused.html", field=hostile.field, message=hostile.message)
        return fragment, 422, {"HX-Retarget": "#toasts", "HX-Reswap": "beforeend"}
    return render_template("errors/error.html", code=422, title=TITLES[422], description=message), 422
