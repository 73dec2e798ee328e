"""The HTTP plumbing the fake providers share: request and answer records, the server, transport failures.

Stdlib only (http.server.ThreadingHTTPServer, daemon threads). The handler never logs:
request bodies carry secrets.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
import socket
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlsplit

if TYPE_CHECKING:
    from devkit.sandbox.sandbox import Sandbox
_SECRET_PARAMS = frozenset(
    {"pass", "password", "newpassword", "oldpassword", "resetcode", "apikey", "api_key", "authorization"}
)
MASK = "***"
MAX_BODY = 64 * 1024


_HTML_503 = (
    "<!DOCTYPE html>\n"
    "<html><head><title>503 Service Unavailable</title></head>\n"
    "<body><h1>Service Unavailable</h1>\n"
    "<p>The server is temporarily unable to service your request. Please try again later.</p>\n"
    "</body></html>\n"
)
_HTML_500 = (
    "<!DOCTYPE html>\n"
    "<html><head><title>500 Internal Server Error</title></head>\n"
    "<body><h1>Internal Server Error</h1>\n"
    "<p>The server encountered an internal error and was unable to complete your request.</p>\n"
    "</body></html>\n"
)
_HTML_404 = (
    "<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head>\n"
    "<body><h1>Not Found</h1></body></html>\n"
)
_GARBAGE = b"\x89\x00\xff\xfe<<%%garbage%%>> \x1b[0m not a provider answer \xc3\x28\n"
RATE_LIMIT_BODY = b""  # fixture namecheap/http_405_rate_limited.txt is 0 bytes


@dataclass
class _Request:
    method: str
    path: str
    query: str
    body: bytes
    headers: dict[str, str]
    ip: str

    def params(self, *, lower: bool = False) -> dict[str, str]:
        """Query string and form body merged (the body wins); a repeated key keeps its last value."""
        merged: dict[str, str] = {}
        sources = [self.query]
        if self.method == "POST":
            sources.append(self.body.decode("utf-8", errors="replace"))
        for source in sources:
            for key, value in parse_qsl(source, keep_blank_values=True):
                merged[key.lower() if lower else key] = value
        return merged


@dataclass
class _Answer:
    status: int = 200
    body: bytes = b""
    content_type: str = "text/html; charset=UTF-8"
    mode: str = "normal"  # normal | cut | truncated | drop
    headers: dict[str, str] = field(default_factory=dict)


def _text(body: str, status: int = 200, content_type: str = "text/html; charset=UTF-8") -> _Answer:
    return _Answer(status=status, body=body.encode("utf-8"), content_type=content_type)


def _masked(params: dict[str, str]) -> dict[str, str]:
    return {k: (MASK if k.lower() in _SECRET_PARAMS else v[:200]) for k, v in params.items()}


def _basic_auth(headers: dict[str, str]) -> tuple[str, str] | None:
    value = headers.get("authorization", "")
    if not value.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(value[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024  # a burst's connections all accepted, as the real APIs do (stdlib default: 5)

    def __init__(self, address, sandbox: Sandbox, provider: str) -> None:
        self.sandbox = sandbox
        self.provider = provider
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle on, a keep-alive client's second request waited for
    # its delayed ACK (40 ms a call). The real APIs answer without that stall.
    disable_nagle_algorithm = True
    server_version = "Apache"
    sys_version = ""
    timeout = 30

    def log_message(self, format, *args) -> None:  # never log: bodies carry secrets
        pass

    def setup(self) -> None:
        super().setup()
        self.server.sandbox._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.sandbox._track(self.connection, add=False)

    def _dispatch(self) -> None:
        sandbox: Sandbox = self.server.sandbox
        try:
            length = max(0, int(self.headers.get("Content-Length") or 0))
        except ValueError:
            length = 0
        body = self.rfile.read(min(length, MAX_BODY)) if length else b""
        if length > MAX_BODY:
            self.close_connection = True
        parts = urlsplit(self.path)
        request = _Request(
            method=self.command,
            path=re.sub(r"/{2,}", "/", parts.path) or "/",
            query=parts.query,
            body=body,
            headers={k.lower(): v for k, v in self.headers.items()},
            ip=self.client_address[0],
        )
        with sandbox._in_flight():
            try:
                if self.server.provider == "mofh":
                    answer = sandbox._handle_mofh(request)
                elif self.server.provider == "cpanel":
                    answer = sandbox._handle_cpanel(request)
                else:
                    answer = sandbox._handle_namecheap(request)
            except Exception:  # a sandbox bug: answer like a broken server, never echo the request
                answer = _text(_HTML_500, status=500)
        self._write(answer)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _dispatch

    def _write(self, answer: _Answer) -> None:
        if answer.mode == "drop":
            self.close_connection = True
            return
        try:
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.content_type)
            for key, value in answer.headers.items():
                self.send_header(key, value)
            if answer.mode == "truncated":  # no length: the body ends where the connection does
                self.send_header("Connection", "close")
            else:
                self.send_header("Content-Length", str(len(answer.body)))
            if answer.mode == "cut":
                self.send_header("Connection", "close")
            self.end_headers()
            if answer.mode in ("cut", "truncated"):
                self.wfile.write(answer.body[: len(answer.body) // 2])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            self.wfile.write(answer.body)
        except OSError:
            self.close_connection = True
