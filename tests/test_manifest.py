"""manifest.yml describes the app the code serves (docs/slack-bolt.md §14): its scopes are derived from the calls.

The Web API methods are found in the source of bot/ and handlers/ (`client.<method>(…)` where
slack_sdk's WebClient has that method, and `api_call("<method>")`), the events from the
listeners handlers/__init__.py registers; each maps to its bot scope through the tables below
(Slack's method and event pages). A call the tables do not know fails the test until it is
added, so a new Slack call cannot ship without its scope, nor a scope outlive its last call.
"""

import re
from pathlib import Path

import yaml
from slack_sdk import WebClient

from devkit.slack.web_api import DEFAULT_SCOPES
from handlers.ids import Ids

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = yaml.safe_load((ROOT / "manifest.yml").read_text())

# Web API method → the bot scope it needs (None: no scope).
METHOD_SCOPES = {
    "auth.test": None,  # Bolt's authorization, on the first request
    "chat.postMessage": "chat:write",
    "chat.update": "chat:write",
    "chat.delete": "chat:write",
    "chat.postEphemeral": "chat:write",
    "conversations.open": "im:write",
    "conversations.info": "channels:read",
    "views.open": None,
    "views.update": None,
    "views.publish": None,
    "views.push": None,
    "users.info": "users:read",
    "users.list": "users:read",
    "usergroups.list": "usergroups:read",
    "usergroups.users.list": "usergroups:read",
}
# Events API event → the bot scope its subscription needs (None: no scope).
EVENT_SCOPES = {
    "app_home_opened": None,
    "subteam_members_changed": "usergroups:read",
}
# Calls the runtime makes through the SDK rather than in our source: Bolt's auth.test; Socket Mode's
# apps.connections.open takes the app-level token (connections:write), which is not a bot scope.
IMPLICIT_METHODS = {"auth.test"}

CLIENT_CALL = re.compile(r"\bclient\.([a-z]+_[A-Za-z_]+)\s*[,)(]")
API_CALL = re.compile(r"""api_call\(\s*["']([a-zA-Z.]+)["']""")
EVENT_LISTENER = re.compile(r"""app\.event\(\s*["']([a-z_]+)["']""")


def _sources():
    for folder in ("bot", "handlers"):
        yield from (ROOT / folder).rglob("*.py")


def web_api_methods() -> set[str]:
    found: set[str] = set()
    for path in _sources():
        text = path.read_text()
        found |= {name.replace("_", ".") for name in CLIENT_CALL.findall(text)
                  if name != "api_call" and callable(getattr(WebClient, name, None))}
        found |= set(API_CALL.findall(text))
    return found | IMPLICIT_METHODS


def subscribed_events_in_code() -> set[str]:
    return set(EVENT_LISTENER.findall((ROOT / "handlers" / "__init__.py").read_text()))


def test_the_scan_finds_the_calls_we_know_of():
    methods = web_api_methods()
    assert {"chat.postMessage", "conversations.open", "views.open", "usergroups.users.list"} <= methods
    assert "change.password" not in methods  # a provider client's method, not Slack's
    assert {"app_home_opened", "subteam_members_changed"} <= subscribed_events_in_code()


def test_every_call_and_event_has_a_known_scope():
    assert web_api_methods() - set(METHOD_SCOPES) == set(), "add the method's scope to METHOD_SCOPES"
    assert subscribed_events_in_code() - set(EVENT_SCOPES) == set(), "add the event's scope to EVENT_SCOPES"


def test_scopes_are_exactly_what_the_code_calls_need():
    needed = {"commands"} if MANIFEST["features"].get("slash_commands") else set()
    needed |= {METHOD_SCOPES[m] for m in web_api_methods()} | {EVENT_SCOPES[e] for e in subscribed_events_in_code()}
    needed.discard(None)
    scopes = MANIFEST["oauth_config"]["scopes"]["bot"]
    assert sorted(scopes) == sorted(needed) and len(scopes) == len(set(scopes))
    assert "users:read" not in scopes  # nothing calls users.*
    assert "user" not in MANIFEST["oauth_config"]["scopes"]


def test_the_simulated_slack_installs_the_app_with_the_manifests_scopes():
    assert set(MANIFEST["oauth_config"]["scopes"]["bot"]) == DEFAULT_SCOPES


def test_slash_command_and_socket_mode():
    commands = MANIFEST["features"]["slash_commands"]
    assert [c["command"] for c in commands] == [Ids.COMMAND.value]
    assert commands[0]["should_escape"] is False
    settings = MANIFEST["settings"]
    assert settings["socket_mode_enabled"] is True and settings["interactivity"]["is_enabled"] is True
    assert settings["event_subscriptions"]["bot_events"] == sorted(subscribed_events_in_code())
    assert settings["token_rotation_enabled"] is False


def test_home_tab_on_and_no_free_text_dms():
    home = MANIFEST["features"]["app_home"]
    assert home["home_tab_enabled"] is True and home["messages_tab_enabled"] is False
