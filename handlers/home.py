"""App Home: the engineer's recent requests; for approvers, what waits for them."""

from __future__ import annotations

import logging

from slack_sdk.errors import SlackApiError

from bot.domain import DomainError, Role
from bot.workflow import ResetWorkflow
from handlers import blocks

log = logging.getLogger(__name__)


def publish_home(client, workflow: ResetWorkflow, user_id: str) -> None:
    home = workflow.lookups.home_for(user_id)
    can_request = any(Role.REQUESTER in roles for roles in home.roles.values())
    try:
        client.views_publish(user_id=user_id, view=blocks.home_view(home.requests, home.waiting, can_request,
                                                                    catalog=workflow.catalog))
    except SlackApiError as exc:
        log.warning("views.publish of the Home tab failed: %s", exc.response.get("error"))


def handle_app_home_opened(event, body, client, workflow: ResetWorkflow) -> None:
    event_id = body.get("event_id")
    user_id = event.get("user")
    if not isinstance(user_id, str) or event.get("tab", "home") != "home":
        return
    try:
        if isinstance(event_id, str) and not workflow.lookups.first_sighting(event_id):
            return  # an Events API retry of a delivery we already handled
        publish_home(client, workflow, user_id)
    except DomainError:  # the database did not answer: the tab keeps what it showed, and nobody is told
        return
