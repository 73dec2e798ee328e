"""/reset-password: ack at once, check the role, open the modal while the trigger_id is fresh."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Collection

from slack_sdk.errors import SlackApiError

from bot.domain import DomainError, NotAllowed
from bot.forms import Draft
from bot.workflow import ResetWorkflow
from handlers import blocks

log = logging.getLogger(__name__)


def parse_command_text(text: object, providers: Collection[str]) -> tuple[str | None, str | None]:
    """`[provider] [account]`, `providers` being the names the bot knows; anything else is ignored, not refused."""
    words = text.split() if isinstance(text, str) else []
    provider = None
    if words and words[0].lower() in providers:
        provider = words[0].lower()
        words = words[1:]
    return provider, (words[0][:64] if words else None)


def handle_reset_password_command(ack, body, client, workflow: ResetWorkflow) -> None:
    """Refusals raise DomainError: handlers/errors.py tells the engineer privately."""
    ack()
    user_id = body.get("user_id")
    providers = workflow.intake.requestable_providers(user_id)
    if not providers:
        refusal = workflow.intake.refusal_for_requester(user_id)
        if refusal:
            raise NotAllowed(refusal)
        return  # a role granted between the two reads: the next /reset-password works
    provider, account = parse_command_text(body.get("text"), workflow.catalog.names())
    channel = body.get("channel_id") if isinstance(body.get("channel_id"), str) else None
    draft_id = "dr_" + secrets.token_hex(8)
    metadata = {"v": "1", "draft": draft_id, "origin_channel_id": channel or "", "requested_by": user_id}
    trigger_id = body.get("trigger_id")
    if not trigger_id:
        raise DomainError("Slack sent no way to open the form; run /reset-password again.")
    try:
        # The trigger_id dies 3 s after Slack sent the command: open the modal before anything else.
        client.views_open(
            trigger_id=trigger_id,
            view=blocks.reset_modal(providers=providers, metadata=metadata, provider=provider,
                                    account=account),
        )
    except SlackApiError as exc:
        error = exc.response.get("error", "an error")
        log.warning("views.open for /reset-password failed: %s", error)
        raise DomainError(f"Slack could not open the request form ({error}); "
                          "run /reset-password again.") from None
    try:
        # A submit that beats this only loses the response_url; status then goes by postEphemeral or DM.
        workflow.intake.save_draft(draft_id, Draft(user_id, channel, body.get("response_url")))
    except DomainError as outage:  # not the engineer's problem: the modal is open and works without it
        log.warning("the draft of %s was not saved: %s", draft_id, outage)
