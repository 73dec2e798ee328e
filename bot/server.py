"""Serving the app on Bolt's own adapters: Socket Mode (default), or signed HTTP with /healthz under waitress.

Part of the composition root: it is where the Bolt app meets a transport. Bolt builds its
request and context from the payload before any middleware runs, so both transports screen
the payload (handlers.guard.problem_with) first. A payload that is not one Slack would send is
answered (acked over Socket Mode, 400 over HTTP) and dropped with a warning; an unexpected
failure is logged at ERROR with its traceback and an error id.
"""

from __future__ import annotations

import json
import logging
import secrets
import socket
import threading
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_bolt.request import BoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.socket_mode.builtin import SocketModeClient
from slack_sdk.socket_mode.client import BaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from waitress import wasyncore
from waitress.server import create_server

from handlers.guard import problem_with, response_hosts_for

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIEnvironment

    from slack_bolt.adapter.wsgi.http_request import WsgiHttpRequest

    from bot.app import Runtime

log = logging.getLogger("resetbot")

EVENTS_PATH = "/slack/events"
MAX_BODY = 1 << 20
# Bolt acks within 3 s and runs listeners on its own pool (bot/app.py), so a waitress thread is
# held only until the ack; 16 bound what one process serves at once.
HTTP_THREADS = 16
HTTP_CONNECTIONS = 100
# An idle or stalled connection (headers or body trickling in) is closed after this long;
# Slack gives up on a request after 3 s anyway.
HTTP_CHANNEL_TIMEOUT = 30
HTTP_MAX_HEADER = 64 * 1024

# What a payload of the wrong shape makes Bolt raise while it builds its request (a string where
# it expects an object, an empty list, JSON nested too deep). Anything else is a bug.
UNREADABLE = (AttributeError, IndexError, KeyError, TypeError, ValueError, RecursionError)


def _dispatch(app: App, request: BoltRequest, what: str) -> BoltResponse:
    """app.dispatch, which handles listener and middleware errors itself; whatever still escapes is a bug."""
    try:
        return app.dispatch(request)
    except Exception:
        error_id = secrets.token_hex(4)
        log.exception("unexpected failure dispatching %s (error id %s)", what, error_id)
        return BoltResponse(status=500, body="")


# --- Socket Mode ---------------------------------------------------------------------------------


class NoDelaySocketModeClient(SocketModeClient):
    """slack_sdk's built-in Socket Mode client with Nagle's algorithm off on every (re)connection.

    slack_sdk sets TCP_NODELAY only on proxied sockets; without it a small ack frame written
    right after another can wait for the peer's delayed TCP ack (~40 ms measured in
    bench/ack_latency.py), a third of Slack's budget spent doing nothing. Reconnections
    (connect_to_new_endpoint, a `disconnect` message) come through connect() too.
    """

    def connect(self) -> None:
        super().connect()
        sock = getattr(self.current_session, "sock", None)
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:  # the connection is already gone; the reconnect sets it again
                pass


class ScreenedSocketModeHandler(SocketModeHandler):
    """Bolt's built-in Socket Mode adapter on a NoDelaySocketModeClient, with the payload screen in front."""

    def __init__(self, app: App, app_token: str) -> None:
        # SocketModeHandler.__init__ only builds its SocketModeClient (with these same settings) and
        # subscribes handle(); this does the same with the no-delay client instead of building two.
        self.app = app
        self.app_token = app_token
        self.client = NoDelaySocketModeClient(app_token=app_token, logger=app.logger, web_client=app.client,
                                              proxy=app.client.proxy, ping_interval=10, concurrency=10)
        self.client.socket_mode_request_listeners.append(self.handle)
        self.response_hosts = response_hosts_for(app)

    def handle(self, client: BaseSocketModeClient, req: SocketModeRequest) -> None:
        response = dispatch_envelope(self.app, req, self.response_hosts)
        if response.status != 200:
            # As Bolt's adapter does: no ack, so Slack redelivers what nothing here answered.
            client.logger.info("Unsuccessful Bolt execution result (status: %s)", response.status)
            return
        client.send_socket_mode_response(_ack_frame(req.envelope_id, response))


def socket_mode_handler(app: App, app_token: str) -> ScreenedSocketModeHandler:
    return ScreenedSocketModeHandler(app, app_token)


def dispatch_envelope(app: App, request: SocketModeRequest, hosts: frozenset[str]) -> BoltResponse:
    """What Bolt's Socket Mode adapter does with an envelope, behind the screen.

    A payload of the wrong shape is acked (so Slack does not redeliver it) and dropped with a warning.
    """
    why = problem_with(request.payload, hosts)
    if why is None:
        try:
            bolt_request = BoltRequest(mode="socket_mode", body=request.payload,
                                       headers=_retry_headers(request))
        except UNREADABLE as exc:
            why = f"Bolt could not read it ({type(exc).__name__})"
        else:
            return _dispatch(app, bolt_request, "a Socket Mode envelope")
    log.warning("dropped a malformed Socket Mode envelope: %s", why)
    return BoltResponse(status=200, body="")


def _retry_headers(request: SocketModeRequest) -> dict[str, str | Sequence[str]]:
    """An Events API redelivery marked as over HTTP, as Bolt's own adapter does."""
    headers: dict[str, str | Sequence[str]] = {}
    if request.retry_attempt is not None:
        headers["x-slack-retry-num"] = str(request.retry_attempt)
    if request.retry_reason is not None:
        headers["x-slack-retry-reason"] = request.retry_reason
    return headers


def _ack_frame(envelope_id: str, response: BoltResponse) -> SocketModeResponse:
    """The ack for Bolt's response, built as Bolt's adapter builds it: a JSON body is the ack's payload."""
    body = response.body
    if not body:
        return SocketModeResponse(envelope_id=envelope_id)
    if response.headers.get("content-type", [""])[0].startswith("application/json"):
        return SocketModeResponse(envelope_id=envelope_id, payload=json.loads(body))
    return SocketModeResponse(envelope_id=envelope_id, payload={"text": body})


def serve_socket_mode(runtime: Runtime, stop: threading.Event) -> None:
    token = runtime.settings.slack_app_token
    if token is None:  # Settings.problems_for_run refuses to start without it
        raise ValueError("SLACK_APP_TOKEN is not set")
    handler = socket_mode_handler(runtime.app, token.reveal())
    handler.connect()
    log.info("resetbot ready (Socket Mode, replica %s)", runtime.workflow.context.replica_id)
    stop.wait()
    handler.close()


# --- HTTP ------------------------------------------------------------------------------------------


class FormAwareBoltRequest(BoltRequest):
    """A BoltRequest that reads a plain form as a form even when its text contains "payload".

    Bolt ≤1.30 reads any form body containing the text "payload" as interactivity, finds no
    `payload=` field and parses it to {}: a slash command whose text says "payload" would be
    answered 404 (tests/e2e/test_http_mode.py). Such a body is re-read as the plain form it is;
    the signature check still covers the raw body.
    """

    def __init__(self, *, body: str, **kwargs: Any) -> None:
        super().__init__(body=body, **kwargs)
        interactivity = body.startswith("payload=") or "&payload=" in body
        if self.body == {} and "payload" in body and not interactivity:
            self.body = dict(parse_qsl(body, keep_blank_values=True))
            # Bolt builds the context from a dict body as it is in Socket Mode; only the context is kept.
            self.context = BoltRequest(body=self.body, mode="socket_mode").context


class ResetbotWsgiApp(SlackRequestHandler):
    """Bolt's WSGI adapter, plus GET /healthz, the body limit and the payload screen.

    POST /slack/events goes to Bolt, which verifies the signature (401 when bad or stale);
    a body over MAX_BODY is 413 before it is read, a malformed request 400; anything else 404.
    """

    def __init__(self, runtime: Runtime) -> None:
        super().__init__(runtime.app, path=EVENTS_PATH)
        self.runtime = runtime
        self.response_hosts = response_hosts_for(runtime.app)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "")
        if path == "/healthz" and method in ("GET", "HEAD"):
            healthy = self.runtime.workflow.lookups.ping()
            return _plain(start_response, "200 OK" if healthy else "503 Service Unavailable",
                          "ok" if healthy else "database unavailable")
        if path == self.path and method == "POST":
            length = _content_length(environ)
            if length is None:
                return _plain(start_response, "400 Bad Request", "bad request")
            if length > MAX_BODY:  # waitress refuses it first (max_request_body_size); any other server
                return _plain(start_response, "413 Payload Too Large", "too large")
        return super().__call__(environ, start_response)

    def dispatch(self, request: WsgiHttpRequest) -> BoltResponse:
        length = _content_length(request.environ) or 0
        # Not UTF-8: the replacement characters then fail the signature check (401), as any edited body does.
        raw = request.environ["wsgi.input"].read(length).decode("utf-8", errors="replace") if length else ""
        why: str | None
        try:
            bolt_request = FormAwareBoltRequest(body=raw, query=request.query_string,
                                                headers=request.get_headers())
        except UNREADABLE as exc:
            why = f"Bolt could not read it ({type(exc).__name__})"
        else:
            why = problem_with(bolt_request.body, self.response_hosts) if bolt_request.body else None
            if why is None:
                return _dispatch(self.app, bolt_request, "an HTTP request")
        log.warning("dropped a malformed HTTP request: %s", why)
        return BoltResponse(status=400, body="bad request", headers={"content-type": "text/plain"})


def make_wsgi_app(runtime: Runtime) -> ResetbotWsgiApp:
    return ResetbotWsgiApp(runtime)


def _content_length(environ: WSGIEnvironment) -> int | None:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None
    return length if length >= 0 else None


def _plain(start_response: StartResponse, status: str, text: str) -> list[bytes]:
    body = text.encode()
    start_response(status, [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


class HttpServer:
    """waitress serving ResetbotWsgiApp on a background thread, in this process.

    One process on purpose: the listener and provider pools and the SQLite writer live here, and
    a forking server would split them. waitress bounds the threads and the open connections,
    refuses bodies over MAX_BODY (413) before reading them, times out idle or stalled
    connections, and keeps no access log (nothing of a request body is ever logged).
    """

    def __init__(self, runtime: Runtime, host: str = "127.0.0.1", port: int = 0) -> None:
        # One listening socket of our own, whatever the host name resolves to, so port 0 gives one real port.
        family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                      flags=socket.AI_PASSIVE)[0]
        listener = socket.create_server(address, family=family)
        self._map: dict[int, Any] = {}  # waitress's socket map: file descriptor -> dispatcher
        self._server = create_server(
            make_wsgi_app(runtime), map=self._map, sockets=[listener],
            threads=HTTP_THREADS, connection_limit=HTTP_CONNECTIONS,
            max_request_body_size=MAX_BODY, max_request_header_size=HTTP_MAX_HEADER,
            channel_timeout=HTTP_CHANNEL_TIMEOUT, cleanup_interval=5,
            asyncore_use_poll=True, expose_tracebacks=False, ident="resetbot",
        )
        self.host = host
        self.port: int = listener.getsockname()[1]
        self.url = f"http://{host}:{self.port}{EVENTS_PATH}"
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._server.run, name="http", daemon=True)
        self._thread.start()

    def close(self, timeout: float = 5.0) -> None:
        """Let requests being served finish (up to `timeout`), then close the listener and connections."""
        if self._closed.is_set():
            return
        self._closed.set()
        self._server.task_dispatcher.shutdown(timeout=timeout)
        # wasyncore's map belongs to the loop's thread: close it there, and the loop ends.
        try:
            self._server.trigger.pull_trigger(lambda: wasyncore.close_all(self._map))
        except OSError:  # the wake-up pipe is gone already: close from here; the loop ends once its map is empty
            wasyncore.close_all(self._map)
        self._thread.join(timeout)


def start_http_server(runtime: Runtime, host: str = "127.0.0.1", port: int = 0) -> HttpServer:
    return HttpServer(runtime, host, port)


def serve_http(runtime: Runtime, host: str, port: int, stop: threading.Event) -> None:
    server = start_http_server(runtime, host, port)
    log.info("resetbot ready (HTTP on http://%s:%s%s, replica %s)", host, server.port, EVENTS_PATH,
             runtime.workflow.context.replica_id)
    stop.wait()
    server.close()
