"""The workflow's `Notifier` port, implemented with the Slack Web API.

Every Slack side effect after an ack goes through here, on the app's one WebClient
(which carries the 429/5xx retry handlers). A Slack failure is logged by method and
error code only and never undoes a recorded decision.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.webhook import WebhookClient

from bot.domain import MessageRef, ProviderCatalog, RequestView
from handlers import blocks

log = logging.getLogger(__name__)

# Why an ephemeral cannot reach someone where they acted (a channel the bot is not in, a DM with another
# person, a shared or archived channel): expected, and the DM that follows is the designed fallback.
EPHEMERAL_FALLBACKS = frozenset({"channel_not_found", "not_in_channel", "user_not_in_channel", "is_archived",
                                 "restricted_action", "cannot_dm_bot"})


class SlackNotifier:
    def __init__(self, client: WebClient, approvals_channel: str,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 webhook_client: Callable[..., WebhookClient] = WebhookClient, *,
                 catalog: ProviderCatalog) -> None:
        self.client = client
        self.approvals_channel = approvals_channel
        self.clock = clock
        self.catalog = catalog  # the providers' labels (bot/providers/registry.py: catalog)
        self.webhook_client = webhook_client  # response_url calls; tests record them instead

    def post_card(self, request: RequestView) -> MessageRef | None:
        """Post the card without its buttons: the workflow records where it is, then `update_card` adds them
        (bot/workflow/intake.py: post_approval_card), so a card the bot lost track of never has buttons."""
        response = self._call("chat.postMessage", self.client.chat_postMessage, channel=self.approvals_channel,
                              text=blocks.card_text(request, catalog=self.catalog),
                              blocks=blocks.card_being_posted(request, catalog=self.catalog))
        if response is None:
            return None
        return MessageRef(response["channel"], response["ts"])

    def update_card(self, request: RequestView, context: str | None = None) -> None:
        if request.card is None:
            return
        self._call("chat.update", self.client.chat_update, channel=request.card.channel, ts=request.card.ts,
                   text=blocks.card_text(request, catalog=self.catalog),
                   blocks=blocks.approval_card(request, context, catalog=self.catalog))

    def tell_requester(self, request: RequestView) -> None:
        """Ephemeral status: the command's response_url while valid, else chat.postEphemeral, else a DM."""
        expires = request.response_url_expires_at
        live = request.response_url if request.response_url and expires and self.clock() < expires else None
        self.tell(request.requester_id, blocks.requester_status(request, catalog=self.catalog), response_url=live,
                  channel=request.origin_channel)

    def tell(self, user_id: str, text: str, *, response_url: str | None = None,
             channel: str | None = None) -> None:
        """A sentence only `user_id` sees: by response_url, else chat.postEphemeral in `channel`, else a DM.

        Each way is tried when the one before is missing or fails; a DM channel takes no ephemerals.
        """
        if response_url:
            try:
                answer = self.webhook_client(response_url, timeout=10).send(
                    text=text, response_type="ephemeral", replace_original=False)
                if answer.status_code == 200:
                    return
                log.warning("response_url answered %s; falling back", answer.status_code)
            except (SlackClientError, OSError, ValueError) as exc:
                log.warning("response_url failed (%s); falling back", type(exc).__name__)
        if channel and not channel.startswith("D") and self._call(
                "chat.postEphemeral", self.client.chat_postEphemeral, channel=channel, user=user_id,
                text=text, expected=EPHEMERAL_FALLBACKS) is not None:
            return
        self.direct_message(user_id, text)

    def direct_message(self, user_id: str, text: str, blocks_: list[dict] | None = None) -> MessageRef | None:
        opened = self._call("conversations.open", self.client.conversations_open, users=user_id)
        if opened is None:
            return None
        channel = opened["channel"]["id"]
        posted = self._call("chat.postMessage", self.client.chat_postMessage, channel=channel, text=text,
                            blocks=blocks_)
        return MessageRef(posted["channel"], posted["ts"]) if posted is not None else None

    def send_reveal(self, request: RequestView) -> MessageRef | None:
        text, dm_blocks = blocks.reveal_dm(request, catalog=self.catalog)
        return self.direct_message(request.requester_id, text, dm_blocks)

    def update_reveal(self, request: RequestView) -> None:
        if request.dm is None:
            return
        text, dm_blocks = blocks.reveal_dm_after(request, catalog=self.catalog)
        self._call("chat.update", self.client.chat_update, channel=request.dm.channel, ts=request.dm.ts, text=text,
                   blocks=dm_blocks)

    def withdraw(self, message: MessageRef) -> None:
        """Delete a card or Reveal DM that another one replaced (two posters raced; one was stored)."""
        self._call("chat.delete", self.client.chat_delete, channel=message.channel, ts=message.ts)

    def _call(self, name: str, method, expected: frozenset[str] = frozenset(), **kwargs):
        """`method(**kwargs)`, or None when Slack refused it: logged by error code, at INFO when `expected`
        (a fallback follows, as designed), else WARNING."""
        try:
            return method(**kwargs)
        except SlackApiError as exc:
            error = exc.response.get("error", "unknown error")
            log.log(logging.INFO if error in expected else logging.WARNING, "Slack %s failed: %s%s", name, error,
                    "; falling back" if error in expected else "")
        except (SlackClientError, OSError) as exc:
            log.warning("Slack %s failed: %s", name, type(exc).__name__)
        return None
