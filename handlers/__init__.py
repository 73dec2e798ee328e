"""Slack transport only: ack, parse, call one workflow method, render the result."""

from __future__ import annotations

import json
import logging
import secrets

from slack_bolt import App, BoltResponse

from bot.workflow import ResetWorkflow
from handlers import actions, commands, guard, home, views
from handlers.ids import Ids
from handlers.notifier import SlackNotifier

log = logging.getLogger(__name__)


def register(app: App, workflow: ResetWorkflow, notifier: SlackNotifier) -> None:
    guard.register(app)
    commands.register(app, workflow)
    views.register(app, workflow)
    actions.register(app, workflow, notifier)
    home.register(app, workflow)

    @app.error
    def handle_unexpected_error(error, body):
        # Never the payload: it can hold a reset code typed into the modal.
        error_id = secrets.token_hex(4)
        kind = body.get("type") if isinstance(body, dict) else None
        log.error("unhandled %s in a %s listener (error id %s)", type(error).__name__, kind or "Slack", error_id,
                  exc_info=(type(error), error, error.__traceback__))
        if kind == "view_submission":
            # Keep the modal open with a sentence, rather than let it close as if the request went through
            # (used only when the listener failed before its own ack).
            errors = {Ids.REASON_BLOCK.value: f"Something went wrong and the request was not saved "
                                              f"(error id {error_id}). Try again."}
            return BoltResponse(status=200, body=json.dumps({"response_action": "errors", "errors": errors}),
                                headers={"content-type": "application/json"})
        return BoltResponse(status=200, body="")
