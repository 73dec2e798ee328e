"""Burst baseline for bench/ack_latency.py: a Bolt app making a reset's Slack and provider calls, nothing else.

It keeps no database, seals nothing and checks nothing, but answers every delivery of the
burst with the same Web API and provider calls `resetbot run` makes for it, in the same
connection style (App(client=WebClient(token, base_url=SLACK_API_URL)) and resetbot's
Socket Mode handler, bot.server.socket_mode_handler), and runs the provider call on a
32-thread pool as bot/app.py does (PROVIDER_WORKERS). Whatever it costs above the ack-only
app (bench/bare_app.py) is the cost of the calls themselves; whatever resetbot costs above
it is resetbot's own work.

The calls it makes, per step, are the one table CALLS below: when resetbot's calls change
(another DM, one call fewer), change that table, and the bench's "Slack calls" lines show
whether both apps still make the same calls.

Environment: SLACK_BOT_TOKEN, SLACK_APP_TOKEN, SLACK_API_URL, RESETBOT_APPROVALS_CHANNEL,
MOFH_API_URL, MOFH_API_USERNAME, MOFH_API_PASSWORD. Logs a line containing "ready" once
connected; SIGTERM/SIGINT closes and exits 0.

    .venv/bin/python bench/same_calls_app.py      # normally started by bench/ack_latency.py
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import requests
from bare_app import quiet_logging, serve_until_signalled  # bench/ is the script's own directory
from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.webhook import WebhookClient

CALLBACK_ID = "same_calls_reset_modal"
PROVIDER_WORKERS = 32  # bot/app.py: PROVIDER_WORKERS

# What resetbot calls at each step of a reset (handlers/, bot/workflow/, handlers/notifier.py), in order.
# "passwd" is the provider call; every other name is a step function below.
CALLS: dict[str, tuple[str, ...]] = {
    # /reset-password: the modal, while the trigger_id is fresh (handlers/commands.py)
    "command": ("views.open",),
    # the Provider choice (handlers/views.py: handle_modal_choice)
    "provider_choice": ("views.update",),
    # after the submission's ack (bot/workflow/intake.py: announce): the card without buttons, the
    # same card armed once its place is stored, the requester's "waiting" note by response_url
    # and the requester's one DM for the request (bot/workflow/requester_dm.py)
    "submit": ("chat.postMessage card", "chat.update card", "response_url note", "conversations.open",
               "chat.postMessage dm"),
    # after the Approve click's ack (bot/workflow/decisions.py: approve): the card says "being changed"
    "approve": ("chat.update card", "chat.update dm"),
    # on the provider pool (bot/workflow/execution.py, context.py: notify_final, reveal.py: send_reveal_dm)
    "execute": ("passwd", "chat.update card", "response_url note", "chat.update dm"),
}


def _text(value: str) -> dict:
    return {"type": "plain_text", "text": value}


def modal(provider: str | None, account: str | None, reason: str | None = None) -> dict:
    options = [{"text": _text("MyOwnFreeHost"), "value": "mofh"}, {"text": _text("Namecheap"), "value": "namecheap"}]
    provider_element: dict = {"type": "static_select", "action_id": "provider_select",
                              "placeholder": _text("Choose a provider"), "options": options}
    chosen = [o for o in options if o["value"] == provider]
    if chosen:
        provider_element["initial_option"] = chosen[0]
    account_element: dict = {"type": "plain_text_input", "action_id": "account_input", "max_length": 64}
    if account:
        account_element["initial_value"] = account[:64]
    reason_element: dict = {"type": "plain_text_input", "action_id": "reason_input", "multiline": True}
    if reason:
        reason_element["initial_value"] = reason
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
            {"type": "input", "block_id": "reason_block", "label": _text("Reason"), "element": reason_element},
            {"type": "input", "block_id": "ticket_block", "optional": True, "label": _text("Ticket"),
             "element": {"type": "plain_text_input", "action_id": "ticket_input"}},
        ],
    }


def _value(view: dict, block: str, action: str) -> str | None:
    entry = (((view.get("state") or {}).get("values") or {}).get(block) or {}).get(action) or {}
    return entry.get("value") or (entry.get("selected_option") or {}).get("value")


@dataclass
class Reset:
    """What one request's later steps need to know (kept in memory only, as nothing here is durable)."""

    requester: str
    account: str
    response_url: str | None = None
    card: tuple[str, str] | None = None
    dm: tuple[str, str] | None = None
    facts: dict = field(default_factory=dict)


class SameCalls:
    """The step functions CALLS names, over one WebClient, one provider session and one pool."""

    def __init__(self, client: WebClient, approvals_channel: str, mofh_url: str, mofh_auth: tuple[str, str]) -> None:
        self.client = client
        self.approvals_channel = approvals_channel
        self.passwd_url = mofh_url.rstrip("/") + "/xml-api/passwd.php"
        self.session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=PROVIDER_WORKERS)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.auth = mofh_auth
        self.pool = ThreadPoolExecutor(max_workers=PROVIDER_WORKERS, thread_name_prefix="provider")
        self.resets: dict[str, Reset] = {}  # by account (the card's button value)
        self.response_urls: dict[str, str] = {}  # by user: the command's response_url
        self.lock = threading.Lock()

    def run(self, step: str, reset: Reset, **extra) -> None:
        for call in CALLS[step]:
            name, _, what = call.partition(" ")
            getattr(self, name.replace(".", "_").replace("passwd", "call_passwd"))(reset, what, **extra)

    # -- Slack calls

    def views_open(self, reset: Reset, _what: str, *, trigger_id: str, provider: str | None = None, **_) -> None:
        self.client.views_open(trigger_id=trigger_id, view=modal(provider, reset.account or None))

    def views_update(self, reset: Reset, _what: str, *, view: dict, **_) -> None:
        self.client.views_update(view_id=view.get("id"), hash=view.get("hash"), view=modal(
            _value(view, "provider_block", "provider_select"), _value(view, "account_block", "account_input"),
            _value(view, "reason_block", "reason_input")))

    def chat_postMessage(self, reset: Reset, what: str, **_) -> None:
        if what == "card":
            posted = self.client.chat_postMessage(channel=self.approvals_channel, text=self._card_text(reset),
                                                  blocks=self._card_blocks(reset, buttons=False))
            reset.card = (posted["channel"], posted["ts"])
        else:  # the requester's DM, in the channel conversations.open gave
            posted = self.client.chat_postMessage(channel=reset.facts["dm_channel"], text=self._dm_text(reset),
                                                  blocks=self._dm_blocks(reset))
            reset.dm = (posted["channel"], posted["ts"])

    def chat_update(self, reset: Reset, what: str, **_) -> None:
        if what == "card" and reset.card is not None:
            self.client.chat_update(channel=reset.card[0], ts=reset.card[1], text=self._card_text(reset),
                                    blocks=self._card_blocks(reset, buttons="state" not in reset.facts))
        elif what == "dm" and reset.dm is not None:
            self.client.chat_update(channel=reset.dm[0], ts=reset.dm[1], text=self._dm_text(reset),
                                    blocks=self._dm_blocks(reset))

    def conversations_open(self, reset: Reset, _what: str, **_) -> None:
        reset.facts["dm_channel"] = self.client.conversations_open(users=reset.requester)["channel"]["id"]

    def response_url(self, reset: Reset, _what: str, **_) -> None:
        if reset.response_url:
            WebhookClient(reset.response_url, timeout=10).send(
                text=f"Your request for `{reset.account}`: {self._state(reset)}", response_type="ephemeral",
                replace_original=False)

    # -- the provider call

    def call_passwd(self, reset: Reset, _what: str, **_) -> None:
        answer = self.session.post(self.passwd_url, data={"user": reset.account, "pass": "BenchSameCalls16"},
                                   timeout=(5, 60))
        reset.facts["state"] = "changed" if answer.ok and "<status>1</status>" in answer.text else "failed"

    # -- words (the same sizes as resetbot's, roughly; nothing depends on them)

    def _state(self, reset: Reset) -> str:
        return reset.facts.get("state") or ("being changed" if reset.facts.get("approved") else "waiting for approval")

    def _dm_text(self, reset: Reset) -> str:
        return f"Your password reset for {reset.account} at MyOwnFreeHost: {self._state(reset)}"

    def _dm_blocks(self, reset: Reset) -> list[dict]:
        """The requester's DM; with the Reveal button once the password was changed (the bench times that)."""
        out: list[dict] = [{"type": "section", "text": {"type": "mrkdwn", "text": f"`{reset.account}`: "
                                                                                 f"{self._state(reset)}"}}]
        if reset.facts.get("state") == "changed":
            out.append({"type": "actions", "elements": [{"type": "button", "action_id": "reveal",
                                                         "text": _text("Reveal password"), "value": "rv_bench"}]})
        return out

    def _card_text(self, reset: Reset) -> str:
        return (f"Password reset request from <@{reset.requester}> for {reset.account} at MyOwnFreeHost: "
                f"{self._state(reset)}")

    def _card_blocks(self, reset: Reset, *, buttons: bool) -> list[dict]:
        out: list[dict] = [{"type": "section", "text": {"type": "mrkdwn", "text": (
            f"*Password reset request* from <@{reset.requester}>\n*Provider:* MyOwnFreeHost\n"
            f"*Account:* `{reset.account}`\n*Status:* {self._state(reset)}")}}]
        if buttons and not reset.facts.get("approved"):
            out.append({"type": "actions", "block_id": f"card_{reset.account}", "elements": [
                {"type": "button", "action_id": "approve", "text": _text("Approve"), "style": "primary",
                 "value": reset.account},
                {"type": "button", "action_id": "deny", "text": _text("Deny"), "style": "danger",
                 "value": reset.account}]})
        return out


def build_app(token: str, api_url: str, approvals_channel: str, mofh_url: str, mofh_auth: tuple[str, str]) -> App:
    app = App(client=WebClient(token=token, base_url=api_url))
    calls = SameCalls(app.client, approvals_channel, mofh_url, mofh_auth)

    @app.command("/reset-password")
    def on_command(ack, body):
        ack()
        words = (body.get("text") or "").split()
        user = body.get("user_id") or ""
        with calls.lock:
            calls.response_urls[user] = body.get("response_url") or ""
        calls.run("command", Reset(user, words[1] if len(words) > 1 else ""), trigger_id=body["trigger_id"],
                  provider=words[0] if words else None)

    @app.action("provider_select")
    def on_provider(ack, body):
        ack()
        calls.run("provider_choice", Reset((body.get("user") or {}).get("id") or "", ""), view=body.get("view") or {})

    @app.view(CALLBACK_ID)
    def on_submit(ack, body, view):
        ack()
        user = (body.get("user") or {}).get("id") or ""
        reset = Reset(user, _value(view, "account_block", "account_input") or "?")
        with calls.lock:
            reset.response_url = calls.response_urls.pop(user, None)
            calls.resets[reset.account] = reset
        calls.run("submit", reset)

    @app.action("approve")
    def on_approve(ack, body):
        ack()
        value = ((body.get("actions") or [{}])[0]).get("value")
        with calls.lock:
            reset = calls.resets.get(value)
        if reset is None:
            return
        reset.facts["approved"] = True
        calls.run("approve", reset)
        calls.pool.submit(calls.run, "execute", reset)

    return app


def main() -> int:
    quiet_logging()
    app = build_app(os.environ["SLACK_BOT_TOKEN"], os.environ.get("SLACK_API_URL", "https://slack.com/api/"),
                    os.environ["RESETBOT_APPROVALS_CHANNEL"], os.environ["MOFH_API_URL"],
                    (os.environ["MOFH_API_USERNAME"], os.environ["MOFH_API_PASSWORD"]))
    return serve_until_signalled(app, "same-calls app")


if __name__ == "__main__":
    raise SystemExit(main())
