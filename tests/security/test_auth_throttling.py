"""Sign-in hardening through HTTP: throttling per account and per address (Flask-Limiter; Redis in CI's second
run), the same time to refuse an unknown email as a known one, a neutral sign-up answer for a taken email, and
the password policy (10+ characters, not one of the 20,000 most common) on sign-up, invitations and changes."""
import statistics
import time
import uuid

import pytest
from sqlalchemy import select

from models import Invitation, User, Workspace, db
from tests.conftest import PASSWORD, owner_of

REALISTIC = {"AUTH_RATE_LIMIT_PER_ACCOUNT": "5 per minute; 20 per hour",
             "AUTH_RATE_LIMIT_PER_ADDRESS": "20 per minute; 100 per hour"}


def _address() -> str:
    """A client address of its own per test (Redis keeps counters between tests and runs)."""
    return f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250 + 1}"


@pytest.fixture
def throttled_client(make_app):
    app = make_app(**REALISTIC)
    with app.app_context():
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = _address()
        yield app, client


def _account(app, email=None):
    from tests.factories import make_workspace

    ws = make_workspace(owner_email=email or f"victim-{uuid.uuid4().hex[:10]}@example.test")
    return ws, owner_of(ws)


def test_wrong_passwords_for_one_account_are_throttled_and_then_even_the_right_one_waits(throttled_client):
    app, client = throttled_client
    _, owner = _account(app)
    statuses = [client.post("/login", data={"email": owner.email, "password": f"guess-{n}"}).status_code
                for n in range(6)]
    assert statuses == [422] * 5 + [429]
    refused = client.post("/login", data={"email": owner.email, "password": PASSWORD})
    assert refused.status_code == 429
    assert "Too many attempts" in refused.get_data(as_text=True)
    assert int(refused.headers["Retry-After"]) > 0
    # Another address trying the same account is refused too (the limit is per account)...
    other = app.test_client()
    other.environ_base["REMOTE_ADDR"] = _address()
    assert other.post("/login", data={"email": owner.email, "password": PASSWORD}).status_code == 429
    # ...while another account from the first address still signs in.
    _, someone = _account(app)
    assert client.post("/login", data={"email": someone.email, "password": PASSWORD}).status_code == 302


def test_one_address_spraying_many_accounts_is_throttled(throttled_client):
    app, client = throttled_client
    statuses = [client.post("/login", data={"email": f"nobody-{n}-{uuid.uuid4().hex[:6]}@example.test",
                                             "password": "whatever-123"}).status_code for n in range(21)]
    assert statuses[:20] == [422] * 20 and statuses[20] == 429


def test_successful_sign_ins_do_not_use_up_the_limit(throttled_client):
    app, client = throttled_client
    _, owner = _account(app)
    for _ in range(8):
        assert client.post("/login", data={"email": owner.email, "password": PASSWORD}).status_code == 302
        client.post("/logout")


def test_sign_ups_and_invitation_acceptances_are_throttled_per_address(throttled_client):
    app, client = throttled_client
    statuses = [client.post("/signup", data={"workspace_name": "Spam", "email": f"spam{n}-{uuid.uuid4().hex[:6]}@example.test",
                                              "password": "x"}).status_code for n in range(21)]
    assert statuses[:20] == [422] * 20 and statuses[20] == 429
    ws, owner = _account(app)
    invitation = Invitation(workspace_id=ws.id, email="guest@example.test", role="member",
                            token=uuid.uuid4().hex, invited_by_id=owner.id)
    db.session.add(invitation)
    db.session.commit()
    guesser = app.test_client()
    guesser.environ_base["REMOTE_ADDR"] = _address()
    statuses = [guesser.post(f"/invitations/{invitation.token}", data={"password": "short"}).status_code for _ in range(6)]
    assert statuses == [422] * 5 + [429]


def test_password_changes_are_throttled(throttled_client):
    app, client = throttled_client
    _, owner = _account(app)
    client.post("/login", data={"email": owner.email, "password": PASSWORD})
    statuses = [client.post("/account/password", data={"current_password": f"guess-{n}", "new_password": "brand-new-secret-9",
                                                         "confirmation": "brand-new-secret-9"}).status_code for n in range(6)]
    assert statuses == [422] * 5 + [429]


def _median_refusal_seconds(client, email, tries=7) -> float:
    timings = []
    for _ in range(tries):
        started = time.perf_counter()
        assert client.post("/login", data={"email": email, "password": "not-the-password"}).status_code == 422
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def test_unknown_emails_take_as_long_to_refuse_as_known_ones(make_app):
    # A deliberately slow hash, so the hash check dominates the time to answer (as scrypt does in production).
    app = make_app(PASSWORD_HASH_METHOD="pbkdf2:sha256:300000")
    with app.app_context():
        _, owner = _account(app)
        client = app.test_client()
        known = _median_refusal_seconds(client, owner.email)
        unknown = _median_refusal_seconds(client, f"ghost-{uuid.uuid4().hex[:8]}@example.test")
    assert known > 0.02, known  # the hash is really slow enough to be seen
    assert unknown > 0.6 * known, (unknown, known)


def test_sign_up_with_a_taken_email_does_not_say_the_account_exists(client, workspace):
    owner = owner_of(workspace())
    taken = client.post("/signup", data={"workspace_name": "Dup", "email": owner.email, "password": "long-enough-1"})
    page = taken.get_data(as_text=True)
    assert taken.status_code == 422
    assert "already exists" not in page and "An account with this email" not in page
    assert "We could not create a workspace with this email" in page


COMMON_OR_SHORT = ["aaaaaaaa", "password", "12345678", "aaaaaaaaaa", "password1234", "qwertyuiop", "1234567890", "short-9"]


@pytest.mark.parametrize("password", COMMON_OR_SHORT)
def test_sign_up_refuses_short_and_common_passwords(client, password):
    response = client.post("/signup", data={"workspace_name": "Weak", "email": "weak@example.test", "password": password})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Use at least 10 characters." in page or "one of the most common" in page
    assert db.session.scalar(select(db.func.count()).select_from(Workspace)) == 0


def test_invitation_acceptance_refuses_a_common_password(app, logged_in):
    client, ws, _ = logged_in()
    client.post("/settings/members/invitations", data={"email": "newbie@example.test", "role": "member"})
    invitation = db.session.scalar(select(Invitation))
    newcomer = app.test_client()
    response = newcomer.post(f"/invitations/{invitation.token}", data={"password": "password1234"})
    assert response.status_code == 422 and "one of the most common" in response.get_data(as_text=True)
    assert newcomer.post(f"/invitations/{invitation.token}", data={"password": "a-fine-passphrase"}).status_code == 302


def test_changing_the_password_checks_the_current_one_and_the_policy(app, logged_in):
    client, _, owner = logged_in()
    assert client.get("/account/password").status_code == 200
    form = {"current_password": "not-it-at-all", "new_password": "brand-new-secret-9", "confirmation": "brand-new-secret-9"}
    assert "not your current password" in client.post("/account/password", data=form).get_data(as_text=True)
    weak = client.post("/account/password", data={**form, "current_password": PASSWORD, "new_password": "password1234",
                                                   "confirmation": "password1234"})
    assert weak.status_code == 422 and "one of the most common" in weak.get_data(as_text=True)
    other_session = app.test_client()  # the same session cookie, elsewhere
    other_session.set_cookie("session", client.get_cookie("session").value)
    assert other_session.get("/").status_code == 200
    changed = client.post("/account/password", data={**form, "current_password": PASSWORD})
    assert changed.status_code == 302
    assert client.get("/").status_code == 200  # this session stays signed in
    assert other_session.get("/").status_code == 302  # every other one is signed out
    fresh = app.test_client()
    assert fresh.post("/login", data={"email": owner.email, "password": PASSWORD}).status_code == 422
    assert fresh.post("/login", data={"email": owner.email, "password": "brand-new-secret-9"}).status_code == 302


def test_existing_accounts_with_an_old_short_password_still_sign_in(app, client, workspace):
    """The policy applies to new passwords; an account made before it keeps working until it changes."""
    from werkzeug.security import generate_password_hash

    owner = owner_of(workspace())
    db.session.get(User, owner.id).password_hash = generate_password_hash("oldpass1", method="pbkdf2:sha256:1000")
    db.session.commit()
    assert client.post("/login", data={"email": owner.email, "password": "oldpass1"}).status_code == 302
