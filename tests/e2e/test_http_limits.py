"""`run --http` under hostile clients: lengths, bodies past 1 MiB, stalled and trickling clients, signatures.

Raw sockets on loopback against bot/server.py's waitress server (and its WSGI app on its own, for
any other server): a malformed Content-Length is 400 and a body over 1 MiB 413, neither read past
the limit, chunked or not (the server's memory is measured); a stalled or trickling connection is
closed; the connection limit holds; a request whose signature or timestamp is missing, malformed or
stale is 401 with no traceback and nothing of its body in the logs.
"""

from __future__ import annotations

import io
import logging
import socket
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

import pytest
import requests

from bot.server import MAX_BODY, ResetbotWsgiApp, start_http_server
from devkit.slack import SlackSim
from tests.e2e.test_transports import COMMAND, http_runtime, signed

MIB = 1 << 20
ATTEMPT = 64 * MIB  # what a hostile client tries to push


@pytest.fixture
def serve():
    """start(**limits) -> a waitress server for a bare app answering /reset-password (its Slack simulated)."""
    sim = SlackSim(socket_mode=False)
    servers = []

    def start(**limits):
        server = start_http_server(http_runtime(api_url=sim.api_url), "127.0.0.1", 0, **limits)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()
    sim.stop()


def _status(proc_key: str) -> int:
    """A /proc/self/status figure in bytes (VmRSS: resident now, VmHWM: the peak since the last reset)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(proc_key + ":"):
            return int(line.split()[1]) * 1024
    raise LookupError(proc_key)


def _reset_peak() -> str:
    try:
        Path("/proc/self/clear_refs").write_text("5")  # Linux: VmHWM starts again from VmRSS
        return "VmHWM"
    except OSError:
        return "VmRSS"


class Pusher:
    """A raw client that sends `head`, then body bytes until `total` or the server stops taking them,
    while a second thread reads whatever the server answers (so an answer sent before the server
    closes the connection is never lost to the reset)."""

    def __init__(self, port: int, head: bytes, chunks, total: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.answer = b""
        self.sent = 0
        reader = threading.Thread(target=self._read, daemon=True)
        reader.start()
        try:
            self.sock.sendall(head)
            for chunk in chunks:
                self.sock.sendall(chunk)
                self.sent += len(chunk)
                if self.sent >= total:
                    break
        except OSError:
            pass  # the server closed the connection: exactly what a refusal looks like
        reader.join(10)
        self.sock.close()

    def _read(self) -> None:
        try:
            while data := self.sock.recv(65536):
                self.answer += data
        except OSError:
            pass


def _forever(chunk: bytes):
    while True:
        yield chunk


def _pushed(port: int, head: bytes, chunk: bytes) -> tuple[Pusher, int]:
    """Push up to ATTEMPT bytes; the client and how much the process's memory grew at its peak meanwhile."""
    key = _reset_peak()
    before = _status("VmRSS")
    pusher = Pusher(port, head, _forever(chunk), ATTEMPT)
    return pusher, _status(key) - before


def _head(*lines: str) -> bytes:
    return ("\r\n".join(["POST /slack/events HTTP/1.1", "Host: x", *lines, "Connection: close"]) + "\r\n\r\n").encode()


@pytest.mark.parametrize("length", ["-1", "-5", "+5", "1e3", "0x10", "abc", "5, 5"])
def test_a_malformed_content_length_is_400_and_the_body_behind_it_is_never_read(serve, length):
    server = serve()
    pusher, growth = _pushed(server.port, _head(f"Content-Length: {length}"), b"a" * 65536)
    assert pusher.answer.startswith(b"HTTP/1.1 400 "), pusher.answer[:80]
    assert pusher.sent < ATTEMPT // 2  # refused at the headers: only the kernel's socket buffers filled
    assert growth < 16 * MIB, f"memory grew {growth / MIB:.1f} MiB while {pusher.sent / MIB:.1f} MiB were pushed"


def test_a_chunked_body_past_1_mib_is_413_and_not_read_further(serve):
    server = serve()
    chunk = b"10000\r\n" + b"c" * 0x10000 + b"\r\n"
    head = _head("Content-Type: application/x-www-form-urlencoded", "Transfer-Encoding: chunked")
    pusher, growth = _pushed(server.port, head, chunk)
    assert pusher.answer.startswith(b"HTTP/1.1 413 "), pusher.answer[:80]
    assert pusher.sent < ATTEMPT // 2
    assert growth < 16 * MIB, f"memory grew {growth / MIB:.1f} MiB while {pusher.sent / MIB:.1f} MiB were pushed"


def test_a_body_of_exactly_1_mib_is_read_and_one_byte_more_is_413(serve):
    server = serve()
    body = b"a" * MAX_BODY
    at_limit = requests.post(server.url, data=body, timeout=10,
                             headers={"Content-Type": "application/x-www-form-urlencoded", **signed(body)})
    assert at_limit.status_code == 400  # signed, read whole, then dropped by the screen: not 413
    over = requests.post(server.url, data=body + b"a", timeout=10,
                         headers={"Content-Type": "application/x-www-form-urlencoded", **signed(body + b"a")})
    assert over.status_code == 413


class Unreadable(io.RawIOBase):
    def read(self, size=-1):
        raise AssertionError("the body was read")


@pytest.mark.parametrize(("length", "status"), [("-1", "400"), ("+5", "400"), (" 5", "400"), ("1e3", "400"),
                                                (str(MAX_BODY + 1), "413")])
def test_under_any_wsgi_server_a_bad_or_too_long_length_is_refused_before_the_body_is_read(length, status):
    app = ResetbotWsgiApp(http_runtime())
    answered = []
    environ = {"PATH_INFO": "/slack/events", "REQUEST_METHOD": "POST", "CONTENT_LENGTH": length,
               "wsgi.input": Unreadable(), "QUERY_STRING": ""}
    app(environ, lambda status_line, headers: answered.append(status_line))
    assert answered and answered[0].startswith(status)


# --- signatures and timestamps --------------------------------------------------------------------


BODY = urlencode({**COMMAND, "text": "namecheap reset_code=C0DE5ecret"})
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def _now() -> str:
    return str(int(time.time()))


REFUSED = {
    "timestamp not an integer": lambda: {**signed(BODY, "soon")},
    "timestamp with a fraction": lambda: {**signed(BODY, _now() + ".5")},
    "timestamp in other digits": lambda: {**signed(BODY, "\u00b9\u00b2\u00b3")},  # str.isdigit() says yes
    "timestamp of 5000 digits": lambda: {**signed(BODY, "9" * 5000)},
    "timestamp negative": lambda: {**signed(BODY, "-" + _now())},
    "timestamp missing": lambda: {"X-Slack-Signature": signed(BODY)["X-Slack-Signature"]},
    "timestamp empty": lambda: {**signed(BODY, "")},
    "timestamp 301 s old": lambda: signed(BODY, str(int(time.time()) - 301)),
    "timestamp 301 s ahead": lambda: signed(BODY, str(int(time.time()) + 301)),
    "signature empty": lambda: {**signed(BODY), "X-Slack-Signature": ""},
    "signature missing": lambda: {"X-Slack-Request-Timestamp": _now()},
    "signature of another body": lambda: signed(BODY + "&x=1"),
    "signature not ASCII": lambda: {**signed(BODY), "X-Slack-Signature": "v0=\u00e9"},
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_an_unsigned_or_stale_request_is_401_without_a_traceback_or_its_body_in_the_logs(serve, caplog, case):
    server = serve()
    headers = {**FORM, **REFUSED[case]()}
    with caplog.at_level(logging.DEBUG):
        answer = requests.post(server.url, data=BODY.encode(), headers=headers, timeout=5)
    assert answer.status_code == 401
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert "C0DE5ecret" not in caplog.text and "reset_code" not in caplog.text
    assert "refused an HTTP request" in caplog.text


def test_a_request_signed_within_5_minutes_is_served(serve):
    server = serve()
    for age in (0, 299, -299):
        headers = {**FORM, **signed(BODY, str(int(time.time()) - age))}
        assert requests.post(server.url, data=BODY.encode(), headers=headers, timeout=5).status_code == 200


# --- slow clients and the connection limit ---------------------------------------------------------


def _closed_within(sock: socket.socket, seconds: float) -> float | None:
    """Seconds until the server closed `sock` (EOF or reset), or None if it was still open after `seconds`."""
    start = time.monotonic()
    sock.settimeout(0.2)
    while time.monotonic() - start < seconds:
        try:
            if sock.recv(65536) == b"":
                return time.monotonic() - start
        except TimeoutError:
            continue
        except OSError:
            return time.monotonic() - start
    return None


def _stalled(port: int, declared: int = 1000, sent: int = 10) -> socket.socket:
    """A client that sends its headers and part of its body, then nothing."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(_head(f"Content-Length: {declared}", "Content-Type: application/x-www-form-urlencoded")
                 + b"a" * sent)
    return sock


def test_a_stalled_client_is_closed_after_the_channel_timeout(serve):
    server = serve(channel_timeout=1, read_deadline=60)
    with _stalled(server.port) as sock:
        closed = _closed_within(sock, 8)
    assert closed is not None and closed < 4, closed


def test_a_trickling_client_is_closed_at_the_read_deadline(serve):
    server = serve(channel_timeout=60, read_deadline=2)
    sock = _stalled(server.port, sent=0)
    start = time.monotonic()
    try:
        while time.monotonic() - start < 10:  # one byte every 0.2 s: never silent for the channel timeout
            try:
                sock.sendall(b"a")
            except OSError:
                break
            if _closed_within(sock, 0.2) is not None:
                break
        closed = time.monotonic() - start
    finally:
        sock.close()
    assert closed < 5, f"a trickling request was held {closed:.1f} s"


def test_the_connection_limit_holds_and_a_freed_slot_serves_again(serve):
    server = serve(connection_limit=20, channel_timeout=2, read_deadline=60)
    assert server.connection_limit == 20
    clients = [socket.create_connection(("127.0.0.1", server.port), timeout=5) for _ in range(40)]
    try:
        deadline = time.monotonic() + 5
        while server.open_connections() < 15 and time.monotonic() < deadline:
            time.sleep(0.05)
        # waitress counts its listener and its wake-up pipe against the limit, and accepts no more
        assert 15 <= server.open_connections() <= 20
        time.sleep(0.5)
        assert server.open_connections() <= 20
        # the idle ones are closed after the channel timeout; then the backlog, then this one, are served
        headers = {**FORM, **signed(BODY)}
        start = time.monotonic()
        answer = requests.post(server.url, data=BODY.encode(), headers=headers, timeout=15)
        assert answer.status_code == 200 and time.monotonic() - start < 12
    finally:
        for sock in clients:
            sock.close()
