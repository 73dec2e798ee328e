"""Serving the app: Socket Mode (default) or signed HTTP with /healthz.

Part of the composition root: it is where the Bolt app meets a transport.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from socketserver import ThreadingMixIn
from urllib.parse import parse_qsl
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.adapter.socket_mode.internals import build_headers, send_response
from slack_bolt.context import BoltContext
from slack_bolt.request import BoltRequest
from slack_bolt.request.internals import build_context
from slack_bolt.response import BoltResponse
from slack_sdk.socket_mode.request import SocketModeRequest

from handlers.guard import problem_with, response_hosts_for

log = logging.getLogger("resetbot")
MAX_BODY = 1 << 20


def socket_mode_handler(app, app_token: str) -> SocketModeHandler:
    """Bolt's built-in Socket Mode adapter, with Nagle's algorithm off on every (re)connection.

    slack_sdk sets TCP_NODELAY only on proxied sockets; without it a small ack frame written
    right after another can wait for the peer's delayed TCP ack (~40 ms measured in
    bench/ack_latency.py), a third of Slack's budget spent doing nothing.
    """
    handler = SocketModeHandler(app, app_token)
    client = handler.client
    connect = client.connect

    def connect_without_nagle() -> None:
        connect()
        sock = getattr(client.current_session, "sock", None)
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass

    client.connect = connect_without_nagle

    hosts = response_hosts_for(app)

    def handle_screened(socket_client, request) -> None:
        start = time.time()
        send_response(socket_client, request, dispatch_envelope(app, request, hosts), start)

    listeners = client.socket_mode_request_listeners
    listeners[:] = [handle_screened if listener == handler.handle else listener for listener in listeners]
    return handler


def dispatch_envelope(app, request: SocketModeRequest, hosts: frozenset[str]) -> BoltResponse:
    """What Bolt's Socket Mode adapter does with an envelope, behind a screen.

    Bolt builds its request and every listener argument (action, view, …) before any
    middleware runs, and a payload of the wrong shape makes that raise. Such a payload is
    acked (so Slack does not redeliver it) and dropped with a warning.
    """
    why = problem_with(request.payload, hosts)
    if why is None:
        try:
            bolt_request = BoltRequest(mode="socket_mode", body=request.payload, headers=build_headers(request))
            return app.dispatch(bolt_request)
        except Exception as exc:
            why = f"Bolt could not read it ({type(exc).__name__})"
    log.warning("dropped a malformed Socket Mode envelope: %s", why)
    return BoltResponse(status=200, body="")


def serve_socket_mode(runtime, stop: threading.Event) -> None:
    handler = socket_mode_handler(runtime.app, runtime.settings.slack_app_token.reveal())
    handler.connect()
    log.info("resetbot ready (Socket Mode, replica %s)", runtime.workflow.context.replica_id)
    stop.wait()
    handler.close()


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the access log would repeat every path; not needed
        pass


def make_wsgi_app(runtime):
    app = runtime.app
    hosts = response_hosts_for(app)

    def wsgi(environ, start_response):
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "")
        if path == "/healthz" and method in ("GET", "HEAD"):
            healthy = runtime.workflow.lookups.ping()
            start_response("200 OK" if healthy else "503 Service Unavailable", [("Content-Type", "text/plain")])
            return [b"ok" if healthy else b"database unavailable"]
        if path != "/slack/events" or method != "POST":
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found"]
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > MAX_BODY:
            start_response("413 Payload Too Large", [("Content-Type", "text/plain")])
            return [b"too large"]
        raw = environ["wsgi.input"].read(length).decode("utf-8", errors="replace") if length else ""
        headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")}
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = environ["CONTENT_TYPE"]
        try:
            request = BoltRequest(body=raw, headers=headers, query=environ.get("QUERY_STRING", ""))
            _repair_payload_substring(request, raw)
            why = problem_with(request.body, hosts) if request.body else None
            response = app.dispatch(request) if why is None else None
        except Exception as exc:  # Bolt could not read the payload (see dispatch_envelope)
            why = f"Bolt could not read it ({type(exc).__name__})"
            response = None
        if response is None:
            log.warning("dropped a malformed HTTP request: %s", why)
            start_response("400 Bad Request", [("Content-Type", "text/plain")])
            return [b"bad request"]
        out = [(k, v) for k, values in response.headers.items() for v in values]
        start_response(f"{response.status} {'OK' if response.status == 200 else 'Error'}", out)
        return [response.body.encode() if isinstance(response.body, str) else response.body]

    return wsgi


def _repair_payload_substring(request: BoltRequest, raw: str) -> None:
    """Bolt ≤1.30 reads any form body containing the text "payload" as interactivity (slack-bolt.md §2.3).

    A slash command whose text says "payload" then parses to {} and is answered 404.
    Re-parse such bodies as the plain form they are; the signature still covers `raw`.
    """
    if request.body == {} and "payload" in raw and not raw.startswith("payload=") and "&payload=" not in raw:
        request.body = dict(parse_qsl(raw, keep_blank_values=True))
        request.context = build_context(BoltContext({}), request.body)


def serve_http(runtime, host: str, port: int, stop: threading.Event) -> None:
    server = make_server(host, port, make_wsgi_app(runtime), server_class=_Server, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="http", daemon=True)
    thread.start()
    log.info("resetbot ready (HTTP on http://%s:%s/slack/events, replica %s)", host, server.server_port,
             runtime.workflow.context.replica_id)
    stop.wait()
    server.shutdown()
    server.server_close()
