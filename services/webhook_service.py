"""Outgoing webhooks: a signed JSON POST behind an SSRF guard.

Signing (DESIGN.md "Contracts"):
- `X-Workestra-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">` keyed with
  WEBHOOK_SIGNING_SECRET;
- `X-Workestra-Webhook-Id`: stable per (execution, step) so a receiver can drop a redelivery;
- Standard Webhooks: `webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256
  of "<id>.<timestamp>.<body>">` keyed with the secret's bytes (verify with
  `standardwebhooks.Webhook("whsec_" + base64(secret))`).

SSRF guard: the host is resolved once; every resolved address must be public unless the host
is in WEBHOOK_ALLOWED_HOSTS; the request goes to the checked address (http: the IP in the URL
and a Host header; https: an adapter that keeps SNI and certificate checks on the host name);
no redirects; 5 s to connect, 10 s per read, OUTGOING_HTTP_DEADLINE_SECONDS (15) for the whole call
(services.outgoing_http); at most 2 KB of the response is read.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import time
from urllib.parse import urlsplit, urlunsplit

import requests
from flask import current_app

from services.outgoing_http import Deadline, WatchedAdapter, read_limited, took_too_long, watch

from engine.core.addresses import is_public_address  # noqa: F401 (the guard's rule; tests read it here)

TIMEOUT = (5, 10)
EXCERPT_BYTES = 2048
RESERVED_HEADERS = {"host", "content-type", "content-length", "x-workestra-signature", "x-workestra-webhook-id",
                    "webhook-id", "webhook-timestamp", "webhook-signature", "transfer-encoding", "connection"}
USER_AGENT = "Workestra-Webhooks/1.0"


class WebhookError(Exception):
    def __init__(self, message: str, retryable: bool = True, output: dict | None = None):
        super().__init__(message)
        self.retryable = retryable
        self.output = output or {}


class WebhookBlocked(WebhookError):
    """The SSRF guard refused the address."""

    def __init__(self, message: str, output: dict | None = None):
        super().__init__(message, retryable=False, output=output)


# --- Signing ------------------------------------------------------------------------------

def workestra_signature(secret: str, body: bytes, timestamp: int) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def standard_signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(secret.encode(), signed, hashlib.sha256).digest()).decode()


def verify_workestra_signature(secret: str, body: bytes, header: str, tolerance: int = 300, now: float | None = None) -> bool:
    """What a receiver does: check the HMAC and reject a timestamp older than `tolerance` seconds."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (ValueError, KeyError):
        return False
    if abs((now or time.time()) - timestamp) > tolerance:
        return False
    expected = workestra_signature(secret, body, timestamp).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


# --- SSRF guard -----------------------------------------------------------------------------

def allowed_hosts() -> set[str]:
    raw = current_app.config["WEBHOOK_ALLOWED_HOSTS"]
    if isinstance(raw, (list, tuple, set)):
        items = raw
    else:
        items = str(raw).split(",")
    return {item.strip().lower().strip("[]") for item in items if item.strip()}


def resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise WebhookError(f"Cannot resolve {host}: {error}", retryable=True) from None
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    if not addresses:
        raise WebhookError(f"Cannot resolve {host}", retryable=True)
    return addresses


def checked_address(host: str, port: int) -> str:
    """Resolve once; every address must be public unless the host is allow-listed. Returns the address to use."""
    addresses = resolve(host, port)
    if host.lower() in allowed_hosts():
        return addresses[0]
    blocked = [address for address in addresses if not is_public_address(address)]
    if blocked:
        raise WebhookBlocked(
            f"Refusing to call {host}: it resolves to a private address ({', '.join(blocked)}), which workflows "
            "may not reach. Use the service's public URL, or ask whoever runs this Workestra server to allow the host.")
    return addresses[0]


class PinnedHostAdapter(WatchedAdapter):
    """HTTPS to a pinned IP while TLS (SNI and the certificate check) uses the original host name."""

    def __init__(self, hostname: str, **kwargs):
        self._hostname = hostname
        super().__init__(**kwargs)

    def init_poolmanager(self, connections, maxsize, block=False, **pool_kwargs):
        pool_kwargs["server_hostname"] = self._hostname
        pool_kwargs["assert_hostname"] = self._hostname
        super().init_poolmanager(connections, maxsize, block=block, **pool_kwargs)


def _pinned_url(parts, address: str) -> str:
    host = f"[{address}]" if ":" in address else address
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))


def _session(parts) -> requests.Session:
    session = watch(requests.Session())  # every socket of the call under its Deadline
    session.trust_env = False  # no proxies from the environment: the pinned address is what we connect to
    if parts.scheme == "https":
        session.mount("https://", PinnedHostAdapter(parts.hostname))
    return session


# --- Sending ----------------------------------------------------------------------------------

def _extra_headers(headers: dict | None) -> dict:
    clean = {}
    for name, value in (headers or {}).items():
        name = str(name).strip()
        if not name or name.lower() in RESERVED_HEADERS or any(c in name for c in "\r\n:"):
            continue
        value = value if isinstance(value, str) else json.dumps(value)
        if "\r" in value or "\n" in value:
            continue
        clean[name] = value
    return clean


def _url_parts(url: str):
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookError(f"Not an http(s) URL: {url!r}", retryable=False)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:  # e.g. http://0000::1/ (an IPv6 address without brackets reads as host:port)
        raise WebhookError(f"Not a valid URL (bad port or unbracketed IPv6 address): {url!r}", retryable=False) from None
    return parts, port


def signed_request(parts, payload, *, webhook_id: str, headers: dict | None = None,
                   secret: str | None = None) -> tuple[bytes, dict]:
    """The body and headers of the signed POST (both signatures, the webhook id, the caller's extra headers)."""
    secret = secret or current_app.config["WEBHOOK_SIGNING_SECRET"]
    body = json.dumps(payload, separators=(",", ":"), default=str, ensure_ascii=False).encode()
    timestamp = int(time.time())
    host_header = parts.hostname if not parts.port else f"{parts.hostname}:{parts.port}"
    if ":" in parts.hostname and not parts.port:
        host_header = f"[{parts.hostname}]"
    return body, {
        **_extra_headers(headers),
        "Host": host_header,
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Workestra-Webhook-Id": webhook_id,
        "X-Workestra-Signature": workestra_signature(secret, body, timestamp),
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": standard_signature(secret, webhook_id, timestamp, body),
    }


def preview_signed(url: str, payload, *, webhook_id: str, headers: dict | None = None) -> dict:
    """The request post_signed would send, as a test run shows it: not sent, no address looked up."""
    parts, _port = _url_parts(url)
    body, request_headers = signed_request(parts, payload, webhook_id=webhook_id, headers=headers)
    return {"url": url, "method": "POST", "headers": request_headers, "body": json.loads(body),
            "webhook_id": webhook_id, "called": False}


def post_signed(url: str, payload, *, webhook_id: str, headers: dict | None = None, secret: str | None = None) -> dict:
    """POST `payload` as signed JSON. Returns {url, status_code, response_excerpt, webhook_id, duration_ms};
    raises WebhookBlocked (SSRF guard) or WebhookError (network error, 3xx, non-2xx)."""
    parts, port = _url_parts(url)
    address = checked_address(parts.hostname, port)
    body, request_headers = signed_request(parts, payload, webhook_id=webhook_id, headers=headers, secret=secret)
    output = {"url": url, "webhook_id": webhook_id, "address": address}
    started = time.monotonic()
    limit = current_app.config["OUTGOING_HTTP_DEADLINE_SECONDS"]
    deadline = Deadline(limit)
    try:
        with deadline, _session(parts) as session:
            response = session.post(_pinned_url(parts, address), data=body, headers=request_headers,
                                    timeout=(min(TIMEOUT[0], limit), min(TIMEOUT[1], limit)),
                                    allow_redirects=False, stream=True)
            try:
                raw = read_limited(response, EXCERPT_BYTES)
            finally:
                response.close()
    except (requests.RequestException, OSError) as error:
        output["duration_ms"] = int((time.monotonic() - started) * 1000)
        if deadline.expired:
            raise WebhookError(f"Calling {url}: {took_too_long(limit)}", retryable=True, output=output) from None
        if isinstance(error, requests.Timeout):
            raise WebhookError(f"Timed out calling {url}", retryable=True, output=output) from None
        raise WebhookError(f"Could not call {url}: {_why(error)}", retryable=True, output=output) from None
    if deadline.expired:  # the body was cut short by the deadline
        output["duration_ms"] = int((time.monotonic() - started) * 1000)
        raise WebhookError(f"Calling {url}: {took_too_long(limit)}", retryable=True, output=output)
    output.update(status_code=response.status_code,
                  response_excerpt=raw[:EXCERPT_BYTES].decode("utf-8", errors="replace"),
                  duration_ms=int((time.monotonic() - started) * 1000))
    status = response.status_code
    if 300 <= status < 400:
        location = response.headers.get("Location", "")
        raise WebhookError(f"{url} answered {status} (a redirect to {location or '?'}); redirects are not followed",
                           retryable=False, output=output)
    if not 200 <= status < 300:
        retryable = status >= 500 or status in (408, 425, 429)
        raise WebhookError(f"{url} answered {status}", retryable=retryable, output=output)
    return output


def _why(error: Exception) -> str:
    """A request failure in words: "connection refused", "the name does not resolve", ... (the class name otherwise)."""
    text = str(error).lower()
    for needle, words in (("refused", "connection refused (nothing is listening at that address and port)"),
                          ("name or service not known", "the host name does not resolve"),
                          ("nodename nor servname", "the host name does not resolve"),
                          ("temporary failure in name resolution", "the host name does not resolve"),
                          ("certificate", "its TLS certificate was not accepted"),
                          ("reset by peer", "the connection was reset by the server"),
                          ("network is unreachable", "the network is unreachable")):
        if needle in text:
            return words
    return type(error).__name__
