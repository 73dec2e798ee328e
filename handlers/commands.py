"""/reset-password: ack at once, check the role, open the modal while the trigger_id is fresh."""

from __future__ import annotations

import logging
import secrets

from slack_bolt import App

from bot.domain import DomainError, Provider
from bot.workflow import Draft, ResetWorkflow
from handlers import blocks
from handlers.ids import Ids

log = logging.getLogger(__name__)


def parse_command_text(text: object) -> tuple[Provider | None, str | None]:
    """`[provider] [account]`; anything else is ignored rather than refused."""
    words = text.split() if isinstance(text, str) else []
    provider = None
    if words:
        try:
            provider = Provider(words[0].lower())
            words = words[1:]
        except ValueError:
            pass
    return provider, (words[0][:64] if words else None)


def register(app: App, workflow: ResetWorkflow) -> None:
    @app.command(Ids.COMMAND.value)
    def handle_reset_password_command(ack, body, client, respond):
        ack()
        user_id = body.get("user_id")
        try:
            providers = workflow.requestable_providers(user_id)
            if not providers:
                respond(text=workflow.refusal_for_requester(user_id), response_type="ephemeral")
                return
        except DomainError as refusal:
            respond(text=str(refusal), response_type="ephemeral")
            return
        provider, account = parse_command_text(body.get("text"))
        channel = body.get("channel_id") if isinstance(body.get("channel_id"), str) else None
        draft_id = "dr_" + secrets.token_hex(8)
        metadata = {"v": "1", "draft": draft_id, "origin_channel_id": channel or "", "requested_by": user_id}
        # Saved first: a fast submit must find the response_url (a few ms of the trigger's 3 s).
        workflow.save_draft(draft_id, Draft(user_id, channel, body.get("response_url")))
        client.views_open(
            trigger_id=body["trigger_id"],
            view=blocks.reset_modal(providers=providers, metadata=metadata, provider=provider, account=account),
        )
