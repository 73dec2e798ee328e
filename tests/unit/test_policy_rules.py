"""The approval policy as a value (bot/policy.py): what is a valid policy, what loosens one, and N-of-M counting.

Table-driven: each row is one case, named by its id.
"""

from __future__ import annotations

import dataclasses

import pytest

from bot.policy import (
    FIELDS,
    ApprovalPolicy,
    InvalidPolicy,
    approvals_still_needed,
    counted_approvers,
    escalation_widened,
    format_duration,
    parse_duration,
    weakened,
    weakens,
)

BASE = ApprovalPolicy(approvals=2, expire_after=3600, remind_after=900, escalate_after=1800, escalate_to="S0LEADS01",
                      requests_per_hour=20)


def test_the_defaults_are_the_contracts():
    assert ApprovalPolicy().as_dict() == {"approvals": 1, "expire_after": 3600, "remind_after": 0,
                                          "escalate_after": 0, "escalate_to": None, "requests_per_hour": 20}
    assert FIELDS == ("approvals", "expire_after", "remind_after", "escalate_after", "escalate_to",
                      "requests_per_hour")


@pytest.mark.parametrize("values", [
    pytest.param({"approvals": 1}, id="one approver"),
    pytest.param({"approvals": 5}, id="five approvers"),
    pytest.param({"requests_per_hour": 0}, id="no cap"),
    pytest.param({"expire_after": 1}, id="a one-second expiry"),
    pytest.param({"escalate_to": "U0LEAD0001"}, id="escalation target kept while escalation is off"),
    pytest.param({"escalate_after": 600, "escalate_to": "S0LEADS01"}, id="escalation to a user group"),
    pytest.param({"escalate_after": 600, "escalate_to": "U0LEAD0001"}, id="escalation to a user"),
    pytest.param({"escalate_after": 600, "escalate_to": "W0LEAD0001"}, id="escalation to a Grid user"),
    pytest.param({"remind_after": 3599}, id="a reminder just before expiry"),
])
def test_valid_policies(values):
    assert ApprovalPolicy(**values).as_dict() == {**ApprovalPolicy().as_dict(), **values}


@pytest.mark.parametrize("values, field, words", [
    pytest.param({"approvals": 0}, "approvals", "from 1 to 5", id="no approver"),
    pytest.param({"approvals": 6}, "approvals", "from 1 to 5", id="six approvers"),
    pytest.param({"approvals": True}, "approvals", "whole number", id="a bool is not a number"),
    pytest.param({"approvals": "2"}, "approvals", "whole number", id="a string is not a number"),
    pytest.param({"expire_after": 0}, "expire_after", "cannot be 0", id="a request that never expires"),
    pytest.param({"expire_after": -1}, "expire_after", "from 0 to", id="negative expiry"),
    pytest.param({"expire_after": 2**31}, "expire_after", "from 0 to", id="expiry past an INTEGER column"),
    pytest.param({"remind_after": -5}, "remind_after", "from 0 to", id="negative reminder"),
    pytest.param({"escalate_after": -5}, "escalate_after", "from 0 to", id="negative escalation"),
    pytest.param({"requests_per_hour": -1}, "requests_per_hour", "0 (no cap)", id="negative cap"),
    pytest.param({"requests_per_hour": 10**7}, "requests_per_hour", "0 (no cap)", id="absurd cap"),
    pytest.param({"remind_after": 3600}, "remind_after", "shorter than expire_after",
                 id="a reminder at expiry never fires"),
    pytest.param({"escalate_after": 7200, "escalate_to": "S0LEADS01"}, "escalate_after",
                 "shorter than expire_after", id="an escalation after expiry never fires"),
    pytest.param({"escalate_after": 600}, "escalate_to", "needs escalate_to", id="escalation to nobody"),
    pytest.param({"escalate_to": "C0CHANNEL1"}, "escalate_to", "user group ID", id="a channel is not a target"),
    pytest.param({"escalate_to": "<!subteam^S0LEADS01>"}, "escalate_to", "user group ID",
                 id="a mention is not an id"),
    pytest.param({"escalate_to": "s0leads01"}, "escalate_to", "user group ID", id="ids are upper case"),
    pytest.param({"escalate_to": "S"}, "escalate_to", "user group ID", id="a bare prefix"),
    pytest.param({"escalate_to": ""}, "escalate_to", "user group ID", id="empty"),
])
def test_invalid_policies_name_their_field(values, field, words):
    with pytest.raises(InvalidPolicy) as refused:
        ApprovalPolicy(**values)
    assert refused.value.field == field
    assert words in str(refused.value) and field in str(refused.value)


def test_a_change_is_checked_as_a_whole():
    with pytest.raises(InvalidPolicy) as refused:
        dataclasses.replace(BASE, expire_after=600)  # now shorter than the reminder already set
    assert refused.value.field == "remind_after"


@pytest.mark.parametrize("change, loosens", [
    pytest.param({}, [], id="no change"),
    pytest.param({"approvals": 3}, [], id="more approvals"),
    pytest.param({"approvals": 1}, ["fewer approvals (2 → 1)"], id="fewer approvals"),
    pytest.param({"requests_per_hour": 5}, [], id="a lower cap"),
    pytest.param({"requests_per_hour": 21}, ["a higher cap (20/h → 21/h)"], id="a higher cap"),
    pytest.param({"requests_per_hour": 0}, ["a higher cap (20/h → no cap)"], id="no cap is the weakest"),
    pytest.param({"expire_after": 2700}, [], id="a shorter expiry"),
    pytest.param({"expire_after": 7200}, ["a longer expiry (1h → 2h)"], id="a longer expiry"),
    pytest.param({"remind_after": 300}, [], id="an earlier reminder"),
    pytest.param({"remind_after": 0}, ["no reminder (was after 15m)"], id="removing the reminder"),
    pytest.param({"remind_after": 1200}, ["a later reminder (15m → 20m)"], id="a later reminder"),
    pytest.param({"escalate_after": 600}, ["an earlier escalation (30m → 10m)"], id="an earlier escalation"),
    pytest.param({"escalate_after": 0}, ["no escalation (was after 30m)"], id="removing the escalation"),
    pytest.param({"escalate_after": 2400}, ["a later escalation (30m → 40m)"], id="a later escalation"),
    pytest.param({"escalate_to": "S0OTHERS1"}, ["a different escalation target (S0LEADS01 → S0OTHERS1)"],
                 id="escalating to someone else"),
    pytest.param({"escalate_after": 1, "escalate_to": "U0NOROLE01"},
                 ["a different escalation target (S0LEADS01 → U0NOROLE01)", "an earlier escalation (30m → 1s)"],
                 id="an earlier escalation to someone else"),
    pytest.param({"escalate_after": 2400, "escalate_to": "U0NOROLE01"},
                 ["a later escalation (30m → 40m)", "a different escalation target (S0LEADS01 → U0NOROLE01)"],
                 id="a later escalation to someone else"),
    pytest.param({"approvals": 3, "requests_per_hour": 5, "remind_after": 300, "escalate_after": 600},
                 ["an earlier escalation (30m → 10m)"],
                 id="tightening everything else does not hide an earlier escalation"),
    pytest.param({"approvals": 1, "requests_per_hour": 0, "remind_after": 0},
                 ["fewer approvals (2 → 1)", "a higher cap (20/h → no cap)", "no reminder (was after 15m)"],
                 id="every loosening is named"),
    pytest.param({"approvals": 3, "requests_per_hour": 40}, ["a higher cap (20/h → 40/h)"],
                 id="tightening one field does not hide loosening another"),
])
def test_what_loosens_a_policy(change, loosens):
    new = dataclasses.replace(BASE, **change)
    assert weakened(BASE, new) == loosens
    assert weakens(BASE, new) is bool(loosens)


@pytest.mark.parametrize("old, new, loosens", [
    pytest.param(ApprovalPolicy(requests_per_hour=0), ApprovalPolicy(requests_per_hour=500), False,
                 id="any cap is tighter than none"),
    pytest.param(ApprovalPolicy(), ApprovalPolicy(remind_after=600), False, id="adding a reminder"),
    pytest.param(ApprovalPolicy(), ApprovalPolicy(escalate_after=600, escalate_to="S0LEADS01"), True,
                 id="adding an escalation lets its target approve"),
    pytest.param(ApprovalPolicy(), ApprovalPolicy(escalate_after=1, escalate_to="U0NOROLE01", approvals=2), True,
                 id="the attack: escalate after 1s to someone with no role, with more approvals"),
    pytest.param(ApprovalPolicy(escalate_to="S0LEADS01"), ApprovalPolicy(escalate_after=600, escalate_to="S0LEADS01"),
                 True, id="turning a kept target on"),
    pytest.param(ApprovalPolicy(remind_after=600), ApprovalPolicy(), True, id="removing a reminder"),
    pytest.param(ApprovalPolicy(remind_after=600), ApprovalPolicy(remind_after=900), True, id="a later reminder"),
    pytest.param(ApprovalPolicy(escalate_after=600, escalate_to="S0LEADS01"), ApprovalPolicy(escalate_to="S0LEADS01"),
                 True, id="turning escalation off"),
    pytest.param(ApprovalPolicy(escalate_to="S0LEADS01"), ApprovalPolicy(escalate_to="S0OTHERS1"), False,
                 id="changing the target of an escalation that is off"),
])
def test_what_loosens_a_policy_from_other_starting_points(old, new, loosens):
    assert weakens(old, new) is loosens


OFF = ApprovalPolicy()  # no escalation
TO_LEADS = ApprovalPolicy(escalate_after=1800, escalate_to="S0LEADS01")  # the leads' group, after 30 minutes


@pytest.mark.parametrize("old, new, widened", [
    pytest.param(OFF, OFF, [], id="no escalation before or after"),
    pytest.param(TO_LEADS, TO_LEADS, [], id="the same escalation"),
    pytest.param(OFF, ApprovalPolicy(escalate_after=1, escalate_to="U0NOROLE01"),
                 ["a new escalation (to U0NOROLE01 after 1s)"], id="adding an escalation to a user"),
    pytest.param(OFF, TO_LEADS, ["a new escalation (to S0LEADS01 after 30m)"], id="adding an escalation to a group"),
    pytest.param(ApprovalPolicy(escalate_to="S0LEADS01"), TO_LEADS, ["a new escalation (to S0LEADS01 after 30m)"],
                 id="turning on an escalation whose target was kept while it was off"),
    pytest.param(TO_LEADS, dataclasses.replace(TO_LEADS, escalate_after=60), ["an earlier escalation (30m → 1m)"],
                 id="an earlier escalate-after"),
    pytest.param(TO_LEADS, dataclasses.replace(TO_LEADS, escalate_to="S0OTHERS1"),
                 ["a different escalation target (S0LEADS01 → S0OTHERS1)"], id="another user group"),
    pytest.param(TO_LEADS, dataclasses.replace(TO_LEADS, escalate_to="U0NOROLE01"),
                 ["a different escalation target (S0LEADS01 → U0NOROLE01)"], id="a user instead of the group"),
    pytest.param(TO_LEADS, ApprovalPolicy(escalate_after=1, escalate_to="W0NOROLE01"),
                 ["a different escalation target (S0LEADS01 → W0NOROLE01)", "an earlier escalation (30m → 1s)"],
                 id="someone else and earlier"),
    pytest.param(TO_LEADS, dataclasses.replace(TO_LEADS, escalate_after=2400), [],
                 id="a later escalate-after lets nobody new approve (weakened names it as later)"),
    pytest.param(TO_LEADS, OFF, [], id="removing the escalation lets nobody new approve (weakened names it)"),
    pytest.param(TO_LEADS, ApprovalPolicy(escalate_to="U0NOROLE01"), [],
                 id="turning it off and changing the kept target lets nobody approve"),
    pytest.param(ApprovalPolicy(escalate_to="S0LEADS01"), ApprovalPolicy(escalate_to="U0NOROLE01"), [],
                 id="changing the target of an escalation that stays off"),
    pytest.param(TO_LEADS, ApprovalPolicy(approvals=5, escalate_after=1800, escalate_to="S0LEADS01",
                                          requests_per_hour=1), [],
                 id="tightening the rest leaves the escalation as it was"),
])
def test_what_lets_someone_approve_who_could_not_before(old, new, widened):
    """CONTRACT: any change that lets someone approve who could not before weakens the policy: adding an
    escalation, an earlier escalate-after, or a new or different escalate-to."""
    assert escalation_widened(old, new) == widened
    for phrase in widened:
        assert phrase in weakened(old, new)
    if widened:
        assert weakens(old, new)


@pytest.mark.parametrize("needed, approvals, requester, still_needed, counted", [
    pytest.param(1, [], "U0ENG", 1, [], id="1 of 1, nobody yet"),
    pytest.param(1, ["U0A"], "U0ENG", 0, ["U0A"], id="1 of 1, done"),
    pytest.param(2, ["U0A"], "U0ENG", 1, ["U0A"], id="2 of 2, one so far"),
    pytest.param(2, ["U0A", "U0A"], "U0ENG", 1, ["U0A"], id="one person never counts twice"),
    pytest.param(2, ["U0ENG", "U0A"], "U0ENG", 1, ["U0A"], id="the requester never counts"),
    pytest.param(1, ["U0ENG"], "U0ENG", 1, [], id="the requester alone is nobody"),
    pytest.param(2, ["U0A", "U0B"], "U0ENG", 0, ["U0A", "U0B"], id="2 of 2, done"),
    pytest.param(2, ["U0B", "U0A", "U0B", "U0C"], "U0ENG", 0, ["U0B", "U0A", "U0C"],
                 id="more than needed, first approval first"),
    pytest.param(5, ["U0A", "U0B", "U0A", "U0ENG", "U0C"], "U0ENG", 2, ["U0A", "U0B", "U0C"],
                 id="5 of 5, three distinct others"),
])
def test_n_of_m(needed, approvals, requester, still_needed, counted):
    assert approvals_still_needed(needed, approvals, requester) == still_needed
    assert counted_approvers(approvals, requester) == counted


@pytest.mark.parametrize("text, seconds", [
    ("0", 0), ("90s", 90), ("15m", 900), ("2h", 7200), (" 2H ", 7200), ("1s", 1), ("0s", 0), ("24h", 86400),
])
def test_durations_read(text, seconds):
    assert parse_duration(text, "remind_after") == seconds


@pytest.mark.parametrize("text", ["", "15", "90 s", "1h30m", "-5m", "1.5h", "2d", "m", "１５m", "99999999999h"])
def test_durations_that_do_not_read_name_the_field(text):
    with pytest.raises(InvalidPolicy) as refused:
        parse_duration(text, "escalate_after")
    assert refused.value.field == "escalate_after" and "90s, 15m or 2h, or 0" in str(refused.value)


@pytest.mark.parametrize("seconds, text", [(0, "off"), (90, "90s"), (900, "15m"), (7200, "2h"), (5400, "90m"),
                                           (3601, "3601s")])
def test_durations_show_in_the_shortest_exact_form_that_reads_back(seconds, text):
    assert format_duration(seconds) == text
    if seconds:
        assert parse_duration(text, "expire_after") == seconds
