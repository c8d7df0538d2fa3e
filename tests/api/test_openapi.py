"""The OpenAPI document: it covers every route, and requests generated from it (schemathesis) never get
a 5xx and always get a response that the document describes."""
import re
import shlex
import time
from pathlib import Path

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (content_type_conformance, response_schema_conformance,
                                               status_code_conformance)

from models import db
from services import demo_service
from tests.api.conftest import issue_token
from tests.conftest import owner_of

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES = {GenerationMode.POSITIVE: 12, GenerationMode.NEGATIVE: 6}


def test_the_document_is_public_and_describes_every_api_route(client, app):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.get_json()
    assert document["openapi"].startswith("3.") and document["servers"] == [{"url": "/api/v1"}]
    documented = {(path, method) for path, operations in document["paths"].items() for method in operations}
    routed = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("api_v1.") and rule.endpoint != "api_v1.openapi_document":
            path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule.removeprefix("/api/v1"))
            routed |= {(path, method.lower()) for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert documented == routed
    deal = document["components"]["schemas"]["Deal"]
    assert deal["additionalProperties"] is False and deal["properties"]["title"]["type"] == "string"
    assert "errors" in document["components"]["schemas"]["Error"]["properties"]
    create = document["paths"]["/deals"]["post"]
    assert {"201", "401", "422", "400"} <= set(create["responses"])
    assert document["paths"]["/workflows/{workflow_id}"]["delete"]["responses"]["403"]


@pytest.fixture
def generated_target(make_app, workspace):
    """An app with a workspace holding a few records (so some generated ids exist) and an owner's token."""
    app = make_app(ENGINE_HANDOFF="sweep")
    with app.app_context():
        ws = workspace()
        secret = issue_token(ws, owner_of(ws))
        client = app.test_client()
        auth = {"Authorization": f"Bearer {secret}"}
        for path, body in (("/contacts", {"name": "Seed"}), ("/deals", {"title": "Seed"}),
                           ("/projects", {"name": "Seed"}), ("/tickets", {"subject": "Seed"}),
                           ("/invoices", {"customer_name": "Seed", "amount": 10})):
            assert client.post(f"/api/v1{path}", json=body, headers=auth, csrf=False).status_code == 201
        yield app, auth


def test_generated_requests_get_documented_answers_and_no_5xx(generated_target):
    app, auth = generated_target
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 40
    for operation in operations:
        for mode, examples in EXAMPLES.items():
            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
                      suppress_health_check=list(HealthCheck))
            def check(case):
                response = case.call(headers=auth)
                case.validate_response(response, checks=CHECKS)
                if mode is GenerationMode.NEGATIVE:
                    assert response.status_code < 500

            check()


# --- README's curl walkthrough, against a live server -------------------------------------------------

README = Path(__file__).resolve().parents[2] / "README.md"
ASSIGNMENT = re.compile(r"^([A-Z_]+)=(.*)$")
VARIABLE = re.compile(r"\$(\w+)|\$\{(\w+)\}")


def walkthrough_lines() -> list[str]:
    text = README.read_text()
    section = text[text.index("## API"):]
    block = section[section.index("```sh") + len("```sh"):]
    block = block[:block.index("```")]
    return [line.strip() for line in block.splitlines() if line.strip() and not line.strip().startswith("#")]


def expand(text: str, variables: dict) -> str:
    return VARIABLE.sub(lambda m: str(variables[m.group(1) or m.group(2)]), text)


def curl(command: str, variables: dict) -> requests.Response:
    """Run one `curl -s [-X METHOD] URL [-H ...] [-d ...]` line with requests."""
    words = shlex.split(command)
    assert words[0] == "curl", command
    method, url, headers, data = "GET", None, {}, None
    position = 1
    while position < len(words):
        word = words[position]
        if word in ("-X", "-H", "-d"):
            value = expand(words[position + 1], variables) if word != "-d" else words[position + 1]
            if word == "-X":
                method = value
            elif word == "-H":
                name, _, header = value.partition(":")
                headers[name.strip()] = header.strip()
            else:
                data = value.encode()
            position += 2
            continue
        if word != "-s":
            url = expand(word, variables)
        position += 1
    return requests.request(method, url, headers=headers, data=data, timeout=10)


def run_line(line: str, variables: dict, cli) -> requests.Response | None:
    assignment = ASSIGNMENT.match(line)
    if assignment is None:
        return curl(line, variables)
    name, value = assignment.groups()
    if value.startswith("$("):
        inner = value[2:-1]
        if " tokens create " in inner:
            args = shlex.split(inner)
            result = cli.invoke(args=args[args.index("tokens"):])
            assert result.exit_code == 0, result.output
            variables[name] = result.output.strip()
            return None
        command, _, extract = inner.partition(" | ")
        response = curl(command, variables)
        key = re.search(r'\["(\w+)"\]', extract).group(1)
        variables[name] = response.json()[key]
        return response
    variables[name] = value
    return None


def test_the_readme_walkthrough_produces_a_completed_run(live_server):
    """The README's lines, run as written; only its `make run` address becomes the live server's."""
    app = live_server.app
    with app.app_context():
        demo_service.create_demo_workspace()
        db.session.commit()
        lines = walkthrough_lines()
        assert len(lines) == 6 and lines[0] == "API=http://127.0.0.1:5000/api/v1", lines
        variables: dict = {}
        statuses = []
        for line in lines:
            response = run_line(line, variables, app.test_cli_runner())
            if line.startswith("API="):
                variables["API"] = variables["API"].replace("http://127.0.0.1:5000", live_server.url)
            if response is not None:
                statuses.append(response.status_code)
        assert statuses == [201, 200, 201, 200]
        run = wait_for_run(f"{variables['API']}/executions", variables["WORKFLOW"], variables["TOKEN"])
        assert run["status"] == "completed", run
        assert run["trigger_payload"]["deal"]["title"] == "Enterprise plan"
        assert run["completed_actions"][0]["status"] == "completed"


def wait_for_run(url: str, workflow_id, token: str, timeout: float = 30.0) -> dict:
    """Read the run the way step 4 does, again while it is still going."""
    deadline = time.monotonic() + timeout
    while True:
        page = requests.get(url, params={"workflow_id": workflow_id}, headers={"Authorization": f"Bearer {token}"},
                            timeout=10).json()
        if page["data"] and page["data"][0]["status"] in ("completed", "failed", "cancelled"):
            return page["data"][0]
        assert time.monotonic() < deadline, page
        time.sleep(0.1)
