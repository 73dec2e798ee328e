"""What each outcome says, per method: the card's line, the requester's line and the DM's line, in one table.

One row per (outcome, method): `OUTCOME_WORDS`. The outcome is the value the workflow records
(docs/providers.md §4.2, plus the bot's own in bot/domain.py: BotOutcome); a reset link
(Method.EMAIL_LINK) has its own words, since nothing is changed by the bot for it. The words
are the reader's: what happened and what to do. A provider's own text never reaches them (it
is in the log, as a short printable excerpt: bot/workflow/execution.py), nor does an operator's
variable name: where only the bot's admin can help, the engineer is told "ask your bot admin"
and an error id that the log line carries too (RequestView.error_id).

Placeholders: {label} the provider's label, {account} the account (mrkdwn code), {masked} the
owner's e-mail masked (the card is seen by the whole approvals channel), {email} the owner's
e-mail (only the requester sees it), {error_id}, {note} a sentence the workflow wrote (the
UserId check of a reset code: bot/workflow/execution.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain import BotOutcome, Method, RequestView, Status

ADMIN = "Ask your bot admin; error id {error_id}."
ADMIN_AFTER = "ask your bot admin; error id {error_id}."  # after "if it keeps failing, "


@dataclass(frozen=True)
class Words:
    """One outcome for one method, as each reader sees it (mrkdwn; the placeholders above)."""

    card: str  # after "Result:", "Failed:" or "Outcome unknown — verify:" on the card
    requester: str  # the requester's private message, a whole sentence or two
    dm: str  # the requester's DM, a whole sentence or two


PASSWORD_METHODS = (Method.SET_PASSWORD, Method.CURRENT_PASSWORD, Method.RESET_CODE)
LINK = (Method.EMAIL_LINK,)
EVERY_METHOD = PASSWORD_METHODS + LINK

# Keys of the rows for a request whose outcome is not known (status UNKNOWN) or not yet known (EXECUTING).
MAYBE = "maybe "  # + the recorded outcome: status UNKNOWN
UNMATCHED = "user_id_unmatched"  # changed, but the bot cannot tell it was the approved account
RETRYING = "retrying"  # still EXECUTING: the bot calls again with the same password
WORKING = "working"  # still EXECUTING: the call is under way


def _table() -> dict[tuple[str, Method], Words]:
    table: dict[tuple[str, Method], Words] = {}

    def row(outcome: str, methods: tuple[Method, ...], card: str, requester: str, dm: str | None = None) -> None:
        for method in methods:
            table[(outcome, method)] = Words(card, requester, dm or requester)

    failed = "Your password reset for {account} at {label} failed: "
    unknown = "Outcome unknown — verify: "

    # --- done ---
    row("changed", PASSWORD_METHODS,
        "{label} changed the password.",
        "Done: the password for {account} at {label} was changed. Open your DM from the bot to reveal it (once).",
        "The password for {account} at {label} was changed.")
    row("changed_idempotent", PASSWORD_METHODS,
        "{label} confirmed the new password (an earlier try had already set it).",
        "Done: the password for {account} at {label} was changed. Open your DM from the bot to reveal it (once).",
        "The password for {account} at {label} was changed.")
    row("reset_email_sent", PASSWORD_METHODS + LINK,
        "{label} e-mailed the owner ({masked}) a link to choose a new password.",
        "Done: {label} e-mailed the password reset link for {account} to {email}. The owner chooses the new "
        "password; there is nothing to reveal.",
        "A password reset link for {account} at {label} went to {email}. The owner chooses the new password.")
    for done in ("changed", "changed_idempotent"):  # a reset link reports reset_email_sent; said plainly if not
        row(done, LINK,
            "{label} says the reset link went out.",
            "Done: {label} says the password reset link for {account} went to the owner. The owner chooses the "
            "new password; there is nothing to reveal.")

    # --- the account ---
    row("account_inactive", PASSWORD_METHODS,
        "{label} will not change the password of an account that is suspended, locked or closing. "
        "Nothing changed.",
        failed + "the account is suspended, locked or closing, so {label} will not change its password. "
        "Get the account reactivated, then ask again.")
    row("account_inactive", LINK,
        "{label} will not send a reset link for an account that is suspended, locked or closing.",
        failed + "the account is suspended, locked or closing, so {label} sent no reset link. "
        "Get the account reactivated, then ask again.")
    row("account_not_found", EVERY_METHOD,
        "{label} has no account {account} (or it was deleted). Nothing changed.",
        failed + "{label} has no such account (or it was deleted). Check the account name and ask again; if it "
        "is right, ask your bot admin to check the account directory.")
    row("invalid_username", EVERY_METHOD,
        "{label} does not accept {account} as an account name. Nothing changed.",
        failed + "{label} does not accept this account name. Check the account name and ask again.")

    # --- the change itself ---
    row("change_rejected", (Method.SET_PASSWORD,),
        "{label} refused the change. Nothing changed.",
        failed + "{label} refused the change. Ask again later; if it happens again, " + ADMIN_AFTER)
    row("change_rejected", (Method.CURRENT_PASSWORD,),
        "{label} refused the change: the current password may be wrong, or the new one was used before.",
        failed + "{label} refused the change: the current password you typed may be wrong, or the new password "
        "was used before. Check the current password with the customer and ask again.")
    row("change_rejected", (Method.RESET_CODE,),
        "{label} refused the change: the reset code may be wrong or expired.",
        failed + "{label} refused the change: the reset code you typed may be wrong or expired (each code works "
        "once). Get a new code from the customer and ask again.")
    row("change_rejected", LINK,
        "{label} refused to send a reset link.",
        failed + "{label} refused to send a reset link for this account. Ask again later; if it happens again, "
        + ADMIN_AFTER)
    row("invalid_password", PASSWORD_METHODS + LINK,
        "{label} refused the password the bot generated. Nothing changed (error id {error_id}).",
        failed + "{label} refused the password the bot generated, so nothing changed. " + ADMIN)

    # --- the bot's own set-up: only its admin can fix these ---
    for outcome, what in (
        ("auth_failed", "{label} refused the bot's API access"),
        ("ip_not_allowed", "{label} refused calls from the bot's server"),
        ("bad_request", "{label} refused the bot's request as malformed"),
        (BotOutcome.SEAL_BROKEN.value, "the bot could not open the new password it had stored, so it sent nothing "
                                       "to {label}"),
        (BotOutcome.PROVIDER_DISABLED.value, "{label} is not set up on the bot that ran it, so nothing was sent"),
    ):
        row(outcome, EVERY_METHOD,
            what[0].upper() + what[1:] + ". Nothing changed (error id {error_id}).",
            failed + what + ", and nothing changed. " + ADMIN)

    # --- the provider had trouble ---
    row("rate_limited", EVERY_METHOD,
        "{label} is limiting how often the bot may call it. Nothing changed.",
        failed + "{label} is limiting how often the bot may call it, so nothing changed. Ask again in a few "
        "minutes.")
    row("provider_error", PASSWORD_METHODS,
        "{label} reported an error of its own. Nothing changed.",
        failed + "{label} reported an error of its own, so nothing changed. Ask again later.")
    row("provider_error", LINK,
        "{label} reported an error of its own. No link was sent.",
        failed + "{label} reported an error of its own, so no link was sent. Ask again later.")
    row("provider_unavailable", EVERY_METHOD,
        "{label} could not be reached. Nothing changed (error id {error_id}).",
        failed + "{label} could not be reached, so nothing changed. Ask again later; if it keeps failing, "
        + ADMIN_AFTER)

    # --- not known: someone must look (the card's label says "Outcome unknown — verify") ---
    for outcome, what in (
        ("unknown", "{label} gave an answer the bot could not read"),
        ("provider_unavailable", "{label} did not answer after the bot sent the change"),
        ("provider_error", "{label} reported an internal error"),
        (BotOutcome.INTERRUPTED.value, "the bot stopped while {label} was making the change"),
    ):
        key = MAYBE + outcome
        row(key, PASSWORD_METHODS,
            what[0].upper() + what[1:] + ", so the password may or may not have changed. Log in to {account} to "
            "see which password works before asking again.",
            unknown + what + ", so the password of {account} may or may not have changed. Log in to see which "
            "password works before asking again.")
        row(key, LINK,
            what[0].upper() + what[1:] + ", so a reset link may or may not have gone to the owner. Ask the owner "
            "whether it arrived before asking again.",
            unknown + what + ", so a reset link for {account} may or may not have gone to the owner. Ask the owner "
            "whether it arrived before asking again.")
    row(UNMATCHED, EVERY_METHOD, "{note}", unknown + "{note}")

    # --- still being changed ---
    row(WORKING, PASSWORD_METHODS,
        "{label} is changing the password…",
        "Your password reset for {account} at {label} was approved; the password is being changed.")
    row(WORKING, LINK,
        "{label} is e-mailing the owner a reset link…",
        "Your password reset for {account} at {label} was approved; {label} is e-mailing the owner a reset link.")
    row(RETRYING, EVERY_METHOD,
        "{label} did not give a clear answer; the bot will try again with the same password in a few seconds.",
        "Your password reset for {account} at {label} was approved. {label} did not give a clear answer yet, so the "
        "bot will try again with the same password in a few seconds, and you will hear the outcome within a "
        "minute. There is nothing for you to do.")
    return table


OUTCOME_WORDS: dict[tuple[str, Method], Words] = _table()


def outcome_key(request: RequestView) -> str:
    """The row a request is shown with, from its status and recorded outcome."""
    outcome = request.outcome or ""
    if request.status is Status.EXECUTING:
        return RETRYING if outcome else WORKING
    if request.status is Status.UNKNOWN:
        if outcome in ("changed", "changed_idempotent", "reset_email_sent"):
            return UNMATCHED
        return MAYBE + (outcome if (MAYBE + outcome, request.method) in OUTCOME_WORDS else "unknown")
    return outcome


def words_for(request: RequestView, *, label: str, account: str) -> Words:
    """The three lines for `request` (SUCCEEDED, FAILED, UNKNOWN or EXECUTING), filled in.

    `account` is the account as the reader's surface shows it (mrkdwn code on Slack).
    An outcome the table has no row for (a stored value from an older bot) gets the plain
    words for its status, never its raw value.
    """
    words = OUTCOME_WORDS.get((outcome_key(request), request.method))
    if words is None:  # only SUCCEEDED or FAILED get here: the other statuses always have a row
        fallback = "changed" if request.status is Status.SUCCEEDED else "provider_error"
        words = OUTCOME_WORDS[(fallback, request.method)]
    email = request.email or "the account's owner"
    values = dict(label=label, account=account, email=email, masked=mask_email(request.email),
                  error_id=request.error_id, note=request.outcome_message or "")
    return Words(*(text.format(**values) for text in (words.card, words.requester, words.dm)))


def mask_email(email: str | None) -> str:
    """`o***@example.org`: enough for an approver to recognise, not to copy (the card is seen by a channel)."""
    if not email or "@" not in email:
        return "the address on the account"
    local, _, domain = email.rpartition("@")
    return f"{local[:1]}***@{domain}"


def approve_after(request: RequestView) -> str:
    """What the Approve confirm adds after the effect: for a reset link, that the password is not changed yet."""
    if request.method is Method.EMAIL_LINK:
        return " The password itself changes only when the owner uses the link."
    return ""


def approve_effect(request: RequestView, *, label: str, account: str) -> str:
    """What the approval that completes the quorum does, for the Approve confirm: true for each method."""
    if request.method is Method.EMAIL_LINK:
        return f"{label} e-mails the owner of {account} a link to choose a new password"
    if request.method is Method.RESET_CODE:
        return (f"the password of the {label} account that the typed reset code belongs to (it should be {account}) "
                "changes")
    return f"the password of {account} at {label} changes"
