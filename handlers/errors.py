"""The one error mapping for every listener: a refusal is told to whoever acted, anything else is an error id.

A `DomainError` is a sentence for the person who acted, shown only to them: under the modal's
inputs while a view_submission is not yet acked, else through the response_url, a
chat.postEphemeral or a DM (SlackNotifier.tell), whichever the surface allows. Anything else is
a bug: it is logged at ERROR with its traceback and an error id, and the person is told that id.

Listeners raise; handlers/__init__.py registers each through `mapped_errors`, which maps the
error inside the listener's own run. Bolt's `@app.error` would see it too late: when a listener
that already acked raises, Bolt 1.30 resets the ack it is waiting for
(slack_bolt/listener/thread_runner.py), and the ack can be lost. `handle_unexpected_error`
stays registered for what fails outside a listener (a middleware, a matcher).
"""

from __future__ import annotations

import inspect
import logging
import re
import secrets
from collections.abc import Callable
from typing import Any

from slack_bolt.context import BoltContext
from slack_bolt.context.ack import Ack
from slack_bolt.kwargs_injection import Args

from bot.domain import AlreadyTold, DomainError, InputErrors, ServiceUnavailable
from bot.pending_acks import PendingAcks
from handlers.ids import FIELD_BLOCKS, Ids
from handlers.notifier import SlackNotifier

log = logging.getLogger(__name__)

# Surfaces where a person acted and waits for an answer; an event (Home opened) tells nobody.
TOLD_KINDS = frozenset({"slash command", "block_actions", "view_submission"})


def mapped_errors(listener: Callable[..., Any]) -> Callable[[Args], None]:
    """`listener` as Bolt runs it, with the one error mapping around it.

    Bolt hands `args` (every listener argument, and the context the middleware filled, where
    `workflow` and `notifier` are); the listener gets the ones it names, as Bolt would give them.
    """
    names = inspect.getfullargspec(listener).args

    def argument(args: Args, name: str) -> Any:
        if name == "ack":
            return YieldingAck(args.ack, args.context.get("pending_acks"))
        return getattr(args, name) if hasattr(args, name) else args.context[name]

    def run(args: Args) -> None:
        try:
            listener(**{name: argument(args, name) for name in names})
        except Exception as error:
            answer_error(error, args)

    run.__name__, run.__qualname__, run.__doc__ = listener.__name__, listener.__qualname__, listener.__doc__
    return run


class YieldingAck:
    """Bolt's `ack`, after which the listener's remaining work waits for the other deliveries' acks
    (bot/pending_acks.py): Bolt sends this ack as soon as it is called, and what the listener does next
    (open a modal, post a card, record a decision) need not beat the acks of those that came after it."""

    def __init__(self, ack: Ack, pending_acks: PendingAcks | None) -> None:
        self._ack = ack
        self._pending_acks = pending_acks

    @property
    def response(self) -> Any:
        return self._ack.response

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        answer = self._ack(*args, **kwargs)
        if self._pending_acks is not None:
            self._pending_acks.yield_to_acks()
        return answer


def answer_error(error: Exception, args: Args) -> None:
    body, ack = args.body, args.ack
    kind = payload_kind(body)
    submitting = kind == "view_submission" and ack.response is None
    if isinstance(error, DomainError):
        if submitting:
            ack(response_action="errors", errors=modal_errors(args.view or {}, error))
            return
        if ack.response is None:
            ack()
        if not isinstance(error, AlreadyTold):  # a repeat of a refusal told moments ago: once is enough
            tell_actor(args.context, str(error))
        return
    error_id = log_unexpected(error, kind)
    if submitting:
        # Keep the modal open with a sentence, rather than let it close as if the request went through.
        view = args.view or {}
        if view.get("callback_id") == Ids.RESET_MODAL:
            sentence = f"Something went wrong and the request was not saved (error id {error_id}). Try again."
        else:
            sentence = f"Something went wrong and nothing was changed (error id {error_id}). Try again."
        ack(response_action="errors", errors={_block_for(view, Ids.REASON_BLOCK): sentence})
        return
    if ack.response is None:
        ack()
    if kind in TOLD_KINDS:
        tell_actor(args.context, f"Something went wrong (error id {error_id}).")


def handle_unexpected_error(error: Exception, body: dict[str, Any]) -> None:
    """Bolt's error handler: only what fails outside a listener (a middleware, a matcher) reaches it."""
    log_unexpected(error, payload_kind(body))


def log_unexpected(error: BaseException, kind: str) -> str:
    # Never the payload: it can hold a reset code typed into the modal.
    error_id = secrets.token_hex(4)
    log.error("unhandled %s in a %s listener (error id %s)", type(error).__name__, kind, error_id,
              exc_info=(type(error), error, error.__traceback__))
    return error_id


def payload_kind(body: object) -> str:
    if not isinstance(body, dict):
        return "Slack"
    if "command" in body:
        return "slash command"
    kind = body.get("type")
    return kind if isinstance(kind, str) else "Slack"


def tell_actor(context: BoltContext, text: str) -> None:
    """Privately to whoever acted (SlackNotifier.tell picks response_url, ephemeral or DM)."""
    notifier: SlackNotifier | None = context.get("notifier")
    user_id = context.user_id
    if notifier is None or not isinstance(user_id, str):
        return
    response_url, channel = context.response_url, context.channel_id
    notifier.tell(user_id, text, response_url=response_url if isinstance(response_url, str) else None,
                  channel=channel if isinstance(channel, str) else None)


def modal_errors(view: dict[str, Any], error: DomainError) -> dict[str, str]:
    """A refusal of a submitted form, as the modal shows it: each input error under its input, in plain text
    (Slack shows a modal's errors as typed, so mrkdwn would show as raw marks)."""
    if isinstance(error, InputErrors):
        return {block: plain(text) for block, text in errors_under_inputs(view, error.errors).items()}
    if isinstance(error, ServiceUnavailable):
        return {_block_for(view, Ids.REASON_BLOCK): plain(str(error))}
    return {_block_for(view, Ids.PROVIDER_BLOCK): plain(str(error))}


_DATE = re.compile(r"<!date\^[^|>]*\|([^>]*)>")
_MENTION = re.compile(r"<@[UW][A-Z0-9]+>")


def plain(sentence: str) -> str:
    """The bot's mrkdwn sentence as plain text: a date as its fallback, a mention as "another approver" (a modal
    error cannot render it), no backticks."""
    sentence = _DATE.sub(lambda m: m.group(1), sentence)
    return _MENTION.sub("another approver", sentence).replace("`", "")


def _block_for(view: dict[str, Any], preferred: Ids) -> str:
    """`preferred` when the view has that input, else its first input (the Deny modal has only Reason):
    Slack rejects errors keyed by a block the view does not have."""
    inputs = [b.get("block_id") for b in view.get("blocks") or [] if isinstance(b, dict) and b.get("type") == "input"]
    if preferred.value in inputs or not inputs or not isinstance(inputs[0], str):
        return preferred.value
    return inputs[0]


def errors_under_inputs(view: dict[str, Any], errors: dict[str, str]) -> dict[str, str]:
    """Each error under its input; one whose input this view lacks (a modal update Slack refused)
    goes under Provider, since Slack rejects errors keyed by a block the view does not have."""
    present = {b.get("block_id") for b in view.get("blocks") or [] if isinstance(b, dict)}
    placed: dict[str, str] = {}
    for field, text in errors.items():
        block = FIELD_BLOCKS.get(field, Ids.ACCOUNT_BLOCK).value
        if block not in present:
            block = _block_for(view, Ids.PROVIDER_BLOCK)
        placed[block] = f"{placed[block]} {text}" if block in placed else text
    return placed
