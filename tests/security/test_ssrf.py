"""SSRF: Call Webhook never opens a socket to a private, loopback, link-local or otherwise non-public
address, whatever spelling the URL uses, unless WEBHOOK_ALLOWED_HOSTS names the host exactly."""
import ipaddress
import socket

import pytest

from engine.core.catalog import sample_payload
from engine.core.runs import fire_workflow_event
from engine.runtime.runner import run_execution
from models import db
from services import webhook_service
from tests.api.conftest import ApiClient, issue_token
from tests.factories import make_workflow, make_workspace
from tests.support.engine import load_execution

FORBIDDEN_URLS = [
    # loopback in every spelling
    "http://127.0.0.1/", "http://127.0.0.1:8080/hook", "http://127.1/", "http://127.0.1/", "http://2130706433/",
    "http://0x7f000001/", "http://0x7f.0x0.0x0.0x1/", "http://017700000001/", "http://0177.0.0.1/",
    "http://127.000.000.001/", "http://127.255.255.254/", "http://[::1]/", "http://[0:0:0:0:0:0:0:1]/", "http://0000::1/",
    "http://[::ffff:127.0.0.1]/", "http://[::ffff:7f00:1]/", "http://[64:ff9b::7f00:1]/", "http://[2002:7f00:1::]/",
    "http://localhost/", "http://localhost:5000/", "https://localhost/", "http://user:pass@127.0.0.1/",
    # unspecified
    "http://0.0.0.0/", "http://0/", "http://[::]/",
    # cloud metadata and link-local
    "http://169.254.169.254/latest/meta-data/", "http://169.254.0.1/", "http://[fe80::1]/",
    "http://[::ffff:169.254.169.254]/",
    # RFC 1918, shared address space, unique-local, multicast, broadcast, reserved
    "http://10.0.0.1/", "http://10.255.255.255/", "http://172.16.0.1/", "http://172.31.255.254/",
    "http://192.168.0.1/", "http://192.168.255.254/", "http://100.64.0.1/", "http://100.127.255.254/",
    "http://[fc00::1]/", "http://[fd12:3456::1]/", "http://224.0.0.1/", "http://255.255.255.255/",
    "http://240.0.0.1/", "http://198.18.0.1/", "http://192.0.0.1/", "http://[::ffff:10.0.0.1]/",
]
NOT_HTTP = ["file:///etc/passwd", "gopher://127.0.0.1:6379/_INFO", "ftp://10.0.0.1/x", "dict://127.0.0.1:6379/info",
            "ldap://127.0.0.1/", "javascript:alert(1)", "//127.0.0.1/", "http:///path-only", "data:text/plain,hi"]
RESOLVES_TO = {
    "loopback.attacker.test": ["127.0.0.1"],
    "metadata.attacker.test": ["169.254.169.254"],
    "private.attacker.test": ["10.1.2.3"],
    "mixed.attacker.test": ["93.184.216.34", "192.168.1.1"],  # one public, one private: refused
    "v6.attacker.test": ["::1"],
    "allowed.internal": ["10.9.9.9"],
}


class SocketRecorder:
    """Records every outgoing connection attempt; lets through only the test's own loopback receiver."""

    def __init__(self, monkeypatch, allow_port=None):
        self.attempts = []
        recorder = self
        real_connect = socket.socket.connect
        real_getaddrinfo = socket.getaddrinfo

        def connect(sock, address):
            recorder.attempts.append(address)
            if allow_port is not None and address[1] == allow_port:
                return real_connect(sock, address)
            raise ConnectionRefusedError("blocked by the test")

        def getaddrinfo(host, port, *args, **kwargs):
            if host in RESOLVES_TO:
                return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port or 80))
                        for a in RESOLVES_TO[host]]
            if isinstance(host, str) and host.endswith(".invalid"):
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
            return real_getaddrinfo(host, port, *args, **kwargs)

        monkeypatch.setattr(socket.socket, "connect", connect)
        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)

    def non_public(self):
        return [a for a in self.attempts if not webhook_service.is_public_address(a[0])]


@pytest.fixture
def sockets(monkeypatch):
    return SocketRecorder(monkeypatch)


def _post(url):
    return webhook_service.post_signed(url, {"hello": "world"}, webhook_id="whk_test")


def test_the_list_is_big_enough():
    assert len(FORBIDDEN_URLS) + len(NOT_HTTP) + len(RESOLVES_TO) >= 40


@pytest.mark.parametrize("url", FORBIDDEN_URLS)
def test_forbidden_addresses_are_refused_without_opening_a_socket(app, sockets, url):
    with pytest.raises(webhook_service.WebhookError):
        _post(url)
    assert sockets.attempts == [], sockets.attempts


@pytest.mark.parametrize("url", NOT_HTTP)
def test_non_http_schemes_are_refused_without_opening_a_socket(app, sockets, url):
    with pytest.raises(webhook_service.WebhookError) as refused:
        _post(url)
    assert refused.value.retryable is False
    assert sockets.attempts == []


@pytest.mark.parametrize("host", ["loopback.attacker.test", "metadata.attacker.test", "private.attacker.test",
                                  "mixed.attacker.test", "v6.attacker.test", "allowed.internal"])
def test_names_resolving_to_non_public_addresses_are_refused(app, sockets, host):
    with pytest.raises(webhook_service.WebhookBlocked):
        _post(f"http://{host}/hook")
    assert sockets.attempts == []


def test_a_name_that_does_not_resolve_opens_no_socket(app, sockets):
    with pytest.raises(webhook_service.WebhookError) as failed:
        _post("http://nowhere.invalid/hook")
    assert "resolve" in str(failed.value)
    assert sockets.attempts == []


def test_the_allow_list_permits_exactly_the_named_hosts(make_app, sockets):
    app = make_app(WEBHOOK_ALLOWED_HOSTS="allowed.internal, 10.0.0.7")
    with app.app_context():
        for url in ("http://allowed.internal/hook", "http://10.0.0.7/hook"):
            with pytest.raises(webhook_service.WebhookError):  # the connection itself is refused by the recorder
                _post(url)
        assert [a[0] for a in sockets.attempts] == ["10.9.9.9", "10.0.0.7"]
        sockets.attempts.clear()
        for url in ("http://private.attacker.test/", "http://10.0.0.8/", "http://127.0.0.1/", "http://localhost/",
                    "http://allowed.internal.evil.test/", "http://sub.allowed.internal/"):
            with pytest.raises(webhook_service.WebhookError):
                _post(url)
        assert sockets.non_public() == []


def test_a_redirect_to_a_private_address_is_not_followed(make_app, monkeypatch, webhook_receiver):
    port = int(webhook_receiver.url.rsplit(":", 1)[1])
    recorder = SocketRecorder(monkeypatch, allow_port=port)
    webhook_receiver.status = 302
    webhook_receiver.headers = {"Location": "http://10.0.0.1/internal"}
    app = make_app(WEBHOOK_ALLOWED_HOSTS="127.0.0.1")
    with app.app_context():
        with pytest.raises(webhook_service.WebhookError) as refused:
            _post(webhook_receiver.url + "/hook")
        assert "redirect" in str(refused.value)
    assert [a[0] for a in recorder.attempts] == ["127.0.0.1"]
    assert len(webhook_receiver.requests) == 1


def test_the_call_webhook_step_fails_on_a_forbidden_target_through_the_engine(make_app, monkeypatch):
    recorder = SocketRecorder(monkeypatch)
    app = make_app(ENGINE_HANDOFF="sweep")
    with app.app_context():
        ws = make_workspace("Ssrf Co")
        # Address literals are refused at save time (below), so they reach the engine through the payload.
        targets = ["http://169.254.169.254/latest/meta-data/", "http://127.1/", "http://loopback.attacker.test/",
                   "http://[::ffff:10.0.0.1]/", "http://0000::1/"]
        make_workflow(ws.id, actions=[{"type": "call_webhook", "config": {"url": f"{{{{ trigger.targets.t{n} }}}}"}}
                                      for n in range(len(targets))], error_strategy="retry")
        payload = {**sample_payload("deal_created"), "targets": {f"t{n}": url for n, url in enumerate(targets)}}
        [execution_id] = fire_workflow_event(ws.id, "deal_created", payload)
        db.session.commit()
        assert run_execution(execution_id) == "completed"
        execution = load_execution(execution_id)
        assert [s["status"] for s in execution.completed_actions] == ["failed"] * 5
        assert "ValueError" not in execution.completed_actions[4]["error"]
        assert "IPv6 address goes in brackets" in execution.completed_actions[4]["error"]
        assert all(s["attempts"] == 1 for s in execution.completed_actions), "refusals are not retried"
        db.session.remove()
    assert recorder.attempts == []


def test_the_guard_classifies_every_forbidden_literal_as_non_public():
    for url in FORBIDDEN_URLS:
        host = url.split("//", 1)[1].split("/", 1)[0].rsplit("@", 1)[-1]
        host = host[1:host.index("]")] if host.startswith("[") else host.split(":")[0]
        try:
            address = str(ipaddress.ip_address(host))
        except ValueError:
            continue  # spellings only the resolver understands (127.1, 0x7f000001, ...): covered above
        assert not webhook_service.is_public_address(address), url


SAVE_TIME_REFUSED = ["http://0000::1/", "http://[0000::1]/", "http://[::1]:8080/hook", "http://127.1/", "http://2130706433/",
                     "http://0x7f.1/", "http://0177.0.0.1/", "http://localhost:5000/", "http://api.localhost/",
                     "http://10.0.0.8/", "http://[::ffff:10.0.0.1]/", "http://169.254.169.254/latest/meta-data/",
                     "http://192.168.1.1:99999/", "http://[fd12:3456::1]/"]


@pytest.mark.parametrize("url", SAVE_TIME_REFUSED)
def test_local_and_private_address_spellings_are_refused_when_the_workflow_is_saved(logged_in, url):
    """Finding 9: `http://0000::1/` passed save-time validation and failed at run time with a raw ValueError."""
    client, ws, owner = logged_in()
    api = ApiClient(client, issue_token(ws, owner), ws, owner)
    response = api.post("/workflows", {"name": "Leaky", "trigger": {"type": "deal_created"},
                                               "actions": [{"type": "call_webhook", "config": {"url": url}}]})
    assert response.status_code == 422, response.get_json()
    [message] = response.get_json()["errors"]["actions.0.config.url"]
    assert ("local or private address" in message) or ("IPv6 address goes in brackets" in message), message


def test_an_allow_listed_private_host_may_be_saved(make_app):
    app = make_app(WEBHOOK_ALLOWED_HOSTS="10.0.0.7, ::1")
    with app.app_context():
        ws = make_workspace("Allowed Co")
        for url in ("http://10.0.0.7/hook", "http://[::1]:9000/hook"):
            make_workflow(ws.id, actions=[{"type": "call_webhook", "config": {"url": url}}])
