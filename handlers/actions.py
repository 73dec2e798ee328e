"""Approve, Deny, Customer informed, Reveal, Cancel request and Remind approvers buttons. Each acks first; a
refusal is a DomainError.

Deny opens a modal for its optional Reason; its submission is handled in handlers/views.py.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from slack_sdk.errors import SlackApiError, SlackClientError

from bot.domain import DomainError, MessageRef
from bot.workflow import ResetWorkflow
from handlers import blocks
from handlers.guard import button_value
from handlers.home import publish_home

log = logging.getLogger(__name__)


def _clicked_card(body: dict, request_id: str) -> MessageRef | None:
    """The clicked message, when it is this request's approval card: the clicked button sits in the
    block that names the request, and the message Slack sent back has that block. A click anywhere
    else (another request's card, a message in another channel, the App Home) names no card."""
    container = body.get("container")
    if not isinstance(container, dict) or container.get("type") != "message" or container.get("is_ephemeral"):
        return None
    channel, ts = container.get("channel_id"), container.get("message_ts")
    if not (isinstance(channel, str) and isinstance(ts, str) and len(channel) < 32 and len(ts) < 32):
        return None
    block_id = blocks.card_actions_block(request_id)
    action = (body.get("actions") or [{}])[0]
    message = body.get("message")
    if not isinstance(action, dict) or action.get("block_id") != block_id or not isinstance(message, dict):
        return None
    shown = message.get("blocks")
    if message.get("ts") != ts or not isinstance(shown, list):
        return None
    if not any(isinstance(b, dict) and b.get("block_id") == block_id for b in shown):
        return None
    return MessageRef(channel, ts)


def _decide(body: dict, client, workflow: ResetWorkflow, verb: Callable[..., object]) -> None:
    user_id = body["user"]["id"]  # the guard middleware checked the shape
    request_id = button_value(body)
    try:
        if request_id is None:
            raise DomainError("This button does not name a reset request.")
        verb(request_id, user_id, seen_card=_clicked_card(body, request_id))
    finally:
        if (body.get("view") or {}).get("type") == "home" and isinstance(user_id, str):
            _refresh_home(client, workflow, user_id)  # the clicked card leaves "waiting for your approval"


def _refresh_home(client, workflow: ResetWorkflow, user_id: str) -> None:
    try:
        publish_home(client, workflow, user_id)
    except DomainError:  # the database did not answer: the tab keeps what it showed
        pass


def handle_approve_click(ack, body, client, workflow: ResetWorkflow) -> None:
    ack()
    _decide(body, client, workflow, workflow.decisions.approve)


def handle_deny_click(ack, body, client, workflow: ResetWorkflow) -> None:
    """Open the Deny modal (its optional Reason); a person who may not deny is refused now, privately.

    The denial itself is the modal's submission (handlers/views.py: handle_deny_submission).
    """
    ack()
    user_id = body["user"]["id"]  # the guard middleware checked the shape
    request_id = button_value(body)
    from_home = (body.get("view") or {}).get("type") == "home"
    try:
        if request_id is None:
            raise DomainError("This button does not name a reset request.")
        request = workflow.decisions.check_deny(request_id, user_id, seen_card=_clicked_card(body, request_id))
    except DomainError:
        if from_home and isinstance(user_id, str):
            _refresh_home(client, workflow, user_id)  # the tab shows what the refusal found (decided, expired)
        raise
    try:
        client.views_open(trigger_id=body.get("trigger_id"),
                          view=blocks.deny_modal(request, catalog=workflow.catalog, from_home=from_home))
    except (SlackApiError, SlackClientError, OSError) as exc:
        failure = exc.response.get("error") if isinstance(exc, SlackApiError) else type(exc).__name__
        log.warning("deny modal could not be opened: %s", failure)
        raise DomainError("Slack could not open the Deny window, so nothing was changed. Click Deny again.") from None


def handle_customer_informed_click(ack, body, client, workflow: ResetWorkflow) -> None:
    ack()
    _decide(body, client, workflow, lambda request_id, user_id, seen_card: workflow.reveal.customer_informed(
        request_id, user_id))


def handle_reveal_click(ack, body, client, workflow: ResetWorkflow) -> None:
    ack()
    user_id = body["user"]["id"]
    token = button_value(body)
    if token is None:
        raise DomainError("This button does not name a password.")
    request, password = workflow.reveal.begin(token, user_id)
    opened, failure = False, ""
    try:
        # The response echoes the view (and so the password): it is dropped, never logged.
        client.views_open(trigger_id=body.get("trigger_id"),
                          view=blocks.reveal_modal(request, password, catalog=workflow.catalog))
        opened = True
    except (SlackApiError, SlackClientError, OSError) as exc:
        failure = exc.response.get("error") if isinstance(exc, SlackApiError) else type(exc).__name__
    finally:
        del password
    if not opened:  # the exception is out of scope here, and with it the response that echoed the password
        workflow.reveal.abandon(token)
        log.warning("reveal modal could not be opened: %s", failure)
        raise DomainError("Slack could not open the password window, so the reveal was not used up. "
                          "Click Reveal password again.")
    workflow.reveal.finish(token, user_id)


def handle_cancel_request_click(ack, body, workflow: ResetWorkflow) -> None:
    """Cancel request, in the requester's DM while the request waits: the card and the DM are rewritten."""
    ack()
    request_id = button_value(body)
    if request_id is None:
        raise DomainError("This button does not name a reset request.")
    workflow.requester.cancel(request_id, body["user"]["id"])  # the guard middleware checked the shape


def handle_remind_approvers_click(ack, body, workflow: ResetWorkflow) -> None:
    """Remind approvers, in the requester's DM: a reminder in the card's thread, at most once per 10 minutes."""
    ack()
    request_id = button_value(body)
    if request_id is None:
        raise DomainError("This button does not name a reset request.")
    workflow.requester.remind(request_id, body["user"]["id"])
