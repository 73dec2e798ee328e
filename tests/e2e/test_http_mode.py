"""`resetbot run --http`: signed requests verified, /healthz, and the Bolt "payload" substring bug worked around;
stale or malformed signatures refused without a traceback, and slow clients never keep Slack waiting."""

from __future__ import annotations

import logging
import socket
import threading
import time
from urllib.parse import urlsplit

import pytest
import requests

from tests.e2e.conftest import APPROVALS, APPROVER, ENGINEER, HELPDESK


def test_flow_over_signed_http(bot_over_http):
    bot, sim = bot_over_http, bot_over_http.sim
    assert bot.request_mofh().ok
    bot.card()
    sim.click(APPROVER, "Approve", channel=APPROVALS)
    sim.wait_for(lambda: any("Reveal password" in m.buttons for m in sim.dm_messages(ENGINEER)), timeout=10,
                 message="no reveal DM")
    assert bot.request_mofh(account="susp01x").transport == "http"


def _command_body(text: str) -> str:
    return ("token=x&team_id=T0SUPPORT1&team_domain=acme&channel_id=C0HELPDESK&channel_name=helpdesk"
            f"&user_id={ENGINEER}&user_name=sam&command=%2Freset-password&text={text}"
            "&api_app_id=A0RESETBOT&response_url=http%3A%2F%2F127.0.0.1%3A1%2Fnope&trigger_id=1.2.3")


def test_forged_and_stale_signatures_are_refused(bot_over_http):
    sim = bot_over_http.sim
    forged = sim.deliver_raw("slash_commands", _command_body("mofh"), transport="http", signature="v0=" + "0" * 64)
    assert forged.status == 401
    stale = sim.deliver_raw("slash_commands", _command_body("mofh"), transport="http",
                            timestamp=str(int(time.time()) - 301))
    assert stale.status == 401
    assert sim.calls_to("views.open") == []


def _now_minus(seconds: int) -> str:
    return str(int(time.time()) - seconds)


# header overrides on top of a correct signature; None drops the header
BAD_SIGNATURES = {
    "timestamp not an integer": {"X-Slack-Request-Timestamp": "1.7e9"},
    "timestamp missing": {"X-Slack-Request-Timestamp": None},
    "timestamp 6 minutes ahead": {"X-Slack-Request-Timestamp": lambda: _now_minus(-360)},
    "timestamp 6 minutes old": {"X-Slack-Request-Timestamp": lambda: _now_minus(360)},
    "signature empty": {"X-Slack-Signature": ""},
    "signature missing": {"X-Slack-Signature": None},
}


@pytest.mark.parametrize("case", sorted(BAD_SIGNATURES))
def test_a_bad_or_missing_timestamp_or_signature_is_401_and_logged_without_its_body(bot_over_http, caplog, case):
    sim = bot_over_http.sim
    body = _command_body("namecheap+acmeshop+C0DE5ecretCode").encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded", **sim.sign(body)}
    for name, value in BAD_SIGNATURES[case].items():
        value = value() if callable(value) else value
        if value is None:
            del headers[name]
        else:
            headers[name] = value
    with caplog.at_level(logging.DEBUG):
        answer = requests.post(sim.http_url, data=body, headers=headers, timeout=5)
    assert answer.status_code == 401
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert "C0DE5ecretCode" not in caplog.text
    assert sim.calls_to("views.open") == []


def test_400_slow_clients_neither_hold_threads_nor_keep_a_signed_request_waiting(bot_over_http):
    bot, sim = bot_over_http, bot_over_http.sim
    port = urlsplit(sim.http_url).port
    threads_before = threading.active_count()
    held = bot.http_server.open_connections()
    slow = []
    try:
        for _ in range(400):  # each sends its headers and 10 of the 1000 body bytes it declares, then nothing
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            sock.sendall(b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n"
                         b"Content-Type: application/x-www-form-urlencoded\r\n\r\n" + b"a" * 10)
            slow.append(sock)
        sim.wait_for(lambda: bot.http_server.open_connections() >= held + 400, timeout=10,
                     message="the server did not take the 400 slow clients")
        ack = sim.slash_command(ENGINEER, "/reset-password", "mofh", channel=HELPDESK)
        assert ack.status == 200 and not ack.timed_out and ack.latency < 2.0, ack.latency
        sim.wait_for(lambda: sim.current_view(ENGINEER), message="modal did not open")
        assert threading.active_count() - threads_before < 20  # waitress's own pool, not one thread a client
    finally:
        for sock in slow:
            sock.close()


def test_slash_command_whose_text_says_payload_still_opens_the_modal(bot_over_http):
    sim = bot_over_http.sim
    ack = sim.slash_command(ENGINEER, "/reset-password", "mofh payload1", channel=HELPDESK)
    assert ack.status == 200
    view = sim.wait_for(lambda: sim.current_view(ENGINEER), message="modal did not open")
    assert view.title == "Reset hosting password"


def test_healthz_answers_ok_when_the_database_does(bot_over_http):
    url = bot_over_http.sim.http_url.replace("/slack/events", "/healthz")
    answer = requests.get(url, timeout=5)
    assert answer.status_code == 200 and answer.text == "ok; database up"
    assert requests.get(url.replace("/healthz", "/other"), timeout=5).status_code == 404
