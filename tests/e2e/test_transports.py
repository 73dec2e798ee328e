"""bot/server.py's transports on their own: TCP_NODELAY on every Socket Mode connection, the screen in
front of Bolt, unexpected failures logged at ERROR with an error id, and waitress's HTTP limits."""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import socket
import threading
import time
import types
import uuid
from urllib.parse import urlencode

import pytest
import requests
from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.socket_mode.request import SocketModeRequest

from bot.pending_acks import PendingAcks
from bot.secret import Secret
from bot.server import MAX_BODY, dispatch_envelope, socket_mode_handler, start_http_server
from devkit.slack import SlackSim
from handlers.guard import response_hosts_for
from tests.e2e.conftest import ENGINEER, HELPDESK
from tests.handlers.conftest import logged_traceback


def _errors(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.ERROR]


def _bare_app(base_url: str = "http://127.0.0.1:9/api/", **kwargs) -> App:
    client = WebClient(token="xoxb-test", base_url=base_url)
    app = App(client=client, token_verification_enabled=False, **kwargs)

    @app.command("/reset-password")
    def answer(ack):
        ack()

    return app


def _nodelay(handler) -> int:
    sock = handler.client.current_session.sock
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


def test_every_socket_mode_connection_has_nagle_off_including_reconnections():
    sim = SlackSim()
    sim.add_user(ENGINEER, "sam", channels=[HELPDESK])
    handler = socket_mode_handler(_bare_app(sim.api_url), "xapp-test")
    try:
        handler.connect()
        sim.wait_for_connections(1, timeout=10)
        first = handler.client.current_session
        assert _nodelay(handler)
        sim.disconnect_all()  # Slack's `disconnect` frame: the client opens a new connection
        # The client publishes the new session a moment before connect() returns and sets the option on it.
        sim.wait_for(lambda: handler.client.current_session is not first and handler.client.is_connected()
                     and _nodelay(handler), timeout=10, message="no reconnection with Nagle off")
        ack = sim.slash_command(ENGINEER, "/reset-password", "mofh", channel=HELPDESK)
        assert ack.ok and not ack.timed_out
    finally:
        handler.close()
        sim.stop()


def _envelope(payload: dict) -> SocketModeRequest:
    return SocketModeRequest.from_dict({"envelope_id": str(uuid.uuid4()), "type": "slash_commands",
                                        "payload": payload, "accepts_response_payload": True})


COMMAND = {"team_id": "T0SUPPORT1", "channel_id": HELPDESK, "user_id": ENGINEER, "command": "/reset-password",
           "text": "mofh", "trigger_id": "1.2.3"}


def test_an_envelope_bolt_cannot_read_is_acked_and_dropped_with_a_warning(caplog):
    app = _bare_app()
    with caplog.at_level(logging.WARNING):
        envelope = _envelope({**COMMAND, "user_id": "nobody"})
        response = dispatch_envelope(app, envelope, response_hosts_for(app))
    assert (response.status, response.body) == (200, "")
    assert "dropped a malformed Socket Mode envelope: no usable user id" in caplog.text
    assert _errors(caplog) == []


def test_an_unexpected_failure_in_socket_mode_is_an_error_with_its_traceback_not_a_malformed_envelope(
        caplog, monkeypatch):
    app = _bare_app()

    def broken(request):
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(app, "dispatch", broken)
    with caplog.at_level(logging.WARNING):
        response = dispatch_envelope(app, _envelope(COMMAND), response_hosts_for(app))
    assert response.status == 500  # not acked: Slack tells the person it failed, and may redeliver
    (record,) = _errors(caplog)
    assert re.fullmatch(r"unexpected failure dispatching a Socket Mode envelope \(error id [0-9a-f]{8}\)",
                        record.getMessage())
    assert "RuntimeError: simulated bug" in logged_traceback(record)
    assert "malformed" not in caplog.text


# --- HTTP ------------------------------------------------------------------------------------------


SIGNING_SECRET = "s3cret"


def signed(body: bytes | str, timestamp: str | None = None) -> dict[str, str]:
    """Slack's signing headers for `body`, as Slack computes them (v0, HMAC-SHA256)."""
    raw = body.encode() if isinstance(body, str) else body
    ts = timestamp if timestamp is not None else str(int(time.time()))
    digest = hmac.new(SIGNING_SECRET.encode(), b"v0:" + ts.encode() + b":" + raw, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": "v0=" + digest}


def http_runtime(healthy: threading.Event | None = None, api_url: str | None = None) -> types.SimpleNamespace:
    """What the HTTP transport needs of a Runtime: the app, the signing secret, the database ping.

    Without `api_url` (a simulated Slack's) the app cannot reach Slack: a signed command fails (500).
    """
    ping = healthy.is_set if healthy is not None else (lambda: True)
    app = _bare_app(api_url, signing_secret=SIGNING_SECRET) if api_url else _bare_app(signing_secret=SIGNING_SECRET)
    alive = threading.Event()
    alive.set()
    return types.SimpleNamespace(app=app, pending_acks=PendingAcks(), draining=threading.Event(),
                                 loops_alive=alive.is_set, alive=alive,
                                 settings=types.SimpleNamespace(slack_signing_secret=Secret(SIGNING_SECRET),
                                                                health_port=None, health_host="127.0.0.1"),
                                 workflow=types.SimpleNamespace(lookups=types.SimpleNamespace(ping=ping)))


@pytest.fixture
def http():
    healthy = threading.Event()
    healthy.set()
    runtime = http_runtime(healthy)
    app = runtime.app
    server = start_http_server(runtime, "127.0.0.1", 0)
    try:
        yield types.SimpleNamespace(server=server, app=app, healthy=healthy, alive=runtime.alive,
                                    base=f"http://127.0.0.1:{server.port}")
    finally:
        server.close()


def _raw(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(request)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    return answer


def test_port_0_binds_a_real_port_and_healthz_is_liveness_whatever_the_database_does(http):
    assert http.server.port > 0 and http.server.url == f"{http.base}/slack/events"
    answer = requests.get(f"{http.base}/healthz", timeout=5)
    assert (answer.status_code, answer.text) == (200, "ok; database up")
    http.healthy.clear()  # the database is down: alive, not ready (a liveness probe must not restart the replica)
    answer = requests.get(f"{http.base}/healthz", timeout=5)
    assert (answer.status_code, answer.text) == (200, "ok; database down")
    assert requests.get(f"{http.base}/readyz", timeout=5).status_code == 503
    assert requests.get(f"{http.base}/elsewhere", timeout=5).status_code == 404
    assert requests.get(f"{http.base}/slack/events", timeout=5).status_code == 404


def test_healthz_fails_only_when_the_sweep_loop_stopped(http):
    http.alive.clear()
    answer = requests.get(f"{http.base}/healthz", timeout=5)
    assert (answer.status_code, answer.text) == (503, "the sweep loop stopped")


def test_unsigned_requests_get_401(http):
    answer = requests.post(f"{http.base}/slack/events", data=COMMAND, timeout=5)
    assert answer.status_code == 401


def test_a_body_over_1_mib_is_413_without_being_sent(http):
    head = (f"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {MAX_BODY + 1}\r\nConnection: close\r\n\r\n").encode()
    assert _raw(http.server.port, head).startswith(b"HTTP/1.1 413 ")  # answered before any body byte


@pytest.mark.parametrize("length", ["-5", "abc"])
def test_a_malformed_content_length_is_400(http, length):
    head = f"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n"
    assert _raw(http.server.port, head.encode()).startswith(b"HTTP/1.1 400 ")


def test_a_malformed_payload_is_400_with_a_warning(http, caplog):
    with caplog.at_level(logging.WARNING):
        answer = requests.post(f"{http.base}/slack/events", data="[1, 2]",
                               headers={"Content-Type": "application/json", **signed("[1, 2]")}, timeout=5)
    assert answer.status_code == 400
    assert "dropped a malformed HTTP request" in caplog.text and _errors(caplog) == []


def test_an_unexpected_failure_over_http_is_an_error_with_its_traceback(http, caplog, monkeypatch):
    def broken(request):
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(http.app, "dispatch", broken)
    body = urlencode(COMMAND)
    with caplog.at_level(logging.WARNING):
        answer = requests.post(f"{http.base}/slack/events", data=body, timeout=5,
                               headers={"Content-Type": "application/x-www-form-urlencoded", **signed(body)})
    assert answer.status_code == 500
    (record,) = _errors(caplog)
    assert re.fullmatch(r"unexpected failure dispatching an HTTP request \(error id [0-9a-f]{8}\)",
                        record.getMessage())
    assert "RuntimeError: simulated bug" in logged_traceback(record)


def test_close_stops_serving(http):
    http.server.close()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{http.base}/healthz", timeout=2)
