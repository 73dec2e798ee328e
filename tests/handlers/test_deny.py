"""The Deny button and its modal through app.dispatch: the click opens a modal with an optional Reason, and its
submission denies, with the reason on the card, in the requester's message and in the audit trail."""

from __future__ import annotations

import json
import logging

from bot.domain import Role, Status
from tests.handlers.conftest import (
    ACTION_URL,
    APPROVALS,
    APPROVER,
    ENGINEER,
    OUTSIDER,
    TRIGGER,
    ack_body,
    button_click,
    view_submission,
)

HOSTILE = "Not approved <!channel> <@U0APPROVER1>\n:white_check_mark: *Approved* by me & <https://evil.example|x>"


def _deny_modal(slack, request_id: str, user: str = APPROVER, **click) -> dict:
    """Click Deny on the card; the modal the bot opened for it, as views.open was asked to show it."""
    slack.dispatch(button_click(user, "deny_reset", request_id, **click))
    (opened,) = slack.client.to("views.open")
    return opened["view"]


def _submitted(view: dict, reason: str | None) -> dict:
    """The modal as Slack sends its submission: with what was typed into Reason (None: left empty)."""
    value = {"type": "plain_text_input", "value": reason}
    return {**view, "id": "V0DENY00001", "hash": "1.deny", "team_id": "T0SUPPORT1",
            "state": {"values": {"deny_reason_block": {"deny_reason_input": value}}}}


def _card_updates(slack) -> list[dict]:
    return [u for u in slack.client.to("chat.update") if u["channel"] == APPROVALS]


def _decision_text(update: dict) -> str:
    return next(b["text"]["text"] for b in update["blocks"] if b["block_id"].startswith("decision_"))


def _buttons(blocks: list[dict] | None) -> list[str]:
    return [e["text"]["text"] for b in blocks or [] if b["type"] == "actions" for e in b["elements"]]


def test_a_deny_click_opens_the_modal_with_an_optional_reason_and_changes_nothing(slack):
    request = slack.pending_request()
    slack.client.clear()
    view = _deny_modal(slack, request.id, message_ts=request.card.ts)
    (opened,) = slack.client.to("views.open")
    assert opened["trigger_id"] == TRIGGER
    assert view["callback_id"] == "deny_reset_modal" and view["submit"]["text"] == "Deny"
    assert json.loads(view["private_metadata"]) == {"request": request.id}
    (reason,) = [b for b in view["blocks"] if b["type"] == "input"]
    assert reason["label"]["text"] == "Reason" and reason["optional"] is True
    assert "webq7k2m" in json.dumps(view["blocks"])
    assert slack.workflow.lookups.get(request.id).status is Status.PENDING
    assert _card_updates(slack) == [] and slack.private_texts(ENGINEER) == [] and slack.webhooks.sent == []


def test_the_card_deny_button_has_no_confirm_dialog_and_approve_keeps_its_own(slack):
    slack.pending_request()
    (armed,) = _card_updates(slack)
    buttons = {e["text"]["text"]: e for b in armed["blocks"] if b["type"] == "actions" for e in b["elements"]}
    assert "confirm" not in buttons["Deny"]  # the modal asks instead
    assert buttons["Approve"]["confirm"]["title"]["text"] == "Approve this reset?"


def test_denying_with_a_reason_tells_the_requester_and_shows_it_on_the_card_and_in_the_audit(slack):
    request = slack.pending_request()
    view = _deny_modal(slack, request.id)
    slack.client.clear()
    response = slack.dispatch(view_submission(_submitted(view, "Ticket SUP-1 is for another customer."),
                                              user=APPROVER))
    assert (response.status, response.body) == (200, "")  # the modal closes
    denied = slack.workflow.lookups.get(request.id)
    assert denied.status is Status.DENIED and denied.decided_by == APPROVER
    assert denied.deny_reason == "Ticket SUP-1 is for another customer."
    (update,) = _card_updates(slack)
    assert _buttons(update["blocks"]) == []
    shown = _decision_text(update)
    assert shown.startswith(":no_entry: *Denied* by <@U0APPROVER1> ")
    assert shown.endswith(":\n>Ticket SUP-1 is for another customer.")
    (told,) = slack.private_texts(ENGINEER)
    assert told.startswith("Your password reset for `webq7k2m` at MyOwnFreeHost was denied by <@U0APPROVER1>:")
    assert told.endswith("\n>Ticket SUP-1 is for another customer.")
    (audited,) = [r for r in slack.workflow.admin.audit_trail() if r.action == "denied"]
    assert audited.actor_id == APPROVER and audited.detail["reason"] == "Ticket SUP-1 is for another customer."
    assert slack.gateways["mofh"].calls == []


def test_denying_without_a_reason_works_as_before(slack):
    request = slack.pending_request()
    view = _deny_modal(slack, request.id)
    slack.client.clear()
    response = slack.dispatch(view_submission(_submitted(view, None), user=APPROVER))
    assert (response.status, response.body) == (200, "")
    assert slack.workflow.lookups.get(request.id).status is Status.DENIED
    (update,) = _card_updates(slack)
    shown = _decision_text(update)
    assert shown.startswith(":no_entry: *Denied* by <@U0APPROVER1> ") and shown.endswith("UTC>.") and "\n" not in shown
    assert slack.private_texts(ENGINEER) == ["Your password reset for `webq7k2m` at MyOwnFreeHost was denied by "
                                             "<@U0APPROVER1>."]
    (audited,) = [r for r in slack.workflow.admin.audit_trail() if r.action == "denied"]
    assert audited.detail["reason"] is None


def test_a_hostile_reason_stays_quoted_escaped_and_inert_everywhere(slack):
    request = slack.pending_request()
    view = _deny_modal(slack, request.id)
    slack.client.clear()
    slack.dispatch(view_submission(_submitted(view, HOSTILE + "\u202e"), user=APPROVER))
    (update,) = _card_updates(slack)
    shown = _decision_text(update)
    head, *quoted = shown.split("\n")
    assert head.startswith(":no_entry: *Denied* by <@U0APPROVER1> ") and head.endswith(":")
    assert quoted == [">Not approved &lt;!channel&gt; &lt;@U0APPROVER1&gt;",
                      ">:white_check_mark: *Approved* by me &amp; &lt;https://evil.example|x&gt;[U+202E]"]
    decision = next(b for b in update["blocks"] if b["block_id"].startswith("decision_"))
    assert decision["text"]["verbatim"] is True
    (told,) = slack.private_texts(ENGINEER)
    assert told.split("\n")[1:] == quoted
    (audited,) = [r for r in slack.workflow.admin.audit_trail() if r.action == "denied"]
    assert audited.detail["reason"] == HOSTILE + "[U+202E]"  # normalised as the request's reason is


def test_a_reason_too_long_keeps_the_modal_open_with_the_error_under_reason(slack):
    request = slack.pending_request()
    view = _deny_modal(slack, request.id)
    # 1000 characters typed, but each bidi override is shown as [U+202E]: too long once normalised.
    answer = ack_body(slack.dispatch(view_submission(_submitted(view, "\u202e" * 1000), user=APPROVER)))
    assert answer == {"response_action": "errors",
                      "errors": {"deny_reason_block": "Keep the reason under 1000 characters."}}
    assert slack.workflow.lookups.get(request.id).status is Status.PENDING


def test_an_outsider_clicking_deny_is_refused_privately_and_gets_no_modal(slack):
    request = slack.pending_request()
    slack.client.clear()
    slack.dispatch(button_click(OUTSIDER, "deny_reset", request.id))
    assert slack.client.to("views.open") == []
    ((url, message),) = slack.webhooks.sent
    assert url == ACTION_URL and "approver role" in message["text"]
    refused = [r for r in slack.workflow.admin.audit_trail() if r.action == "deny_refused"]
    assert [r.actor_id for r in refused] == [OUTSIDER]


def test_the_requester_clicking_deny_is_refused_privately(slack):
    request = slack.pending_request()
    slack.client.clear()
    slack.dispatch(button_click(ENGINEER, "deny_reset", request.id))
    assert slack.client.to("views.open") == []
    ((_, message),) = slack.webhooks.sent
    assert message["text"] == "You asked for this reset, so you can't deny it: another approver has to."


def test_a_submission_after_the_request_was_approved_meanwhile_is_refused_in_the_modal(slack):
    request = slack.pending_request()
    view = _deny_modal(slack, request.id)
    slack.workflow.admin.grant("U0APPROVER2", Role.APPROVER, None, actor="test")
    slack.workflow.decisions.approve(request.id, "U0APPROVER2")
    answer = ack_body(slack.dispatch(view_submission(_submitted(view, "too late"), user=APPROVER)))
    assert answer["response_action"] == "errors"
    assert list(answer["errors"]) == ["deny_reason_block"]
    assert "already decided by another approver: it was approved" in answer["errors"]["deny_reason_block"]  # plain text: a mention would show raw
    assert slack.workflow.lookups.get(request.id).status is Status.SUCCEEDED


def test_a_submission_by_someone_who_lost_the_role_is_refused_in_the_modal(slack):
    request = slack.pending_request()
    view = _deny_modal(slack, request.id)
    slack.workflow.admin.revoke(APPROVER, Role.APPROVER, None, actor="test")
    answer = ack_body(slack.dispatch(view_submission(_submitted(view, "no"), user=APPROVER)))
    assert "approver role" in answer["errors"]["deny_reason_block"]
    assert slack.workflow.lookups.get(request.id).status is Status.PENDING


def test_a_deny_window_slack_cannot_open_is_told_and_changes_nothing(slack):
    request = slack.pending_request()
    slack.client.fail_next("views.open", "expired_trigger_id")
    slack.dispatch(button_click(APPROVER, "deny_reset", request.id))
    assert [m["text"] for _, m in slack.webhooks.sent] == [
        "Slack could not open the Deny window, so nothing was changed. Click Deny again."]
    assert slack.workflow.lookups.get(request.id).status is Status.PENDING


def test_denying_from_the_home_tab_refreshes_it(slack):
    request = slack.pending_request()
    slack.client.clear()
    view = _deny_modal(slack, request.id, response_url=None, in_home=True)
    assert json.loads(view["private_metadata"]) == {"request": request.id, "home": "1"}
    assert slack.client.to("views.publish") == []  # nothing changed yet
    slack.dispatch(view_submission(_submitted(view, None), user=APPROVER))
    assert slack.workflow.lookups.get(request.id).status is Status.DENIED
    (published,) = slack.client.to("views.publish")
    assert published["user_id"] == APPROVER and "Deny" not in json.dumps(published["view"])


def test_an_unexpected_failure_on_submission_keeps_the_modal_open_with_an_error_id(slack, monkeypatch, caplog):
    request = slack.pending_request()
    view = _deny_modal(slack, request.id)
    monkeypatch.setattr(slack.workflow.decisions, "record_deny", lambda *a, **k: 1 / 0)
    with caplog.at_level(logging.ERROR):
        answer = ack_body(slack.dispatch(view_submission(_submitted(view, "x"), user=APPROVER)))
    (sentence,) = answer["errors"].values()
    assert list(answer["errors"]) == ["deny_reason_block"]
    assert sentence.startswith("Something went wrong and nothing was changed (error id ")
    assert slack.workflow.lookups.get(request.id).status is Status.PENDING
