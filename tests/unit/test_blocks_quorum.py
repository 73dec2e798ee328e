"""The card under an N-of-M policy (`Approvals: 1 of 2` and who) and a denial's reason, on every surface it reaches:
within Block Kit's limits after escaping, quoted on every line, inert."""

from __future__ import annotations

from datetime import timedelta

import pytest
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot.domain import Approval, Status
from bot.providers import registry
from devkit.slack.blocks import text_limit_problems
from handlers import blocks
from tests.unit.test_blocks_typed_text import ENTITY, HOSTILE, NOW, _mrkdwn, _request

CATALOG = registry.catalog()
A, B = "U0APPROVER1", "U0APPROVER2"


def _card_text(built: list[dict], prefix: str) -> str:
    return next(b["elements"][0]["text"] if b["type"] == "context" else b["text"]["text"]
                for b in built if str(b.get("block_id", "")).startswith(prefix))


def _confirm(built: list[dict]) -> str:
    approve = next(e for b in built if b["type"] == "actions" for e in b["elements"] if e["action_id"] == "approve_reset")
    return approve["confirm"]["text"]["text"]


def test_a_2_of_2_card_without_approvals_says_it_needs_two_different_approvers():
    built = blocks.approval_card(_request(approvals_needed=2, decided_by=None), catalog=CATALOG)
    assert _card_text(built, "approvals_") == ("*Approvals: 0 of 2*: it needs 2 different approvers; the requester "
                                               "cannot be one.")
    assert _confirm(built).startswith("Yours is approval 1 of 2: the password of `webq7k2m` at MyOwnFreeHost "
                                      "changes once 2 different approvers have approved.")


def test_a_card_with_one_of_two_approvals_shows_who_and_when_and_the_next_approval_changes_it():
    built = blocks.approval_card(_request(approvals_needed=2, decided_by=None, approvals=(Approval(A, NOW),)),
                                 catalog=CATALOG)
    shown = _card_text(built, "approvals_")
    assert shown.startswith("*Approvals: 1 of 2*: <@U0APPROVER1> approved <!date^")
    assert "|2026-11-29 12:00 UTC>" in shown
    assert _confirm(built) == "The password of `webq7k2m` at MyOwnFreeHost changes as soon as you confirm."
    assert [e["text"]["text"] for b in built if b["type"] == "actions" for e in b["elements"]] == ["Approve", "Deny"]


def test_a_1_of_1_card_is_as_before():
    built = blocks.approval_card(_request(decided_by=None), catalog=CATALOG)
    assert not [b for b in built if str(b.get("block_id", "")).startswith("approvals_")]
    assert _confirm(built) == "The password of `webq7k2m` at MyOwnFreeHost changes as soon as you confirm."


def test_the_approved_card_names_every_approver_first_first():
    approvals = (Approval(A, NOW), Approval(B, NOW + timedelta(minutes=5)))
    for status in (Status.EXECUTING, Status.SUCCEEDED):
        built = blocks.approval_card(_request(status=status, approvals_needed=2, approvals=approvals, decided_by=B),
                                     catalog=CATALOG)
        shown = _card_text(built, "decision_")
        assert "*Approved* by <@U0APPROVER1> <!date^" in shown and ", <@U0APPROVER2> <!date^" in shown
        assert shown.index(A) < shown.index(B)


def test_a_denied_card_says_who_denied_after_how_many_approvals_and_quotes_the_reason():
    request = _request(status=Status.DENIED, approvals_needed=2, approvals=(Approval(A, NOW),), decided_by=B,
                       deny_reason="Wrong customer.\nCheck the ticket.")
    shown = _card_text(blocks.approval_card(request, catalog=CATALOG), "decision_")
    head, *quoted = shown.split("\n")
    assert head.startswith(":no_entry: *Denied* by <@U0APPROVER2> ") and head.endswith(
        " (after approvals: 1 of 2):")
    assert quoted == [">Wrong customer.", ">Check the ticket."]
    told = blocks.requester_status(request, catalog=CATALOG)
    assert told == ("Your password reset for `webq7k2m` at MyOwnFreeHost was denied by <@U0APPROVER2>:\n"
                    ">Wrong customer.\n>Check the ticket.")


@pytest.mark.parametrize("reason", HOSTILE.values(), ids=HOSTILE.keys())
def test_a_hostile_deny_reason_is_within_the_limits_quoted_and_inert_on_the_card_the_home_and_the_message(reason):
    request = _request(status=Status.DENIED, deny_reason=reason)
    card = blocks.approval_card(request, catalog=CATALOG)
    for block in card:
        Block.parse(block).validate_json()
    assert text_limit_problems(card, "/blocks") == []
    for obj in _mrkdwn(card):
        assert blocks.slack_length(obj["text"]) <= 3000 and obj.get("verbatim") is True
    home = blocks.home_view([request] * 10, [], can_request=True, catalog=CATALOG)
    View(**home).validate_json()
    for shown in (_card_text(card, "decision_"), blocks.requester_status(request, catalog=CATALOG)):
        assert blocks.slack_length(shown) <= 3000
        head, *lines = shown.split("\n")
        assert head.endswith((":", ": (shortened)")) and lines and all(line.startswith(">") for line in lines)
        body = "\n".join(lines)
        assert "<" not in body and ">" not in body.replace("\n>", "\n").removeprefix(">")
        assert "&" not in ENTITY.sub("", body)


def test_a_deny_reason_over_the_limit_after_escaping_is_cut_whole_and_says_shortened():
    shown = _card_text(blocks.approval_card(_request(status=Status.DENIED, deny_reason="&" * 1000),
                                            catalog=CATALOG), "decision_")
    assert "(shortened)\n>" in shown and shown.endswith("&amp;…") and 3000 - 5 <= blocks.slack_length(shown) <= 3000


def test_the_deny_modal_is_one_slack_accepts_with_an_optional_reason():
    view = blocks.deny_modal(_request(account_input="<!channel>"), catalog=CATALOG, from_home=True)
    View(**view).validate_json()
    assert text_limit_problems(view["blocks"], "/view/blocks") == []
    (reason,) = [b for b in view["blocks"] if b["type"] == "input"]
    assert (reason["label"]["text"], reason["optional"], reason["element"]["max_length"]) == ("Reason", True, 1000)
    assert blocks.parse_metadata(view) == {"request": "rr_1", "home": "1"}
    assert blocks.parse_deny_form({**view, "state": {"values": {"deny_reason_block": {
        "deny_reason_input": {"type": "plain_text_input", "value": "typed"}}}}}) == ("rr_1", "typed")
    assert blocks.parse_deny_form(view) == ("rr_1", None)
