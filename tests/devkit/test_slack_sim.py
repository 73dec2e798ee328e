"""The Slack simulator, driven against a REAL Bolt app over loopback (HTTP mode and Socket Mode)."""

from __future__ import annotations

import json
import threading
import time
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.webhook import WebhookClient

from devkit.slack import SlackSim, render_text

ENGINEER, APPROVER, OUTSIDER = "U0ENGINEER1", "U0APPROVER1", "U0OUTSIDER1"
APPROVALS = "C0APPROVALS"


class FakeClock:
    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


def modal(private_metadata: str) -> dict:
    return {
        "type": "modal",
        "callback_id": "reset_modal",
        "title": {"type": "plain_text", "text": "Reset password"},
        "submit": {"type": "plain_text", "text": "Request"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "notify_on_close": True,
        "private_metadata": private_metadata,
        "blocks": [
            {
                "type": "input",
                "block_id": "acct",
                "label": {"type": "plain_text", "text": "Account (key, vPanel username or domain)"},
                "element": {"type": "plain_text_input", "action_id": "v"},
            },
            {
                "type": "input",
                "block_id": "prov",
                "label": {"type": "plain_text", "text": "Provider"},
                "element": {
                    "type": "static_select",
                    "action_id": "p",
                    "placeholder": {"type": "plain_text", "text": "Choose"},
                    "initial_option": {"text": {"type": "plain_text", "text": "MyOwnFreeHost"}, "value": "mofh"},
                    "options": [
                        {"text": {"type": "plain_text", "text": "MyOwnFreeHost"}, "value": "mofh"},
                        {"text": {"type": "plain_text", "text": "Namecheap"}, "value": "namecheap"},
                    ],
                },
            },
        ],
    }


def build_app(sim: SlackSim, *, name: str = "app", hooks: dict | None = None, seen: list | None = None) -> App:
    hooks = hooks if hooks is not None else {}
    seen = seen if seen is not None else []
    client = WebClient(token="xoxb-sim", base_url=sim.api_url)
    app = App(client=client, signing_secret=sim.signing_secret)

    @app.command("/reset-password")
    def command(ack, body, client, respond):
        ack()
        hooks.get("before_open", lambda: None)()
        try:
            client.views_open(trigger_id=body["trigger_id"],
                              view=modal(json.dumps({"channel": body["channel_id"]})))
        except SlackApiError as e:
            respond(f"could not open the form: {e.response['error']}")

    @app.command("/who")
    def who(ack):
        ack(f"replica {name}")

    @app.view("reset_modal")
    def submitted(ack, view, body, client):
        values = view["state"]["values"]
        account = values["acct"]["v"]["value"] or ""
        if len(account) < 4:
            ack(response_action="errors", errors={"acct": "Too short"})
            return
        ack()
        provider = values["prov"]["p"]["selected_option"]["value"]
        seen.append(("submitted", body["user"]["id"], provider, account, json.loads(view["private_metadata"])))
        client.chat_postMessage(
            channel=APPROVALS,
            text=f"Reset request for {account}",
            blocks=[
                {"type": "section", "text": {"type": "mrkdwn", "text": f"<@{body['user']['id']}> asks to reset `{account}` ({provider})"}},
                {"type": "actions", "elements": [
                    {"type": "button", "action_id": "approve", "style": "primary", "value": f"{provider}:{account}",
                     "text": {"type": "plain_text", "text": "Approve"},
                     "confirm": {"title": {"type": "plain_text", "text": "Sure?"},
                                 "text": {"type": "plain_text", "text": "Really reset?"},
                                 "confirm": {"type": "plain_text", "text": "Yes"},
                                 "deny": {"type": "plain_text", "text": "No"}}},
                    {"type": "button", "action_id": "deny", "style": "danger", "value": f"{provider}:{account}",
                     "text": {"type": "plain_text", "text": "Deny"}},
                ]},
            ],
        )

    @app.view_closed("reset_modal")
    def closed(ack, body):
        ack()
        seen.append(("closed", body["user"]["id"], body["is_cleared"]))

    @app.action("approve")
    def approve(ack, body, client):
        ack()
        seen.append(("approve", body["user"]["id"], body["actions"][0]["value"], body["container"]["type"]))
        client.chat_update(
            channel=body["container"]["channel_id"], ts=body["container"]["message_ts"],
            text="Approved",
            blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": f"Approved by <@{body['user']['id']}>"}}],
        )
        client.chat_postEphemeral(channel=body["channel"]["id"], user=body["user"]["id"], text="You approved it")

    @app.action("deny")
    def deny(ack, respond):
        ack()
        respond(replace_original=True, text="Denied")

    @app.event("app_home_opened")
    def home(event, client, request):
        seen.append(("home", event["user"], request.headers.get("x-slack-retry-num", [None])[0]))
        client.views_publish(user_id=event["user"], view={
            "type": "home", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "Your requests: none"}}]})

    @app.event("subteam_members_changed")
    def group_changed(event):
        seen.append(("group", event["subteam_id"], event["added_users"], event["removed_users"]))

    return app


def make_sim(**kwargs) -> SlackSim:
    sim = SlackSim(**kwargs)
    sim.add_user(ENGINEER, "sam", channels=["C0HELPDESK"])
    sim.add_user(APPROVER, "dana", channels=["C0HELPDESK"])
    sim.add_user(OUTSIDER, "olga")
    sim.add_channel(APPROVALS, "pw-reset-approvals", members=[APPROVER])
    return sim


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def http_env():
    sim = make_sim()
    seen: list = []
    hooks: dict = {}
    app = build_app(sim, seen=seen, hooks=hooks)
    server = make_server("127.0.0.1", 0, SlackRequestHandler(app),
                         server_class=_ThreadingWSGIServer, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    sim.http_url = f"http://127.0.0.1:{server.server_port}/slack/events"
    try:
        yield sim, seen, hooks
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        sim.stop()


@pytest.fixture
def socket_env():
    sim = make_sim()
    seen: list = []
    app = build_app(sim, seen=seen)
    # app.client already points at the sim, and SocketModeHandler uses app.client for
    # apps.connections.open, so the xapp token goes to the sim and the ws url comes back from it.
    handler = SocketModeHandler(app, "xapp-sim")
    handler.connect()
    try:
        sim.wait_for_connections(1)
        yield sim, seen, handler
    finally:
        handler.close()
        sim.stop()


def run_reset_flow(sim: SlackSim, seen: list) -> None:
    ack = sim.slash_command("sam", "/reset-password", "mofh webq7k2m")
    assert ack.ok and ack.body in (None, "")
    view = sim.wait_for(lambda: sim.current_view("sam"))
    assert view.title == "Reset password"
    assert view.labels == ["Account (key, vPanel username or domain)", "Provider"]

    assert sim.fill("sam", {"Account": "abc", "Provider": "Namecheap"}) is None  # no dispatch_action
    ack = sim.submit("sam")
    assert ack.errors == {"acct": "Too short"}
    assert sim.current_view("sam") is view and view.errors == {"acct": "Too short"}

    sim.fill("sam", {"Account": "webq7k2m"})
    ack = sim.submit("sam")
    assert ack.ok and ack.errors is None
    assert sim.current_view("sam") is None
    assert seen[0] == ("submitted", ENGINEER, "namecheap", "webq7k2m", {"channel": "C0HELPDESK"})

    card = sim.wait_for(lambda: sim.messages(APPROVALS) and sim.messages(APPROVALS)[-1])
    assert "asks to reset `webq7k2m`" in card.visible_text
    assert card.buttons == ["Approve", "Deny"]

    assert sim.click("dana", "Approve", channel=APPROVALS, confirm=False) is None  # cancelled the dialog
    ack = sim.click("dana", "Approve", channel=APPROVALS)
    assert ack.ok
    eph = sim.wait_for(lambda: sim.ephemerals("dana"))
    assert eph[-1].text == "You approved it" and eph[-1].channel == APPROVALS
    sim.wait_for(lambda: card.edits)
    assert card.visible_text == f"Approved by <@{APPROVER}>"
    assert card.edits[0]["text"] == "Reset request for webq7k2m"
    assert ("approve", APPROVER, "namecheap:webq7k2m", "message") in seen

    update = sim.wait_for_call("chat.update")
    assert update.ok and update.params["blocks"][0]["type"] == "section"  # JSON-decoded
    opened = sim.wait_for_call("views.open")
    assert opened.token == "xoxb-sim" and opened.params["view"]["callback_id"] == "reset_modal"
    text = "\n".join(sim.transcript)
    assert "sam typed /reset-password mofh webq7k2m" in text
    assert "[#pw-reset-approvals] resetbot posted:" in text
    assert "[ephemeral to dana] You approved it" in text


def test_http_mode_full_flow(http_env):
    sim, seen, _ = http_env
    run_reset_flow(sim, seen)
    assert {c.method for c in sim.calls} >= {"auth.test", "views.open", "chat.postMessage", "chat.update"}


def test_socket_mode_full_flow(socket_env):
    sim, seen, _ = socket_env
    run_reset_flow(sim, seen)
    assert sim.calls_to("apps.connections.open")[0].token == "xapp-sim"
    assert sim.envelopes[0]["envelope"]["type"] == "slash_commands"
    assert sim.envelopes[0]["envelope"]["accepts_response_payload"] is True


def test_user_groups_members_changes_events_scope_and_faults(socket_env):
    sim, seen, _ = socket_env
    client = WebClient(token="xoxb-sim", base_url=sim.api_url)
    sim.add_usergroup("S0APPROVERS", "pw-reset-approvers", ["dana"])
    assert client.usergroups_users_list(usergroup="S0APPROVERS")["users"] == [APPROVER]
    with pytest.raises(SlackApiError) as e:
        client.usergroups_users_list(usergroup="S0NOSUCH")
    assert e.value.response["error"] == "no_such_subteam"

    ack = sim.set_usergroup_users("S0APPROVERS", ["sam"])  # Slack tells the app, which subscribes to the event
    assert ack is not None and ack.ok
    sim.wait_for(lambda: ("group", "S0APPROVERS", [ENGINEER], [APPROVER]) in seen)
    assert client.usergroups_users_list(usergroup="S0APPROVERS")["users"] == [ENGINEER]
    assert "user group @pw-reset-approvers: added sam, removed dana" in sim.transcript
    assert sim.set_usergroup_users("S0APPROVERS", ["sam", "olga"], send_event=False) is None
    assert client.usergroups_users_list(usergroup="S0APPROVERS")["users"] == [ENGINEER, OUTSIDER]
    assert len([s for s in seen if s[0] == "group"]) == 1

    sim.fail_until_healed("usergroups.users.list", error="plan_upgrade_required")
    for _ in range(2):
        with pytest.raises(SlackApiError) as e:
            client.usergroups_users_list(usergroup="S0APPROVERS")
        assert e.value.response["error"] == "plan_upgrade_required"
    sim.heal("usergroups.users.list")
    assert client.usergroups_users_list(usergroup="S0APPROVERS")["ok"]

    sim.scopes.discard("usergroups:read")  # installed without the scope, as Slack answers then
    with pytest.raises(SlackApiError) as e:
        client.usergroups_users_list(usergroup="S0APPROVERS")
    assert e.value.response["error"] == "missing_scope" and e.value.response["needed"] == "usergroups:read"
    assert "usergroups:read" not in e.value.response["provided"].split(",")


def test_socket_mode_errors_ack_payload_and_disconnect_refresh(socket_env):
    sim, seen, _ = socket_env
    sim.slash_command("sam", "/reset-password")
    sim.wait_for(lambda: sim.current_view("sam"))
    sim.fill("sam", {"account": "ab"})  # label prefix is case-insensitive as a fallback
    ack = sim.submit("sam")
    assert ack.transport == "socket" and ack.body == {"response_action": "errors", "errors": {"acct": "Too short"}}

    opens = len(sim.calls_to("apps.connections.open"))
    sim.disconnect_all()
    sim.wait_for(lambda: len(sim.calls_to("apps.connections.open")) > opens)
    sim.wait_for_connections(1)
    assert sim.slash_command("dana", "/who").body == {"text": "replica app"}

    ack = sim.open_home("dana", retry_attempt=1, retry_reason="timeout")
    assert ack.ok
    sim.wait_for(lambda: sim.home("dana"))
    assert sim.home("dana").visible_text == "Your requests: none"
    assert ("home", APPROVER, "1") in seen


def test_http_mode_view_closed_deny_via_response_url_and_home(http_env):
    sim, seen, _ = http_env
    sim.slash_command("sam", "/reset-password")
    sim.wait_for(lambda: sim.current_view("sam"))
    ack = sim.close_view("sam")
    assert ack.ok and ("closed", ENGINEER, False) in seen
    assert sim.current_view("sam") is None

    sim.slash_command("sam", "/reset-password")
    sim.wait_for(lambda: sim.current_view("sam"))
    sim.fill("sam", {"Account": "webq7k2m", "Provider": "mofh"})  # option value works too
    sim.submit("sam")
    assert seen[-1][2] == "mofh"
    card = sim.wait_for(lambda: sim.messages(APPROVALS) and sim.messages(APPROVALS)[-1])
    sim.click("dana", "Deny", channel=APPROVALS)
    sim.wait_for(lambda: card.text == "Denied")
    assert card.blocks == [] and sim.wait_for_call("response_url").status == 200

    assert sim.open_home("dana", retry_attempt=2).status == 200
    sim.wait_for(lambda: sim.home("dana"))
    assert ("home", APPROVER, "2") in seen


def test_signatures_forged_and_stale_rejected(http_env):
    sim, _, _ = http_env
    payload = {"token": "x", "team_id": sim.team_id, "channel_id": "C0HELPDESK", "channel_name": "helpdesk",
               "user_id": ENGINEER, "user_name": "sam", "command": "/who", "text": "", "api_app_id": sim.app_id,
               "response_url": f"{sim.base_url}/response/none", "trigger_id": "1.2.3"}
    assert sim.deliver_raw("slash_commands", payload).status == 200
    assert sim.deliver_raw("slash_commands", payload, signature="v0=" + "0" * 64).status == 401
    stale = str(int(time.time()) - 301)
    assert sim.deliver_raw("slash_commands", payload, timestamp=stale).status == 401
    # the body changed after signing
    raw = "token=x&command=%2Fwho&user_id=U0ENGINEER1"
    good = sim.sign(raw.encode())
    ack = sim.deliver_raw("slash_commands", raw + "&text=evil", headers=good)
    assert ack.status == 401


def test_expired_and_reused_trigger_id(http_env):
    sim, _, hooks = http_env
    clock = FakeClock()
    sim.clock = clock
    hooks["before_open"] = lambda: clock.advance(3.5)  # the app is slow before views.open
    sim.slash_command("sam", "/reset-password")
    eph = sim.wait_for(lambda: sim.ephemerals("sam"))
    assert eph[-1].text == "could not open the form: expired_trigger_id"
    assert sim.current_view("sam") is None

    hooks["before_open"] = lambda: None
    sim.slash_command("sam", "/reset-password")
    call = sim.wait_for_call("views.open", lambda c: c.ok)
    client = WebClient(token="xoxb-sim", base_url=sim.api_url)
    with pytest.raises(SlackApiError) as used:
        client.views_open(trigger_id=call.params["trigger_id"], view=modal("{}"))
    assert used.value.response["error"] == "expired_trigger_id"
    with pytest.raises(SlackApiError) as bogus:
        client.views_open(trigger_id="123.456.abc", view=modal("{}"))
    assert bogus.value.response["error"] == "invalid_trigger_id"


def test_web_api_rules():
    with make_sim() as sim:
        client = WebClient(token="xoxb-sim", base_url=sim.api_url)
        with pytest.raises(SlackApiError) as e:
            client.chat_postEphemeral(channel=APPROVALS, user=ENGINEER, text="hi")
        assert e.value.response["error"] == "user_not_in_channel"
        assert client.chat_postEphemeral(channel=APPROVALS, user=APPROVER, text="hi")["ok"]

        sim.add_channel("C0PRIVATE", "secret-room", members=[ENGINEER], bot_member=False)
        with pytest.raises(SlackApiError) as e:
            client.chat_postEphemeral(channel="C0PRIVATE", user=ENGINEER, text="hi")
        assert e.value.response["error"] == "channel_not_found"

        dm = sim.dm_id(ENGINEER)
        with pytest.raises(SlackApiError) as e:
            client.chat_postEphemeral(channel=dm, user=ENGINEER, text="hi")
        assert e.value.response["error"] == "channel_not_found"
        opened = client.conversations_open(users=ENGINEER)
        assert opened["channel"]["id"] == dm == client.conversations_open(users=ENGINEER)["channel"]["id"]
        posted = client.chat_postMessage(channel=dm, text="Your password is ready",
                                         blocks=[{"type": "actions", "elements": [
                                             {"type": "button", "text": {"type": "plain_text", "text": "Reveal password"},
                                              "action_id": "reveal", "value": "sec_1"}]}])
        assert sim.dm_messages("sam")[0].ts == posted["ts"]
        assert sim.dm_messages("sam")[0].buttons == ["Reveal password"]
        assert "[DM to sam] resetbot posted: [Reveal password]" in sim.transcript

        with pytest.raises(SlackApiError) as e:
            client.chat_update(channel=dm, ts="1.000001", text="x")
        assert e.value.response["error"] == "message_not_found"
        assert client.chat_delete(channel=dm, ts=posted["ts"])["ok"]
        assert sim.dm_messages("sam") == []

        sim.add_usergroup("S0APPROVERS", "pw-reset-approvers", [APPROVER])
        assert client.usergroups_users_list(usergroup="S0APPROVERS")["users"] == [APPROVER]
        with pytest.raises(SlackApiError) as e:  # the app is installed without users:read (manifest.yml)
            client.users_info(user=ENGINEER)
        assert e.value.response["error"] == "missing_scope" and e.value.response["needed"] == "users:read"
        sim.scopes.add("users:read")
        assert client.users_info(user=ENGINEER)["user"]["name"] == "sam"
        assert client.auth_test()["user_id"] == "U0RESETBOT"
        with pytest.raises(SlackApiError) as e:
            client.api_call("no.such.method")
        assert e.value.response["error"] == "unknown_method"
        with pytest.raises(SlackApiError) as e:
            WebClient(token="xoxb-sim", base_url=sim.api_url).apps_connections_open(app_token="xoxb-wrong")
        assert e.value.response["error"] == "not_allowed_token_type"


def test_blocks_over_block_kits_text_limits_are_refused_as_slack_refuses_them():
    with make_sim() as sim:
        client = WebClient(token="xoxb-sim", base_url=sim.api_url)
        too_long = [{"type": "section", "text": {"type": "mrkdwn", "text": "&amp;" * 601}}]
        with pytest.raises(SlackApiError) as e:
            client.chat_postMessage(channel=APPROVALS, text="x", blocks=too_long)
        assert e.value.response["error"] == "invalid_blocks"
        assert "[json-pointer:/blocks/0/text/text]" in e.value.response["response_metadata"]["messages"][0]
        with pytest.raises(SlackApiError) as e:
            client.views_publish(user_id=APPROVER, view={"type": "home", "blocks": too_long})
        assert e.value.response["error"] == "invalid_arguments"
        fields = [{"type": "section", "fields": [{"type": "mrkdwn", "text": "x" * 2001}]}]
        with pytest.raises(SlackApiError):
            client.chat_postMessage(channel=APPROVALS, text="x", blocks=fields)
        button = [{"type": "actions", "elements": [{"type": "button", "text": {"type": "plain_text", "text": "b" * 76},
                                                    "action_id": "a", "value": "v"}]}]
        with pytest.raises(SlackApiError):
            client.chat_postMessage(channel=APPROVALS, text="x", blocks=button)
        fits = [{"type": "section", "text": {"type": "mrkdwn", "text": "&amp;" * 600}}]
        assert client.chat_postMessage(channel=APPROVALS, text="x", blocks=fits)["ok"]
        assert sim.messages(APPROVALS)[-1].blocks[0]["text"]["text"] == "&amp;" * 600


def test_rate_limit_injection_visible_to_the_app_client():
    with make_sim() as sim:
        client = WebClient(token="xoxb-sim", base_url=sim.api_url)
        sim.fail_next("chat.postMessage", status=429, retry_after=7)
        with pytest.raises(SlackApiError) as e:
            client.chat_postMessage(channel=APPROVALS, text="one")
        assert e.value.response.status_code == 429
        assert e.value.response.headers["Retry-After"] == "7"
        assert e.value.response["error"] == "ratelimited"
        assert client.chat_postMessage(channel=APPROVALS, text="two")["ok"]

        sim.fail_next("views.publish", status=503, count=2)
        for _ in range(2):
            with pytest.raises(SlackApiError) as e:
                client.views_publish(user_id=ENGINEER, view={"type": "home", "blocks": []})
            assert e.value.response.status_code == 503
        assert client.views_publish(user_id=ENGINEER, view={"type": "home", "blocks": []})["ok"]

        retrying = WebClient(token="xoxb-sim", base_url=sim.api_url,
                             retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=1)])
        sim.fail_next("chat.postMessage", status=429, retry_after=0)
        assert retrying.chat_postMessage(channel=APPROVALS, text="three")["ok"]
        assert [c.status for c in sim.calls_to("chat.postMessage")] == [429, 200, 429, 200]


def test_response_url_limits(http_env):
    sim, _, _ = http_env
    clock = FakeClock()
    sim.clock = clock
    ack = sim.slash_command("sam", "/who")
    url = ack.payload["response_url"]
    assert url.startswith(f"{sim.base_url}/response/")
    hook = WebhookClient(url)
    statuses = [hook.send(text=f"status {i}").status_code for i in range(6)]
    assert statuses == [200] * 5 + [404]
    assert hook.send(text="again").body == "used_url"
    assert [e.text for e in sim.ephemerals("sam") if e.source == "response_url"] == [f"status {i}" for i in range(5)]

    url2 = sim.slash_command("sam", "/who").payload["response_url"]
    clock.advance(31 * 60)
    resp = WebhookClient(url2).send(text="late")
    assert (resp.status_code, resp.body) == (404, "expired_url")

    url3 = sim.slash_command("sam", "/who").payload["response_url"]
    assert WebhookClient(url3).send(text="for all", response_type="in_channel").status_code == 200
    assert sim.messages("C0HELPDESK")[-1].text == "for all"


def test_two_socket_connections_round_robin():
    with make_sim() as sim:
        handlers = [SocketModeHandler(build_app(sim, name=str(n)), "xapp-sim") for n in (1, 2)]
        try:
            for h in handlers:
                h.connect()
            sim.wait_for_connections(2)
            acks = [sim.slash_command("sam", "/who") for _ in range(4)]
            assert [a.connection for a in acks] == [0, 1, 0, 1]
            assert [a.body["text"] for a in acks] == ["replica 1", "replica 2", "replica 1", "replica 2"]
            sim.deliver_to(1)
            assert {sim.slash_command("sam", "/who").body["text"] for _ in range(2)} == {"replica 2"}
            sim.deliver_to(None)
        finally:
            for h in handlers:
                h.close()


def test_fill_dispatch_action_and_view_buttons(http_env):
    sim, _, _ = http_env
    # a modal the test opens itself, through a trigger from a slash command the app ignores
    app_client = WebClient(token="xoxb-sim", base_url=sim.api_url)
    got: list = []
    trigger = sim._issue_trigger(ENGINEER)
    app_client.views_open(trigger_id=trigger, view={
        "type": "modal", "title": {"type": "plain_text", "text": "Pick"},
        "submit": {"type": "plain_text", "text": "Go"},
        "blocks": [
            {"type": "input", "dispatch_action": True, "block_id": "b1",
             "label": {"type": "plain_text", "text": "Method"},
             "element": {"type": "radio_buttons", "action_id": "m", "options": [
                 {"text": {"type": "plain_text", "text": "Reset code"}, "value": "code"},
                 {"text": {"type": "plain_text", "text": "New password"}, "value": "pw"}]}},
            {"type": "actions", "elements": [{"type": "button", "text": {"type": "plain_text", "text": "Refresh"}}]},
        ]})
    ov = sim.current_view("sam")
    assert ov.state()["values"]["b1"]["m"] == {"type": "radio_buttons", "selected_option": None}
    ack = sim.fill("sam", {"Method": "Reset code"})
    assert ack is not None and ack.status == 404  # block_actions delivered; this app has no listener
    got.append(ack.payload)
    assert got[0]["type"] == "block_actions" and got[0]["container"] == {"type": "view", "view_id": ov.id}
    assert got[0]["actions"][0]["selected_option"]["value"] == "code"
    assert "response_url" not in got[0]
    assert got[0]["view"]["state"]["values"]["b1"]["m"]["selected_option"]["value"] == "code"
    ack = sim.click("sam", "Refresh", in_view=True)
    assert ack.payload["actions"][0]["block_id"] and ack.payload["actions"][0]["action_id"]  # filled in like Slack

    # views.update with a stale hash
    with pytest.raises(SlackApiError) as e:
        app_client.views_update(view_id=ov.id, hash="stale", view={"type": "modal", "title": {"type": "plain_text", "text": "x"}, "blocks": []})
    assert e.value.response["error"] == "hash_conflict"
    app_client.views_update(view_id=ov.id, hash=ov.hash, view={
        "type": "modal", "title": {"type": "plain_text", "text": "Pick again"}, "submit": {"type": "plain_text", "text": "Go"},
        "blocks": ov.blocks})
    assert sim.current_view("sam").title == "Pick again"
    assert sim.current_view("sam").state()["values"]["b1"]["m"]["selected_option"]["value"] == "code"  # kept


def test_render_text():
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": "Hello"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "body"}, "fields": [{"type": "mrkdwn", "text": "f1"}]},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "ctx"}]},
        {"type": "actions", "elements": [{"type": "button", "text": {"type": "plain_text", "text": "Go"}}]},
        {"type": "input", "label": {"type": "plain_text", "text": "Name"}, "element": {"type": "plain_text_input"}},
    ]
    assert render_text(blocks) == "Hello\nbody\nf1\nctx\n[Go]\nName"


def test_ack_timeout_is_flagged():
    with make_sim(ack_timeout=0.2) as sim:
        app = App(client=WebClient(token="xoxb-sim", base_url=sim.api_url), signing_secret=sim.signing_secret)
        release = threading.Event()

        @app.command("/slow")
        def slow(ack):
            release.wait(0.5)
            ack()

        handler = SocketModeHandler(app, "xapp-sim")
        handler.connect()
        try:
            sim.wait_for_connections(1)
            ack = sim.slash_command("sam", "/slow")
            assert ack.timed_out and ack.latency > 0.2
            assert sim.ephemerals("sam")[-1].text == '/slow failed with the error "operation_timeout"'
        finally:
            handler.close()


def test_dm_command_and_dm_button(http_env):
    sim, _, _ = http_env
    dm = sim.dm_id("sam")
    ack = sim.slash_command("sam", "/who", channel=dm)
    assert ack.payload["channel_name"] == "directmessage" and ack.payload["channel_id"] == dm
    assert sim.ephemerals("sam", channel=dm)[-1].text == "replica app"  # ack(text) is shown to the user

    client = WebClient(token="xoxb-sim", base_url=sim.api_url)
    client.conversations_open(users=ENGINEER)
    client.chat_postMessage(channel=dm, text="ready", blocks=[{"type": "actions", "elements": [
        {"type": "button", "action_id": "reveal", "value": "sec_1",
         "text": {"type": "plain_text", "text": "Reveal password"}}]}])
    ack = sim.click("sam", "Reveal", in_dm=True)
    p = ack.payload
    assert p["type"] == "block_actions" and p["channel"] == {"id": dm, "name": "directmessage"}
    assert p["container"] == {"type": "message", "message_ts": p["message"]["ts"], "channel_id": dm,
                              "is_ephemeral": False}
    assert p["actions"][0]["value"] == "sec_1" and p["response_url"].startswith(sim.base_url)
    with pytest.raises(AssertionError, match="no message"):
        sim.click("sam", "Nope", in_dm=True)


def test_socket_url_needs_a_fresh_ticket():
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    with make_sim() as sim:
        with pytest.raises(InvalidStatus):
            connect(f"ws://127.0.0.1:{sim.ws_port}/link/?ticket=forged", open_timeout=2)
        url = WebClient(base_url=sim.api_url).apps_connections_open(app_token="xapp-sim")["url"]
        with connect(url, open_timeout=2) as ws:
            assert json.loads(ws.recv(timeout=2))["type"] == "hello"
            sim.wait_for_connections(1)
        with pytest.raises(InvalidStatus):  # a ticket is single-use
            connect(url, open_timeout=2)
        sim.wait_for(lambda: sim.connections() == 0)


def test_thread_replies_are_listed_under_their_message_not_in_the_channel_and_mentions_read_as_handles():
    sim = make_sim()
    try:
        client = WebClient(token="xoxb-sim", base_url=sim.api_url)
        sim.add_usergroup("S0LEADS0001", "pw-reset-leads", [APPROVER])
        card = client.chat_postMessage(channel=APPROVALS, text="a card")
        reply = client.chat_postMessage(channel=APPROVALS, thread_ts=card["ts"],
                                        text="Reminder: <!subteam^S0LEADS0001> and <@U0APPROVER1>, please decide")
        assert [m.ts for m in sim.messages(APPROVALS)] == [card["ts"]]  # as the channel's history lists it
        assert [m.ts for m in sim.replies(APPROVALS, card["ts"])] == [reply["ts"]]
        assert [m.ts for m in sim.messages(APPROVALS, include_replies=True)] == [card["ts"], reply["ts"]]
        assert ("[#pw-reset-approvals] resetbot posted in thread: Reminder: @pw-reset-leads and @dana, please decide"
                in [" ".join(line.split()) for line in sim.transcript])  # as read, long lines wrapped
    finally:
        sim.stop()


def test_web_api_over_tls_and_without_nagle(tmp_path):
    """--slack-tls (bench/ack_latency.py): the Web API and response_urls over HTTPS with a throwaway certificate;
    a kept connection is served at once (no Nagle wait) and dropped on request."""
    import socket
    import ssl

    from devkit.slack.tls import self_signed

    context, cert_file = self_signed(tmp_path)
    with make_sim(web_api_tls=context) as sim:
        assert sim.api_url.startswith("https://127.0.0.1:")
        trusting = ssl.create_default_context(cafile=str(cert_file))
        assert WebClient(token="xoxb-sim", base_url=sim.api_url, ssl=trusting).auth_test()["ok"]
        with pytest.raises(Exception, match="CERTIFICATE_VERIFY_FAILED"):  # anyone else's trust store refuses it
            WebClient(token="xoxb-sim", base_url=sim.api_url, ssl=ssl.create_default_context()).auth_test()

        hook = WebhookClient(sim._issue_response_url(ENGINEER, APPROVALS), ssl=trusting)
        assert hook.send(text="over TLS").status_code == 200
        with sim._httpd.connections_lock:
            kept = list(sim._httpd.open_connections)
        assert all(conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) for conn in kept)
