"""The request modal (live updates for Namecheap's Method, and the submission), and the Deny modal's submission."""

from __future__ import annotations

import logging

from slack_sdk.errors import SlackApiError

from bot.domain import DomainError, Method
from bot.workflow import ResetWorkflow
from handlers import blocks
from handlers.home import publish_home
from handlers.ids import Ids

log = logging.getLogger(__name__)


def handle_modal_choice(ack, body, client, workflow: ResetWorkflow) -> None:
    """Rebuild the modal for the chosen provider and method; the block ids keep typed values."""
    ack()
    view = body.get("view") or {}
    if view.get("callback_id") != Ids.RESET_MODAL:
        return
    provider_value = blocks.state_value(view, Ids.PROVIDER_BLOCK, Ids.PROVIDER_SELECT)
    method_value = blocks.state_value(view, Ids.METHOD_BLOCK, Ids.METHOD_SELECT)
    provider = provider_value  # a name; the modal shows it when it is one of those offered
    method = Method(method_value) if method_value in set(Method) else None
    user_id = body["user"]["id"]  # the guard middleware checked the shape
    try:
        providers = workflow.intake.requestable_providers(user_id)
    except DomainError:  # the database did not answer: offer what is enabled; the submission checks roles
        providers = workflow.intake.enabled_providers()
    try:
        client.views_update(
            view_id=view.get("id"),
            hash=view.get("hash"),
            # Slack keeps what was typed into inputs whose ids did not change; the initial values
            # cover clients that do not.
            view=blocks.reset_modal(
                providers=providers, metadata=blocks.parse_metadata(view), provider=provider, method=method,
                account=blocks.state_value(view, Ids.ACCOUNT_BLOCK, Ids.ACCOUNT_INPUT),
                reason=blocks.state_value(view, Ids.REASON_BLOCK, Ids.REASON_INPUT),
                ticket=blocks.state_value(view, Ids.TICKET_BLOCK, Ids.TICKET_INPUT),
            ),
        )
    except SlackApiError as exc:  # hash_conflict: a newer choice already updated the modal
        log.warning("views.update of the request form failed: %s", exc.response.get("error"))


def handle_reset_form_submission(ack, body, view, workflow: ResetWorkflow) -> None:
    """Input errors and refusals raise DomainError: handlers/errors.py shows them in the modal."""
    user_id = body["user"]["id"]  # the guard middleware checked the shape
    metadata = blocks.parse_metadata(view)
    request, created = workflow.intake.submit(
        blocks.parse_reset_form(view),
        requester_id=user_id,
        source_view_id=view.get("id") if isinstance(view.get("id"), str) else None,
        draft_id=metadata.get("draft"),
        origin_channel=metadata.get("origin_channel_id") or None,
    )
    ack()
    if created:
        workflow.intake.announce(request)


def handle_reset_form_closed(ack) -> None:
    ack()  # nothing was stored; the draft is swept after an hour


def handle_deny_submission(ack, body, view, client, workflow: ResetWorkflow) -> None:
    """Deny with the typed Reason (optional). A refusal (decided or expired meanwhile, a role lost, a
    reason too long) raises DomainError: handlers/errors.py shows it in the modal. The card and the
    requester are told after the ack."""
    user_id = body["user"]["id"]  # the guard middleware checked the shape
    request_id, reason = blocks.parse_deny_form(view)
    if request_id is None:
        raise DomainError("This form does not name a reset request.")
    request = workflow.decisions.record_deny(request_id, user_id, reason=reason)
    ack()
    workflow.decisions.announce_end(request)
    if blocks.parse_metadata(view).get("home"):
        try:
            publish_home(client, workflow, user_id)  # the denied request leaves "Waiting for your approval"
        except DomainError:  # the database did not answer: the tab keeps what it showed
            pass
