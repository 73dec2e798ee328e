"""The request modal: live updates for Namecheap's Method, and the submission."""

from __future__ import annotations

import logging

from slack_bolt import App
from slack_sdk.errors import SlackApiError

from bot.domain import DomainError, InputErrors, Method, ServiceUnavailable
from bot.workflow import ResetWorkflow
from handlers import blocks
from handlers.ids import FIELD_BLOCKS, Ids

log = logging.getLogger(__name__)


def errors_under_inputs(view: dict, errors: dict[str, str]) -> dict[str, str]:
    """Each error under its input; one whose input this view lacks (a modal update Slack refused)
    goes under Provider, since Slack rejects errors keyed by a block the view does not have."""
    present = {b.get("block_id") for b in view.get("blocks") or [] if isinstance(b, dict)}
    placed: dict[str, str] = {}
    for field, text in errors.items():
        block = FIELD_BLOCKS.get(field, Ids.ACCOUNT_BLOCK).value
        if block not in present:
            block = Ids.PROVIDER_BLOCK.value
        placed[block] = f"{placed[block]} {text}" if block in placed else text
    return placed


def register(app: App, workflow: ResetWorkflow) -> None:
    @app.action(Ids.PROVIDER_SELECT.value)
    @app.action(Ids.METHOD_SELECT.value)
    def handle_modal_choice(ack, body, client):
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
        except DomainError:
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

    @app.view(Ids.RESET_MODAL.value)
    def handle_reset_form_submission(ack, body, view):
        user_id = body["user"]["id"]  # the guard middleware checked the shape
        metadata = blocks.parse_metadata(view)
        form = blocks.parse_reset_form(view)
        try:
            request, created = workflow.intake.submit(
                form,
                requester_id=user_id,
                source_view_id=view.get("id") if isinstance(view.get("id"), str) else None,
                draft_id=metadata.get("draft"),
                origin_channel=metadata.get("origin_channel_id") or None,
            )
        except InputErrors as bad:
            ack(response_action="errors", errors=errors_under_inputs(view, bad.errors))
            return
        except ServiceUnavailable as outage:
            ack(response_action="errors", errors={Ids.REASON_BLOCK.value: str(outage)})
            return
        except DomainError as refusal:
            ack(response_action="errors", errors={Ids.PROVIDER_BLOCK.value: str(refusal)})
            return
        ack()
        if created:
            workflow.intake.announce(request)

    @app.view_closed(Ids.RESET_MODAL.value)
    def handle_reset_form_closed(ack):
        ack()  # nothing was stored; the draft is swept after an hour
