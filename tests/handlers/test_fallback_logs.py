"""An expected fallback is logged at INFO, not WARNING (issue 12, item 10)."""

from __future__ import annotations

import logging

from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse

from bot.providers import registry
from handlers.notifier import SlackNotifier


class Client:
    """Refuses ephemerals as Slack does in a channel the bot is not in; DMs work."""

    def __init__(self, error: str) -> None:
        self.error, self.posted = error, []

    def chat_postEphemeral(self, **kwargs):
        response = SlackResponse(client=None, http_verb="POST", api_url="chat.postEphemeral", req_args={},
                                 data={"ok": False, "error": self.error}, headers={}, status_code=200)
        raise SlackApiError("refused", response)

    def conversations_open(self, **kwargs):
        return {"channel": {"id": "D0ENGINEER1"}}

    def chat_postMessage(self, **kwargs):
        self.posted.append(kwargs)
        return {"channel": kwargs["channel"], "ts": "1.000001"}


def test_an_ephemeral_in_a_channel_the_bot_is_not_in_falls_back_to_a_dm_logged_at_info(caplog):
    client = Client("channel_not_found")
    notifier = SlackNotifier(client, "C0APPROVALS", catalog=registry.catalog())  # type: ignore[arg-type]
    with caplog.at_level(logging.INFO, logger="handlers.notifier"):
        notifier.tell("U0ENGINEER1", "Your request waits.", channel="C0ELSEWHERE")
    assert [p["channel"] for p in client.posted] == ["D0ENGINEER1"]
    [record] = [r for r in caplog.records if "chat.postEphemeral" in r.getMessage()]
    assert record.levelno == logging.INFO and "channel_not_found" in record.getMessage()


def test_an_unexpected_refusal_still_warns(caplog):
    notifier = SlackNotifier(Client("invalid_auth"), "C0APPROVALS", catalog=registry.catalog())  # type: ignore[arg-type]
    with caplog.at_level(logging.INFO, logger="handlers.notifier"):
        notifier.tell("U0ENGINEER1", "Your request waits.", channel="C0ELSEWHERE")
    assert [r.levelno for r in caplog.records if "chat.postEphemeral" in r.getMessage()] == [logging.WARNING]
