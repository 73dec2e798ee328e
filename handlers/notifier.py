"""The workflow's `Notifier` port, implemented with the Slack Web API.

Every Slack side effect after an ack goes through here, on the app's one WebClient
(which carries the 429/5xx retry handlers). A Slack failure is logged by method and
error code only and never undoes a recorded decision.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.webhook import WebhookClient

from bot.domain import CardRefused, MessageRef, ProviderCatalog, RequestView
from bot.policy import PolicyAnnouncement, PolicyProposal, RiskAlert
from handlers import blocks

log = logging.getLogger(__name__)

# Why an ephemeral cannot reach someone where they acted (a channel the bot is not in, a DM with another
# person, a shared or archived channel): expected, and the DM that follows is the designed fallback.
EPHEMERAL_FALLBACKS = frozenset({"channel_not_found", "not_in_channel", "user_not_in_channel", "is_archived",
                                 "restricted_action", "cannot_dm_bot"})


# Slack's answers that say the approvals channel itself cannot take the card: only an admin can fix them.
CARD_REFUSALS = frozenset({"not_in_channel", "channel_not_found", "is_archived"})


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
        # Told of every change of a request (update_card); handlers.register points it at the App Home's refresher.
        self.on_request_change: Callable[[RequestView], None] | None = None
        self.dm_channels: dict[str, str] = {}  # user id -> their DM channel, as conversations.open answered
        # Slack's last refusal of the approvals channel, until a card is posted again: the admins' App Home says it.
        self.card_refusal: CardRefused | None = None

    def post_card(self, request: RequestView) -> MessageRef | None:
        """Post the card without its buttons: the workflow records where it is, then `update_card` adds them
        (bot/workflow/intake.py: post_approval_card), so a card the bot lost track of never has buttons.

        Raises CardRefused when Slack refuses the approvals channel itself (CARD_REFUSALS): an admin must act.
        """
        try:
            response = self.client.chat_postMessage(channel=self.approvals_channel,
                                                    text=blocks.card_text(request, catalog=self.catalog),
                                                    blocks=blocks.card_being_posted(request, catalog=self.catalog))
        except SlackApiError as exc:
            error = str(exc.response.get("error", "unknown error"))
            if error not in CARD_REFUSALS:
                log.warning("Slack chat.postMessage failed: %s", error)
                return None
            self.card_refusal = CardRefused(self.approvals_channel, error)
            log.error("Slack refused to post the approval card of %s in the approvals channel %s (%s): %s; the "
                      "card is posted as soon as Slack accepts it", request.id, self.approvals_channel, error,
                      blocks.card_refused_fix(self.card_refusal))
            raise self.card_refusal from None
        except (SlackClientError, OSError) as exc:
            log.warning("Slack chat.postMessage failed: %s", type(exc).__name__)
            return None
        self.card_refusal = None
        return MessageRef(response["channel"], response["ts"])

    def tell_card_refused(self, request: RequestView, refused: CardRefused) -> None:
        """The requester, at once: the card could not be posted, and what an admin must do (never "waiting")."""
        expires = request.response_url_expires_at
        live = request.response_url if request.response_url and expires and self.clock() < expires else None
        self.tell(request.requester_id, blocks.card_refused_words(request, refused, catalog=self.catalog),
                  response_url=live, channel=request.origin_channel)

    def update_card(self, request: RequestView, context: str | None = None, *, refresh_home: bool = True) -> None:
        if request.card is not None:
            self._call("chat.update", self.client.chat_update, channel=request.card.channel, ts=request.card.ts,
                       text=blocks.card_text(request, catalog=self.catalog),
                       blocks=blocks.approval_card(request, context, catalog=self.catalog))
        # The card is rewritten at every change of the request: the App Home tabs that show it follow, off this
        # thread (handlers/home.py: HomeRefresher). Account context is no change of the request.
        if context is None and refresh_home:
            self.refresh_home(request)

    def refresh_home(self, request: RequestView) -> None:
        if self.on_request_change is not None:
            self.on_request_change(request)

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
        channel = self.dm_channels.get(user_id)  # a user's DM channel with the bot does not change (issue 13)
        if channel is None:
            opened = self._call("conversations.open", self.client.conversations_open, users=user_id)
            if opened is None:
                return None
            channel = self.dm_channels[user_id] = opened["channel"]["id"]
        posted = self._call("chat.postMessage", self.client.chat_postMessage, channel=channel, text=text,
                            blocks=blocks_)
        if posted is None:
            self.dm_channels.pop(user_id, None)  # the next DM asks conversations.open again
            return None
        return MessageRef(posted["channel"], posted["ts"])

    def send_reveal(self, request: RequestView) -> MessageRef | None:
        """The Reveal button (`request.reveal_token` is its value) in the requester's DM for the request,
        rewritten in place; posted when the request has no DM stored."""
        if request.dm is not None:
            return request.dm if self.update_dm(request) else None
        return self.post_dm(request)

    def post_dm(self, request: RequestView) -> MessageRef | None:
        """The requester's one DM for a request (bot/workflow/requester_dm.py), as the request is now."""
        text, dm_blocks = blocks.requester_dm(request, catalog=self.catalog)
        return self.direct_message(request.requester_id, text, dm_blocks)

    def update_dm(self, request: RequestView) -> bool:
        """Rewrite the requester's DM in place; False when Slack did not take it (or there is none)."""
        if request.dm is None:
            return False
        text, dm_blocks = blocks.requester_dm(request, catalog=self.catalog)
        return self._call("chat.update", self.client.chat_update, channel=request.dm.channel, ts=request.dm.ts,
                          text=text, blocks=dm_blocks) is not None

    def post_thread_reply(self, request: RequestView, kind: str, mentions: Sequence[str]) -> MessageRef | None:
        """A reply in the card's thread (a reminder or the escalation: bot/workflow/reminders.py); None when
        there is no card or Slack refused it."""
        if request.card is None:
            return None
        text = blocks.thread_reply(request, kind, list(mentions), catalog=self.catalog)
        posted = self._call("chat.postMessage", self.client.chat_postMessage, channel=request.card.channel,
                            thread_ts=request.card.ts, text=text,
                            blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": text, "verbatim": True}}])
        return MessageRef(posted["channel"], posted["ts"]) if posted is not None else None

    def update_reveal(self, request: RequestView) -> None:
        if request.dm is None:
            return
        text, dm_blocks = blocks.reveal_dm_after(request, catalog=self.catalog)
        self._call("chat.update", self.client.chat_update, channel=request.dm.channel, ts=request.dm.ts, text=text,
                   blocks=dm_blocks)

    def post_alert(self, alert: RiskAlert) -> MessageRef | None:
        """An insider-risk alert, to the approvals channel (bot/workflow/alerts.py)."""
        text, alert_blocks = blocks.risk_alert(alert, catalog=self.catalog)
        posted = self._call("chat.postMessage", self.client.chat_postMessage, channel=self.approvals_channel,
                            text=text, blocks=alert_blocks)
        return MessageRef(posted["channel"], posted["ts"]) if posted is not None else None

    def post_policy_change(self, proposal: PolicyProposal) -> MessageRef | None:
        """A Policy change card, to the approvals channel (bot/workflow/policy_changes.py)."""
        posted = self._call("chat.postMessage", self.client.chat_postMessage, channel=self.approvals_channel,
                            text=blocks.policy_change_text(proposal, catalog=self.catalog),
                            blocks=blocks.policy_change_card(proposal, catalog=self.catalog))
        return MessageRef(posted["channel"], posted["ts"]) if posted is not None else None

    def post_policy_announcement(self, announcement: PolicyAnnouncement) -> MessageRef | None:
        """A change made with `resetbot policy set`, to the approvals channel (bot/workflow/policy_announcements.py)."""
        text, announcement_blocks = blocks.policy_announcement(announcement, catalog=self.catalog)
        posted = self._call("chat.postMessage", self.client.chat_postMessage, channel=self.approvals_channel,
                            text=text, blocks=announcement_blocks)
        return MessageRef(posted["channel"], posted["ts"]) if posted is not None else None

    def update_policy_change(self, proposal: PolicyProposal) -> None:
        if proposal.card is None:
            return
        self._call("chat.update", self.client.chat_update, channel=proposal.card.channel, ts=proposal.card.ts,
                   text=blocks.policy_change_text(proposal, catalog=self.catalog),
                   blocks=blocks.policy_change_card(proposal, catalog=self.catalog))

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
