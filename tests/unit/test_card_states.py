"""A card never goes back a state, and the account lookup's words are the bot's (issue 12, items 3 and 4).

Against a real database (SQLite file, and PostgreSQL when RESETBOT_TEST_POSTGRES_URL is set): the
compare-on-state runs under the request's lock (bot/workflow/context.py: Context.rewrite_card).
"""

from __future__ import annotations

import logging
import threading

from bot.domain import Role, Status
from bot.providers import LookupResult, Outcome
from tests.unit.conftest import APPROVER, ENGINEER, OTHER, mofh_form


def _statuses(notifier) -> list[Status]:
    return [request.status for kind, request in notifier.events if kind == "update_card"]


def test_a_denial_recorded_while_the_card_gets_its_buttons_is_the_last_thing_the_card_shows(workflow, notifier):
    """The denial comes (from the App Home) between the card's place being stored and its buttons being added."""
    request, _ = workflow.intake.submit(mofh_form(), requester_id=ENGINEER, source_view_id="V1")
    record = notifier.update_card
    denier: list[threading.Thread] = []
    denied = threading.Event()

    def deny() -> None:
        workflow.decisions.deny(request.id, APPROVER, reason="Not this one.")
        denied.set()

    def update_card(shown, context=None, **_options):
        if shown.status is Status.PENDING and not denier:
            denier.append(threading.Thread(target=deny))
            denier[0].start()
            # Before: the denial finished here and its card landed first. Now it waits for this edit's lock.
            denied.wait(1.0)
        record(shown, context)

    notifier.update_card = update_card
    workflow.intake.announce(request)
    denier[0].join(15)
    assert denied.is_set()
    assert _statuses(notifier) == [Status.PENDING, Status.DENIED]  # never buttons again after "Denied"


def test_the_account_lookup_leaves_a_decided_card_alone(workflow, notifier, gateways):
    workflow.admin.import_directory([("webq7k2m", "abcd_40312277", None)])
    request, _ = workflow.intake.submit(mofh_form(), requester_id=ENGINEER, source_view_id="V1")
    answered = []

    def account_context(account, known_as=()):  # the lookup answers only after the approver denied
        workflow.decisions.deny(request.id, APPROVER)
        answered.append(known_as[0])
        return LookupResult(Outcome.LOOKUP_OK, "ok", domains=["shop.example.net"], account_state="ACTIVE")

    gateways["mofh"].account_context = account_context
    workflow.intake.announce(request)
    assert answered == ["abcd_40312277"]
    assert _statuses(notifier)[-1] is Status.DENIED


def test_a_failed_lookup_shows_the_bots_words_and_logs_a_printable_excerpt(workflow, notifier, gateways, caplog):
    workflow.admin.import_directory([("webq7k2m", "abcd_40312277", None)])
    contexts: list[str | None] = []
    record = notifier.update_card

    def update_card(shown, context=None, **_options):
        contexts.append(context)
        record(shown, context)

    notifier.update_card = update_card
    garbage = "\x1b\xff\xfe<<%%garbage%%>>"
    gateways["mofh"].account_context = lambda account, known_as=(): LookupResult(
        Outcome.LOOKUP_ERROR, f"MyOwnFreeHost could not look up {known_as[0]}: {garbage}.",
        provider_message=garbage, domains=["ok.example.net", "<!channel>", garbage])
    request, _ = workflow.intake.submit(mofh_form(), requester_id=ENGINEER, source_view_id="V1")
    with caplog.at_level(logging.INFO, logger="bot.workflow.intake"):
        workflow.intake.announce(request)
    shown = [c for c in contexts if c]
    assert shown == ["MyOwnFreeHost could not say what state this account is in (the account lookup failed)."]
    assert any("lookup_error" in r.getMessage() for r in caplog.records)

    ok = LookupResult(Outcome.LOOKUP_OK, "ok", domains=["ok.example.net", "<!channel>", garbage],
                      account_state="SUSPENDED")
    from bot.workflow.intake import _account_context

    said = _account_context("MyOwnFreeHost", "abcd_40312277", ok)
    assert "ok.example.net" in said and "<!channel>" not in said and "garbage" not in said


def test_two_approvers_racing_never_leave_the_card_showing_the_older_approval(workflow, notifier, gateways):
    """Issue 22: an approval's card update ran outside the request's lock, so under a 2-of-N policy the first
    approver's update ("1 of 2", with buttons) could land after the second's ("approved") and stay."""
    workflow.admin.grant(OTHER, Role.APPROVER, None, actor="test")
    workflow.policies.set("mofh", {"approvals": 2}, actor="test")
    request, _ = workflow.intake.submit(mofh_form(), requester_id=ENGINEER, source_view_id="V1")
    workflow.intake.announce(request)
    record = notifier.update_card
    second: list[threading.Thread] = []
    second_done = threading.Event()

    def approve_second() -> None:
        workflow.decisions.approve(request.id, OTHER)
        second_done.set()

    def update_card(shown, context=None, **_options):
        if shown.status is Status.PENDING and len(shown.approvals) == 1 and not second:
            second.append(threading.Thread(target=approve_second))
            second[0].start()
            # Before: the second approval finished here and its card landed first. Now it waits for this lock.
            second_done.wait(1.0)
        record(shown, context)

    notifier.update_card = update_card
    workflow.decisions.approve(request.id, APPROVER)
    second[0].join(15)
    assert second_done.is_set()
    shown = [r for kind, r in notifier.events if kind == "update_card"]
    assert shown[-1].status is not Status.PENDING, [(r.status, len(r.approvals)) for r in shown]
    assert len(gateways["mofh"].calls) == 1
