"""Sessions: a new session at login, logout invalidates the old cookie, HttpOnly + SameSite cookies,
and the Secure flag in the production configuration."""
from tests.conftest import PASSWORD, owner_of


def _session_cookie(client):
    cookie = client.get_cookie("session")
    return cookie.value if cookie else None


def test_login_issues_a_new_session_and_logout_kills_the_old_cookie(app, client, workspace):
    owner = owner_of(workspace())
    client.get("/login")
    anonymous = _session_cookie(client)
    response = client.post("/login", data={"email": owner.email, "password": PASSWORD})
    assert response.status_code == 302
    signed_in = _session_cookie(client)
    assert signed_in and signed_in != anonymous
    assert client.get("/automations").status_code == 200

    client.post("/logout")
    assert client.get("/automations").status_code == 302  # signed out

    # Replaying the cookie captured while signed in no longer works: the server-side token was rotated.
    thief = app.test_client()
    thief.set_cookie("session", signed_in)
    response = thief.get("/automations")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_a_second_login_rotates_the_session_and_invalidates_the_first(app, workspace):
    owner = owner_of(workspace())
    first, second = app.test_client(), app.test_client()
    first.post("/login", data={"email": owner.email, "password": PASSWORD})
    first_cookie = _session_cookie(first)
    second.post("/login", data={"email": owner.email, "password": PASSWORD})
    assert _session_cookie(second) != first_cookie
    assert second.get("/automations").status_code == 200


def test_a_failed_login_does_not_authenticate_the_session(app, client, workspace):
    owner = owner_of(workspace())
    response = client.post("/login", data={"email": owner.email, "password": "wrong-password"})
    assert response.status_code == 422
    assert client.get("/automations").status_code == 302


def test_cookies_are_http_only_and_same_site(app, client, workspace):
    owner = owner_of(workspace())
    response = client.post("/login", data={"email": owner.email, "password": PASSWORD})
    set_cookies = response.headers.getlist("Set-Cookie")
    session_cookie = next(c for c in set_cookies if c.startswith("session="))
    assert "HttpOnly" in session_cookie
    assert "SameSite=Lax" in session_cookie or "SameSite=Strict" in session_cookie
    assert "Secure" not in session_cookie  # testing config: plain http


def test_production_config_sets_secure_cookies(make_app, workspace, app):
    prod = make_app(APP_ENV="production", TESTING=True, SECRET_KEY="p" * 32, CRON_SECRET="c" * 32,
                    WEBHOOK_SIGNING_SECRET="w" * 32, WTF_CSRF_SSL_STRICT=False)
    assert prod.config["SESSION_COOKIE_SECURE"] is True
    assert prod.config["REMEMBER_COOKIE_SECURE"] is True
    assert prod.config["SESSION_COOKIE_HTTPONLY"] is True
    assert prod.config["SESSION_COOKIE_SAMESITE"] in ("Lax", "Strict")
    owner = owner_of(workspace())
    client = prod.test_client()
    response = client.post("/login", data={"email": owner.email, "password": PASSWORD}, base_url="https://localhost")
    session_cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("session="))
    assert "Secure" in session_cookie and "HttpOnly" in session_cookie
