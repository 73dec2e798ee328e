"""Shared fixtures for the provider-client tests: a real recording HTTP server on 127.0.0.1.

`server` answers each request from a queue of scripted answers (or a default answer) and
records method, path, query, request line, headers and raw body. Behaviours:
normal, delay (sleep `delay` s first), hang (never answer), cut (close mid-body),
huge (stream `huge_bytes` bytes), echo (answer with the request's headers and body).
"""

from __future__ import annotations

import base64
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from bot.providers.cpanel import CpanelClient
from bot.providers.mofh import MofhClient
from bot.providers.namecheap import InProcessCallBudget, NamecheapClient
from bot.providers.plesk import PleskClient

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "providers"

MOFH_API_USERNAME = "resellerapi7"
MOFH_API_PASSWORD = "ZZZmofhApiPw&+%=~ 9"
NC_API_USER = "acmereseller"
NC_API_KEY = "ZZZncApiKey0123456789abcdef&+%"
NC_CLIENT_IP = "203.0.113.10"
MOFH_KEY = "webq7k2m"
MOFH_PASSWORD = "Xq7vN2mLp9TzR4wB"  # 16 alphanumerics, as the generator makes them
CPANEL_API_USERNAME = "resellerbot"
CPANEL_API_TOKEN = "ZZZcpTok&+%=~9Z1K4QXW2M7R5T8Y3U6"  # visible ASCII, as a header carries it
CPANEL_USER = "acmeshop"
CPANEL_DOMAIN = "acmeshop.example"
CPANEL_PASSWORD = "Xq7vN2mLp9TzR4wBk3Hs"  # 20 alphanumerics, as the generator makes them


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: str
    request_line: str
    headers: dict[str, str]
    body: bytes

    @property
    def form(self) -> dict[str, list[str]]:
        return parse_qs(self.body.decode("ascii"), keep_blank_values=True, strict_parsing=True)

    def header(self, name: str) -> str | None:
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None

    def basic_auth(self) -> tuple[str, str] | None:
        value = self.header("Authorization")
        if not value or not value.startswith("Basic "):
            return None
        user, _, password = base64.b64decode(value[6:]).decode("latin-1").partition(":")
        return user, password


@dataclass
class Scripted:
    status: int = 200
    body: bytes = b""
    behaviour: str = "normal"  # normal | delay | hang | cut | huge | echo
    delay: float = 0.0
    huge_bytes: int = 0
    headers: dict[str, str] = field(default_factory=dict)


class RecordingServer:
    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self._queue: list[Scripted] = []
        self._default = Scripted(status=500, body=b"no scripted answer")
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in separate writes

            def log_message(self, *args):
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                recorded = RecordedRequest(
                    method=self.command,
                    path=parts.path,
                    query=parts.query,
                    request_line=self.requestline,
                    headers=dict(self.headers.items()),
                    body=body,
                )
                with owner._lock:
                    owner.requests.append(recorded)
                    answer = owner._queue.pop(0) if owner._queue else owner._default
                owner._answer(self, answer, recorded)

            do_GET = do_POST = do_PUT = _handle

        self._httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    def enqueue(self, status: int = 200, body: bytes | str = b"", **kwargs) -> None:
        with self._lock:
            self._queue.append(Scripted(status=status, body=_bytes(body), **kwargs))

    def set_default(self, status: int = 200, body: bytes | str = b"", **kwargs) -> None:
        self._default = Scripted(status=status, body=_bytes(body), **kwargs)

    def _answer(self, handler: BaseHTTPRequestHandler, answer: Scripted, request: RecordedRequest) -> None:
        if answer.behaviour == "hang":
            self._stopping.wait(30)
            handler.close_connection = True
            return
        if answer.behaviour == "delay":
            self._stopping.wait(answer.delay)
        body = answer.body
        if answer.behaviour == "echo":
            body = request.request_line.encode() + b"\n" + json.dumps(request.headers).encode() + b"\n" + request.body
        handler.send_response(answer.status)
        for key, value in answer.headers.items():
            handler.send_header(key, value)
        try:
            if answer.behaviour == "huge":
                handler.send_header("Content-Length", str(answer.huge_bytes))
                handler.end_headers()
                block = b"<" + b"A" * 65535
                sent = 0
                while sent < answer.huge_bytes and not self._stopping.is_set():
                    handler.wfile.write(block)
                    sent += len(block)
                handler.close_connection = True
                return
            if answer.behaviour == "cut":
                handler.send_header("Content-Length", str(len(body) * 4 + 100))
                handler.end_headers()
                handler.wfile.write(body)
                handler.wfile.flush()
                handler.close_connection = True
                handler.connection.shutdown(2)
                return
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body)
        except OSError:  # the client went away (e.g. it stopped reading an oversized answer)
            handler.close_connection = True

    def start(self) -> RecordingServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:  # clients that hang up are part of the tests
        pass


def _bytes(body: bytes | str) -> bytes:
    return body.encode("utf-8") if isinstance(body, str) else body


@pytest.fixture
def server():
    srv = RecordingServer().start()
    try:
        yield srv
    finally:
        srv.stop()


def plain_session() -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # no proxy or .netrc from the environment in front of 127.0.0.1
    return session


@pytest.fixture
def budget():
    return InProcessCallBudget()


@pytest.fixture
def make_mofh(server):
    def make(**kwargs) -> MofhClient:
        kwargs.setdefault("session", plain_session())
        kwargs.setdefault("timeout", (2.0, 2.0))
        kwargs.setdefault("retry_delay", 0.0)
        return MofhClient(
            kwargs.pop("base_url", server.url),
            kwargs.pop("api_username", MOFH_API_USERNAME),
            kwargs.pop("api_password", MOFH_API_PASSWORD),
            **kwargs,
        )

    return make


@pytest.fixture
def make_cpanel(server):
    def make(**kwargs) -> CpanelClient:
        kwargs.setdefault("session", plain_session())
        kwargs.setdefault("timeout", (2.0, 2.0))
        kwargs.setdefault("retry_delay", 0.0)
        return CpanelClient(
            kwargs.pop("base_url", server.url),
            kwargs.pop("api_username", CPANEL_API_USERNAME),
            kwargs.pop("api_token", CPANEL_API_TOKEN),
            **kwargs,
        )

    return make


@pytest.fixture
def make_namecheap(server, budget):
    def make(**kwargs) -> NamecheapClient:
        kwargs.setdefault("session", plain_session())
        kwargs.setdefault("timeout", (2.0, 2.0))
        kwargs.setdefault("budget", budget)
        kwargs.setdefault("rate_limit_backoff", (0.01, 0.01))
        return NamecheapClient(
            kwargs.pop("endpoint_url", server.url + "/xml.response"),
            kwargs.pop("api_user", NC_API_USER),
            kwargs.pop("api_key", NC_API_KEY),
            kwargs.pop("client_ip", NC_CLIENT_IP),
            **kwargs,
        )

    return make


def fixture_bytes(relative: str) -> bytes:
    return (FIXTURES / relative).read_bytes()


NC_SUCCESS = fixture_bytes("namecheap/changepassword_success_way1_oldpassword.xml")
NC_RESET_SUCCESS = fixture_bytes("namecheap/resetpassword_success.xml")
MOFH_SUCCESS = fixture_bytes("mofh/passwd_success.xml")
CPANEL_SUCCESS = fixture_bytes("cpanel/passwd_success.json")


# ------------------------------------------------------------------------------------------ Plesk

PLESK_API_LOGIN = "resellerapi"
PLESK_API_PASSWORD = "ZZZpleskApiPw&<>]]>+%=~9"
PLESK_SECRET_KEY = "ZZZ3f0c9b1e-5d2a-4c8e-9b7f-0a1b2c3d4e5f"
PLESK_LOGIN = "jdoe42"  # every fixture in plesk/ answers a request for this customer (id 1187)
PLESK_PASSWORD = "R7#kq&Vx2m~Lp9@Tz4_w"  # 20 characters as the generator draws them, with an & to escape


@pytest.fixture
def make_plesk(server):
    def make(**kwargs) -> PleskClient:
        kwargs.setdefault("session", plain_session())
        kwargs.setdefault("timeout", (2.0, 2.0))
        kwargs.setdefault("retry_delay", 0.0)
        if "secret_key" not in kwargs:
            kwargs.setdefault("login", PLESK_API_LOGIN)
            kwargs.setdefault("password", PLESK_API_PASSWORD)
        return PleskClient(kwargs.pop("base_url", server.url), **kwargs)

    return make


def plesk_fixture(name: str) -> bytes:
    return fixture_bytes("plesk/" + name)


PLESK_SET_SUCCESS = plesk_fixture("set_success.xml")
PLESK_GET_ACTIVE = plesk_fixture("get_active.xml")
