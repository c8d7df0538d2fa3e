"""Input hygiene at the edge (issue #18, finding 3): NUL characters, lone surrogates, non-finite numbers and
absurd nesting are a 422 naming the field on every route, never a 500.

The walk is built from the app's own route list: every POST route is sent each hostile value in every field
of every form the app's pages render for it (scraped from the pages), every API operation in every field of
its body schema, and every GET route in a query argument. A new route or a new field is covered without
touching this file.
"""
import time
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from flask import url_for
from werkzeug.exceptions import MethodNotAllowed, NotFound

from models import db
from services import incoming_webhook_service
from tests.api.conftest import issue_token
from tests.conftest import Auth
from tests.factories import make_workflow
from tests.security.conftest import populate, table_counts
from webapp.api.blueprint import OPERATIONS

DEEP = "[" * 100_000 + "]" * 100_000
# (what a form field or a JSON-in-form field receives, the same thing as a JSON value for the API)
FORM_VALUES = ["a\x00b", '{"deal": {"title": "x\\ud800y"}}', '{"deal": {"value": NaN}}', '{"v": 1e999}',
               '{"v": "\\u0000"}', '[Infinity]', DEEP]
API_RAW_VALUES = ['"a\\u0000b"', '"x\\ud800y"', "NaN", "-Infinity", "1e999", DEEP]
SKIPPED = {"static", "hooks.receive"}  # hooks: checked after the signature (test below)


class Forms(HTMLParser):
    """The POST forms of a page: [(action, [field names])]."""

    def __init__(self, page_url):
        super().__init__()
        self.page_url, self.forms, self.current = page_url, [], None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            method = (attrs.get("method") or "get").lower()
            action = attrs.get("hx-post") or (attrs.get("action") if method == "post" else None)
            self.current = (action or self.page_url, []) if (method == "post" or "hx-post" in attrs) else None
            if self.current:
                self.forms.append(self.current)
        elif tag in ("input", "select", "textarea", "button") and self.current and attrs.get("name"):
            self.current[1].append(attrs["name"])

    def handle_endtag(self, tag):
        if tag == "form":
            self.current = None


@pytest.fixture
def tenant(app, client, workspace):
    ws = populate(workspace("Hygiene"))
    Auth(client).login(ws.owner)
    ws.ids["token"] = issue_token(ws.workspace, ws.owner)
    return ws


def _argument(rule, name, ids):
    choices = getattr(rule._converters.get(name), "items", None)  # an `any(...)` converter: a literal word
    return sorted(choices)[0] if choices else ids.get(name, ids["workflow_id"])


def _url(app, rule, ids):
    args = {name: _argument(rule, name, ids) for name in rule.arguments}
    with app.test_request_context():
        return url_for(rule.endpoint, **args)


def _routes(app, method):
    return [rule for rule in app.url_map.iter_rules() if method in rule.methods and rule.endpoint not in SKIPPED]


def _endpoint_of(app, path):
    try:
        return app.url_map.bind("localhost").match(urlsplit(path).path, method="POST")[0]
    except (NotFound, MethodNotAllowed):
        return None


def _scraped_fields(app, client, ids) -> dict[str, set]:
    """endpoint -> field names, from every form of every page the owner can open."""
    fields: dict[str, set] = {}
    for rule in _routes(app, "GET"):
        if rule.endpoint.startswith("api_v1.") or rule.endpoint.startswith("cron."):
            continue
        url = _url(app, rule, ids)
        response = client.get(url, headers={"HX-Request": "true"} if "/triggers/" in url else {})
        if response.status_code != 200 or "html" not in (response.content_type or ""):
            continue
        parser = Forms(url)
        parser.feed(response.get_data(as_text=True))
        for action, names in parser.forms:
            endpoint = _endpoint_of(app, action)
            if endpoint:
                fields.setdefault(endpoint, set()).update(n for n in names if n != "csrf_token")
    return fields


def _named(response, field) -> bool:
    if response.is_json:
        return any(name == field or name.startswith(field + ".") for name in response.get_json().get("errors") or {})
    return field in response.get_data(as_text=True)


def test_every_page_form_field_refuses_hostile_input_with_a_422_naming_it(app, client, tenant):
    scraped = _scraped_fields(app, client, tenant.ids)
    assert len(scraped) >= 15 and sum(map(len, scraped.values())) >= 60, scraped  # the scrape found the forms
    before = table_counts()
    problems, sent = [], 0
    for rule in _routes(app, "POST"):
        if rule.endpoint.startswith("api_v1."):
            continue
        url = _url(app, rule, tenant.ids)
        for field in sorted(scraped.get(rule.endpoint, set()) | {"name"}):
            for value in FORM_VALUES:
                for headers in ({}, {"HX-Request": "true"}) if value is FORM_VALUES[0] else ({},):
                    response = client.post(url, data={field: value}, headers=headers)
                    sent += 1
                    if response.status_code != 422 or not _named(response, field):
                        problems.append(f"{rule.endpoint} {field}={value[:30]!r} {headers}: {response.status_code}")
    print(f"RELIABILITY hygiene, page forms: {sent} requests, {len(scraped)} form endpoints, "
          f"{sum(map(len, scraped.values()))} scraped fields, {len(problems)} not a 422 naming the field")
    assert not problems, f"{len(problems)} of {sent}: " + "\n".join(problems[:40])
    assert table_counts() == before


def test_every_api_body_field_refuses_hostile_input_with_a_422_naming_it(app, client, tenant):
    headers = {"Authorization": f"Bearer {tenant.ids['token']}", "Content-Type": "application/json"}
    problems, sent = [], 0
    rules = {rule.endpoint: rule for rule in app.url_map.iter_rules()}
    for op in OPERATIONS:
        if op.method not in ("post", "patch", "put"):
            continue
        url = _url(app, rules[op.endpoint], tenant.ids)
        fields = [f.data_key or name for name, f in op.body.load_fields.items()] if op.body else ["anything"]
        for field in fields:
            for value in API_RAW_VALUES:
                response = client.open(url, method=op.method.upper(), data='{"%s": %s}' % (field, value),
                                       headers=headers, csrf=False)
                sent += 1
                if response.status_code != 422 or not _named(response, field):
                    problems.append(f"{op.method} {op.endpoint} {field}={value[:20]}: {response.status_code} "
                                    f"{response.get_data(as_text=True)[:120]}")
    print(f"RELIABILITY hygiene, API bodies: {sent} requests, {len(problems)} not a 422 naming the field")
    assert sent > 100
    assert not problems, f"{len(problems)} of {sent}: " + "\n".join(problems[:40])


def test_nested_api_fields_are_named_by_their_path(api_client):
    response = api_client('{"name": "x", "trigger": {"type": "deal_created", "config": {}}, "actions": '
                          '[{"type": "log_event", "config": {"event": "e", "message": "a\\u0000b"}}]}')
    assert response.status_code == 422
    assert response.get_json()["errors"] == {"actions.0.config.message": ["Contains a NUL character (\\u0000), "
                                                                          "which cannot be stored."]}


@pytest.fixture
def api_client(client, tenant):
    def post(raw):
        return client.post("/api/v1/workflows", data=raw, csrf=False, headers={
            "Authorization": f"Bearer {tenant.ids['token']}", "Content-Type": "application/json"})
    return post


def test_every_get_route_refuses_hostile_query_arguments(app, client, tenant):
    problems = []
    api = {"Authorization": f"Bearer {tenant.ids['token']}"}
    for rule in _routes(app, "GET"):
        url = _url(app, rule, tenant.ids)
        for query in ({"q": "a\x00b"}, {"a\x00": "x"}):
            response = client.get(url, query_string=query, headers=api if rule.endpoint.startswith("api_v1.") else {})
            if response.status_code != 422:
                problems.append(f"{rule.endpoint} {query!r}: {response.status_code}")
    assert not problems, "\n".join(problems[:40])


@pytest.mark.parametrize("payload", ['{"deal": {"value": NaN}}', '{"deal": {"value": 1e999}}',
                                     '{"deal": {"title": "\\u0000"}}', '{"deal": {"title": "\\ud800"}}', DEEP])
def test_run_now_refuses_what_cannot_be_stored(client, tenant, payload):
    before = table_counts()
    response = client.post(f"/automations/{tenant.ids['workflow_id']}/run", data={"payload": payload},
                           headers={"HX-Request": "true"})
    assert response.status_code == 422
    assert 'data-refused-field="payload' in response.get_data(as_text=True)
    assert response.headers["HX-Retarget"] == "#toasts"  # a toast; the form keeps what was typed
    assert table_counts() == before


@pytest.mark.parametrize("body, field", [(b'{"order": {"note": "x\\ud800y"}}', "order.note"),
                                         (b'{"a": "\\u0000"}', "a"), (b'{"a": [1, NaN]}', "a.1"),
                                         (b'{"a": 1e999}', "a"), (b'{"deep": ' + DEEP.encode() + b"}", "deep.0.0.0")])
def test_a_signed_webhook_body_that_cannot_be_stored_is_a_422_naming_the_field(app, client, workspace, body, field):
    ws = workspace("Hook hygiene")
    endpoint = incoming_webhook_service.sync_endpoint(make_workflow(ws.id, trigger="webhook_received"))
    db.session.commit()
    signature = incoming_webhook_service.sign(endpoint.secret, body, int(time.time()))
    before = table_counts()
    response = client.post(f"/hooks/{endpoint.token}", data=body, csrf=False,
                           headers={"X-Workestra-Signature": signature, "Content-Type": "application/json"})
    assert response.status_code == 422, response.get_data(as_text=True)
    assert field in response.get_json()["message"]
    after = table_counts()
    assert after["workflow_executions"] == before["workflow_executions"]
