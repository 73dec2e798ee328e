"""No log record ever carries a secret, with EVERY logger at DEBUG, over HTTP and over Socket Mode.

An operator may turn every logger up to DEBUG (root, slack_bolt, slack_sdk, waitress, urllib3,
SQLAlchemy...), past what bot/logs.py's configure() holds them at. The whole flow then runs through
the real app (the MyOwnFreeHost and Plesk reveals, the Namecheap reset code and current password methods, and
over HTTP forged, stale and malformed requests that carry a reset code), and a handler records the
fully formatted text of every record (message, args, traceback): no reveal password, reset code,
current password, token, signing secret or provider credential may appear in it.

Nor may the password of a proxy's URL (issue 20 item 5): slack_sdk names the proxy, password and all,
at ERROR each time a proxy refuses its CONNECT; what `resetbot run` writes to stderr, text or JSON,
masks it.
"""

from __future__ import annotations

import contextlib
import http.client
import io
import json
import logging
import threading
import time
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from slack_bolt import App

from bot import logs
from bot.app import make_slack_client
from bot.config import Settings
from bot.secret import Secret
from bot.server import socket_mode_handler
from devkit.sandbox.namecheap import NamecheapUser
from devkit.slack import SlackSim
from tests.e2e.conftest import APPROVALS, APPROVER, ENGINEER, SEAL_KEY

CURRENT_PASSWORD = "Curr~Secret2024q"


class Everything(logging.Handler):
    """Keeps every record's fully formatted text (message with its args, and any traceback)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.texts.append(self.format(record))


@contextlib.contextmanager
def _every_logger_at_debug(log_format: str = "text") -> Iterator[tuple[Everything, io.StringIO]]:
    """logs.configure() as `resetbot run` does (RESETBOT_LOG_FORMAT), then every logger (present and future) at
    DEBUG; yields a handler keeping every record's text, and what `run` writes to stderr."""
    manager = logging.Logger.manager
    before = {name: lg.level for name, lg in manager.loggerDict.items() if isinstance(lg, logging.Logger)}
    root_level = logging.root.level
    logs.configure(logging.DEBUG, log_format)
    for name in list(manager.loggerDict):
        logger = manager.loggerDict[name]
        if isinstance(logger, logging.Logger):
            logger.setLevel(logging.DEBUG)
    capture = Everything()
    logging.root.addHandler(capture)
    # The one stderr handler configure() keeps (bot/logs.py): its stream, swapped for a buffer while this runs.
    stderr_handler = next(h for h in logging.root.handlers if isinstance(h, logs._BotHandler))
    stderr = io.StringIO()
    previous_stream = stderr_handler.setStream(stderr)
    try:
        yield capture, stderr
    finally:
        stderr_handler.setStream(previous_stream)
        logging.root.removeHandler(capture)
        for name, level in before.items():
            logging.getLogger(name).setLevel(level)
        for name, logger in manager.loggerDict.items():
            if isinstance(logger, logging.Logger) and name not in before:
                logger.setLevel(logging.NOTSET)
        logging.root.setLevel(root_level)
        if log_format != "text":
            logs.configure(root_level or logging.WARNING)  # the text format back, for the tests after this one
            logging.captureWarnings(False)


@pytest.fixture
def every_logger_at_debug():
    with _every_logger_at_debug() as (capture, _stderr):
        yield capture


def _reveal(sim) -> str:
    sim.wait_for(lambda: any("Reveal password" in m.buttons for m in sim.dm_messages(ENGINEER)), timeout=10,
                 message="no reveal DM")
    sim.click(ENGINEER, "Reveal password", in_dm=True)
    modal = sim.wait_for(lambda: next((v for v in reversed(sim.views(ENGINEER)) if v.title == "New password"), None),
                         message="no reveal modal")
    sim.wait_for(lambda: "Reveal password" not in sim.dm_messages(ENGINEER)[-1].buttons, message="DM not rewritten")
    sim.close_view(ENGINEER)
    return modal.visible_text


def _namecheap(bot, account: str, method: str, secret: str) -> None:
    assert bot.request_namecheap(method, secret, account=account).errors is None
    bot.card()
    bot.sim.click(APPROVER, "Approve", channel=APPROVALS)


def _whole_flow(bot) -> list[str]:
    """Four reveals (MyOwnFreeHost, Namecheap by reset code, by current password, Plesk); the secrets they used."""
    sim, sandbox = bot.sim, bot.sandbox
    assert bot.request_mofh().ok
    bot.card()
    sim.click(APPROVER, "Approve", channel=APPROVALS)
    shown = _reveal(sim)
    mofh_password = sandbox.mofh_account("webq7k2m").password
    assert mofh_password in shown

    code = sandbox.issue_reset_code("acmeshop")
    _namecheap(bot, "acmeshop", "Reset code", code)
    shown = _reveal(sim)
    by_code = sandbox.namecheap_user("acmeshop").password
    assert by_code in shown

    sandbox.add_namecheap_user(NamecheapUser(username="curpass01", password=CURRENT_PASSWORD,
                                             email="cur@example.org", domains=["cur.example.com"]))
    _namecheap(bot, "curpass01", "Current password", CURRENT_PASSWORD)
    shown = _reveal(sim)
    by_current = sandbox.namecheap_user("curpass01").password
    assert by_current in shown and by_current != CURRENT_PASSWORD

    assert bot.request_plesk().ok
    bot.card()
    sim.click(APPROVER, "Approve", channel=APPROVALS)
    shown = _reveal(sim)
    plesk_password = sandbox.plesk_customer("jdoe42").password
    assert plesk_password in shown
    bot.workflow.background.wait_idle(5)
    return [mofh_password, code, by_code, CURRENT_PASSWORD, by_current, plesk_password]


def _forged_requests_carrying(sim, code: str) -> None:
    """What an attacker (or a misconfigured proxy) sends: a view submission with a reset code in it."""
    payload = {"type": "view_submission", "team": {"id": "T0SUPPORT1"}, "user": {"id": ENGINEER},
               "view": {"callback_id": "reset_password_modal",
                        "state": {"values": {"secret_block": {"secret_input": {"type": "plain_text_input",
                                                                               "value": code}}}}},
               "reset_code": code}
    body = urllib.parse.urlencode({"payload": json.dumps(payload)})
    now = int(time.time())
    assert sim.deliver_raw("interactive", body, transport="http", signature="v0=" + "0" * 64).status == 401
    assert sim.deliver_raw("interactive", body, transport="http", timestamp=str(now - 301)).status == 401
    assert sim.deliver_raw("interactive", body, transport="http", timestamp="soon").status == 401
    assert sim.deliver_raw("interactive", body, transport="http", signature="").status == 401


def _leaks(texts: list[str], secrets: list[str]) -> list[str]:
    return [text for text in texts if any(s in text for s in secrets)]


def _credentials(bot) -> list[str]:
    settings = bot.runtime.settings
    values = [settings.slack_bot_token, settings.slack_app_token, settings.slack_signing_secret, SEAL_KEY]
    values += [getattr(cfg, name) for cfg in settings.providers.values()
               for name in ("api_password", "api_key", "api_token", "password", "secret_key") if hasattr(cfg, name)]
    revealed = [v.reveal() for v in values if v is not None]
    assert len(revealed) == 8  # bot token, app token, signing secret, seal key, MOFH's, Namecheap's, cPanel's, Plesk's
    return revealed


def test_no_record_carries_a_secret_over_http_with_every_logger_at_debug(bot_over_http, every_logger_at_debug):
    bot = bot_over_http
    forged_code = bot.sandbox.issue_reset_code("acmeshop")
    _forged_requests_carrying(bot.sim, forged_code)
    secrets = _whole_flow(bot) + [forged_code] + _credentials(bot)
    texts = every_logger_at_debug.texts
    assert len(texts) > 100  # every logger really was at DEBUG
    assert _leaks(texts, secrets) == []


def test_no_record_carries_a_secret_over_socket_mode_with_every_logger_at_debug(bot_over_socket,
                                                                                  every_logger_at_debug):
    bot = bot_over_socket
    secrets = _whole_flow(bot) + _credentials(bot)
    texts = every_logger_at_debug.texts
    assert len(texts) > 100
    assert _leaks(texts, secrets) == []


# --------------------------------------------------------------------- a proxy's password (issue 20 item 5)

PROXY_PASSWORD = "ZZZproxyPassw0rd"  # rotated on the proxy: it refuses this one


class RefusingProxy(ThreadingHTTPServer):
    """An HTTP proxy on loopback that forwards plain HTTP requests (apps.connections.open to the simulated Slack)
    and answers every CONNECT (the tunnel Socket Mode's WebSocket needs) with 407, as a proxy does once the
    password in HTTPS_PROXY is no longer its password."""

    daemon_threads = True

    def __init__(self) -> None:
        self.refused: list[str] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_CONNECT(self):
                proxy.refused.append(self.path)
                self.send_response(407, "Proxy Authentication Required")
                self.send_header("Proxy-Authenticate", 'Basic realm="egress"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                self.close_connection = True

            def do_POST(self):
                target = urllib.parse.urlsplit(self.path)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                upstream = http.client.HTTPConnection(target.hostname, target.port, timeout=10)
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in ("proxy-authorization", "proxy-connection", "connection")}
                upstream.request("POST", target.path + (f"?{target.query}" if target.query else ""), body, headers)
                answer = upstream.getresponse()
                data = answer.read()
                upstream.close()
                self.send_response(answer.status)
                self.send_header("Content-Type", answer.getheader("Content-Type") or "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, args=(0.05,), daemon=True).start()


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_a_proxy_password_never_reaches_stderr_when_the_proxy_refuses_connect(monkeypatch, log_format):
    proxy = RefusingProxy()
    proxy_url = f"http://relay:{PROXY_PASSWORD}@127.0.0.1:{proxy.server_address[1]}"
    monkeypatch.setenv("HTTPS_PROXY", proxy_url)
    sim = SlackSim()
    try:
        with _every_logger_at_debug(log_format) as (capture, stderr):
            # The Socket Mode transport as `resetbot run` builds it: the app's Slack client, its proxy from
            # HTTPS_PROXY, the same proxy for the WebSocket.
            client = make_slack_client(Settings(slack_bot_token=Secret("xoxb-test"), slack_api_url=sim.api_url))
            handler = socket_mode_handler(App(client=client, token_verification_enabled=False), "xapp-test")
            assert handler.client.proxy == proxy_url
            try:
                handler.connect()
                handler.client.connect_to_new_endpoint(force=True)  # what the session monitor does every 10 s
            finally:
                handler.close()
    finally:
        proxy.shutdown()
        proxy.server_close()
        sim.stop()
    written = stderr.getvalue().splitlines()
    if log_format == "json":
        assert all(isinstance(json.loads(line), dict) for line in written)
    assert len(proxy.refused) >= 2  # the connection and a reconnection (the session monitor may add one), refused
    refusals = [line for line in written if "407" in line and "ERROR" in line]
    assert len(refusals) >= 2, written  # slack_sdk still says why, at ERROR
    assert all("relay:***@127.0.0.1" in line for line in refusals), refusals  # and which proxy, masked
    assert [line for line in written if PROXY_PASSWORD in line] == []
    assert _leaks(capture.texts, [PROXY_PASSWORD]) == []  # what any other handler is given
