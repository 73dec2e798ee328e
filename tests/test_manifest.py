"""manifest.yml describes the app the code serves (docs/slack-bolt.md §14)."""

from pathlib import Path

import yaml

from handlers.ids import Ids

MANIFEST = yaml.safe_load((Path(__file__).resolve().parent.parent / "manifest.yml").read_text())


def test_slash_command_and_socket_mode():
    commands = MANIFEST["features"]["slash_commands"]
    assert [c["command"] for c in commands] == [Ids.COMMAND.value]
    assert commands[0]["should_escape"] is False
    settings = MANIFEST["settings"]
    assert settings["socket_mode_enabled"] is True and settings["interactivity"]["is_enabled"] is True
    assert settings["event_subscriptions"]["bot_events"] == ["app_home_opened"]
    assert settings["token_rotation_enabled"] is False


def test_scopes_are_exactly_what_the_code_calls_need():
    assert MANIFEST["oauth_config"]["scopes"]["bot"] == [
        "commands", "chat:write", "im:write", "users:read", "usergroups:read"]
    assert "user" not in MANIFEST["oauth_config"]["scopes"]


def test_home_tab_on_and_no_free_text_dms():
    home = MANIFEST["features"]["app_home"]
    assert home["home_tab_enabled"] is True and home["messages_tab_enabled"] is False
