"""Fuzzing workflow file import (issue #21): hypothesis-generated files (truncated, wrong types, huge, deeply
nested, unknown keys) into POST /api/v1/workflows/import and the import page: never a 5xx, and a refused
file writes no row. RELIABILITY_SCALE=ci (default) runs a fifth of fuzz_examples per target."""
import json

from hypothesis import example, given
from hypothesis import strategies as st

from models import db
from tests.api.conftest import ApiClient, issue_token
from tests.api.test_workflows_api import DEFINITION
from tests.conftest import Auth, owner_of
from tests.security.conftest import table_counts
from tests.security.test_fuzzing import EXAMPLES, FUZZ, definitions, junk, nasty_text

FILES_FUZZ = FUZZ.__class__(FUZZ, max_examples=max(50, EXAMPLES // 5))
VALID = {"workestra": "workflow", "format": 2, "exported_at": "2026-11-27T10:00:00+00:00", "workflow": DEFINITION}
VALID_TEXT = json.dumps(VALID)

# the operating settings a file carries (#22): right and wrong types, out of range, unknown keys
setting_values = st.one_of(st.none(), st.booleans(), st.integers(min_value=-10, max_value=20_000),
                           st.integers(), junk)
file_settings = st.one_of(
    st.fixed_dictionaries({}, optional={key: setting_values for key in (
        "alert_on_failure", "auto_pause_after_failures", "max_concurrent_runs", "minutes_saved_per_run")}),
    st.dictionaries(nasty_text, junk, max_size=3), junk)
with_settings = file_settings.map(lambda settings: {**DEFINITION, "settings": settings})

files = st.fixed_dictionaries({}, optional={
    "workestra": st.one_of(st.just("workflow"), junk),
    "format": st.one_of(st.just(2), junk),
    "exported_at": st.one_of(nasty_text, junk),
    "workflow": st.one_of(definitions, junk, st.just(DEFINITION), with_settings),
    "blanked": st.one_of(st.lists(nasty_text, max_size=3), junk),
}) | st.dictionaries(nasty_text, junk, max_size=4) | junk


def nested(depth: int) -> str:
    return '{"workestra": "workflow", "format": 2, "workflow": ' + "[" * depth + "]" * depth + "}"


raw_texts = st.one_of(
    files.map(json.dumps),
    st.integers(min_value=0, max_value=len(VALID_TEXT) - 1).map(lambda cut: VALID_TEXT[:cut]),  # truncated
    st.integers(min_value=10, max_value=100_000).map(nested),  # deeply nested
    st.just(json.dumps({**VALID, "workflow": {**DEFINITION, "description": "x" * 2_000_000}})),  # huge
    nasty_text,
)


def _api(ws):
    from flask import current_app
    return ApiClient(current_app.test_client(), issue_token(ws, owner_of(ws)), ws, owner_of(ws))


def test_import_api_never_500s_and_a_refused_file_writes_nothing(app, workspace):
    ws = workspace()
    api = _api(ws)

    @FILES_FUZZ
    @given(raw_texts)
    @example(nested(50_000))
    @example(VALID_TEXT[:-1])
    def check(raw):
        db.session.rollback()
        before = table_counts()
        response = api.post("/workflows/import", data=raw, headers={"Content-Type": "application/json"})
        assert response.status_code < 500, (raw[:200], response.get_data(as_text=True)[:300])
        if response.status_code != 201:
            db.session.rollback()
            assert table_counts() == before, raw[:200]

    check()


def test_import_page_never_500s_and_a_refused_file_writes_nothing(app, client, workspace):
    ws = workspace()
    Auth(client).login(owner_of(ws))

    @FILES_FUZZ
    @given(raw_texts)
    def check(raw):
        db.session.rollback()
        before = table_counts()
        response = client.post("/automations/import", data={"json": raw})
        assert response.status_code < 500, (raw[:200], response.get_data(as_text=True)[:300])
        if response.status_code != 302:
            assert response.status_code == 422
            db.session.rollback()
            assert table_counts() == before, raw[:200]

    check()
