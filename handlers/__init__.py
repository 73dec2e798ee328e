"""Slack transport only: ack, parse, call one workflow method, render the result; listeners registered here.

Listeners are module-level functions that name what they need: Bolt's arguments (`ack`,
`body`, `client`, …) and the `workflow` the `Collaborators` middleware puts in the context.
Each is registered through handlers.errors.mapped_errors, the one error mapping.
"""

from __future__ import annotations

from collections.abc import Callable

from slack_bolt import App, BoltRequest, BoltResponse
from slack_bolt.middleware import Middleware

from bot.pending_acks import NoPendingAcks, PendingAcks
from bot.workflow import ResetWorkflow
from handlers import actions, commands, groups, guard, home, policy, views
from handlers.errors import handle_unexpected_error, mapped_errors
from handlers.ids import Ids
from handlers.notifier import SlackNotifier


class Collaborators(Middleware):
    """Puts the workflow, the notifier, the user-group cache and the app's Slack client into every request's
    context, where listeners take them by name."""

    def __init__(self, workflow: ResetWorkflow, notifier: SlackNotifier,
                 group_members: groups.SlackGroupMembers | None = None,
                 home_refresher: home.HomeRefresher | None = None,
                 pending_acks: PendingAcks | None = None) -> None:
        self.workflow = workflow
        self.pending_acks = pending_acks or NoPendingAcks()
        self.notifier = notifier
        self.group_members = group_members
        self.home_refresher = home_refresher

    def process(self, *, req: BoltRequest, resp: BoltResponse,
                next: Callable[[], BoltResponse]) -> BoltResponse | None:
        # Bolt gives each request a new stock WebClient; listeners call Slack with the app's own instead: it counts
        # every call (GET /metrics) and keeps its connections open (bot/slack_http.py).
        req.context["client"] = self.notifier.client
        req.context["workflow"] = self.workflow
        req.context["notifier"] = self.notifier
        req.context["groups"] = self.group_members
        req.context["home_refresher"] = self.home_refresher
        req.context["pending_acks"] = self.pending_acks  # handlers/errors.py: mapped_errors yields after the ack
        return next()


def register(app: App, workflow: ResetWorkflow, notifier: SlackNotifier,
             group_members: groups.SlackGroupMembers | None = None, pending_acks: PendingAcks | None = None) -> None:
    """`group_members`: the cache the workflow asks (bot/app.py gives both the same), refreshed on its event.
    `pending_acks`: what the transports count (bot/server.py); each listener's work after its ack yields to them."""
    app.use(guard.DropMalformedPayloads(guard.response_hosts_for(app)))
    # App Home tabs follow what they show: every change of a request passes the notifier's update_card.
    home_refresher = home.HomeRefresher(notifier.client, workflow, notifier)
    notifier.on_request_change = home_refresher.request_changed
    app.use(Collaborators(workflow, notifier, group_members, home_refresher, pending_acks))
    if group_members is not None:  # membership events are followed only for the groups that matter
        group_members.watch(workflow.lookups.watched_groups)

    app.command(Ids.COMMAND.value)(mapped_errors(commands.handle_reset_password_command))

    modal_choice = mapped_errors(views.handle_modal_choice)
    app.action(Ids.PROVIDER_SELECT.value)(modal_choice)
    app.action(Ids.METHOD_SELECT.value)(modal_choice)
    app.view(Ids.RESET_MODAL.value)(mapped_errors(views.handle_reset_form_submission))
    app.view_closed(Ids.RESET_MODAL.value)(mapped_errors(views.handle_reset_form_closed))

    app.action(Ids.APPROVE.value)(mapped_errors(actions.handle_approve_click))
    app.action(Ids.DENY.value)(mapped_errors(actions.handle_deny_click))
    app.view(Ids.DENY_MODAL.value)(mapped_errors(views.handle_deny_submission))
    app.action(Ids.CUSTOMER_INFORMED.value)(mapped_errors(actions.handle_customer_informed_click))
    app.action(Ids.REVEAL.value)(mapped_errors(actions.handle_reveal_click))
    app.action(Ids.CANCEL_REQUEST.value)(mapped_errors(actions.handle_cancel_request_click))
    app.action(Ids.REMIND_APPROVERS.value)(mapped_errors(actions.handle_remind_approvers_click))

    app.event("app_home_opened")(mapped_errors(home.handle_app_home_opened))
    app.action(Ids.EDIT_POLICY.value)(mapped_errors(policy.handle_edit_policy_click))
    app.view(Ids.POLICY_MODAL.value)(mapped_errors(policy.handle_policy_submission))
    app.action(Ids.APPROVE_POLICY_CHANGE.value)(mapped_errors(policy.handle_approve_policy_change_click))
    app.action(Ids.REJECT_POLICY_CHANGE.value)(mapped_errors(policy.handle_reject_policy_change_click))
    app.event("subteam_members_changed")(mapped_errors(groups.handle_subteam_members_changed))

    app.error(handle_unexpected_error)
