"""Faults: the database going away, Slack 429 and 5xx, providers answering garbage or 503."""

from __future__ import annotations

import socket
import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from bot.app import build_runtime
from bot.domain import Status
from bot.server import socket_mode_handler
from bot.workflow import execution
from tests.conftest import POSTGRES_URL, fresh_postgres_database
from tests.e2e.conftest import APPROVALS, APPROVER, ENGINEER, HELPDESK, Bot, _grant, _world, make_settings
from tests.relay import pipe


class OutageProxy:
    """A TCP relay in front of PostgreSQL that can drop every connection and refuse new ones."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.down = threading.Event()
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.down.is_set():
                client.close()
                continue
            upstream = socket.create_connection(self.target)
            with self.lock:
                self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=pipe, args=(a, b), daemon=True).start()

    def cut(self) -> None:
        self.down.set()
        with self.lock:
            for s in self.sockets:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self.sockets.clear()

    def restore(self) -> None:
        self.down.clear()

    def close(self) -> None:
        self.listener.close()
        self.cut()


@pytest.mark.postgres
@pytest.mark.skipif(not POSTGRES_URL, reason="RESETBOT_TEST_POSTGRES_URL is not set")
def test_database_outage_gets_a_clear_answer_and_recovers_without_restart():
    url, drop = fresh_postgres_database()
    real = sa.engine.make_url(url)
    proxy = OutageProxy((real.host, real.port))
    proxied = real.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    sim, sandbox = _world()
    runtime = build_runtime(make_settings(sim, sandbox, proxied))
    _grant(runtime)
    handler = socket_mode_handler(runtime.app, "xapp-test")
    handler.connect()
    sim.wait_for_connections(1, timeout=10)
    bot = Bot(sim, sandbox, runtime, proxied)
    try:
        proxy.cut()
        ack = sim.slash_command(ENGINEER, "/reset-password", "mofh webq7k2m", channel=HELPDESK)
        assert ack.ok and not ack.timed_out
        sim.wait_for(lambda: any("database is not answering" in e.visible_text for e in sim.ephemerals(ENGINEER)),
                     timeout=15, message="no clear answer during the outage")
        assert sim.current_view(ENGINEER) is None
        proxy.restore()
        assert bot.request_mofh().ok
        bot.card()
        sim.click(APPROVER, "Approve", channel=APPROVALS)
        sim.wait_for(lambda: any("Reveal password" in m.buttons for m in sim.dm_messages(ENGINEER)), timeout=10,
                     message="the bot did not recover after the outage")
    finally:
        handler.close()
        runtime.shutdown(timeout=10)
        sim.stop()
        sandbox.stop()
        proxy.close()
        drop()


def test_slack_429_on_the_card_is_retried_after_retry_after(bot_over_socket):
    bot, sim = bot_over_socket, bot_over_socket.sim
    sim.fail_next("chat.postMessage", status=429, retry_after=1, channel=APPROVALS)  # the card's, not the DM's
    assert bot.request_mofh().ok
    bot.card()
    # The sim records a call once it has answered it: wait for the record, not just the message.
    posts = sim.wait_for(lambda: (calls := [c for c in sim.calls_to("chat.postMessage")
                                            if c.params.get("channel") == APPROVALS])[1:] and calls,
                         message="no second chat.postMessage of the card recorded")
    assert [c.status for c in posts][:2] == [429, 200]
    assert posts[1].at - posts[0].at >= 1.0


def test_slack_5xx_on_a_card_update_is_retried_but_never_a_new_post(bot_over_socket):
    bot, sim = bot_over_socket, bot_over_socket.sim
    sim.fail_next("chat.postMessage", status=503, channel=APPROVALS)  # the card's post, not the DM's
    assert bot.request_mofh().ok
    sim.wait_for(lambda: [c for c in sim.calls_to("chat.postMessage") if c.params.get("channel") == APPROVALS],
                 message="no card attempt")
    card_posts = [c for c in sim.calls_to("chat.postMessage") if c.params.get("channel") == APPROVALS]
    assert [c.status for c in card_posts] == [503]  # a repeated post could double the card (the DM is no card)
    request = bot.workflow.lookups.home_for(ENGINEER).requests[0]
    assert bot.workflow.lookups.get(request.id).card is None
    # The sweep posts it again once the first attempt's grace period is over.
    assert bot.workflow.sweeper.repost_missing_cards(grace=timedelta(0)) == 1
    bot.card()
    before = len(sim.calls_to("chat.update"))  # the sweep's post gave the card its buttons by an update
    sim.fail_next("chat.update", status=500)
    sim.click(APPROVER, "Approve", channel=APPROVALS)
    sim.wait_for(lambda: any("Reveal password" in m.buttons for m in sim.dm_messages(ENGINEER)), timeout=10,
                 message="no reveal DM")
    updates = sim.calls_to("chat.update")[before:]
    assert updates[0].status == 500 and any(c.status == 200 for c in updates[1:])


def test_provider_garbage_is_outcome_unknown_never_success(bot_over_socket, monkeypatch):
    bot, sim = bot_over_socket, bot_over_socket.sim
    # An unreadable answer is first retried with the same password (issue 9 item 1): quickly here.
    monkeypatch.setattr(execution, "MOFH_RETRY_BACKOFF", timedelta(seconds=0.2))
    bot.runtime.start_sweeper(interval=0.1)
    bot.sandbox.set_failure("mofh", "webq7k2m", "garbage")
    bot.request_mofh()
    bot.card()
    sim.click(APPROVER, "Approve", channel=APPROVALS)
    sim.wait_for(lambda: "Outcome unknown" in sim.messages(APPROVALS)[-1].visible_text, timeout=15,
                 message="card does not say the outcome is unknown")
    request = bot.workflow.lookups.home_for(ENGINEER).requests[0]
    assert bot.workflow.lookups.get(request.id).status is Status.UNKNOWN
    assert [c.outcome for c in bot.mofh_passwd_calls()] == ["fail:garbage"] * execution.MAX_EXECUTION_ATTEMPTS
    # Never a success; the password that may be set is kept for the one reveal (issue 9 item 2).
    assert "Result" not in sim.messages(APPROVALS)[-1].visible_text
    assert "may be set" in sim.messages(APPROVALS)[-1].visible_text
    assert all("Done" not in e.visible_text for e in sim.ephemerals(ENGINEER))


def test_provider_503_is_retried_later_with_the_same_password(bot_over_socket):
    bot, sim = bot_over_socket, bot_over_socket.sim
    bot.sandbox.set_failure("mofh", "webq7k2m", "http_503")
    bot.request_mofh()
    bot.card()
    sim.click(APPROVER, "Approve", channel=APPROVALS)
    sim.wait_for(lambda: any("try again with the same password" in e.visible_text for e in sim.ephemerals(ENGINEER)),
                 timeout=15, message="requester not told of the retry")
    assert len(bot.mofh_passwd_calls()) == 2  # the client's own second attempt, then it waits for the sweep
    request = bot.workflow.lookups.home_for(ENGINEER).requests[0]
    assert bot.workflow.lookups.get(request.id).status is Status.EXECUTING
