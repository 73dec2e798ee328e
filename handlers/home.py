"""App Home: the engineer's recent requests; for approvers, what waits for them; for admins, the Policy section.

Published when the tab is opened, and again when something it shows changes (`HomeRefresher`):
for people who opened it in the last hour (remembered in the database, so the replica that made
the change finds them), off the listener's thread, and never touching what was decided.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable

from slack_sdk.errors import SlackApiError, SlackClientError

from bot.domain import CardRefused, DomainError, ProviderName, RequestView, Role
from bot.workflow import ResetWorkflow
from handlers import blocks
from handlers.notifier import SlackNotifier

log = logging.getLogger(__name__)

MAX_HOME_BLOCKS = 100  # Slack's limit for a view


def publish_home(client, workflow: ResetWorkflow, user_id: str, card_refusal: CardRefused | None = None) -> None:
    """`card_refusal`: Slack's refusal of the approvals channel (handlers/notifier.py), which admins are shown."""
    home = workflow.lookups.home_for(user_id)
    can_request = any(Role.REQUESTER in roles for roles in home.roles.values())
    view = blocks.home_view(home.requests, home.waiting, can_request, catalog=workflow.catalog)
    if card_refusal is not None and any(Role.ADMIN in roles for roles in home.roles.values()):
        view["blocks"][1:1] = blocks.card_refused_home_blocks(card_refusal)
    policy_blocks = blocks.policy_home_blocks(home.policies, home.proposals, catalog=workflow.catalog)
    if policy_blocks:  # admins: the Policy section last, room kept for it
        view["blocks"] = view["blocks"][:MAX_HOME_BLOCKS - len(policy_blocks)] + policy_blocks[:MAX_HOME_BLOCKS]
    try:
        client.views_publish(user_id=user_id, view=view)
    except SlackApiError as exc:
        log.warning("views.publish of the Home tab failed: %s", exc.response.get("error"))


class HomeRefresher:
    """Republishes the App Home of recent viewers who see what changed: a request (its requester, and while it
    waits, who may approve it) or a provider's policy (its admins). See bot/workflow/lookups.py:
    home_viewers_for_request.

    Everything runs on the workflow's background runner, never on a listener's ack path; a viewer whose
    publish is queued and not started yet is not queued again (it will read the newest state anyway). A
    failure is logged and dropped: the decision that caused it is already stored.
    """

    def __init__(self, client, workflow: ResetWorkflow, notifier: SlackNotifier | None = None) -> None:
        self.client = client
        self.workflow = workflow
        self.notifier = notifier
        self._queued: set[str] = set()
        self._lock = threading.Lock()

    def request_changed(self, request: RequestView) -> None:
        self.workflow.background.run(self._for_request, request.id, request)

    def policy_changed(self, provider: ProviderName) -> None:
        self.workflow.background.run(self._for_policy, provider)

    def _for_request(self, request_id: str, request: RequestView) -> None:
        try:
            self._publish_soon(self.workflow.lookups.home_viewers_for_request(request))
        except DomainError:  # the database did not answer: the tabs are republished when next opened
            pass

    def _for_policy(self, provider: ProviderName) -> None:
        try:
            self._publish_soon(self.workflow.lookups.home_viewers_for_policy(provider))
        except DomainError:
            pass

    def _publish_soon(self, users: Iterable[str]) -> None:
        for user_id in users:
            with self._lock:
                if user_id in self._queued:
                    continue
                self._queued.add(user_id)
            self.workflow.background.run(self._publish, user_id)

    def _publish(self, user_id: str) -> None:
        with self._lock:
            self._queued.discard(user_id)  # before reading: a change after this read queues it again
        try:
            publish_home(self.client, self.workflow, user_id,
                         self.notifier.card_refusal if self.notifier is not None else None)
        except DomainError:
            pass
        except (SlackClientError, OSError) as exc:
            log.warning("views.publish of the Home tab failed: %s", type(exc).__name__)


def handle_app_home_opened(event, body, client, workflow: ResetWorkflow, notifier: SlackNotifier | None = None) -> None:
    event_id = body.get("event_id")
    user_id = event.get("user")
    if not isinstance(user_id, str) or event.get("tab", "home") != "home":
        return
    try:
        if isinstance(event_id, str) and not workflow.lookups.first_sighting(event_id):
            return  # an Events API retry of a delivery we already handled
        workflow.lookups.remember_home_viewer(user_id)  # its tab follows changes for a while (HomeRefresher)
        publish_home(client, workflow, user_id, notifier.card_refusal if notifier is not None else None)
    except DomainError:  # the database did not answer: the tab keeps what it showed, and nobody is told
        return
