"""Security headers on every response (CSP without inline script, no framing, nosniff, Referrer-Policy, HSTS in
production), no inline script or event handler attribute left in any page, and ProxyFix by TRUSTED_PROXIES."""
import re

import pytest
from sqlalchemy import select

from models import Invitation, db
from tests.http.test_hooks import webhook_workflow

PRODUCTION = {"APP_ENV": "production", "SECRET_KEY": "p" * 32, "CRON_SECRET": "c" * 32,
              "WEBHOOK_SIGNING_SECRET": "w" * 32}


def _csp(response) -> dict[str, list[str]]:
    policy = response.headers["Content-Security-Policy"]
    return {directive.split()[0]: directive.split()[1:] for directive in policy.split(";") if directive.strip()}


@pytest.mark.parametrize("path", ["/login", "/signup", "/healthz", "/api/v1/openapi.json", "/no-such-page"])
def test_every_response_carries_the_security_headers(client, path):
    response = client.get(path)
    csp = _csp(response)
    assert csp["default-src"] == ["'self'"] and csp["script-src"] == ["'self'"]
    assert csp["frame-ancestors"] == ["'none'"] and csp["object-src"] == ["'none'"]
    assert "'unsafe-inline'" not in csp["script-src"] and "'unsafe-eval'" not in csp["script-src"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert "Strict-Transport-Security" not in response.headers  # development: no HSTS on plain http


def test_production_adds_hsts(make_app):
    app = make_app(**PRODUCTION)
    response = app.test_client().get("/login")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
EVENT_HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.IGNORECASE)
HX_ON = re.compile(r"\shx-on[:-]", re.IGNORECASE)


def test_no_page_has_inline_script_or_event_handler_attributes(app, logged_in):
    """Every GET page without arguments, plus the pages that show the moved scripts' widgets."""
    client, ws, _ = logged_in("owner")
    hook, _endpoint = webhook_workflow(ws.id)
    paths = {rule.rule for rule in app.url_map.iter_rules()
             if "GET" in rule.methods and not rule.arguments and not rule.rule.startswith(("/api/", "/static"))}
    paths |= {f"/automations/{hook.id}", f"/automations/{hook.id}/triggers/webhook", "/login", "/signup"}
    created = client.post("/settings/api-tokens", data={"name": "ci"})  # the page showing a new token once
    assert created.status_code == 201 and 'id="copy-token"' in created.get_data(as_text=True)
    problems = []
    for path in sorted(paths) + ["(new API token page)"]:
        response = created if path.startswith("(") else client.get(path)
        if response.status_code != 200 or "html" not in response.content_type:
            continue
        html = response.get_data(as_text=True)
        for pattern, what in ((INLINE_SCRIPT, "inline <script>"), (EVENT_HANDLER, "on…= attribute"), (HX_ON, "hx-on")):
            found = pattern.search(html)
            if found:
                problems.append(f"{path}: {what}: {found.group(0)[:120]}")
    assert len(paths) > 20
    assert not problems, problems


def test_behind_a_trusted_tls_proxy_links_come_out_https(make_app):
    from tests.factories import make_workspace
    from tests.conftest import Auth, owner_of

    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "app.example.com", "X-Forwarded-For": "203.0.113.9"}
    for proxies, expected in ((1, "https://app.example.com/"), (0, "http://localhost/")):
        app = make_app(TRUSTED_PROXIES=proxies)
        with app.app_context():
            ws = make_workspace()
            client = app.test_client()
            Auth(client).login(owner_of(ws))
            client.post("/settings/members/invitations", data={"email": f"p{proxies}@example.test", "role": "member"},
                        headers=forwarded)
            invitation = db.session.scalar(select(Invitation).where(Invitation.email == f"p{proxies}@example.test"))
            page = client.get("/settings/members", headers=forwarded).get_data(as_text=True)
            assert f"{expected}invitations/{invitation.token}" in page
            hook, endpoint = webhook_workflow(ws.id)
            panel = client.get(f"/automations/{hook.id}/triggers/webhook", headers=forwarded).get_data(as_text=True)
            assert f"{expected}hooks/{endpoint.token}" in panel
