"""The buttons (Approve, Deny, Customer informed, Reveal) through app.dispatch: Slack calls, who is told."""

from __future__ import annotations

import json
import logging
import re

from bot.domain import RevealState, Status
from tests.handlers.conftest import (
    ACTION_URL,
    APPROVALS,
    APPROVER,
    ENGINEER,
    OUTSIDER,
    TRIGGER,
    button_click,
    logged_traceback,
)


def _buttons(blocks: list[dict] | None) -> list[str]:
    return [e["text"]["text"] for b in blocks or [] if b["type"] == "actions" for e in b["elements"]]


def test_approve_runs_the_change_rewrites_the_card_and_offers_the_reveal(slack):
    request = slack.pending_request()
    slack.client.clear()
    response = slack.dispatch(button_click(APPROVER, "approve_reset", request.id, message_ts=request.card.ts))
    assert (response.status, response.body) == (200, "")
    assert len(slack.gateways[request.provider].calls) == 1
    updates = [u for u in slack.client.to("chat.update") if u["channel"] == APPROVALS]
    assert updates and updates[-1]["ts"] == request.card.ts and _buttons(updates[-1]["blocks"]) == []
    # The requester's DM, posted with the request, is rewritten in place with the button (no second DM).
    posted = [m for m in slack.client.to("chat.postMessage") if m["channel"] == "D0ENGINEER1"]
    assert not any("Reveal password" in _buttons(m.get("blocks")) for m in posted)  # only the status sentence
    dms = [m for m in slack.client.to("chat.update") if m["channel"] == "D0ENGINEER1"]
    assert dms and all(m["ts"] == request.dm.ts for m in dms)
    assert "Reveal password" in _buttons(dms[-1].get("blocks"))
    assert slack.workflow.lookups.get(request.id).status is Status.SUCCEEDED
    assert slack.private_texts(APPROVER) == []


def test_the_requester_approving_their_own_request_is_told_privately(slack):
    request = slack.pending_request()
    slack.client.clear()
    slack.dispatch(button_click(ENGINEER, "approve_reset", request.id))
    ((url, message),) = slack.webhooks.sent
    assert url == ACTION_URL and message["response_type"] == "ephemeral"
    assert message["replace_original"] is False
    assert message["text"] == "You asked for this reset, so you can't approve it: another approver has to."
    assert slack.gateways[request.provider].calls == []
    assert slack.workflow.lookups.get(request.id).status is Status.PENDING


def test_deny_opens_the_deny_modal_and_ends_nothing_yet(slack):
    # Deny opens a modal for its optional Reason (CONTRACT.md); its submission denies: tests/handlers/test_deny.py.
    request = slack.pending_request()
    slack.client.clear()
    slack.dispatch(button_click(APPROVER, "deny_reset", request.id))
    (opened,) = slack.client.to("views.open")
    assert opened["view"]["callback_id"] == "deny_reset_modal"
    assert slack.workflow.lookups.get(request.id).status is Status.PENDING
    assert [u for u in slack.client.to("chat.update") if u["channel"] == APPROVALS] == []
    assert slack.gateways[request.provider].calls == []


def test_a_second_decision_is_refused_privately(slack):
    request = slack.pending_request()
    slack.workflow.decisions.deny(request.id, APPROVER)  # the Deny modal's submission (tests/handlers/test_deny.py)
    slack.webhooks.sent.clear()
    slack.dispatch(button_click(APPROVER, "approve_reset", request.id))
    ((_, message),) = slack.webhooks.sent
    assert "already" in message["text"]
    assert slack.gateways[request.provider].calls == []


def test_a_button_without_a_request_id_is_refused_privately(slack):
    slack.dispatch(button_click(APPROVER, "approve_reset", "not a request id!"))
    assert [m["text"] for _, m in slack.webhooks.sent] == ["This button does not name a reset request."]


def test_approving_from_the_home_tab_refreshes_it(slack):
    request = slack.pending_request()
    slack.client.clear()
    slack.dispatch(button_click(APPROVER, "approve_reset", request.id, response_url=None, in_home=True))
    assert slack.workflow.lookups.get(request.id).status is Status.SUCCEEDED
    (published,) = slack.client.to("views.publish")
    assert published["user_id"] == APPROVER and "Approve" not in json.dumps(published["view"])


def test_a_refusal_in_the_home_tab_goes_by_dm_and_the_tab_is_still_refreshed(slack):
    request = slack.pending_request()
    slack.client.clear()
    slack.dispatch(button_click(OUTSIDER, "approve_reset", request.id, response_url=None, in_home=True))
    assert [p["user_id"] for p in slack.client.to("views.publish")] == [OUTSIDER]
    (opened,) = slack.client.to("conversations.open")
    assert opened["users"] == OUTSIDER
    (text,) = slack.private_texts(OUTSIDER)
    assert "approver role" in text
    assert slack.workflow.lookups.get(request.id).status is Status.PENDING


def test_reveal_shows_the_password_once_and_rewrites_the_dm(slack):
    request = slack.revealable_request()
    slack.client.clear()
    slack.dispatch(button_click(ENGINEER, "reveal_secret", request.reveal_token, channel=request.dm.channel,
                                response_url=ACTION_URL))
    (opened,) = slack.client.to("views.open")
    assert opened["trigger_id"] == TRIGGER and opened["view"]["title"]["text"] == "New password"
    assert slack.workflow.lookups.get(request.id).reveal_state is RevealState.REVEALED
    assert [u["channel"] for u in slack.client.to("chat.update")] == [request.dm.channel]
    password = slack.gateways[request.provider].calls[0]["password"]
    assert password in json.dumps(opened["view"])
    assert password not in json.dumps([c.args for c in slack.client.calls if c.method != "views.open"])
    assert slack.webhooks.sent == []


def test_someone_elses_reveal_click_reveals_nothing(slack):
    request = slack.revealable_request()
    slack.client.clear()
    slack.dispatch(button_click(APPROVER, "reveal_secret", request.reveal_token))
    assert slack.client.to("views.open") == []
    assert len(slack.webhooks.sent) == 1
    assert slack.workflow.lookups.get(request.id).reveal_state is RevealState.READY


def test_a_reveal_whose_window_cannot_open_is_not_used_up(slack):
    request = slack.revealable_request()
    slack.client.fail_next("views.open", "expired_trigger_id")
    slack.dispatch(button_click(ENGINEER, "reveal_secret", request.reveal_token))
    assert [m["text"] for _, m in slack.webhooks.sent] == [
        "Slack could not open the password window, so the reveal was not used up. "
        "Click Reveal password again."]
    assert slack.workflow.lookups.get(request.id).reveal_state is RevealState.READY


def test_customer_informed_by_the_requester_rewrites_the_dm(slack):
    request = slack.revealable_request()
    slack.dispatch(button_click(ENGINEER, "reveal_secret", request.reveal_token))
    slack.client.clear()
    slack.dispatch(button_click(ENGINEER, "customer_informed", request.id, channel=request.dm.channel))
    assert [u["channel"] for u in slack.client.to("chat.update")] == [request.dm.channel]
    assert slack.webhooks.sent == []


def test_customer_informed_by_someone_else_is_refused_privately(slack):
    request = slack.revealable_request()
    slack.dispatch(button_click(APPROVER, "customer_informed", request.id))
    assert [m["text"] for _, m in slack.webhooks.sent] == [
        "Only the engineer who asked for this reset can confirm that."]


def test_an_unexpected_failure_is_logged_with_a_traceback_and_the_clicker_told_the_id(slack, monkeypatch,
                                                                                     caplog):
    request = slack.pending_request()

    def broken(*args, **kwargs):
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(slack.workflow.decisions, "approve", broken)
    with caplog.at_level(logging.ERROR):
        response = slack.dispatch(button_click(APPROVER, "approve_reset", request.id))
    assert (response.status, response.body) == (200, "")
    (record,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert record.getMessage().startswith("unhandled RuntimeError in a block_actions listener (error id ")
    assert "RuntimeError: simulated bug" in logged_traceback(record)
    assert 'in _decide' in logged_traceback(record)
    error_id = re.search(r"error id ([0-9a-f]{8})", record.getMessage()).group(1)
    ((url, message),) = slack.webhooks.sent
    assert url == ACTION_URL and message["response_type"] == "ephemeral"
    assert message["text"] == f"Something went wrong (error id {error_id})."


def test_an_unexpected_failure_falls_back_to_an_ephemeral_then_a_dm(slack, monkeypatch):
    request = slack.pending_request()
    monkeypatch.setattr(slack.workflow.decisions, "check_deny", lambda *a, **k: 1 / 0)
    slack.webhooks.status = 500
    slack.client.fail_next("chat.postEphemeral", "user_not_in_channel")
    slack.client.clear()
    slack.dispatch(button_click(APPROVER, "deny_reset", request.id))
    assert [m for m in slack.client.methods() if m != "views.publish"] == [
        "chat.postEphemeral", "conversations.open", "chat.postMessage"]
    (dm,) = slack.client.to("chat.postMessage")
    assert dm["channel"] == "D0APPROVER1" and dm["text"].startswith("Something went wrong (error id ")


def test_a_second_dm_to_the_same_person_reuses_the_dm_channel(slack):
    """conversations.open once per person (issue 13): their DM channel with the bot does not change."""
    request = slack.pending_request()
    slack.client.clear()
    for action in ("approve_reset", "deny_reset"):  # two refusals, each told by DM (no response_url)
        slack.dispatch(button_click(OUTSIDER, action, request.id, response_url=None, in_home=True))
    assert len(slack.private_texts(OUTSIDER)) == 2
    assert [c["users"] for c in slack.client.to("conversations.open")] == [OUTSIDER]
