"""Serving the app on Bolt's own adapters: Socket Mode (default), or signed HTTP with /healthz under waitress.

Both serve GET /healthz, /readyz and /metrics (`ops_response`) on RESETBOT_HEALTH_HOST:
RESETBOT_HEALTH_PORT when it is set; without it HTTP mode serves them beside /slack/events (with
it, only /healthz stays there). /healthz is liveness: 200 while the process and its sweep loop
run, whatever the database does. /readyz is readiness: 200 while connected (the Socket Mode
session open; in HTTP mode, serving) and the database answers, and 503 from SIGTERM on, while
in-flight work drains. Each is one `SELECT 1` (metrics: one grouped count), cheap enough to poll
every second.

Part of the composition root: it is where the Bolt app meets a transport. Bolt builds its
request and context from the payload before any middleware runs, so both transports screen
the payload (handlers.guard.problem_with) first; over HTTP the signature is checked before
that, on the raw bytes, so nothing of an unauthenticated body is parsed or logged. A payload
that is not one Slack would send is answered (acked over Socket Mode, 400 over HTTP) and
dropped with a warning; an unexpected failure is logged at ERROR with its traceback and an
error id.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import re
import resource
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_bolt.request import BoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.socket_mode.builtin import SocketModeClient
from slack_sdk.socket_mode.client import BaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from waitress import wasyncore
from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.server import TcpWSGIServer
from waitress.task import ThreadedTaskDispatcher

from bot import metrics
from bot.logs import redact
from bot.pending_acks import NoPendingAcks, PendingAcks
from handlers.guard import problem_with, response_hosts_for

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIEnvironment

    from slack_bolt.adapter.wsgi.http_request import WsgiHttpRequest

    from bot.app import Runtime

log = logging.getLogger("resetbot")

EVENTS_PATH = "/slack/events"
MAX_BODY = 1 << 20
# Slack's rule: a request whose timestamp is more than 5 minutes off is refused (replays).
MAX_REQUEST_AGE = 300
# Bolt acks within 3 s and runs listeners on its own pool (bot/app.py), so a waitress thread is
# held only until the ack; 16 bound what one process serves at once. waitress reads headers and
# bodies on its one I/O thread and hands a worker only a request that has fully arrived, so a
# slow client holds a connection, never a thread.
HTTP_THREADS = 16
# Open connections at most (each one a file descriptor): enough that a few hundred stalled
# clients still leave room for Slack; beyond it waitress stops accepting until some close.
HTTP_CONNECTIONS = 1000
# Slack sends a request in one go and gives up on the answer after 3 s: a connection silent for
# this long is closed, and so is one whose request (headers and body) has not fully arrived this
# long after its first byte, however steadily it trickles.
HTTP_CHANNEL_TIMEOUT = 10
HTTP_READ_DEADLINE = 10
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
        log.exception("unexpected failure dispatching %s (error id %s)", what, error_id, extra={"error_id": error_id})
        return BoltResponse(status=500, body="")


# --- Socket Mode ---------------------------------------------------------------------------------


class NoDelaySocketModeClient(SocketModeClient):
    """slack_sdk's built-in Socket Mode client with Nagle's algorithm off on every (re)connection.

    slack_sdk sets TCP_NODELAY only on proxied sockets; without it a small ack frame written
    right after another can wait for the peer's delayed TCP ack (~40 ms measured in
    bench/ack_latency.py), a third of Slack's budget spent doing nothing. Reconnections
    (connect_to_new_endpoint, a `disconnect` message) come through connect() too.
    """

    # Deliveries queued and not yet answered (bot/pending_acks.py); ScreenedSocketModeHandler shares its counter.
    pending_acks: PendingAcks = NoPendingAcks()

    def enqueue_message(self, message: str) -> None:
        if '"envelope_id"' in message:  # a delivery to ack (hello and disconnect frames have no envelope)
            self.pending_acks.arrived()
        super().enqueue_message(message)

    def run_message_listeners(self, message: dict, raw_message: str) -> None:
        try:
            super().run_message_listeners(message, raw_message)  # ScreenedSocketModeHandler.handle sends the ack
        finally:
            if '"envelope_id"' in raw_message:
                self.pending_acks.acked()

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

    def __init__(self, app: App, app_token: str, pending_acks: PendingAcks | None = None) -> None:
        # SocketModeHandler.__init__ only builds its SocketModeClient (with these same settings) and
        # subscribes handle(); this does the same with the no-delay client instead of building two.
        self.app = app
        self.app_token = app_token
        self.client = NoDelaySocketModeClient(app_token=app_token, logger=app.logger, web_client=app.client,
                                              proxy=app.client.proxy, ping_interval=10, concurrency=10)
        if pending_acks is not None:
            self.client.pending_acks = pending_acks
        self.client.socket_mode_request_listeners.append(self.handle)
        self.response_hosts = response_hosts_for(app)

    def handle(self, client: BaseSocketModeClient, req: SocketModeRequest) -> None:
        response = dispatch_envelope(self.app, req, self.response_hosts)
        if response.status != 200:
            # As Bolt's adapter does: no ack, so Slack redelivers what nothing here answered.
            client.logger.info("Unsuccessful Bolt execution result (status: %s)", response.status)
            return
        client.send_socket_mode_response(_ack_frame(req.envelope_id, response))


def socket_mode_handler(app: App, app_token: str, pending_acks: PendingAcks | None = None) -> ScreenedSocketModeHandler:
    return ScreenedSocketModeHandler(app, app_token, pending_acks)


def dispatch_envelope(app: App, request: SocketModeRequest, hosts: frozenset[str]) -> BoltResponse:
    """What Bolt's Socket Mode adapter does with an envelope, behind the screen.

    A payload of the wrong shape is acked (so Slack does not redeliver it) and dropped with a warning.
    """
    arrived = time.monotonic()
    why = problem_with(request.payload, hosts)
    if why is None:
        try:
            bolt_request = BoltRequest(mode="socket_mode", body=request.payload,
                                       headers=_retry_headers(request))
        except UNREADABLE as exc:
            why = f"Bolt could not read it ({type(exc).__name__})"
        else:
            response = _dispatch(app, bolt_request, "a Socket Mode envelope")
            metrics.ACK_SECONDS.labels(metrics.payload_kind(request.payload)).observe(time.monotonic() - arrived)
            return response
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


def wait_for_signal(stop: threading.Event) -> None:
    """Block the main thread until `stop` is set by a signal handler. In short waits: the kernel may deliver
    SIGTERM or SIGINT to any thread, and a main thread blocked in one endless wait on a lock is not woken to run
    Python's handler until something else wakes it (seen with the demo's many threads: the signal was lost)."""
    while not stop.wait(0.25):
        pass


class StartFailed(Exception):
    """The transport could not start for a reason an operator must act on: one line naming the variable.
    `status`: the exit status, 2 for what the configuration must change (a refused token, a taken port), 1 for a
    service that did not answer."""

    def __init__(self, line: str, status: int = 2) -> None:
        super().__init__(line)
        self.status = status


def check_bot_token(runtime: Runtime, *, http: bool) -> None:
    """auth.test with the bot token before serving: a revoked or wrong token is one line, not a traceback at the
    first click. In HTTP mode Slack calls the bot, so a Slack that does not answer yet is only logged."""
    url = runtime.settings.slack_api_url
    try:
        runtime.notifier.client.auth_test()
    except SlackApiError as refused:
        raise StartFailed(f"SLACK_BOT_TOKEN: Slack refused auth.test ({refused.response.get('error', 'an error')})"
                          ) from None
    except (SlackClientError, OSError) as failure:
        if not http:
            raise StartFailed(f"SLACK_API_URL: Slack did not answer auth.test at {url} ({_why(failure)})",
                              status=1) from None
        log.warning("Slack did not answer auth.test at %s (%s); serving anyway: Slack calls this bot", url,
                    _why(failure))


def _listening(what: str, host: str, port: int, start: Callable[[], HttpServer]) -> HttpServer:
    try:
        return start()
    except OSError as exc:  # the port is taken, or the address is not this host's
        why = os.strerror(exc.errno) if exc.errno else type(exc).__name__
        raise StartFailed(f"{what}: cannot listen on {host}:{port} ({why})") from None


def _start_health(runtime: Runtime, connected: Callable[[], bool]) -> HttpServer | None:
    port = runtime.settings.health_port
    if port is None:
        return None
    health = _listening("RESETBOT_HEALTH_PORT", runtime.settings.health_host, port,
                        lambda: start_health_server(runtime, port, connected=connected))
    log.info("health and metrics on http://%s:%s (/healthz, /readyz, /metrics)", runtime.settings.health_host,
             health.port)
    return health


def serve_socket_mode(runtime: Runtime, stop: threading.Event) -> bool:
    """Serve until `stop`, then drain (bot/app.py: Runtime.shutdown); True when nothing was left running.
    Raises StartFailed when the health port is taken or Slack refuses or does not answer the Socket Mode call."""
    token = runtime.settings.slack_app_token
    if token is None:  # Settings.problems_for_run refuses to start without it
        raise ValueError("SLACK_APP_TOKEN is not set")
    handler = socket_mode_handler(runtime.app, token.reveal(), runtime.pending_acks)
    health = _start_health(runtime, handler.client.is_connected)
    try:
        handler.connect()
    except SlackApiError as refused:
        _close(health)
        raise StartFailed(f"SLACK_APP_TOKEN: Slack refused apps.connections.open "
                          f"({refused.response.get('error', 'an error')})") from None
    except (SlackClientError, OSError) as failure:
        _close(health)
        raise StartFailed(f"SLACK_API_URL: Slack did not answer apps.connections.open at "
                          f"{runtime.settings.slack_api_url} ({_why(failure)})", status=1) from None
    log.info("resetbot ready (Socket Mode, replica %s)", runtime.workflow.context.replica_id)
    wait_for_signal(stop)
    runtime.draining.set()  # /readyz says 503 from here
    handler.close()
    drained = runtime.shutdown()
    if health is not None:
        health.close()
    return drained


def _close(server: HttpServer | None) -> None:
    if server is not None:
        server.close()


def _why(failure: BaseException) -> str:
    """A transport failure in a few words: its type and its first line (no URL carries a secret here)."""
    said = redact(" ".join(str(failure).split()))
    return f"{type(failure).__name__}: {said[:160]}" if said else type(failure).__name__


# --- health, readiness and metrics (both transports) ----------------------------------------------------


def ops_response(runtime: Runtime, connected: Callable[[], bool], path: str,
                 start_response: StartResponse) -> list[bytes] | None:
    """GET /healthz, /readyz or /metrics; None for any other path."""
    if path == "/healthz":
        return liveness(runtime, start_response)
    if path == "/readyz":
        if runtime.draining.is_set():
            return _plain(start_response, "503 Service Unavailable", "draining")
        if not connected():
            return _plain(start_response, "503 Service Unavailable", "not connected to Slack")
        if not runtime.workflow.lookups.ping():
            return _plain(start_response, "503 Service Unavailable", "database unavailable")
        return _plain(start_response, "200 OK", "ready")
    if path == "/metrics":
        body, content_type = runtime.metrics_text()
        start_response("200 OK", [("Content-Type", content_type), ("Content-Length", str(len(body)))])
        return [body]
    return None


def liveness(runtime: Runtime, start_response: StartResponse) -> list[bytes]:
    """GET /healthz: 200 while the process and its loops run, whatever the database does (a probe that restarted
    every replica during a database outage would only add to it); the database's state is in the body."""
    if not runtime.loops_alive():
        return _plain(start_response, "503 Service Unavailable", "the sweep loop stopped")
    return _plain(start_response, "200 OK", "ok; database " + ("up" if runtime.workflow.lookups.ping() else "down"))


class HealthWsgiApp:
    """Socket Mode's side server (RESETBOT_HEALTH_PORT): only ops_response's three paths, GET or HEAD."""

    def __init__(self, runtime: Runtime, connected: Callable[[], bool]) -> None:
        self.runtime = runtime
        self.connected = connected

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") in ("GET", "HEAD"):
            answer = ops_response(self.runtime, self.connected, environ.get("PATH_INFO", ""), start_response)
            if answer is not None:
                return answer
        return _plain(start_response, "404 Not Found", "not found")


HEALTH_THREADS = 2


def start_health_server(runtime: Runtime, port: int, *, connected: Callable[[], bool]) -> HttpServer:
    """/healthz, /readyz and /metrics on RESETBOT_HEALTH_HOST:`port` (0: any free port), on a background thread."""
    return HttpServer(runtime, runtime.settings.health_host, port, app=HealthWsgiApp(runtime, connected),
                      threads=HEALTH_THREADS)


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
    """Bolt's WSGI adapter, plus GET /healthz, the body limit, the signature check and the payload screen.

    POST /slack/events: a malformed Content-Length is 400 and a body over MAX_BODY 413, both before
    a byte of the body is read (and never more than Content-Length is read); then the signature is
    checked on the raw bytes (401 when missing, bad or stale, logged without the body); only then
    is the body decoded, screened (400 when malformed) and handed to Bolt, whose own check of the
    signature stays on as a second line. Anything else is 404.
    """

    def __init__(self, runtime: Runtime) -> None:
        super().__init__(runtime.app, path=EVENTS_PATH)
        self.runtime = runtime
        secret = runtime.settings.slack_signing_secret
        if secret is None:  # Settings.problems_for_run refuses `run --http` without it
            raise ValueError("SLACK_SIGNING_SECRET is not set")
        self._signing_secret = secret.reveal().encode()
        self.response_hosts = response_hosts_for(runtime.app)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "")
        if method in ("GET", "HEAD"):
            # /readyz and /metrics move to the health listener when there is one (RESETBOT_HEALTH_PORT): the
            # events port may be public. In HTTP mode "connected to Slack" is "serving": this answer proves it.
            if self.runtime.settings.health_port is not None:
                if path == "/healthz":
                    return liveness(self.runtime, start_response)
            else:
                answer = ops_response(self.runtime, lambda: True, path, start_response)
                if answer is not None:
                    return answer
        if path == self.path and method == "POST":
            length = _content_length(environ)
            if length is None:
                return _plain(start_response, "400 Bad Request", "bad request")
            if length > MAX_BODY:  # waitress refuses it first (max_request_body_size); any other server
                return _plain(start_response, "413 Payload Too Large", "too large")
        return super().__call__(environ, start_response)

    def dispatch(self, request: WsgiHttpRequest) -> BoltResponse:
        self.runtime.pending_acks.arrived()
        try:
            return self._answer(request)
        finally:
            self.runtime.pending_acks.acked()

    def _answer(self, request: WsgiHttpRequest) -> BoltResponse:
        arrived = time.monotonic()
        length = _content_length(request.environ) or 0
        raw: bytes = request.environ["wsgi.input"].read(length) if length else b""
        refused = signature_problem(self._signing_secret, raw, request.environ, time.time())
        if refused is not None:
            log.info("refused an HTTP request: %s", refused)  # never the body: it may carry a reset code
            return BoltResponse(status=401, body="unauthorized", headers={"content-type": "text/plain"})
        why: str | None
        try:
            bolt_request = FormAwareBoltRequest(body=raw.decode("utf-8"), query=request.query_string,
                                                headers=request.get_headers())
        except UnicodeDecodeError:
            why = "the body is not UTF-8"
        except UNREADABLE as exc:
            why = f"Bolt could not read it ({type(exc).__name__})"
        else:
            why = problem_with(bolt_request.body, self.response_hosts) if bolt_request.body else None
            if why is None:
                response = _dispatch(self.app, bolt_request, "an HTTP request")
                metrics.ACK_SECONDS.labels(metrics.payload_kind(bolt_request.body)).observe(time.monotonic() - arrived)
                return response
        log.warning("dropped a malformed HTTP request: %s", why)
        return BoltResponse(status=400, body="bad request", headers={"content-type": "text/plain"})


def make_wsgi_app(runtime: Runtime) -> ResetbotWsgiApp:
    return ResetbotWsgiApp(runtime)


_DIGITS = re.compile(r"[0-9]{1,15}")


def signature_problem(secret: bytes, body: bytes, environ: WSGIEnvironment, now: float) -> str | None:
    """Why this request is not one Slack signed in the last 5 minutes, or None (Slack's v0 scheme).

    Strict where slack_sdk's verifier raises (a timestamp that is not an integer) or is lenient
    (a signature header that is present but empty, a non-ASCII one): each is a refusal.
    """
    timestamp = environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP")
    signature = environ.get("HTTP_X_SLACK_SIGNATURE")
    if not timestamp:
        return "no timestamp"
    if not _DIGITS.fullmatch(timestamp):
        return "the timestamp is not an integer"
    if abs(now - int(timestamp)) > MAX_REQUEST_AGE:
        return "the timestamp is more than 5 minutes off"
    if not signature:
        return "no signature"
    expected = b"v0=" + hmac.new(secret, b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256).hexdigest().encode()
    # WSGI gives header values as latin-1 text: every value encodes back to the bytes that came
    if not hmac.compare_digest(expected, signature.encode("latin-1", "replace")):
        return "the signature does not match"
    return None


def _content_length(environ: WSGIEnvironment) -> int | None:
    """The declared body length; None when it is not a plain decimal number ("-1", "+5", "1e3", "abc")."""
    value = environ.get("CONTENT_LENGTH") or "0"
    return int(value) if _DIGITS.fullmatch(value) else None


def _plain(start_response: StartResponse, status: str, text: str) -> list[bytes]:
    body = text.encode()
    start_response(status, [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


class _DeadlineChannel(HTTPChannel):
    """waitress's channel, stamped with when the request it is still reading began to arrive."""

    request_began: float | None = None

    def received(self, data: bytes) -> bool:
        fresh = self.request is None
        accepted = super().received(data)
        if self.request is None:  # nothing half-read: every request in `data` arrived whole
            self.request_began = None
        elif fresh or self.request_began is None:
            self.request_began = time.time()  # waitress's own clock for last_activity
        return accepted


class _DeadlineServer(TcpWSGIServer):
    """waitress's TCP server that also closes a connection whose request arrives too slowly.

    waitress's channel_timeout closes a connection that has been silent; a client sending one
    byte every few seconds is never silent, so each maintenance pass (every cleanup_interval)
    also closes one still reading a request that began more than `read_deadline` ago.
    """

    channel_class = _DeadlineChannel
    read_deadline: float = HTTP_READ_DEADLINE

    def maintenance(self, now: float) -> None:
        super().maintenance(now)
        cutoff = now - self.read_deadline
        for channel in self.active_channels.values():
            began = getattr(channel, "request_began", None)
            if began is not None and began < cutoff and not channel.requests:
                channel.will_close = True


def _affordable_connections(wanted: int, spare: int = 64) -> int:
    """`wanted`, or fewer when the process may not open that many files (each connection is one)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted + spare:
        target = wanted + spare if hard == resource.RLIM_INFINITY else min(hard, wanted + spare)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    if soft != resource.RLIM_INFINITY and soft < wanted + spare:
        log.warning("open-file limit %s: serving at most %s HTTP connections", soft, max(soft - spare, 1))
        return max(soft - spare, 1)
    return wanted


class HttpServer:
    """waitress serving ResetbotWsgiApp on a background thread, in this process.

    One process on purpose: the listener and provider pools and the SQLite writer live here, and
    a forking server would split them. waitress bounds the threads and the open connections,
    refuses bodies over MAX_BODY (413, chunked ones as soon as they pass it) before reading them
    further, closes connections that stall or trickle (HTTP_CHANNEL_TIMEOUT, HTTP_READ_DEADLINE),
    and keeps no access log (nothing of a request body is ever logged). The limits are arguments
    so that tests can make them small.
    """

    def __init__(self, runtime: Runtime, host: str = "127.0.0.1", port: int = 0, *,
                 connection_limit: int = HTTP_CONNECTIONS, channel_timeout: int = HTTP_CHANNEL_TIMEOUT,
                 read_deadline: float = HTTP_READ_DEADLINE, cleanup_interval: int = 1,
                 app: Callable[..., Iterable[bytes]] | None = None, threads: int = HTTP_THREADS) -> None:
        # One listening socket of our own, whatever the host name resolves to, so port 0 gives one real port.
        family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                      flags=socket.AI_PASSIVE)[0]
        listener = socket.create_server(address, family=family, backlog=1024)
        self._map: dict[int, Any] = {}  # waitress's socket map: file descriptor -> dispatcher
        # max_request_body_size is the first size refused: a body of exactly MAX_BODY bytes is accepted.
        adjustments = Adjustments(
            threads=threads, connection_limit=_affordable_connections(connection_limit),
            max_request_body_size=MAX_BODY + 1, max_request_header_size=HTTP_MAX_HEADER,
            channel_timeout=channel_timeout, cleanup_interval=cleanup_interval, backlog=1024,
            asyncore_use_poll=True, expose_tracebacks=False, ident="resetbot",
        )
        dispatcher = ThreadedTaskDispatcher()
        dispatcher.set_thread_count(adjustments.threads)
        # What waitress.create_server builds for one listening socket, with the deadline added.
        self._server = _DeadlineServer(
            app or make_wsgi_app(runtime), self._map, True, listener, dispatcher=dispatcher, adj=adjustments,
            bind_socket=False, sockinfo=(listener.family, listener.type, listener.proto, listener.getsockname()),
        )
        self._server.read_deadline = read_deadline
        self.connection_limit: int = adjustments.connection_limit
        self.host = host
        self.port: int = listener.getsockname()[1]
        self.url = f"http://{host}:{self.port}{EVENTS_PATH}"
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._server.run, name="http", daemon=True)
        self._thread.start()

    def open_connections(self) -> int:
        """Connections waitress holds open now (the listener not counted)."""
        return len(self._server.active_channels)

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


def start_http_server(runtime: Runtime, host: str = "127.0.0.1", port: int = 0, **limits: Any) -> HttpServer:
    return HttpServer(runtime, host, port, **limits)


def serve_http(runtime: Runtime, host: str, port: int, stop: threading.Event) -> bool:
    """Serve until `stop`, then drain with /readyz at 503 (bot/app.py: Runtime.shutdown); True when nothing was
    left running."""
    server = _listening("--port", host, port, lambda: start_http_server(runtime, host, port))
    try:
        health = _start_health(runtime, lambda: True)
    except StartFailed:
        server.close()
        raise
    log.info("resetbot ready (HTTP on http://%s:%s%s, replica %s)", host, server.port, EVENTS_PATH,
             runtime.workflow.context.replica_id)
    wait_for_signal(stop)
    runtime.draining.set()
    drained = runtime.shutdown()
    server.close()
    if health is not None:
        health.close()
    return drained
