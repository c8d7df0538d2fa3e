"""A wall-clock deadline for one outgoing HTTP call (webhooks, Resend), and a bounded response.

`requests`' timeout bounds each socket operation, not the call: a receiver that sends one header byte
every few seconds holds a call for as long as it likes. Here every socket the call opens is registered
with the call's Deadline; when the deadline passes, a timer shuts those sockets down, the blocked read
returns at once, and the caller reports "the receiver took longer than N s". Sessions get the watching
adapters with `watch(session)`; the pinned-address adapter of webhooks subclasses WatchedAdapter.
"""
from __future__ import annotations

import socket
import threading
import time

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

_local = threading.local()


class Deadline:
    """`with Deadline(15) as deadline:` — sockets opened in this thread inside the block are shut down at 15 s."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.expired = False
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        self.done = False
        self.started = time.monotonic()
        self.timer = threading.Timer(seconds, self.expire)
        self.timer.daemon = True

    def __enter__(self) -> "Deadline":
        self.previous = getattr(_local, "deadline", None)
        _local.deadline = self
        self.timer.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.timer.cancel()
        with self.lock:
            self.done = True
            self.sockets.clear()
        _local.deadline = self.previous

    def remaining(self) -> float:
        return max(0.001, self.seconds - (time.monotonic() - self.started))

    def register(self, sock: socket.socket) -> None:
        with self.lock:
            if self.done:
                return
            self.sockets.append(sock)
            if self.expired:
                _shut(sock)

    def expire(self) -> None:
        with self.lock:
            if self.done:
                return
            self.expired = True
            for sock in self.sockets:
                _shut(sock)


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)  # a closed or detached socket refuses: nothing to stop then
    except OSError:
        pass


def _register(sock) -> None:
    deadline = getattr(_local, "deadline", None)
    if deadline is not None and sock is not None:
        deadline.register(sock)


class _WatchedHTTPConnection(HTTPConnection):
    def _new_conn(self):
        sock = super()._new_conn()
        _register(sock)
        return sock


class _WatchedHTTPSConnection(HTTPSConnection):
    def _new_conn(self):
        sock = super()._new_conn()
        _register(sock)  # the TCP socket, during the TLS handshake
        return sock

    def connect(self):
        super().connect()
        _register(self.sock)  # the TLS socket that replaced it


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class WatchedAdapter(HTTPAdapter):
    """An HTTPAdapter whose connections register their sockets with the thread's Deadline."""

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}


def watch(session):
    """Mount the watching adapters on a requests.Session (a test's stand-in session is left as it is)."""
    if isinstance(session, requests.Session):
        session.mount("http://", WatchedAdapter())
        session.mount("https://", WatchedAdapter())
    return session


def read_limited(response, limit: int) -> bytes:
    """At most `limit` bytes of a streamed response's body (the rest is never read)."""
    raw = getattr(response, "raw", None)
    if isinstance(response, requests.Response) and raw is not None:
        try:
            return raw.read(limit, decode_content=True) or b""
        except urllib3.exceptions.HTTPError as error:  # e.g. the deadline shut the socket mid-body
            raise requests.ConnectionError(error) from error
    content = getattr(response, "content", None)
    if isinstance(content, bytes):
        return content[:limit]
    return str(getattr(response, "text", "") or "").encode()[:limit]


def took_too_long(seconds: float) -> str:
    return f"the receiver took longer than {seconds:g} s (connect, headers and body together); the call was stopped"
