"""Baseline for bench/ack_latency.py: a bare Bolt app that only acks, connected over Socket Mode.

It answers the same three deliveries as resetbot, with the least work Bolt allows, in the
same connection style as `resetbot run` (App(client=WebClient(token, base_url=SLACK_API_URL))
plus the same Socket Mode handler, bot.server.socket_mode_handler: Bolt's built-in adapter with
TCP_NODELAY, so the comparison measures the bot's own work, not the transport; Bolt's defaults
everywhere else):

* `/reset-password`: ack(), then views.open of a modal like resetbot's (Provider, Account,
  Reason, Ticket) so the simulated person can fill it and submit it;
* the modal's view_submission: ack(), then chat.postMessage of a card with an "Approve"
  button to the approvals channel (its text names the account, like resetbot's card);
* the "Approve" button and the Provider choice (the burst picks it): ack() only.

Environment: SLACK_BOT_TOKEN, SLACK_APP_TOKEN, SLACK_API_URL, RESETBOT_APPROVALS_CHANNEL.
Logs a line containing "ready" on stderr once connected; SIGTERM/SIGINT closes and exits 0.

    .venv/bin/python bench/bare_app.py      # normally started by bench/ack_latency.py
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading

from slack_bolt import App
from slack_sdk import WebClient

from bot.server import socket_mode_handler

CALLBACK_ID = "bare_reset_modal"


def _text(value: str) -> dict:
    return {"type": "plain_text", "text": value}


def modal(provider: str | None, account: str | None) -> dict:
    provider_element: dict = {
        "type": "static_select",
        "action_id": "provider_select",
        "placeholder": _text("Choose a provider"),
        "options": [{"text": _text("MyOwnFreeHost"), "value": "mofh"},
                    {"text": _text("Namecheap"), "value": "namecheap"}],
    }
    if provider == "mofh":
        provider_element["initial_option"] = {"text": _text("MyOwnFreeHost"), "value": "mofh"}
    account_element: dict = {"type": "plain_text_input", "action_id": "account_input", "max_length": 64}
    if account:
        account_element["initial_value"] = account[:64]
    return {
        "type": "modal",
        "callback_id": CALLBACK_ID,
        "title": _text("Reset hosting password"),
        "submit": _text("Request reset"),
        "close": _text("Cancel"),
        "blocks": [
            {"type": "input", "block_id": "provider_block", "label": _text("Provider"), "dispatch_action": True,
             "element": provider_element},
            {"type": "input", "block_id": "account_block", "label": _text("Account"), "element": account_element},
            {"type": "input", "block_id": "reason_block", "label": _text("Reason"),
             "element": {"type": "plain_text_input", "action_id": "reason_input", "multiline": True}},
            {"type": "input", "block_id": "ticket_block", "optional": True, "label": _text("Ticket"),
             "element": {"type": "plain_text_input", "action_id": "ticket_input"}},
        ],
    }


def build_app(token: str, api_url: str, approvals_channel: str) -> App:
    app = App(client=WebClient(token=token, base_url=api_url))

    @app.command("/reset-password")
    def on_command(ack, body, client):
        ack()
        words = (body.get("text") or "").split()
        provider = words[0] if words else None
        account = words[1] if len(words) > 1 else None
        client.views_open(trigger_id=body["trigger_id"], view=modal(provider, account))

    @app.view(CALLBACK_ID)
    def on_submit(ack, body, view, client):
        ack()
        values = (view.get("state") or {}).get("values") or {}
        account = ((values.get("account_block") or {}).get("account_input") or {}).get("value") or "?"
        user = (body.get("user") or {}).get("id")
        client.chat_postMessage(
            channel=approvals_channel,
            text=f"Password reset request from <@{user}> for {account} at MyOwnFreeHost: waiting for approval",
            blocks=[
                {"type": "section", "text": {"type": "mrkdwn", "text": f"<@{user}> asks to reset `{account}`"}},
                {"type": "actions", "elements": [
                    {"type": "button", "action_id": "approve", "text": _text("Approve"), "style": "primary",
                     "value": account},
                ]},
            ],
        )

    @app.action("approve")
    def on_approve(ack):
        ack()

    @app.action("provider_select")  # the burst's Provider choice (bench/burst.py): ack only
    def on_provider(ack):
        ack()

    return app


def quiet_logging() -> None:
    """INFO from the bench apps on stderr (their "ready" line); the Slack libraries at WARNING."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    for name in ("slack_sdk", "slack_bolt", "urllib3"):
        logging.getLogger(name).setLevel(logging.WARNING)


def serve_until_signalled(app: App, name: str) -> int:
    """Serve `app` over Socket Mode, log "<name> ready", and close on SIGTERM/SIGINT: exit status 0."""
    log = logging.getLogger(name.replace(" ", "_"))
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    handler = socket_mode_handler(app, os.environ["SLACK_APP_TOKEN"])
    handler.connect()
    log.info("%s ready (Socket Mode)", name)
    stop.wait()
    handler.close()
    log.info("stopped")
    return 0


def main() -> int:
    quiet_logging()
    app = build_app(os.environ["SLACK_BOT_TOKEN"], os.environ.get("SLACK_API_URL", "https://slack.com/api/"),
                    os.environ["RESETBOT_APPROVALS_CHANNEL"])
    return serve_until_signalled(app, "bare app")


if __name__ == "__main__":
    raise SystemExit(main())
