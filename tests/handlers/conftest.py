"""Listeners tested through `app.dispatch(BoltRequest(...))`, as Bolt's own scenario tests do.

The app is registered exactly as bot/app.py registers it (handlers.register), on a
RecordingWebClient: a WebClient whose api_call records the method and its arguments and
answers like Slack, with no network. Bolt hands each request a fresh WebClient built from the
app's settings, so a first middleware gives the listeners the recording one instead; the
notifier uses it too, and response_url posts go to RecordingWebhooks. Behind the listeners
is the real workflow on a temporary SQLite database, with fake provider gateways
(tests/unit/conftest.py) that run at once.
"""

from __future__ import annotations

import copy
import itertools
import json
import logging
import threading
import traceback
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from slack_bolt import App, BoltRequest, BoltResponse
from slack_sdk import WebClient
from slack_sdk.web import SlackResponse
from slack_sdk.webhook import WebhookResponse

import handlers
from bot.app import DrainableExecutor
from bot.domain import ProviderName, Role
from bot.forms import RequestForm
from bot.providers import registry
from bot.sealing import Sealer, ephemeral_key
from bot.workflow import ResetWorkflow
from handlers import blocks
from handlers.groups import SlackGroupMembers
from handlers.notifier import SlackNotifier
from storage.db import make_engine, make_sessionmaker, migrate
from tests.unit.conftest import Clock, FakeGateway, InlineExecutor

ENGINEER, APPROVER, OUTSIDER = "U0ENGINEER1", "U0APPROVER1", "U0OUTSIDER1"
HELPDESK, APPROVALS, TEAM = "C0HELPDESK", "C0APPROVALS", "T0SUPPORT1"
RESPONSE_URL = "https://hooks.slack.com/commands/T0SUPPORT1/1111111111111/rEsPoNsEuRlToKeN1"
ACTION_URL = "https://hooks.slack.com/actions/T0SUPPORT1/2222222222222/aCtIoNrEsPoNsEuRl1"
TRIGGER = "1111111111111.2222222222.3333333333333333aaaaaaaaaaaaaaaa"
REASON = "Customer locked out of FTP after a client saved an old password."


@dataclass
class Call:
    method: str
    args: dict[str, Any]


class RecordingWebClient(WebClient):
    """Records every Web API call (method and arguments) and answers it like Slack, without a network."""

    def __init__(self) -> None:
        super().__init__(token="xoxb-test", base_url="https://slack.test/api/")
        self.calls: list[Call] = []
        self.failures: dict[str, list[str]] = {}
        self.usergroups: dict[str, list[str]] = {}  # usergroups.users.list answers these members
        self._lock = threading.Lock()
        self._ts = itertools.count(1)

    def fail_next(self, method: str, error: str) -> None:
        self.failures.setdefault(method, []).append(error)

    def api_call(self, api_method: str, *, http_verb: str = "POST", files=None, data=None, params=None,
                 json=None, headers=None, auth=None) -> SlackResponse:
        args = {**(params or {}), **(data or {}), **(json or {})}
        with self._lock:
            self.calls.append(Call(api_method, args))
            pending = self.failures.get(api_method)
            error = pending.pop(0) if pending else None
            ts = f"1767225600.{next(self._ts):06d}"
        body = {"ok": False, "error": error} if error else {"ok": True, **self._answer(api_method, args, ts)}
        if not error and api_method == "usergroups.users.list":
            group = self.usergroups.get(str(args.get("usergroup")))
            body = {"ok": True, "users": list(group)} if group is not None else {"ok": False,
                                                                                 "error": "no_such_subteam"}
        return SlackResponse(client=self, http_verb=http_verb, api_url=self.base_url + api_method,
                             req_args=args, data=body, headers={}, status_code=200).validate()

    @staticmethod
    def _answer(method: str, args: dict, ts: str) -> dict:
        if method == "auth.test":
            return {"user_id": "U0RESETBOT", "bot_id": "B0RESETBOT", "team_id": TEAM, "user": "resetbot"}
        if method == "conversations.open":
            return {"channel": {"id": "D" + str(args.get("users", ""))[1:]}}
        if method in ("chat.postMessage", "chat.update"):
            return {"channel": args.get("channel"), "ts": args.get("ts") or ts}
        if method == "chat.postEphemeral":
            return {"message_ts": ts}
        if method.startswith("views."):
            return {"view": {"id": "V0OPENED001", "hash": "1.new"}}
        return {}

    def to(self, method: str) -> list[dict]:
        with self._lock:
            return [c.args for c in self.calls if c.method == method]

    def methods(self) -> list[str]:
        with self._lock:
            return [c.method for c in self.calls if c.method != "auth.test"]

    def clear(self) -> None:
        with self._lock:
            self.calls.clear()


@dataclass
class RecordingWebhooks:
    """Stands in for slack_sdk's WebhookClient (response_url posts): records them, answers `status`."""

    sent: list[tuple[str, dict]] = field(default_factory=list)
    status: int = 200

    def __call__(self, url: str, timeout: int = 10) -> RecordingWebhooks._Hook:
        return RecordingWebhooks._Hook(self, url)

    @dataclass
    class _Hook:
        owner: RecordingWebhooks
        url: str

        def send(self, **message) -> WebhookResponse:
            self.owner.sent.append((self.url, message))
            return WebhookResponse(url=self.url, status_code=self.owner.status, body="ok", headers={})


@dataclass
class Slack:
    """The app as Slack reaches it, and what it did in return."""

    app: App
    client: RecordingWebClient
    webhooks: RecordingWebhooks
    workflow: ResetWorkflow
    gateways: dict[ProviderName, FakeGateway]
    listeners: DrainableExecutor
    groups: SlackGroupMembers
    clock: Clock

    def dispatch(self, body: dict) -> BoltResponse:
        """One payload as the Socket Mode adapter hands it to Bolt; returns once the listener has finished."""
        response = self.app.dispatch(BoltRequest(mode="socket_mode", body=copy.deepcopy(body)))
        assert self.listeners.wait_idle(10), "a listener was still running after 10 s"
        return response

    def private_texts(self, user: str) -> list[str]:
        """What `user` was told privately: response_url posts, ephemerals and DMs, in order."""
        texts = [message["text"] for _, message in self.webhooks.sent]
        texts += [a["text"] for a in self.client.to("chat.postEphemeral") if a.get("user") == user]
        dm = "D" + user[1:]
        texts += [a["text"] for a in self.client.to("chat.postMessage") if a.get("channel") == dm]
        return texts

    # --- workflow states the listeners act on --------------------------------------------------

    def pending_request(self, account: str = "webq7k2m"):
        form = RequestForm("mofh", account, REASON, "SUP-1")
        request, _ = self.workflow.intake.submit(form, requester_id=ENGINEER, source_view_id=None)
        return self.workflow.intake.announce(request)

    def revealable_request(self):
        """A request whose password waits to be revealed; its `reveal_token` is the value the Reveal button in
        the requester's DM carries (the database keeps only a lookup of it: bot/workflow/reveal.py)."""
        request = self.pending_request()
        self.workflow.decisions.approve(request.id, APPROVER)
        return replace(self.workflow.lookups.get(request.id), reveal_token=self.reveal_button())

    def reveal_button(self) -> str:
        """The value of the latest Reveal password button the bot sent (in the requester's DM, rewritten in place)."""
        sent = [c.args for c in self.client.calls if c.method in ("chat.postMessage", "chat.update")]
        values = [e["value"] for m in sent for b in m.get("blocks") or []
                  if b.get("type") == "actions" for e in b["elements"] if e.get("action_id") == "reveal_secret"]
        assert values, "no Reveal password button was sent"
        return values[-1]


@pytest.fixture
def slack(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'resetbot.db'}")  # storage runs on PostgreSQL in tests/unit
    migrate(engine)
    clock = Clock()
    client, webhooks = RecordingWebClient(), RecordingWebhooks()
    notifier = SlackNotifier(client, APPROVALS, clock, webhook_client=webhooks, catalog=registry.catalog())
    gateways = {provider: FakeGateway(provider) for provider in ("mofh", "namecheap")}
    groups = SlackGroupMembers(client, clock)  # as bot/app.py wires it: the workflow asks, the event refreshes
    workflow = ResetWorkflow(sessions=make_sessionmaker(engine), providers=gateways,
                             sealer=Sealer(ephemeral_key()), notifier=notifier, executor=InlineExecutor(),
                             clock=clock, db_clock=lambda session: clock(), approval_ttl=3600, reveal_ttl=900,
                             group_members=groups)
    workflow.admin.grant(ENGINEER, Role.REQUESTER, None, actor="test")
    workflow.admin.grant(APPROVER, Role.APPROVER, None, actor="test")
    listeners = DrainableExecutor(max_workers=4, thread_name_prefix="bolt-test")
    # token_verification_enabled: auth.test runs once here, on the recording client, not per request.
    app = App(client=client, token_verification_enabled=True, request_verification_enabled=False,
              listener_executor=listeners, process_before_response=False)

    @app.middleware
    def hand_listeners_the_recording_client(context, next):
        context["client"] = client
        next()

    handlers.register(app, workflow, notifier, groups)
    try:
        yield Slack(app, client, webhooks, workflow, gateways, listeners, groups, clock)
    finally:
        listeners.shutdown(wait=True)
        engine.dispose()


# --- payloads, shaped as Slack sends them (tests/fixtures/slack) -----------------------------------


def slash_command(user: str = ENGINEER, text: str = "mofh webq7k2m", *, channel: str = HELPDESK,
                  trigger_id: str | None = TRIGGER, response_url: str | None = RESPONSE_URL) -> dict:
    body = {"token": "x", "team_id": TEAM, "channel_id": channel, "user_id": user, "user_name": "sam",
            "command": "/reset-password", "text": text, "api_app_id": "A0RESETBOT",
            "response_url": response_url, "trigger_id": trigger_id}
    return {k: v for k, v in body.items() if v is not None}


def button_click(user: str, action_id: str, value: str, *, channel: str | None = APPROVALS,
                 message_ts: str = "1767225640.000200", response_url: str | None = ACTION_URL,
                 in_home: bool = False) -> dict:
    body: dict[str, Any] = {
        "type": "block_actions", "user": {"id": user, "team_id": TEAM}, "api_app_id": "A0RESETBOT",
        "team": {"id": TEAM}, "trigger_id": TRIGGER,
        "actions": [{"action_id": action_id, "block_id": "actions_v1", "value": value, "type": "button"}],
    }
    if in_home:
        body["container"] = {"type": "view", "view_id": "V0HOME00001"}
        body["view"] = {"id": "V0HOME00001", "type": "home", "blocks": []}
    else:
        body["container"] = {"type": "message", "message_ts": message_ts, "channel_id": channel}
        body["channel"] = {"id": channel}
        body["message"] = {"type": "message", "ts": message_ts, "text": "card"}
    if response_url is not None:
        body["response_url"] = response_url
    return body


def reset_modal_view(*, provider: str | None = "mofh", account: str = "webq7k2m", reason: str = REASON,
                     ticket: str = "SUP-1", draft: str = "dr_0123456789abcdef") -> dict:
    metadata = {"v": "1", "draft": draft, "origin_channel_id": HELPDESK, "requested_by": ENGINEER}
    view = blocks.reset_modal(providers=list(registry.catalog()), metadata=metadata, provider=provider)
    values: dict[str, dict] = {
        "account_block": {"account_input": {"type": "plain_text_input", "value": account}},
        "reason_block": {"reason_input": {"type": "plain_text_input", "value": reason}},
        "ticket_block": {"ticket_input": {"type": "plain_text_input", "value": ticket}},
    }
    if provider:
        values["provider_block"] = {"provider_select": {"type": "static_select",
                                                        "selected_option": {"value": provider}}}
    return {**view, "id": "V0RESET0001", "hash": "1.abc", "team_id": TEAM,
            "state": {"values": values}}


def view_submission(view: dict, user: str = ENGINEER) -> dict:
    return {"type": "view_submission", "team": {"id": TEAM}, "user": {"id": user, "team_id": TEAM},
            "api_app_id": "A0RESETBOT", "trigger_id": TRIGGER, "view": view, "response_urls": []}


def view_closed(view: dict, user: str = ENGINEER) -> dict:
    return {"type": "view_closed", "team": {"id": TEAM}, "user": {"id": user, "team_id": TEAM},
            "api_app_id": "A0RESETBOT", "view": view, "is_cleared": False}


def modal_choice(action_id: str, view: dict, user: str = ENGINEER) -> dict:
    action = {"action_id": action_id, "block_id": action_id.replace("_select", "_block"),
              "type": "static_select", "selected_option": {"value": "namecheap"}}
    return {"type": "block_actions", "user": {"id": user, "team_id": TEAM}, "api_app_id": "A0RESETBOT",
            "team": {"id": TEAM}, "trigger_id": TRIGGER, "container": {"type": "view", "view_id": view["id"]},
            "view": view, "actions": [action]}


def home_opened(user: str, event_id: str = "Ev0HOME00001", tab: str = "home") -> dict:
    return {"token": "x", "team_id": TEAM, "api_app_id": "A0RESETBOT", "type": "event_callback",
            "event": {"type": "app_home_opened", "user": user, "channel": "D0APPRDM01", "tab": tab,
                      "event_ts": "1767225800.000100"},
            "event_id": event_id, "event_time": 1767225800,
            "authorizations": [{"team_id": TEAM, "user_id": "U0RESETBOT", "is_bot": True}]}


def logged_traceback(record: logging.LogRecord) -> str:
    """The traceback a record carries: exc_info, or exc_text once bot.logs' redacting filter formatted it."""
    if record.exc_info and record.exc_info[1] is not None:
        return "".join(traceback.format_exception(*record.exc_info))
    return record.exc_text or ""


def ack_body(response: BoltResponse) -> dict:
    return json.loads(response.body) if response.body else {}
