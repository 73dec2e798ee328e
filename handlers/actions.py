"""Approve, Deny and Reveal buttons. Each acks first; refusals go privately to the clicker."""

from __future__ import annotations

import logging
import re

from slack_bolt import App
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.domain import DomainError, MessageRef
from bot.workflow import ResetWorkflow
from handlers import blocks
from handlers.home import publish_home
from handlers.ids import Ids
from handlers.notifier import SlackNotifier

log = logging.getLogger(__name__)


BUTTON_VALUE = re.compile(r"[A-Za-z0-9_-]{1,100}")  # request ids (rr_…) and reveal tokens (sec_…)


def _button_value(body: dict) -> str | None:
    actions = body.get("actions")
    if not isinstance(actions, list) or not actions or not isinstance(actions[0], dict):
        return None
    value = actions[0].get("value")
    return value if isinstance(value, str) and BUTTON_VALUE.fullmatch(value) else None


def _clicked_message(body: dict) -> MessageRef | None:
    """The card that was clicked: lets a click that beats the card's own bookkeeping still update it."""
    container = body.get("container")
    if not isinstance(container, dict) or container.get("type") != "message":
        return None
    channel, ts = container.get("channel_id"), container.get("message_ts")
    if isinstance(channel, str) and isinstance(ts, str) and len(channel) < 32 and len(ts) < 32:
        return MessageRef(channel, ts)
    return None


def register(app: App, workflow: ResetWorkflow, notifier: SlackNotifier) -> None:
    def tell_clicker(body: dict, respond, text: str) -> None:
        user_id = body["user"]["id"]  # the guard middleware checked the shape
        if body.get("response_url"):
            try:
                respond(text=text, response_type="ephemeral", replace_original=False)
                return
            except (SlackClientError, OSError, ValueError) as exc:
                log.warning("could not answer the clicker through response_url: %s", type(exc).__name__)
        if user_id:
            notifier.direct_message(user_id, text)

    def decide(body, respond, client, verb) -> None:
        user_id = body["user"]["id"]
        request_id = _button_value(body)
        try:
            if request_id is None:
                raise DomainError("This button does not name a reset request.")
            verb(request_id, user_id, seen_card=_clicked_message(body))
        except DomainError as refusal:
            tell_clicker(body, respond, str(refusal))
        if (body.get("view") or {}).get("type") == "home" and isinstance(user_id, str):
            try:
                publish_home(client, workflow, user_id)  # the clicked card leaves "waiting for your approval"
            except DomainError:
                pass

    @app.action(Ids.APPROVE.value)
    def handle_approve_click(ack, body, respond, client):
        ack()
        decide(body, respond, client, workflow.decisions.approve)

    @app.action(Ids.DENY.value)
    def handle_deny_click(ack, body, respond, client):
        ack()
        decide(body, respond, client, workflow.decisions.deny)

    @app.action(Ids.CUSTOMER_INFORMED.value)
    def handle_customer_informed_click(ack, body, respond, client):
        ack()
        decide(body, respond, client, lambda request_id, user_id, seen_card: workflow.reveal.customer_informed(
            request_id, user_id))

    @app.action(Ids.REVEAL.value)
    def handle_reveal_click(ack, body, client, respond):
        ack()
        user_id = body["user"]["id"]
        token = _button_value(body)
        try:
            if token is None:
                raise DomainError("This button does not name a password.")
            request, password = workflow.reveal.begin(token, user_id)
        except DomainError as refusal:
            tell_clicker(body, respond, str(refusal))
            return
        try:
            # The response echoes the view (and so the password): it is dropped, never logged.
            client.views_open(trigger_id=body.get("trigger_id"),
                              view=blocks.reveal_modal(request, password, catalog=workflow.catalog))
        except (SlackApiError, SlackClientError, OSError) as exc:
            workflow.reveal.abandon(token)
            error = exc.response.get("error") if isinstance(exc, SlackApiError) else type(exc).__name__
            log.warning("reveal modal could not be opened: %s", error)
            tell_clicker(body, respond, "Slack could not open the password window, so the reveal was not used up. "
                                        "Click Reveal password again.")
            return
        finally:
            del password
        workflow.reveal.finish(token, user_id)
