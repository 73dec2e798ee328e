"""The request modal through app.dispatch: the submission's ack, its errors in place, and the live updates."""

from __future__ import annotations

import logging
import re

from bot.domain import ServiceUnavailable, Status
from tests.handlers.conftest import (
    APPROVALS,
    ENGINEER,
    HELPDESK,
    OUTSIDER,
    ack_body,
    logged_traceback,
    modal_choice,
    reset_modal_view,
    view_closed,
    view_submission,
)


def test_a_valid_submission_closes_the_modal_posts_the_card_and_tells_the_engineer(slack):
    response = slack.dispatch(view_submission(reset_modal_view()))
    assert (response.status, response.body) == (200, "")
    dm, card = slack.client.to("chat.postMessage")  # the requester's one DM for the request, then the card
    assert card["channel"] == APPROVALS and "webq7k2m" in card["text"]
    assert dm["channel"] == "D" + ENGINEER[1:] and "waiting for approval" in dm["text"]
    assert [e["text"]["text"] for b in dm["blocks"] if b["type"] == "actions" for e in b["elements"]] == [
        "Cancel request", "Remind approvers"]
    # Posted without buttons; they come once the bot has stored where the card is (bot/workflow/intake.py).
    assert [b for b in card["blocks"] if b["type"] == "actions"] == []
    (armed,) = slack.client.to("chat.update")
    assert armed["channel"] == APPROVALS
    buttons = [e["text"]["text"] for b in armed["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert buttons == ["Approve", "Deny"]
    (status,) = slack.client.to("chat.postEphemeral")  # no draft, so no response_url: the origin channel
    assert status["channel"] == HELPDESK and status["user"] == ENGINEER and "approval" in status["text"]


def test_invalid_input_keeps_the_modal_open_with_the_error_under_the_input(slack):
    response = slack.dispatch(view_submission(reset_modal_view(reason="short")))
    answer = ack_body(response)
    assert answer["response_action"] == "errors" and list(answer["errors"]) == ["reason_block"]
    assert slack.client.to("chat.postMessage") == []


def test_a_refused_requester_sees_the_refusal_under_provider(slack):
    response = slack.dispatch(view_submission(reset_modal_view(), user=OUTSIDER))
    answer = ack_body(response)
    assert answer["response_action"] == "errors"
    assert "requester role" in answer["errors"]["provider_block"]
    assert slack.client.to("chat.postMessage") == [] and slack.webhooks.sent == []


def test_a_database_outage_is_shown_under_reason(slack, monkeypatch):
    def outage(*args, **kwargs):
        raise ServiceUnavailable("The bot's database is not answering; try again in a minute.")

    monkeypatch.setattr(slack.workflow.intake, "submit", outage)
    answer = ack_body(slack.dispatch(view_submission(reset_modal_view())))
    sentence = "The bot's database is not answering; try again in a minute."
    assert answer == {"response_action": "errors", "errors": {"reason_block": sentence}}


def test_an_unexpected_failure_before_the_ack_keeps_the_modal_open_with_its_error_id(slack, monkeypatch,
                                                                                     caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(slack.workflow.intake, "submit", broken)
    with caplog.at_level(logging.ERROR):
        answer = ack_body(slack.dispatch(view_submission(reset_modal_view())))
    text = answer["errors"]["reason_block"]
    error_id = re.search(r"error id ([0-9a-f]{8})", text).group(1)
    assert text == f"Something went wrong and the request was not saved (error id {error_id}). Try again."
    (record,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert error_id in record.getMessage() and "unhandled RuntimeError" in record.getMessage()
    assert "RuntimeError: simulated bug" in logged_traceback(record)  # logged with its traceback
    assert slack.client.to("chat.postMessage") == []


def test_an_unexpected_failure_after_the_ack_tells_the_engineer_the_error_id(slack, monkeypatch, caplog):
    def broken(request):
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(slack.workflow.intake, "announce", broken)
    with caplog.at_level(logging.ERROR):
        response = slack.dispatch(view_submission(reset_modal_view()))
    assert (response.status, response.body) == (200, "")  # the modal closed: the request was saved
    (record,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    error_id = re.search(r"error id ([0-9a-f]{8})", record.getMessage()).group(1)
    assert "RuntimeError: simulated bug" in logged_traceback(record)
    assert slack.private_texts(ENGINEER) == [f"Something went wrong (error id {error_id})."]
    (dm,) = slack.client.to("conversations.open")
    assert dm["users"] == ENGINEER


def test_a_second_submit_of_the_same_view_posts_no_second_card(slack):
    slack.dispatch(view_submission(reset_modal_view()))
    response = slack.dispatch(view_submission(reset_modal_view()))
    assert (response.status, response.body) == (200, "")
    assert [m["channel"] for m in slack.client.to("chat.postMessage")] == ["D" + ENGINEER[1:], APPROVALS]  # DM, card
    requests = slack.workflow.lookups.home_for(ENGINEER).requests
    assert [r.status for r in requests] == [Status.PENDING]


def test_closing_the_modal_only_acks(slack):
    response = slack.dispatch(view_closed(reset_modal_view()))
    assert (response.status, response.body) == (200, "")
    assert slack.client.methods() == []


def test_choosing_namecheap_rebuilds_the_modal_with_method(slack):
    view = reset_modal_view(provider="namecheap")
    response = slack.dispatch(modal_choice("provider_select", view))
    assert (response.status, response.body) == (200, "")
    (update,) = slack.client.to("views.update")
    assert update["view_id"] == "V0RESET0001" and update["hash"] == "1.abc"
    labels = [b["label"]["text"] for b in update["view"]["blocks"] if b.get("type") == "input"]
    assert any(label.startswith("Method") for label in labels)
    assert any(label.startswith("Reason") for label in labels)


def test_a_hash_conflict_on_the_update_is_only_logged(slack, caplog):
    slack.client.fail_next("views.update", "hash_conflict")
    with caplog.at_level(logging.WARNING):
        slack.dispatch(modal_choice("method_select", reset_modal_view(provider="namecheap")))
    assert "hash_conflict" in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert slack.private_texts(ENGINEER) == []


def test_a_choice_in_another_view_changes_nothing(slack):
    view = {**reset_modal_view(), "callback_id": "reveal_password_modal"}
    slack.dispatch(modal_choice("provider_select", view))
    assert slack.client.methods() == []
