"""App Home through app.dispatch: published on open, once per event, and quietly skipped on trouble."""

from __future__ import annotations

import json
import logging

from bot.domain import ServiceUnavailable
from tests.handlers.conftest import APPROVER, ENGINEER, home_opened, logged_traceback


def test_opening_home_publishes_what_waits_for_the_approver(slack):
    request = slack.pending_request()
    slack.client.clear()
    response = slack.dispatch(home_opened(APPROVER))
    assert (response.status, response.body) == (200, "")
    (published,) = slack.client.to("views.publish")
    assert published["user_id"] == APPROVER and published["view"]["type"] == "home"
    view = json.dumps(published["view"])
    assert "Waiting for your approval" in view and request.id in view


def test_the_engineer_sees_their_request_waiting(slack):
    slack.pending_request()
    slack.client.clear()
    slack.dispatch(home_opened(ENGINEER))
    (published,) = slack.client.to("views.publish")
    assert "waiting for approval" in json.dumps(published["view"])


def test_a_redelivered_event_publishes_once(slack):
    slack.dispatch(home_opened(APPROVER, event_id="Ev0SAME00001"))
    slack.dispatch(home_opened(APPROVER, event_id="Ev0SAME00001"))
    assert len(slack.client.to("views.publish")) == 1


def test_the_messages_tab_publishes_nothing(slack):
    slack.dispatch(home_opened(APPROVER, tab="messages"))
    assert slack.client.methods() == []


def test_a_database_outage_leaves_the_tab_and_tells_nobody(slack, monkeypatch, caplog):
    def outage(user_id):
        raise ServiceUnavailable("The bot's database is not answering; try again in a minute.")

    monkeypatch.setattr(slack.workflow.lookups, "home_for", outage)
    with caplog.at_level(logging.WARNING):
        slack.dispatch(home_opened(APPROVER))
    assert slack.client.methods() == [] and slack.webhooks.sent == []
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_an_unexpected_failure_is_logged_with_an_error_id_and_no_dm_is_sent(slack, monkeypatch, caplog):
    def broken(user_id):
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(slack.workflow.lookups, "home_for", broken)
    with caplog.at_level(logging.ERROR):
        response = slack.dispatch(home_opened(APPROVER))
    assert response.status == 200  # the event was acked
    (record,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "unhandled RuntimeError in a event_callback listener (error id " in record.getMessage()
    assert "RuntimeError: simulated bug" in logged_traceback(record)
    assert slack.client.methods() == []  # opening a tab is not a question: nobody is messaged


LEAD, LEADS = "U0LEAD00001", "S0LEADS0001"


def test_an_escalation_republishes_the_escalation_members_tab_with_the_request_waiting_for_them(slack):
    slack.workflow.policies.set("mofh", {"escalate_after": 1200, "escalate_to": LEADS}, actor="test")
    slack.client.usergroups[LEADS] = [LEAD]
    slack.dispatch(home_opened(LEAD))  # LEAD holds no role: nothing waits for them yet
    assert "Waiting for your approval" not in json.dumps(slack.client.to("views.publish")[-1]["view"])
    request = slack.pending_request()
    slack.client.clear()
    slack.clock.advance(1201)
    assert slack.workflow.reminders.post_due() == 1  # the sweep posts the escalation, mentioning LEADS
    assert slack.workflow.background.wait_idle(10)
    published = [call for call in slack.client.to("views.publish") if call["user_id"] == LEAD]
    assert published, "the escalation member's open tab was not republished"
    view = json.dumps(published[-1]["view"])
    assert "Waiting for your approval" in view and request.id in view
