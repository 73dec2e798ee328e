"""Acks first (bot/pending_acks.py): both transports count the deliveries waiting for their ack, and the work
that follows an ack (a listener's rest, the background runners) waits for those before it runs."""

from __future__ import annotations

import threading
import time

import requests
from slack_bolt import App
from slack_sdk import WebClient

from bot.pending_acks import PendingAcks
from bot.server import socket_mode_handler, start_http_server
from devkit.slack import SlackSim
from tests.e2e.conftest import APPROVALS, APPROVER, ENGINEER, HELPDESK
from tests.e2e.test_transports import SIGNING_SECRET, http_runtime, signed


def _poll(condition, timeout: float = 10.0, what: str = "the condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.005)


def test_an_approval_waits_for_a_delivery_still_waiting_for_its_ack_then_runs(bot_over_socket):
    bot, sim = bot_over_socket, bot_over_socket.sim
    acks = bot.runtime.pending_acks
    assert bot.request_mofh(account="abcd_40312277").ok
    bot.card()
    flow = bot.runtime.workflow
    assert flow.background.wait_idle(10) and flow.lookup_background.wait_idle(10)  # the request's own follow-ups
    acks.max_wait = 30.0  # nothing but the other delivery's ack may release the approval below
    acks.arrived()  # another delivery, received and not acked yet
    try:
        click = sim.click(APPROVER, "Approve", channel=APPROVALS)
        assert click.ok and not click.timed_out  # the click's own ack is not held back
        # The one thread held back now is the click's listener, before it records anything (without the gate the
        # first to wait would be the provider call's job, after the approval was stored).
        _poll(lambda: acks.waiters >= 1, what="the approval's work to wait for the other ack")
        assert "approved" not in [r.action for r in bot.workflow.admin.audit_trail()]  # nothing recorded yet
        assert bot.mofh_passwd_calls() == []
    finally:
        acks.acked()
    sim.wait_for(lambda: len(bot.mofh_passwd_calls()) == 1, timeout=10, message="the approval never ran")
    assert acks.pending == 0 and acks.waiters == 0


def test_waiting_for_acks_is_bounded_by_max_wait():
    acks = PendingAcks(max_wait=0.05)
    assert acks.yield_to_acks() == 0.0  # nothing pending: no wait at all
    acks.arrived()
    waited = acks.yield_to_acks()  # a delivery that is never acked (a lost frame) holds work back 50 ms at most
    assert 0.04 <= waited < 5.0
    acks.acked()
    acks.acked()  # one more ack than deliveries (a frame counted twice) never makes the count negative
    assert acks.pending == 0


def _blocking_app(release: threading.Event, base_url: str = "http://127.0.0.1:9/api/", **kwargs) -> App:
    """A Bolt app whose /reset-password listener acks only once `release` is set."""
    app = App(client=WebClient(token="xoxb-test", base_url=base_url), token_verification_enabled=False, **kwargs)

    @app.command("/reset-password")
    def answer(ack):
        release.wait(10)
        ack()

    return app


def test_socket_mode_counts_a_delivery_from_its_arrival_to_its_ack():
    sim = SlackSim()
    sim.add_user(ENGINEER, "sam", channels=[HELPDESK])
    release = threading.Event()
    acks = PendingAcks()
    app = _blocking_app(release, sim.api_url)
    handler = socket_mode_handler(app, "xapp-test", acks)
    answers: list = []
    try:
        handler.connect()
        sim.wait_for_connections(1, timeout=10)
        assert acks.pending == 0  # the hello frame is no delivery
        sender = threading.Thread(target=lambda: answers.append(
            sim.slash_command(ENGINEER, "/reset-password", "", channel=HELPDESK)))
        sender.start()
        _poll(lambda: acks.pending == 1, what="the delivery to be counted")
        release.set()
        sender.join(10)
        assert answers and answers[0].ok
        _poll(lambda: acks.pending == 0, what="the ack to be counted")
    finally:
        release.set()
        handler.close()
        sim.stop()


def test_http_mode_counts_a_request_until_it_is_answered():
    sim = SlackSim()  # Bolt asks auth.test of it
    release = threading.Event()
    runtime = http_runtime()
    runtime.app = _blocking_app(release, sim.api_url, signing_secret=SIGNING_SECRET)
    server = start_http_server(runtime, "127.0.0.1", 0)
    body = b"command=%2Freset-password&text=&user_id=U0ENGINEER1&channel_id=C0HELPDESK&trigger_id=1.2.3"
    answers: list = []
    try:
        sender = threading.Thread(target=lambda: answers.append(requests.post(
            server.url, data=body, headers={**signed(body), "Content-Type": "application/x-www-form-urlencoded"},
            timeout=10)))
        sender.start()
        _poll(lambda: runtime.pending_acks.pending == 1, what="the request to be counted")
        release.set()
        sender.join(10)
        assert answers and answers[0].status_code == 200
        assert runtime.pending_acks.pending == 0
    finally:
        release.set()
        server.close()
        sim.stop()
