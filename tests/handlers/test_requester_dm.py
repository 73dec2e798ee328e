"""The requester's DM through app.dispatch: one per request, Cancel request and Remind approvers while it waits,
refusals told privately, and the card's thread reply."""

from __future__ import annotations

from bot.domain import Status
from tests.handlers.conftest import APPROVALS, APPROVER, ENGINEER, OUTSIDER, button_click

DM = "D" + ENGINEER[1:]


def _buttons(blocks: list[dict] | None) -> list[str]:
    return [e["text"]["text"] for b in blocks or [] if b["type"] == "actions" for e in b["elements"]]


def _dm_click(action_id: str, request, user: str = ENGINEER) -> dict:
    return button_click(user, action_id, request.id, channel=DM, message_ts=request.dm.ts)


def test_cancel_request_rewrites_the_card_and_the_dm_in_place(slack):
    request = slack.pending_request()
    # The request's DM; the status sentence (no response_url nor channel here) comes as a DM of its own.
    (dm,) = [m for m in slack.client.to("chat.postMessage") if m["channel"] == DM and m.get("blocks")]
    assert _buttons(dm["blocks"]) == ["Cancel request", "Remind approvers"]
    slack.client.clear()
    response = slack.dispatch(_dm_click("cancel_request", request))
    assert response.status == 200
    assert slack.workflow.lookups.get(request.id).status is Status.CANCELLED
    (card,) = [u for u in slack.client.to("chat.update") if u["channel"] == APPROVALS]
    assert _buttons(card["blocks"]) == [] and "Cancelled* by the requester" in str(card["blocks"])
    (rewritten,) = [u for u in slack.client.to("chat.update") if u["channel"] == DM]
    assert rewritten["ts"] == request.dm.ts and _buttons(rewritten["blocks"]) == []
    assert "You cancelled your password reset" in rewritten["text"]
    assert [m for m in slack.client.to("chat.postMessage") if m["channel"] == DM and m.get("blocks")] == []


def test_a_cancel_after_the_decision_or_by_someone_else_is_refused_privately(slack):
    request = slack.pending_request()
    slack.dispatch(_dm_click("cancel_request", request, user=OUTSIDER))
    assert slack.webhooks.sent[-1][1]["text"] == ("Only the engineer who asked for this reset can cancel this "
                                                  "request.")
    slack.workflow.decisions.approve(request.id, APPROVER)
    slack.dispatch(_dm_click("cancel_request", request))
    assert "already decided by <@U0APPROVER1>: it was approved and the change is done. You can no longer cancel this request." in \
        slack.webhooks.sent[-1][1]["text"]
    assert slack.workflow.lookups.get(request.id).status is Status.SUCCEEDED


def test_remind_approvers_replies_in_the_card_thread_and_a_second_click_is_told_when(slack):
    request = slack.pending_request()
    slack.client.clear()
    slack.dispatch(_dm_click("remind_approvers", request))
    (reply,) = [m for m in slack.client.to("chat.postMessage") if m["channel"] == APPROVALS]
    assert reply["thread_ts"] == request.card.ts and f"<@{APPROVER}>" in reply["text"]
    assert "<@U0ENGINEER1> asks for a decision" in reply["text"]
    (rewritten,) = [u for u in slack.client.to("chat.update") if u["channel"] == DM]
    assert "You reminded the approvers" in str(rewritten["blocks"])
    slack.clock.advance(120)
    slack.dispatch(_dm_click("remind_approvers", request))
    assert "You can remind them again in 8 min" in slack.webhooks.sent[-1][1]["text"]
    assert len([m for m in slack.client.to("chat.postMessage") if m["channel"] == APPROVALS]) == 1


def test_a_reminder_slack_refused_is_told_and_can_be_clicked_again(slack):
    request = slack.pending_request()
    slack.client.fail_next("chat.postMessage", "channel_not_found")
    slack.dispatch(_dm_click("remind_approvers", request))
    assert "Slack did not post the reminder" in slack.webhooks.sent[-1][1]["text"]
    slack.client.clear()
    slack.dispatch(_dm_click("remind_approvers", request))
    assert [m["thread_ts"] for m in slack.client.to("chat.postMessage") if m["channel"] == APPROVALS] == [
        request.card.ts]
