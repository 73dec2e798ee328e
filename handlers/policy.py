"""Policy from Slack: Edit policy in the App Home, its modal's submission, and the Policy change card's buttons.

Each acks first (the modal after its checks, so input errors stay under their inputs); a refusal
is a DomainError (handlers/errors.py). What a change means is the workflow's
(bot/workflow/policy_changes.py); the admins' App Home tabs follow it (handlers/home.py: HomeRefresher).
"""

from __future__ import annotations

import logging

from slack_sdk.errors import SlackApiError, SlackClientError

from bot.domain import DomainError
from bot.workflow import ResetWorkflow
from handlers import blocks
from handlers.guard import button_value
from handlers.home import HomeRefresher
from handlers.notifier import SlackNotifier

log = logging.getLogger(__name__)


def handle_edit_policy_click(ack, body, client, workflow: ResetWorkflow) -> None:
    """Open the policy modal, prefilled, for an admin of that provider; anyone else is refused privately."""
    ack()
    user_id = body["user"]["id"]  # the guard middleware checked the shape
    provider = button_value(body)
    info = workflow.catalog.get(provider) if provider is not None else None
    if provider is None or info is None:
        raise DomainError("This button does not name a provider.")
    rules = workflow.policy_changes.open_editor(provider, user_id)
    try:
        client.views_open(trigger_id=body.get("trigger_id"), view=blocks.policy_modal(info, rules))
    except (SlackApiError, SlackClientError, OSError) as exc:
        failure = exc.response.get("error") if isinstance(exc, SlackApiError) else type(exc).__name__
        log.warning("policy modal could not be opened: %s", failure)
        raise DomainError("Slack could not open the policy window, so nothing was changed. "
                          "Click Edit policy again.") from None


def handle_policy_submission(ack, body, view, workflow: ResetWorkflow, notifier: SlackNotifier,
                             home_refresher: HomeRefresher) -> None:
    """Apply a tightening change at once, or post a loosening one for a second admin. Input errors and refusals
    raise DomainError before the ack: handlers/errors.py shows them under the modal's inputs."""
    user_id = body["user"]["id"]
    provider, texts, opened_on = blocks.parse_policy_form(view)
    if provider is None or opened_on is None:
        raise DomainError("This form does not name a provider's policy. Open Edit policy again.")
    edit = workflow.policy_changes.submit(provider, texts, user_id, opened_on)
    ack()
    label = workflow.catalog.label(provider)
    if edit.applied is not None:
        notifier.tell(user_id, f"The approval policy of {label} is changed and applies to requests made from now on: "
                               f"{blocks.policy_words(edit.applied.new)}.")
    elif edit.proposal is not None:
        notifier.tell(user_id, f"Your change loosens the approval policy of {label} "
                               f"({'; '.join(edit.proposal.weakened)}), so it waits for a second admin: it is posted "
                               "to the approvals channel as a Policy change card.")
    else:
        return
    home_refresher.policy_changed(provider)


def handle_approve_policy_change_click(ack, body, workflow: ResetWorkflow, home_refresher: HomeRefresher) -> None:
    """Approve change: a second admin applies the proposal; the card is rewritten by the workflow."""
    ack()
    proposal = workflow.policy_changes.approve(_proposal_id(body), body["user"]["id"])
    home_refresher.policy_changed(proposal.provider)


def handle_reject_policy_change_click(ack, body, workflow: ResetWorkflow, home_refresher: HomeRefresher) -> None:
    """Reject change: any admin of the provider; the proposer's click withdraws it."""
    ack()
    proposal = workflow.policy_changes.reject(_proposal_id(body), body["user"]["id"])
    home_refresher.policy_changed(proposal.provider)


def _proposal_id(body: dict) -> str:
    proposal_id = button_value(body)
    if proposal_id is None:
        raise DomainError("This button does not name a policy change.")
    return proposal_id
