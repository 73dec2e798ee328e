"""The message table (handlers/words.py), table-driven: every outcome × method × status renders, in the reader's words.

Issue 12, items 1, 2, 4, 5 and 6: each method has its own words; the owner's e-mail is masked on the
card; provider bytes, raw markup, variable names and secrets never reach what a person reads;
what only the bot's admin can fix says "ask your bot admin; error id …".
"""

from __future__ import annotations

import itertools
import logging
import re
from datetime import UTC, datetime, timedelta

import pytest

from bot import policy
from bot.domain import BotOutcome, Method, RequestView, RevealState, Status
from bot.providers import AMBIGUOUS, ChangeResult, Outcome, registry
from bot.workflow.execution import _status_for, excerpt, recorded_outcome
from handlers import blocks, words
from handlers.errors import modal_errors

NOW = datetime(2026, 12, 1, 6, 11, tzinfo=UTC)
CATALOG = registry.catalog()
# What a provider might send back: an ESC byte, markup, a variable name and a password-looking string.
PROVIDER_BYTES = "\x1b[31m <<%%garbage%%>> check MOFH_API_PASSWORD Xq7vN2mLp9TzR4wB `x` *y*"
ENV_NAME = re.compile(r"\b[A-Z][A-Z0-9]*_[A-Z0-9_]{2,}\b")
# The only angle brackets the bot itself writes: mentions and dates (handlers/blocks.py: when).
OWN_MARKUP = re.compile(r"<@[UW][A-Z0-9]+>|<!date\^\d+\^[^|>]*\|[^>]*>")
EMOJI = re.compile(r":[a-z_]+:")
NON_LOOKUP = [o for o in Outcome if not o.value.startswith("lookup_")]
EVERY = [o.value for o in NON_LOOKUP] + [o.value for o in BotOutcome]
SUCCESSES = {"changed", "changed_idempotent", "reset_email_sent"}


def view(status: Status, outcome: str | None, method: Method, **overrides) -> RequestView:
    provider = "namecheap" if method is not Method.SET_PASSWORD else "mofh"
    values = dict(id="rr_0123456789abcdef0123", provider=provider, account="acmeshop", account_input="acmeshop",
                  method=method, reason="Owner lost access to the account.", ticket=None, requester_id="U0ENGINEER1",
                  origin_channel="C0HELPDESK", status=status, created_at=NOW, expires_at=NOW + timedelta(hours=1),
                  decided_by="U0APPROVER1", decided_at=NOW, outcome=outcome,
                  # A stored message is never shown, except the workflow's own UserId sentence for a reset code.
                  outcome_message=PROVIDER_BYTES, email="owner@example.org" if method is Method.EMAIL_LINK else None,
                  reveal_token="sec_TOKENxTOKENxTOKENx")
    values.update(overrides)
    return RequestView(**values)


def reachable() -> list[tuple[Status, str, Method]]:
    """Every (status, recorded outcome, method) the workflow can store, by its own rules (bot/workflow/execution.py)."""
    combos = set()
    for outcome, certainty, attempts in itertools.product(NON_LOOKUP, (None, AMBIGUOUS), (0, 1)):
        result = ChangeResult(outcome, "x", certainty=certainty, attempts=attempts)
        combos.add((_status_for(result, None), recorded_outcome(result)))
        if result.ok:  # the UserId check of a reset code can turn any success into "outcome unknown"
            combos.add((Status.UNKNOWN, recorded_outcome(result)))
    for bot_outcome, status in ((BotOutcome.SEAL_BROKEN, Status.FAILED), (BotOutcome.PROVIDER_DISABLED, Status.FAILED),
                                (BotOutcome.INTERRUPTED, Status.UNKNOWN)):
        result = ChangeResult(Outcome.UNKNOWN, "x", reason=bot_outcome.value)
        combos.add((status, recorded_outcome(result)))
    for outcome in EVERY:  # a retry is scheduled after any of them (MyOwnFreeHost), and the call runs meanwhile
        combos.add((Status.EXECUTING, outcome))
    return [(s, o, m) for (s, o), m in itertools.product(sorted(combos), Method)]


def rendered(request: RequestView) -> dict[str, str]:
    card = blocks.approval_card(request, catalog=CATALOG)
    decision = next(b["text"]["text"] for b in card if b["block_id"].startswith("decision_"))
    line = blocks.outcome_words(request, catalog=CATALOG)
    return {"card": decision, "requester": blocks.requester_status(request, catalog=CATALOG), "dm": line.dm}


@pytest.mark.parametrize(("status", "outcome", "method"), reachable(),
                         ids=lambda v: v.value if hasattr(v, "value") else str(v))
def test_every_outcome_and_method_has_its_own_row_and_reads_clean(status, outcome, method):
    request = view(status, outcome, method)
    key = words.outcome_key(request)
    assert (key, method) in words.OUTCOME_WORDS, f"no words for {key} × {method}"  # never the fallback
    if key == words.UNMATCHED:  # the workflow's own sentence (bot/workflow/execution.py: _match_account)
        request = view(status, outcome, method, outcome_message="Namecheap changed the password of UserId 48215.")
    for reader, text in rendered(request).items():
        assert text.strip(), reader
        for piece in ("\x1b", "garbage", "%%", "&lt;", "MOFH_API", "Xq7vN2mLp9TzR4wB", "sec_TOKEN"):
            assert piece not in text, (reader, text)
        assert not ENV_NAME.search(text), (reader, text)
        assert "<" not in OWN_MARKUP.sub("", text) and ">" not in OWN_MARKUP.sub("", text), (reader, text)
        if reader != "card":  # the card's icon is the card's; sentences to a person carry none
            assert not EMOJI.search(text), (reader, text)
        assert text.lower().count("verify") <= 1, (reader, text)
        assert "_" not in outcome or outcome not in text, (reader, text)  # never the raw outcome value
        if method is Method.EMAIL_LINK:
            assert "changes the password" not in text and "was changed" not in text, (reader, text)
            assert "reveal" not in text.lower() or "nothing to reveal" in text, (reader, text)
    if outcome in {"auth_failed", "ip_not_allowed", "bad_request", "invalid_password", *BotOutcome} \
            and status is Status.FAILED:
        assert f"Ask your bot admin; error id {request.error_id}." in rendered(request)["requester"]


def test_an_outcome_value_from_an_older_bot_gets_plain_words_not_its_value():
    for status in (Status.SUCCEEDED, Status.FAILED, Status.UNKNOWN):
        text = blocks.requester_status(view(status, "weird_new_value", Method.SET_PASSWORD), catalog=CATALOG)
        assert "weird_new_value" not in text and text


def test_the_reset_link_names_the_provider_once_and_the_card_masks_the_owners_email():
    request = view(Status.SUCCEEDED, "reset_email_sent", Method.EMAIL_LINK)
    seen = rendered(request)
    assert seen["requester"].count("Namecheap") == 1
    assert "owner@example.org" in seen["requester"] and "owner@example.org" not in seen["card"]
    assert "o***@example.org" in seen["card"]
    assert words.mask_email("x@y.example") == "x***@y.example"
    assert words.mask_email(None) == "the address on the account"


@pytest.mark.parametrize("method", list(Method))
def test_the_approve_confirm_and_the_changing_card_say_what_the_method_does(method):
    request = view(Status.PENDING, None, method, decided_by=None, decided_at=None)
    confirm = blocks.approve_confirm_words(request, CATALOG.label(request.provider))
    executing = rendered(view(Status.EXECUTING, None, method))["card"]
    if method is Method.EMAIL_LINK:
        assert "password of" not in confirm and "e-mails the owner of `acmeshop` a link" in confirm
        assert confirm.endswith("as soon as you confirm. The password itself changes only when the owner uses the "
                                "link.")
        assert "e-mailing the owner a reset link" in executing and "Changing the password" not in executing
    elif method is Method.RESET_CODE:
        assert "the typed reset code belongs to" in confirm
    else:
        assert confirm.endswith("changes as soon as you confirm.")
    two = blocks.approve_confirm_words(view(Status.PENDING, None, method, approvals_needed=2),
                                       CATALOG.label(request.provider))
    assert two.startswith("Yours is approval 1 of 2: ") and "once 2 different approvers have approved." in two


def test_a_retry_says_once_that_the_bot_tries_again_and_nothing_else():
    text = rendered(view(Status.EXECUTING, "provider_unavailable", Method.SET_PASSWORD, provider="mofh"))["requester"]
    assert "will try again with the same password in a few seconds" in text and "try again later" not in text


def test_a_card_says_the_password_was_destroyed_unseen_once_the_reveal_window_ended():
    expired = view(Status.SUCCEEDED, "changed", Method.SET_PASSWORD, reveal_state=RevealState.EXPIRED)
    assert "destroyed unseen" in rendered(expired)["card"]
    ready = view(Status.SUCCEEDED, "changed", Method.SET_PASSWORD, reveal_state=RevealState.READY)
    assert "destroyed" not in rendered(ready)["card"]


@pytest.mark.parametrize("status", [s for s in Status if s is not Status.PENDING])
def test_a_late_click_is_told_what_became_of_the_request_in_words(status):
    sentence = policy.already_decided(view(status, None, Method.SET_PASSWORD))
    if status is Status.CANCELLED:  # the requester ended it: no approver decided it
        assert sentence == "This request was already cancelled by the engineer who asked for it."
        return
    if status is Status.WITHDRAWN:  # an approval found the requester no longer a requester
        assert sentence.startswith("This request was already withdrawn") and "nothing was changed" in sentence
        return
    assert sentence.startswith("This request was already decided by <@U0APPROVER1>: it ")
    assert f"it is {status.value}" not in sentence  # the raw state, as it used to say
    assert sentence.endswith((" is under way.", " is done.", " failed.", " is unknown.", " was denied.", " expired."))


def test_a_modal_error_is_plain_text():
    from bot.domain import InputErrors, NotAllowed

    form = blocks.reset_modal(providers=list(CATALOG), metadata={}, provider="mofh")
    told = modal_errors(form, InputErrors({"account": "Enter the key, or ask to run `resetbot accounts import`."}))
    assert "`" not in "".join(told.values())
    told = modal_errors(form, NotAllowed(policy.already_decided(view(Status.DENIED, None, Method.SET_PASSWORD))))
    assert "<@" not in "".join(told.values()) and "already decided by another approver" in "".join(told.values())


def test_the_customer_informed_line_says_at():
    from handlers.blocks import reveal_dm_after

    request = view(Status.SUCCEEDED, "changed", Method.SET_PASSWORD, reveal_state=RevealState.REVEALED,
                   customer_informed_at=NOW)
    text, _ = reveal_dm_after(request, catalog=CATALOG)
    assert "You confirmed telling the customer <!date^" in text and "|at 2026-12-01 06:11 UTC>." in text


def test_the_log_excerpt_of_a_provider_answer_is_short_and_printable():
    shown = excerpt("\x1b[31m ok \xff\xfe" + "x" * 500)
    assert shown.isprintable() and "\x1b" not in shown and len(shown) <= 160


def test_an_operator_fault_tells_the_engineer_an_error_id_and_the_log_the_variable(workflow, gateways, notifier,
                                                                                 caplog):
    from tests.unit.conftest import APPROVER, ENGINEER, mofh_form

    gateways["mofh"].results = [ChangeResult(
        Outcome.AUTH_FAILED, "MyOwnFreeHost refused the API credentials; check MOFH_API_USERNAME and "
        "MOFH_API_PASSWORD.", provider_message="The API username you are using appears to be invalid 1. \x1b")]
    request, _ = workflow.intake.submit(mofh_form(), requester_id=ENGINEER, source_view_id="V1")
    with caplog.at_level(logging.INFO, logger="bot.workflow.execution"):
        workflow.decisions.approve(request.id, APPROVER)
    failed = workflow.lookups.get(request.id)
    assert failed.status is Status.FAILED
    told = blocks.requester_status(failed, catalog=CATALOG)
    assert told.endswith(f"Ask your bot admin; error id {failed.error_id}.") and "MOFH_API" not in told
    logged = [r for r in caplog.records if failed.error_id in r.getMessage()]
    assert logged and logged[0].levelno == logging.WARNING
    assert "MOFH_API_USERNAME" in logged[0].getMessage() and "\x1b" not in logged[0].getMessage()


def _role_refusals() -> list[str]:
    """Every refusal an engineer or approver gets for a missing role, in their words."""
    waiting = view(Status.PENDING, None, Method.SET_PASSWORD)
    done = view(Status.SUCCEEDED, "changed", Method.SET_PASSWORD, reveal_state=RevealState.READY,
                reveal_expires_at=NOW + timedelta(minutes=15))
    return [policy.can_request(set(), "MyOwnFreeHost").reason or "",
            policy.can_act_as_requester("U0ENGINEER1", waiting, set(), "cancel this request",
                                        provider_label="MyOwnFreeHost").reason or "",
            policy.can_reveal("U0ENGINEER1", done, NOW, roles=set(), provider_label="MyOwnFreeHost").reason or "",
            policy.can_change_policy(set(), "MyOwnFreeHost").reason or "",
            blocks.thread_reply(waiting, "reminder", [], catalog=CATALOG)]


@pytest.mark.parametrize("sentence", _role_refusals())
def test_a_missing_role_is_told_as_what_to_do_never_as_an_operator_command(sentence):
    assert "bot admin" in sentence
    assert "resetbot " not in sentence and "`" not in sentence.split("bot admin")[1]
