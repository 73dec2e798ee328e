"""Block Kit builders and parsers: pure functions, no Slack calls.

Visible words follow docs/CONTRACT.md ("What a person sees in Slack"); outside tools find
inputs and buttons by them. A provider's words (its label, Account field, methods) come
from its plugin as `ProviderInfo`, which the workflow hands the transports
(`workflow.catalog`); no builder names a provider. No builder ever receives a password
except `reveal_modal`.

What people type (reason, ticket) goes through the helpers under "Text people typed": it is
normalised (bot/forms.py: typed_text), escaped, quoted on every line and fitted to Block Kit's
limits after escaping, so it is shown as typed, inside its quote, and never pings or links.
Every mrkdwn text object is `verbatim`, so Slack does not turn bare URLs, channel names or
@-words into links or mentions; the manual `<@U…>` and `<!date…>` strings the bot writes
itself still render.
"""

from __future__ import annotations

import json
from datetime import datetime

from bot import policy
from bot.domain import (
    CardRefused,
    Method,
    ProviderCatalog,
    ProviderInfo,
    RequestView,
    RevealState,
    Status,
    is_user_group,
)
from bot.forms import RequestForm, typed_text
from bot.secret import Secret
from handlers import words as outcome_table
from handlers.ids import FIELD_BLOCKS, Ids

MAX_METADATA = 3000


def _text(text: str, limit: int = 2000) -> dict:
    return {"type": "plain_text", "text": clip(text, limit), "emoji": True}


def _md(text: str) -> dict:
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def _option(text: str, value: str) -> dict:
    return {"text": _text(text, OPTION_TEXT_MAX), "value": value}


def when(moment: datetime | None) -> str:
    if moment is None:
        return "—"
    epoch = int(moment.timestamp())
    fallback = moment.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{epoch}^{{date_short_pretty}} at {{time}}|{fallback}>"


def at_time(moment: datetime) -> str:
    """`at 11:07 today` (fallback `at 2026-12-01 11:07 UTC`): a moment after a verb, as in "confirmed at …"."""
    fallback = moment.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(moment.timestamp())}^at {{time}} {{date_short_pretty}}|at {fallback}>"


def _at(moment: datetime | None) -> str:
    """` at 11:07 today`, or nothing when the moment is not known."""
    return f" {at_time(moment)}" if moment is not None else ""


def escape(text: str | None) -> str:
    """Neutralise mrkdwn control characters in text a person typed."""
    return (text or "").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# --- text people typed ---------------------------------------------------------------------------
# Block Kit's limits (docs.slack.dev, reference/block-kit): they hold for the text as sent, that is
# AFTER escaping (`&` is 5 characters on the wire). Lengths are counted in UTF-16 code units, as
# Slack's JavaScript does; that is never fewer than Python's len(), which slack_sdk checks.

SECTION_TEXT_MAX = 3000  # a section's text
FIELD_TEXT_MAX = 2000  # each of a section's fields
CONTEXT_TEXT_MAX = 2000  # a context element (text objects allow 3000; kept lower)
OPTION_TEXT_MAX = 75  # an option of a select (headers 150, buttons 75: the bot's own words, all shorter)
REQUESTER_TEXT_MAX = 3000  # a message's text (Slack takes 4000; kept lower, as for a section)
ACCOUNT_TEXT_MAX = 100  # an account named in a field (plugins allow at most 64 characters)
ELLIPSIS = "…"
SHORTENED = "(shortened)"  # said where a surface shows less than was typed; the audit trail has it all


def slack_length(text: str) -> int:
    """Characters as Slack counts them (UTF-16 code units: an emoji outside the BMP is 2)."""
    return len(text.encode("utf-16-le")) // 2


def clip(text: str, limit: int) -> str:
    """`text` (already escaped or plain, never split further) in at most `limit`, with an ellipsis when cut."""
    if slack_length(text) <= limit:
        return text
    kept, used, budget = [], 0, limit - slack_length(ELLIPSIS)
    for ch in text:
        used += slack_length(ch)
        if used > budget:
            break
        kept.append(ch)
    return "".join(kept) + ELLIPSIS


def fit(raw: str | None, limit: int, *, quote: bool = False, multiline: bool = True) -> tuple[str, bool]:
    """What a person typed as mrkdwn in at most `limit` characters: (text, shortened).

    Normalised (bot/forms.py: typed_text), then escaped one character at a time, so a cut never
    splits an escape such as `&amp;`; with `quote`, every line starts with `>`, so nothing typed
    can appear outside the quote (a typed line reading ":white_check_mark: *Approved*" stays quoted).
    """
    text = typed_text(raw, multiline=multiline)
    head = ">" if quote else ""
    whole = head + escape(text).replace("\n", "\n>" if quote else "\n")  # what the pieces below join to
    if slack_length(whole) <= limit:  # nearly always: no cut, so no need to escape one character at a time
        return whole, False
    pieces = [("\n>" if quote else "\n") if ch == "\n" else escape(ch) for ch in text]
    kept, used, budget = [head], slack_length(head), limit - slack_length(ELLIPSIS)
    for piece in pieces:
        used += slack_length(piece)
        if used > budget:
            break
        kept.append(piece)
    return "".join(kept) + ELLIPSIS, True


def typed_section(label: str, raw: str | None, limit: int = SECTION_TEXT_MAX, *, multiline: bool = True,
                  empty: str = "—") -> str:
    """`*Label*` over what was typed, quoted on every line, within `limit`; says (shortened) when cut."""
    if not typed_text(raw, multiline=multiline):
        return f"*{label}*\n{empty}"
    note = f" {SHORTENED}"
    body, shortened = fit(raw, limit - slack_length(f"*{label}*{note}\n"), quote=True, multiline=multiline)
    return f"*{label}*{note if shortened else ''}\n{body}"


def typed_after(head: str, raw: str | None, limit: int) -> str:
    """`head.` alone, or `head:` over what was typed, quoted on every line, all within `limit`
    (says (shortened) when cut): a deny reason after "Denied by @x"."""
    if not typed_text(raw):
        return f"{head}."
    note = f" {SHORTENED}"
    body, shortened = fit(raw, limit - slack_length(f"{head}:{note}\n"), quote=True)
    return f"{head}:{note if shortened else ''}\n{body}"


def _account(account: str | None) -> str:
    """An account as the card names it (its plugin allows only ASCII letters, digits and . _ -)."""
    return shown(account, ACCOUNT_TEXT_MAX)


def shown(text: str | None, limit: int) -> str:
    """Text from elsewhere (a provider's message, the account context), inert and fitted to `limit`."""
    return fit(text, limit)[0]


# --- the request modal ---------------------------------------------------------------------------


def reset_modal(*, providers: list[ProviderInfo], metadata: dict, provider: str | None = None,
                account: str | None = None, method: Method | str | None = None, reason: str | None = None,
                ticket: str | None = None) -> dict:
    """The request form for `providers` (those offered, in registry order); `provider` is a name.

    Each provider's words come from its plugin (bot/domain.py: ProviderInfo). With none chosen
    the form shows the first one's Account field; a Method input appears for a provider that
    offers more than one method, and an input for what the chosen method needs typed.
    """
    chosen = next((p for p in providers if p.name == provider), None)
    if chosen is None and len(providers) == 1:
        chosen = providers[0]
    shown = chosen or (providers[0] if providers else None)
    provider_element: dict = {
        "type": "static_select",
        "action_id": Ids.PROVIDER_SELECT,
        "placeholder": _text("Choose a provider"),
        "options": [_option(p.label, p.name) for p in providers],
    }
    if chosen is not None:
        provider_element["initial_option"] = _option(chosen.label, chosen.name)
    max_length = shown.account.max_length if shown else 64
    account_element: dict = {"type": "plain_text_input", "action_id": Ids.ACCOUNT_INPUT, "max_length": max_length}
    if account:
        account_element["initial_value"] = account[:max_length]
    account_block: dict = {
        "type": "input",
        "block_id": Ids.ACCOUNT_BLOCK,
        "label": _text(shown.account.label if shown else "Account"),
        **({"hint": _text(shown.account.hint)} if shown else {}),
        "element": account_element,
    }
    blocks: list[dict] = [
        {
            "type": "input",
            "block_id": Ids.PROVIDER_BLOCK,
            "dispatch_action": True,  # choosing a provider with several methods adds its Method input
            "label": _text("Provider"),
            "element": provider_element,
        },
        account_block,
    ]
    if shown is not None and shown.offers_a_choice:
        picked = shown.method(method) or shown.default_method
        method_block: dict = {
            "type": "input",
            "block_id": Ids.METHOD_BLOCK,
            "dispatch_action": True,
            "label": _text("Method"),
            "element": {
                "type": "static_select",
                "action_id": Ids.METHOD_SELECT,
                "options": [_option(m.label, m.method.value) for m in shown.methods],
                "initial_option": _option(picked.label, picked.method.value),
            },
        }
        if shown.method_hint:
            method_block["hint"] = _text(shown.method_hint)
        blocks.append(method_block)
        if picked.secret_input is not None:
            blocks.append({
                "type": "input",
                "block_id": Ids.SECRET_BLOCK,
                "label": _text(picked.secret_input.label),
                "hint": _text(picked.secret_input.hint),
                "element": {"type": "plain_text_input", "action_id": Ids.SECRET_INPUT,
                            "max_length": picked.secret_input.max_length},
            })
    blocks += [
        {
            "type": "input",
            "block_id": Ids.REASON_BLOCK,
            "label": _text("Reason"),
            "hint": _text("At least 10 characters. Approvers and the audit trail see it."),
            "element": {
                "type": "plain_text_input",
                "action_id": Ids.REASON_INPUT,
                "multiline": True,
                "min_length": 10,
                "max_length": 1000,
                **({"initial_value": reason[:1000]} if reason else {}),
            },
        },
        {
            "type": "input",
            "block_id": Ids.TICKET_BLOCK,
            "optional": True,
            "label": _text("Ticket"),
            "element": {"type": "plain_text_input", "action_id": Ids.TICKET_INPUT, "max_length": 64,
                        **({"initial_value": ticket[:64]} if ticket else {})},
        },
    ]
    return {
        "type": "modal",
        "callback_id": Ids.RESET_MODAL,
        "title": _text("Reset hosting password"),
        "submit": _text("Request reset"),
        "close": _text("Cancel"),
        "private_metadata": json.dumps(metadata),  # a few ids: far below Slack's 3000 characters
        "blocks": blocks,
    }


def state_value(view: dict, block_id: str, action_id: str) -> str | None:
    """The value of one input in a submitted view, whatever its element type; None when absent."""
    try:
        element = view["state"]["values"][block_id][action_id]
    except (KeyError, TypeError):
        return None
    if not isinstance(element, dict):
        return None
    selected = element.get("selected_option")
    value = selected.get("value") if isinstance(selected, dict) else element.get("value")
    return value if isinstance(value, str) else None


def parse_reset_form(view: dict) -> RequestForm:
    secret = state_value(view, Ids.SECRET_BLOCK, Ids.SECRET_INPUT)
    return RequestForm(
        provider=state_value(view, Ids.PROVIDER_BLOCK, Ids.PROVIDER_SELECT),
        account=state_value(view, Ids.ACCOUNT_BLOCK, Ids.ACCOUNT_INPUT),
        reason=state_value(view, Ids.REASON_BLOCK, Ids.REASON_INPUT),
        ticket=state_value(view, Ids.TICKET_BLOCK, Ids.TICKET_INPUT),
        method=state_value(view, Ids.METHOD_BLOCK, Ids.METHOD_SELECT),
        secret_input=Secret(secret) if secret else None,
    )


def parse_metadata(view: dict) -> dict:
    """private_metadata as a dict of strings; anything malformed or tampered reads as empty."""
    raw = view.get("private_metadata") if isinstance(view, dict) else None
    if not isinstance(raw, str) or len(raw) > MAX_METADATA:
        return {}
    try:
        data = json.loads(raw) if raw else {}
    except (ValueError, RecursionError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str) and len(v) <= 200}


# --- the approval card -------------------------------------------------------------------------


def request_summary(request: RequestView, *, catalog: ProviderCatalog) -> list[dict]:
    account = f"`{_account(request.account)}`"
    if request.account_input and request.account_input != request.account:
        account += f" (entered as `{_account(request.account_input)}`)"
    fields = [
        _md(f"*Requester*\n<@{request.requester_id}>"),
        _md(f"*Provider*\n{catalog.label(request.provider)}"),
        _md(f"*Account*\n{account}"),
        _md(f"*Method*\n{request.method.label}"),
        _md(typed_section("Ticket", request.ticket, FIELD_TEXT_MAX, multiline=False)),
        _md(f"*Requested*\n{when(request.created_at)}"),
    ]
    return [
        {"type": "section", "block_id": f"summary_{request.id}", "fields": fields},
        {"type": "section", "block_id": f"reason_{request.id}", "text": _md(typed_section("Reason", request.reason))},
    ]


def card_text(request: RequestView, *, catalog: ProviderCatalog) -> str:
    """Notification text of the card: names who, what and where; never a secret."""
    return (f"Password reset request from <@{request.requester_id}> for {request.account} "
            f"at {catalog.label(request.provider)}: {status_words(request)}")


def approval_card(request: RequestView, context: str | None = None, *, catalog: ProviderCatalog) -> list[dict]:
    """`context`: what the provider says of the account (read-only lookup), while the card waits."""
    label = catalog.label(request.provider)
    blocks = [
        {"type": "header", "block_id": f"head_{request.id}", "text": _text("Password reset request")},
        *request_summary(request, catalog=catalog),
    ]
    if context and request.status is Status.PENDING:
        blocks.append({"type": "context", "block_id": f"account_{request.id}",
                       "elements": [_md(shown(context, CONTEXT_TEXT_MAX))]})
    if request.status is Status.PENDING and (request.approvals_needed > 1 or request.approvals):
        blocks.append({"type": "context", "block_id": f"approvals_{request.id}",
                       "elements": [_md(approvals_words(request))]})
    if request.status is Status.PENDING:
        blocks.append({
            "type": "actions",
            "block_id": card_actions_block(request.id),
            "elements": [
                {
                    "type": "button",
                    "action_id": Ids.APPROVE,
                    "text": _text("Approve"),
                    "style": "primary",
                    "value": request.id,
                    "confirm": {
                        "title": _text("Approve this reset?"),
                        "text": _md(approve_confirm_words(request, label)),
                        "confirm": _text("Approve"),
                        "deny": _text("Cancel"),
                        "style": "primary",
                    },
                },
                {  # no confirm dialog: the click opens the Deny modal (deny_modal), which asks for a reason
                    "type": "button",
                    "action_id": Ids.DENY,
                    "text": _text("Deny"),
                    "style": "danger",
                    "value": request.id,
                },
            ],
        })
        blocks.append({"type": "context", "block_id": f"expiry_{request.id}",
                       "elements": [_md(f"Waiting for approval until {when(request.expires_at)}. "
                                        "The requester cannot approve it.")]})
    else:
        blocks.append({"type": "section", "block_id": f"decision_{request.id}_{request.status.value}",
                       "text": _md(decision_words(request, catalog=catalog))})
    return blocks


def approvals_words(request: RequestView) -> str:
    """`Approvals: 1 of 2` and who approved when (CONTRACT.md "What a person sees in Slack")."""
    counted = policy.counted_approvers(request.approvers, request.requester_id)
    head = f"*Approvals: {len(counted)} of {request.approvals_needed}*"
    if not counted:
        return f"{head}: it needs {request.approvals_needed} different approvers; the requester cannot be one."
    return f"{head}: {_approved_by(request)}."


def _approved_by(request: RequestView, verb: str = " approved") -> str:
    """`<@A> approved <date>, <@B> approved <date>`: the counted approvals, first first."""
    counted = set(policy.counted_approvers(request.approvers, request.requester_id))
    return ", ".join(f"<@{a.approver_id}>{verb} {when(a.at)}" for a in request.approvals
                     if a.approver_id in counted)


def approve_confirm_words(request: RequestView, label: str) -> str:
    """The Approve dialog: what the method does (handlers/words.py: approve_effect), on the approval that
    completes the quorum, not before."""
    effect = outcome_table.approve_effect(request, label=label, account=f"`{escape(request.account)}`")
    still = policy.approvals_still_needed(request.approvals_needed, request.approvers, request.requester_id)
    after = outcome_table.approve_after(request)
    if still <= 1:
        return f"{effect[0].upper()}{effect[1:]} as soon as you confirm.{after}"
    counted = policy.approval_count(request)
    return (f"Yours is approval {counted + 1} of {request.approvals_needed}: {effect} "
            f"once {request.approvals_needed} different approvers have approved.{after}")


def card_being_posted(request: RequestView, *, catalog: ProviderCatalog) -> list[dict]:
    """The card as first posted: no buttons until the bot has recorded where it is."""
    shown = [b for b in approval_card(request, catalog=catalog) if b.get("block_id") != card_actions_block(request.id)]
    return [*shown, {"type": "context", "block_id": f"posting_{request.id}",
                     "elements": [_md("Posting this request… the Approve and Deny buttons appear here once the bot "
                                      "has recorded the card.")]}]


def card_actions_block(request_id: str) -> str:
    """The block id of a card's Approve and Deny buttons: names the request the card is for."""
    return f"approval_actions_{request_id}"


def status_words(request: RequestView) -> str:
    return {
        Status.PENDING: "waiting for approval",
        Status.EXECUTING: "approved, changing the password",
        Status.SUCCEEDED: "done",
        Status.FAILED: "failed",
        Status.UNKNOWN: "outcome unknown — verify",
        Status.DENIED: "denied",
        Status.EXPIRED: "expired",
        Status.CANCELLED: "cancelled by the requester",
        Status.WITHDRAWN: "withdrawn: the requester lost the requester role",
    }[request.status]


def decision_words(request: RequestView, *, catalog: ProviderCatalog) -> str:
    decider = f"<@{request.decided_by}>" if request.decided_by else "nobody"
    if request.status is Status.EXPIRED:
        return f":hourglass: *Expired* {when(request.expires_at)}: nobody approved it in time."
    if request.status is Status.CANCELLED:
        return cancelled_words(request)
    if request.status is Status.WITHDRAWN:
        return (f":leftwards_arrow_with_hook: *Withdrawn* {when(request.decided_at)}: the requester, "
                f"<@{request.requester_id}>, no longer has the requester role, so {decider}'s approval was not "
                "counted and nothing was changed.")
    if request.status is Status.DENIED:
        head = f":no_entry: *Denied* by {decider} {when(request.decided_at)}"
        if request.approvals:
            head += f" (after approvals: {policy.approval_count(request)} of {request.approvals_needed})"
        return typed_after(head, request.deny_reason, SECTION_TEXT_MAX)
    if len(request.approvals) > 1:  # N of M: every approver, first first
        head = f"*Approved* by {_approved_by(request, verb='')}."
    else:
        head = f"*Approved* by {decider} {when(request.decided_at)}."
    said = clip(outcome_words(request, catalog=catalog).card, SECTION_TEXT_MAX - 600)  # 600: the words around it
    if request.status is Status.EXECUTING:
        return f":hourglass_flowing_sand: {head} {said}"
    icon = {Status.SUCCEEDED: ":white_check_mark:", Status.FAILED: ":x:", Status.UNKNOWN: ":warning:"}[request.status]
    label = {Status.SUCCEEDED: "Result", Status.FAILED: "Failed", Status.UNKNOWN: "Outcome unknown — verify"}
    words = f"{icon} {head}\n*{label[request.status]}:* {said}"
    if request.reveal_state is RevealState.EXPIRED:
        words += "\nThe new password was never revealed and has been destroyed unseen; nobody knows it."
    elif may_be_set(request):
        words += (f"\nThe new password may be set, so it is kept for <@{request.requester_id}> to reveal once "
                  f"(until {when(request.reveal_expires_at)}) and try.")
    return words


def outcome_words(request: RequestView, *, catalog: ProviderCatalog) -> outcome_table.Words:
    """The card's, the requester's and the DM's line for a request being changed or ended by the provider call."""
    return outcome_table.words_for(request, label=catalog.label(request.provider),
                                   account=f"`{_account(request.account)}`")


def may_be_set(request: RequestView) -> bool:
    """The outcome is unknown but a new password was kept for the one reveal (bot/workflow/execution.py)."""
    return request.status is Status.UNKNOWN and request.reveal_state is not RevealState.NONE


def requester_status(request: RequestView, *, catalog: ProviderCatalog) -> str:
    """The sentence the engineer gets ephemerally at each step."""
    label = catalog.label(request.provider)
    where = f"`{request.account}` at {label}"
    if request.status is Status.PENDING:
        return f"Your password reset for {where} is waiting for approval (request {request.id})."
    if request.status in (Status.EXECUTING, Status.SUCCEEDED):
        return outcome_words(request, catalog=catalog).requester
    if request.status is Status.DENIED:
        return typed_after(f"Your password reset for {where} was denied by <@{request.decided_by}>",
                           request.deny_reason, REQUESTER_TEXT_MAX)
    if request.status is Status.EXPIRED:
        return f"Your password reset for {where} expired before anyone approved it. Ask again if it is still needed."
    if request.status is Status.CANCELLED:
        return f"You cancelled your password reset for {where}{_at(request.decided_at)}: nothing was changed."
    if request.status is Status.WITHDRAWN:
        return (f"Your password reset for {where} was withdrawn{_at(request.decided_at)}: you no longer have the "
                f"requester role for {label}, so nothing was changed. Ask your bot admin if you still need it.")
    said = outcome_words(request, catalog=catalog).requester
    if may_be_set(request):
        said += " The new password may be set: open your DM from the bot to reveal it (once) and try it."
    return said


def card_refused_fix(refused: CardRefused) -> str:
    """What an admin must do when Slack refuses the approvals channel (handlers/notifier.py: CARD_REFUSALS)."""
    if refused.error == "not_in_channel":
        return (f"the bot is not a member of the approvals channel {refused.channel}: an admin must /invite the bot "
                "there")
    if refused.error == "is_archived":
        return (f"the approvals channel {refused.channel} is archived: an admin must unarchive it, or point "
                "RESETBOT_APPROVALS_CHANNEL at another channel and /invite the bot there")
    return (f"the approvals channel {refused.channel} does not exist or the bot cannot see it: an admin must point "
            "RESETBOT_APPROVALS_CHANNEL at a channel the bot is in (/invite the bot to a private one)")


def card_refused_home_blocks(refused: CardRefused) -> list[dict]:
    """The admins' App Home while Slack refuses the approvals channel: what is wrong and what to do."""
    return [{"type": "section", "block_id": "card_refused", "text": _md(
        f":warning: *Approval cards cannot be posted.* Slack refuses them because {card_refused_fix(refused)}. "
        "Requests wait unseen until then; the bot posts their cards as soon as Slack accepts them.")}]


def card_refused_words(request: RequestView, refused: CardRefused, *, catalog: ProviderCatalog) -> str:
    """The requester's sentence when the card could not be posted: never "waiting for approval"."""
    where = f"`{request.account}` at {catalog.label(request.provider)}"
    return (f"Your password reset for {where} is saved (request {request.id}), but no approver can see it yet: "
            f"Slack would not post it, because {card_refused_fix(refused)}. Tell an admin; the bot posts it as "
            "soon as Slack accepts it.")


def cancelled_words(request: RequestView) -> str:
    """The card of a request its requester cancelled (CONTRACT.md: the card says the requester cancelled it)."""
    return (f":leftwards_arrow_with_hook: *Cancelled* by the requester, <@{request.requester_id}>, "
            f"{when(request.decided_at)}: nothing was changed.")


# --- the requester's DM (one per request, rewritten in place: bot/workflow/requester_dm.py) ----------------


def requester_dm(request: RequestView, *, catalog: ProviderCatalog) -> tuple[str, list[dict]]:
    """The requester's DM for a request as it is now: (notification text, blocks).

    While it waits: **Cancel request** and **Remind approvers**. Once a new password waits, the
    Reveal password button (`request.reveal_token` is then the button's value: bot/workflow/reveal.py),
    and after the reveal or its expiry what reveal_dm_after says.
    """
    if request.reveal_state is RevealState.READY:
        return reveal_dm(request, catalog=catalog)
    if request.reveal_state is not RevealState.NONE:
        return reveal_dm_after(request, catalog=catalog)
    said = requester_status(request, catalog=catalog)
    blocks_: list[dict] = [{"type": "section", "block_id": f"dm_status_{request.id}_{request.status.value}",
                            "text": _md(clip(said, SECTION_TEXT_MAX))}]
    if request.status is Status.PENDING:
        if request.approvals_needed > 1 or request.approvals:
            blocks_.append({"type": "context", "block_id": f"dm_approvals_{request.id}",
                            "elements": [_md(approvals_words(request))]})
        waiting = f"It waits for approval until {when(request.expires_at)}."
        if request.requester_reminded_at is not None:
            waiting += f" You reminded the approvers {at_time(request.requester_reminded_at)}."
        blocks_.append({"type": "context", "block_id": f"dm_waiting_{request.id}", "elements": [_md(waiting)]})
        blocks_.append({"type": "actions", "block_id": f"dm_actions_{request.id}", "elements": [
            {"type": "button", "action_id": Ids.CANCEL_REQUEST, "text": _text("Cancel request"), "value": request.id,
             "style": "danger",
             "confirm": {"title": _text("Cancel this request?"),
                         "text": _md("The approvers can no longer approve it; the password is not changed."),
                         "confirm": _text("Cancel request"), "deny": _text("Keep it")}},
            {"type": "button", "action_id": Ids.REMIND_APPROVERS, "text": _text("Remind approvers"),
             "value": request.id},
        ]})
    return clip(said.replace("`", ""), REQUESTER_TEXT_MAX), blocks_


def mention(subject: str) -> str:
    """A user (`<@U…>`) or user group (`<!subteam^S…>`) mention, as Slack renders one."""
    return f"<!subteam^{subject}>" if is_user_group(subject) else f"<@{subject}>"


def thread_reply(request: RequestView, kind: str, mentions: list[str], *, catalog: ProviderCatalog) -> str:
    """A reply in the card's thread (bot/workflow/reminders.py): a reminder naming who can approve, the
    requester's reminder, or the escalation naming escalate_to, whose members may decide it from now on."""
    where = f"`{escape(request.account)}` at {catalog.label(request.provider)}"
    who = ", ".join(mention(s) for s in mentions)
    tail = [approvals_words(request)] if request.approvals_needed > 1 or request.approvals else []
    tail.append(f"It expires {when(request.expires_at)}.")
    if kind == "escalation":
        head = (f":rotating_light: *Escalated:* the password reset of {where} for <@{request.requester_id}> has "
                f"waited since {when(request.created_at)}. {who}, you may now approve or deny it on the card above.")
        return " ".join([head, *tail])
    if not who:
        who = "nobody: no one has the approver role for this provider; ask your bot admin to grant it"
    opener = (f":bell: <@{request.requester_id}> asks for a decision" if kind == "requester_reminder"
              else ":bell: *Reminder*")
    return " ".join([f"{opener}: the password reset of {where} is still waiting for approval. Who can approve: {who}.",
                     *tail])


# --- the Deny modal ------------------------------------------------------------------------------


def deny_modal(request: RequestView, *, catalog: ProviderCatalog, from_home: bool = False) -> dict:
    """Opened by a card's Deny button: an optional Reason, which the requester, the card and the audit trail see."""
    where = f"`{escape(request.account)}` at {catalog.label(request.provider)}"
    metadata = {"request": request.id, **({"home": "1"} if from_home else {})}
    return {
        "type": "modal",
        "callback_id": Ids.DENY_MODAL,
        "title": _text("Deny this reset?"),
        "submit": _text("Deny"),
        "close": _text("Cancel"),
        "private_metadata": json.dumps(metadata),
        "blocks": [
            {"type": "section", "block_id": f"deny_what_{request.id}",
             "text": _md(f"Deny the password reset of {where} that <@{request.requester_id}> asked for? "
                         "It ends the request: the password is not changed.")},
            {
                "type": "input",
                "block_id": Ids.DENY_REASON_BLOCK,
                "optional": True,
                "label": _text("Reason"),
                "hint": _text("Optional. The requester is told it; the card and the audit trail show it."),
                "element": {"type": "plain_text_input", "action_id": Ids.DENY_REASON_INPUT, "multiline": True,
                            "max_length": 1000},
            },
        ],
    }


def parse_deny_form(view: dict) -> tuple[str | None, str | None]:
    """(the request id the Deny modal was opened for, the reason typed or None)."""
    return parse_metadata(view).get("request"), state_value(view, Ids.DENY_REASON_BLOCK, Ids.DENY_REASON_INPUT)


# --- the reveal ---------------------------------------------------------------------------------


def reveal_dm(request: RequestView, *, catalog: ProviderCatalog) -> tuple[str, list[dict]]:
    label = catalog.label(request.provider)
    if may_be_set(request):
        text = (f"The outcome of your password reset for {request.account} at {label} is unknown: "
                "the new password may be set.")
        ready = _md(f":warning: *Outcome unknown — verify:* "
                    f"{clip(outcome_words(request, catalog=catalog).card, SECTION_TEXT_MAX - 600)}\n"
                    f"The new password for `{escape(request.account)}` at {label} may be set. It is shown once, "
                    "to you only: try it by logging in before you give it to anyone or ask again.")
    else:
        text = f"Your password reset for {request.account} at {label} is ready."
        ready = _md(f"Your password reset for `{escape(request.account)}` at {label} is ready. "
                    "The new password is shown once, to you only.")
    blocks: list[dict] = [
        {"type": "section", "block_id": f"ready_{request.id}", "text": ready},
        {"type": "actions", "block_id": f"reveal_actions_{request.id}", "elements": [
            {"type": "button", "action_id": Ids.REVEAL, "text": _text("Reveal password"), "value": request.reveal_token,
             "style": "primary"},
        ]},
        {"type": "context", "block_id": f"reveal_expiry_{request.id}",
         "elements": [_md(f"The button works until {when(request.reveal_expires_at)}; "
                          "then the password is destroyed.")]},
    ]
    return text, blocks


def reveal_dm_after(request: RequestView, *, catalog: ProviderCatalog) -> tuple[str, list[dict]]:
    where = f"`{escape(request.account)}` at {catalog.label(request.provider)}"
    maybe = may_be_set(request)
    if request.reveal_state is not RevealState.REVEALED:
        words = (f"The new password for {where} was not revealed in time and has been destroyed. "
                 "Ask for a new reset if it is still needed.")
        if maybe:
            words = (f"The new password for {where}, which may be set, was not revealed in time and has been "
                     "destroyed. Verify the account by logging in before asking for a new reset.")
        blocks_ = [{"type": "section", "block_id": f"reveal_done_{request.id}_expired", "text": _md(words)}]
    elif request.customer_informed_at is None:
        words = (f"The new password for {where} was revealed to you and is no longer stored. "
                 "Give it to the customer, ask them to change it at first login, then confirm below.")
        if maybe:
            words = (f"The new password for {where}, which may be set, was revealed to you and is no longer "
                     "stored. Try it by logging in; if it works, give it to the customer, ask them to change it "
                     "at first login, then confirm below.")
        blocks_ = [
            {"type": "section", "block_id": f"reveal_done_{request.id}", "text": _md(words)},
            {"type": "actions", "block_id": f"informed_actions_{request.id}", "elements": [
                {"type": "button", "action_id": Ids.CUSTOMER_INFORMED, "value": request.id,
                 "text": _text("I told the customer")},
            ]},
        ]
    else:
        words = (f"The new password for {where} was revealed to you and is no longer stored. "
                 f"You confirmed telling the customer {at_time(request.customer_informed_at)}.")
        blocks_ = [{"type": "section", "block_id": f"reveal_done_{request.id}_informed", "text": _md(words)}]
    return words.replace("`", ""), blocks_


def reveal_modal(request: RequestView, password: Secret, *, catalog: ProviderCatalog) -> dict:
    """The only place a password is ever put into anything sent to Slack."""
    advice = "This is shown once. Give it to the customer and ask them to change it at first login."
    heading = f"New password for `{escape(request.account)}` at {catalog.label(request.provider)}:"
    if may_be_set(request):
        heading = (f":warning: The outcome is unknown: this new password for `{escape(request.account)}` at "
                   f"{catalog.label(request.provider)} may be set.")
        advice = ("This is shown once. Try it by logging in first; only if it works, give it to the customer and "
                  "ask them to change it at first login.")
    return {
        "type": "modal",
        "callback_id": Ids.REVEAL_MODAL,
        "title": _text("New password"),
        "close": _text("Done"),
        "clear_on_close": True,
        "notify_on_close": False,
        "blocks": [
            {"type": "section", "text": _md(heading)},
            {"type": "section", "text": _md(f"```{password.reveal()}```")},
            {"type": "context", "elements": [_md(advice)]},
        ],
    }


# --- App Home -----------------------------------------------------------------------------------


def home_view(requests: list[RequestView], waiting: list[RequestView], can_request: bool, *,
              catalog: ProviderCatalog) -> dict:
    blocks: list[dict] = [{"type": "header", "text": _text("Password resets")}]
    if can_request:
        blocks.append({"type": "section", "text": _md("Type `/reset-password` in any channel to ask for a reset.")})
    if waiting:
        blocks.append({"type": "header", "text": _text("Waiting for your approval")})
        for request in waiting[:10]:
            blocks += approval_card(request, catalog=catalog)[1:]
            blocks.append({"type": "divider"})
    blocks.append({"type": "header", "text": _text("Your recent requests")})
    if not requests:
        blocks.append({"type": "context", "elements": [_md("You have not asked for any reset yet.")]})
    for request in requests[:10]:
        blocks.append({"type": "section", "text": _md(
            f"`{escape(request.account)}` at {catalog.label(request.provider)} — *{status_words(request)}* "
            f"({when(request.created_at)})")})
    return {"type": "home", "blocks": blocks[:100]}


# --- policy from Slack: the App Home's Policy section, its modal, the Policy change card ---------------

# The modal's labels, by ApprovalPolicy field (docs/CONTRACT.md "What a person sees in Slack").
POLICY_LABELS = {
    "approvals": "Approvals",
    "expire_after": "Expire after",
    "remind_after": "Remind after",
    "escalate_after": "Escalate after",
    "escalate_to": "Escalate to",
    "requests_per_hour": "Requests per hour",
}
POLICY_HINTS = {
    "approvals": "Distinct approvers a request needs, 1 to 5. The requester never counts.",
    "expire_after": "A request without its approvals by then expires: 90s, 15m or 2h.",
    "remind_after": "A reminder in the card's thread: 90s, 15m or 2h, or 0 for none.",
    "escalate_after": "A reply mentioning Escalate to, whose members may then approve: 90s, 15m or 2h, or 0.",
    "escalate_to": "A Slack user group ID (S…) or user ID (U…). Empty: none.",
    "requests_per_hour": "Requests one engineer may open in any hour; 0 for no cap.",
}


def policy_input_value(name: str, value: int | str | None) -> str:
    """A policy value as the modal prefills it: what policy.policy_from_texts reads back."""
    if name == "escalate_to":
        return str(value or "")
    if name in ("approvals", "requests_per_hour"):
        return str(value)
    return policy.format_duration(int(value or 0)) if value else "0"


def policy_value_words(name: str, value: int | str | None) -> str:
    """A policy value as the App Home and the Policy change card show it."""
    if name == "escalate_to":
        return f"`{escape(str(value))}`" if value else "none"
    if name == "approvals":
        return str(value)
    if name == "requests_per_hour":
        return f"{value}" if value else "no cap"
    return policy.format_duration(int(value or 0))


def policy_words(rules: policy.ApprovalPolicy) -> str:
    return " · ".join(f"{POLICY_LABELS[name]}: {policy_value_words(name, getattr(rules, name))}"
                      for name in policy.FIELDS)


def policy_home_blocks(policies: dict[str, policy.ApprovalPolicy], proposals: dict[str, list[policy.PolicyProposal]],
                       *, catalog: ProviderCatalog) -> list[dict]:
    """The App Home's Policy section, for the providers the viewer is an admin for: each one's policy, its
    Edit policy button, and the changes that wait for a second admin."""
    if not policies:
        return []
    blocks: list[dict] = [{"type": "header", "block_id": "policy_header", "text": _text("Policy")}]
    for provider, rules in policies.items():
        blocks.append({
            "type": "section", "block_id": f"policy_{provider}",
            "text": _md(f"*{catalog.label(provider)}*\n{policy_words(rules)}"),
            "accessory": {"type": "button", "action_id": Ids.EDIT_POLICY, "text": _text("Edit policy"),
                          "value": provider},
        })
        for proposal in proposals.get(provider, [])[:3]:
            blocks.append({"type": "context", "block_id": f"policy_pending_{proposal.id}", "elements": [_md(
                f"Waiting for a second admin: {policy_change_words(proposal)}, proposed by "
                f"<@{proposal.proposed_by}> {when(proposal.proposed_at)}.")]})
    blocks.append({"type": "context", "block_id": "policy_rule", "elements": [_md(
        "A change that only tightens a policy applies at once. One that loosens it (fewer approvals, a higher "
        "or no cap, a longer expiry, a later or no reminder, or any change to an escalation that is or becomes "
        "on: Escalate to may approve without the approver role) is posted to the approvals channel and applies "
        "when a second admin approves it.")]})
    return blocks


def policy_modal(provider: ProviderInfo, rules: policy.ApprovalPolicy) -> dict:
    """Edit policy: one input per field, prefilled with the policy in effect; the policy it was opened on
    travels in private_metadata, so a save over a newer change is refused (bot/workflow/policy_changes.py)."""
    metadata = {"provider": provider.name, "policy": json.dumps(rules.as_dict(), sort_keys=True)}
    blocks: list[dict] = [{"type": "section", "block_id": "policy_about", "text": _md(
        f"The approval policy of *{provider.label}*, for requests made from now on. A change that loosens it "
        "waits for a second admin.")}]
    for name in policy.FIELDS:
        element: dict = {"type": "plain_text_input", "action_id": Ids.POLICY_INPUT, "max_length": 32}
        initial = policy_input_value(name, getattr(rules, name))
        if initial:
            element["initial_value"] = initial
        blocks.append({"type": "input", "block_id": FIELD_BLOCKS[name], "label": _text(POLICY_LABELS[name]),
                       "hint": _text(POLICY_HINTS[name]), "optional": name == "escalate_to", "element": element})
    return {
        "type": "modal",
        "callback_id": Ids.POLICY_MODAL,
        "title": _text("Approval policy"),
        "submit": _text("Save"),
        "close": _text("Cancel"),
        "private_metadata": json.dumps(metadata),
        "blocks": blocks,
    }


def parse_policy_form(view: dict) -> tuple[str | None, dict[str, str | None], policy.ApprovalPolicy | None]:
    """(the provider the modal was opened for, the text typed per field, the policy it was opened on)."""
    metadata = parse_metadata(view)
    texts = {name: state_value(view, FIELD_BLOCKS[name], Ids.POLICY_INPUT) for name in policy.FIELDS}
    try:
        opened_on = policy.ApprovalPolicy(**json.loads(metadata["policy"]))
    except (KeyError, ValueError, TypeError, RecursionError, policy.InvalidPolicy):
        opened_on = None
    return metadata.get("provider"), texts, opened_on


def policy_change_words(proposal: policy.PolicyProposal | policy.PolicyAnnouncement) -> str:
    """`Approvals 2 → 1, Requests per hour 20 → no cap`: each changed field, old → new."""
    return ", ".join(f"{POLICY_LABELS[name]} {policy_value_words(name, getattr(proposal.old, name))} → "
                     f"{policy_value_words(name, getattr(proposal.new, name))}" for name in proposal.changed)


def policy_change_lines(change: policy.PolicyProposal | policy.PolicyAnnouncement) -> str:
    """One bullet per changed field: `• *Approvals*: 2 → 1`."""
    return "\n".join(f"• *{POLICY_LABELS[name]}*: {policy_value_words(name, getattr(change.old, name))} → "
                     f"{policy_value_words(name, getattr(change.new, name))}" for name in change.changed)


ESCALATION_POWER = ("Escalate to may approve or deny a waiting request from Escalate after on, without the approver "
                    "role, and counts towards its approvals.")


def policy_change_text(proposal: policy.PolicyProposal, *, catalog: ProviderCatalog) -> str:
    return (f"Policy change for {catalog.label(proposal.provider)} proposed by <@{proposal.proposed_by}>: "
            f"{proposal.status.value}")


def policy_change_card(proposal: policy.PolicyProposal, *, catalog: ProviderCatalog) -> list[dict]:
    """The card a loosening change is posted as: provider, old → new per changed field, who proposed it; while it
    waits, Approve change (another admin) and Reject change (any admin; the proposer's withdraws it)."""
    lines = policy_change_lines(proposal)
    blocks: list[dict] = [
        {"type": "header", "block_id": f"policy_head_{proposal.id}", "text": _text("Policy change")},
        {"type": "section", "block_id": f"policy_what_{proposal.id}", "fields": [
            _md(f"*Provider*\n{catalog.label(proposal.provider)}"),
            _md(f"*Proposed by*\n<@{proposal.proposed_by}> {when(proposal.proposed_at)}"),
        ]},
        {"type": "section", "block_id": f"policy_fields_{proposal.id}", "text": _md(clip(lines, SECTION_TEXT_MAX))},
        {"type": "context", "block_id": f"policy_why_{proposal.id}", "elements": [_md(clip(
            "It loosens the policy: " + "; ".join(proposal.weakened) + "." + (
                " " + ESCALATION_POWER if policy.escalation_widened(proposal.old, proposal.new) else ""),
            CONTEXT_TEXT_MAX))]},
    ]
    status = policy.ProposalStatus
    if proposal.status is status.PENDING:
        blocks.append({"type": "actions", "block_id": f"policy_actions_{proposal.id}", "elements": [
            {"type": "button", "action_id": Ids.APPROVE_POLICY_CHANGE, "text": _text("Approve change"),
             "style": "primary", "value": proposal.id,
             "confirm": {"title": _text("Approve this change?"),
                         "text": _md(f"The policy of {catalog.label(proposal.provider)} changes as soon as you "
                                     "confirm."),
                         "confirm": _text("Approve change"), "deny": _text("Cancel")}},
            {"type": "button", "action_id": Ids.REJECT_POLICY_CHANGE, "text": _text("Reject change"),
             "style": "danger", "value": proposal.id},
        ]})
        blocks.append({"type": "context", "block_id": f"policy_rule_{proposal.id}", "elements": [_md(
            "It applies when a second admin approves it; the admin who proposed it cannot.")]})
        return blocks
    by = f"<@{proposal.decided_by}>" if proposal.decided_by else "nobody"
    words = {
        status.APPLIED: f":white_check_mark: *Approved* by {by} {when(proposal.decided_at)}: in effect now.",
        status.REJECTED: f":no_entry: *Rejected* by {by} {when(proposal.decided_at)}: not applied.",
        status.WITHDRAWN: f":leftwards_arrow_with_hook: *Withdrawn* by {by} {when(proposal.decided_at)}: not applied.",
        status.STALE: (f":hourglass: *Not applied* {when(proposal.decided_at)}: the policy changed after it was "
                       "proposed. Propose it again from the App Home if it is still wanted."),
        status.PENDING: "",
    }[proposal.status]
    blocks.append({"type": "section", "block_id": f"policy_decision_{proposal.id}_{proposal.status.value}",
                   "text": _md(words)})
    return blocks


def policy_announcement(announcement: policy.PolicyAnnouncement, *, catalog: ProviderCatalog) -> tuple[str, list[dict]]:
    """(text, blocks) of a change made with `resetbot policy set`, already in effect: who (`cli:<OS user>`, inert),
    which provider, each changed value old → new, and how it loosens the policy, if it does. No buttons."""
    label = catalog.label(announcement.provider)
    who = shown(announcement.changed_by or "an operator", 64)
    text = f"Policy changed from the command line for {label} by {who}: {policy_change_words(announcement)}"
    note = "In effect for requests made from then on; requests already waiting keep the policy they were made under."
    if announcement.weakened:
        note += (" It loosens the policy, with no second admin (the command line needs the database's credentials): "
                 + "; ".join(announcement.weakened) + ".")
        if policy.escalation_widened(announcement.old, announcement.new):
            note += " " + ESCALATION_POWER
    key = f"policy_announced_{announcement.id}"
    blocks: list[dict] = [
        {"type": "section", "block_id": f"{key}_head", "text": _md(
            f":gear: *Policy changed from the command line* for *{label}*")},
        {"type": "section", "block_id": f"{key}_what", "fields": [
            _md(f"*Provider*\n{label}"),
            _md(f"*Changed by*\n`{who}` {when(announcement.changed_at)}"),
        ]},
        {"type": "section", "block_id": f"{key}_fields", "text": _md(clip(policy_change_lines(announcement),
                                                                          SECTION_TEXT_MAX))},
        {"type": "context", "block_id": f"{key}_note", "elements": [_md(clip(note, CONTEXT_TEXT_MAX))]},
    ]
    return clip(text, SECTION_TEXT_MAX), blocks


# --- insider-risk alerts -------------------------------------------------------------------------


def risk_alert(alert: policy.RiskAlert, *, catalog: ProviderCatalog) -> tuple[str, list[dict]]:
    """(text, blocks) of the alert posted to the approvals channel: who, what, how many; never an account name."""
    if alert.kind is policy.RiskKind.REFUSALS:
        what = (f"was refused {alert.count} reset requests for {catalog.label(alert.provider or '')} in the last "
                f"hour, more than its cap of {alert.threshold} an hour.")
    else:
        what = (f"asked for resets of {alert.count} different accounts in the last hour, more than "
                f"{alert.threshold}.")
    text = f"Insider-risk alert: <@{alert.engineer_id}> {what}"
    blocks: list[dict] = [
        {"type": "section", "block_id": f"risk_{alert.kind.value}_{alert.engineer_id}",
         "text": _md(f":rotating_light: *Insider-risk alert*: <@{alert.engineer_id}> {what}")},
        {"type": "context", "block_id": f"risk_note_{alert.kind.value}_{alert.engineer_id}", "elements": [_md(
            "At most one alert of this kind an hour per engineer. `resetbot audit export` has each request.")]},
    ]
    return text, blocks
