"""Reminders and escalation from the sweep, escalate_to deciding, and the requester's Cancel request and Remind
approvers (bot/workflow/reminders.py, bot/workflow/requester.py), on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bot import policy
from bot.domain import GroupsUnavailable, NotAllowed, RevealState, Role, Status
from bot.sealing import Sealer, ephemeral_key
from bot.workflow import ResetWorkflow
from storage.db import make_sessionmaker
from tests.unit.conftest import APPROVER, ENGINEER, OTHER, InlineExecutor, mofh_form
from tests.unit.test_workflow import submit

LEAD, LEADS = "U0LEAD00001", "S0LEADS0001"


class Groups:
    """The GroupMembers port: Slack's answer for each group, or GroupsUnavailable for one it cannot tell."""

    def __init__(self, members: dict[str, set[str]]) -> None:
        self.known = members
        self.asked: list[str] = []

    def members(self, group_id: str) -> frozenset[str]:
        self.asked.append(group_id)
        if group_id not in self.known:
            raise GroupsUnavailable(group_id, "Slack answered plan_upgrade_required")
        return frozenset(self.known[group_id])


@pytest.fixture
def groups():
    return Groups({LEADS: {LEAD, ENGINEER}, "S0APPROVERS": {APPROVER}})


@pytest.fixture
def flow(engine, gateways, notifier, clock, groups):
    """mofh: remind after 10 min, escalate after 20 min to LEADS, expire after 60 min. LEAD holds no role."""
    workflow = ResetWorkflow(sessions=make_sessionmaker(engine), providers=gateways, sealer=Sealer(ephemeral_key()),
                             notifier=notifier, executor=InlineExecutor(), clock=clock, approval_ttl=3600,
                             reveal_ttl=900, db_clock=lambda session: clock(), group_members=groups,
                             admins=["U0ADMIN0001"])
    workflow.admin.grant(ENGINEER, Role.REQUESTER, None, actor="test")
    workflow.admin.grant(APPROVER, Role.APPROVER, None, actor="test")
    workflow.admin.grant("S0APPROVERS", Role.APPROVER, "mofh", actor="test")
    workflow.admin.grant(OTHER, Role.APPROVER, "namecheap", actor="test")  # not for mofh: never mentioned
    workflow.policies.set("mofh", {"remind_after": 600, "escalate_after": 1200, "escalate_to": LEADS}, actor="test")
    return workflow


def announced(workflow):
    return workflow.intake.announce(submit(workflow))


def audit(workflow, action: str):
    return [e for e in workflow.admin.audit_trail() if e.action == action]


def replies(notifier, kind: str | None = None):
    return [(k, m) for k, m in notifier.mentions if kind in (None, k)]


def test_the_reminder_then_the_escalation_are_each_posted_once_when_due(flow, notifier, clock):
    request = announced(flow)
    clock.advance(599)
    flow.sweeper.sweep()
    assert replies(notifier) == []
    clock.advance(2)
    flow.sweeper.sweep()
    flow.sweeper.sweep()
    # Who can approve mofh: the approver, the approver group and RESETBOT_ADMINS; never the requester.
    assert replies(notifier) == [("reminder", ["U0ADMIN0001", APPROVER, "S0APPROVERS"])]
    (reminded,) = audit(flow, "reminded")
    assert reminded.request_id == request.id and reminded.actor_id is None
    assert flow.lookups.get(request.id).reminded_at == clock()
    clock.advance(600)
    flow.sweeper.sweep()
    flow.sweeper.sweep()
    assert replies(notifier, "escalation") == [("escalation", [LEADS])]
    assert [e.detail["mentions"] for e in audit(flow, "escalated")] == [[LEADS]]
    assert flow.lookups.get(request.id).escalated_at == clock()


def test_a_reply_slack_refused_is_released_and_posted_by_a_later_sweep(flow, notifier, clock):
    request = announced(flow)
    original = notifier.post_thread_reply
    notifier.post_thread_reply = lambda *args: None  # Slack refuses
    clock.advance(601)
    assert flow.sweeper.reminders.post_due() == 0
    assert flow.lookups.get(request.id).reminded_at is None and audit(flow, "reminded") == []
    notifier.post_thread_reply = original
    assert flow.sweeper.reminders.post_due() == 1
    assert flow.sweeper.reminders.post_due() == 0
    assert len(replies(notifier, "reminder")) == 1


def test_no_reply_for_a_request_that_was_decided_or_has_no_card(flow, notifier, clock):
    decided = announced(flow)
    flow.decisions.deny(decided.id, APPROVER)
    unseen = submit(flow, mofh_form("susp01x"), view_id="V2")  # never announced: no card
    clock.advance(1300)
    assert flow.sweeper.reminders.post_due() == 0
    assert flow.lookups.get(unseen.id).reminded_at is None and replies(notifier) == []


def test_two_sweeps_racing_post_each_reply_once(flow, notifier, clock):
    """The second sweep starts while the first is posting (inside the Slack call): its claim holds."""
    announced(flow)
    clock.advance(1201)
    original, nested = notifier.post_thread_reply, []

    def slow_post(request, kind, mentions):
        if not nested:
            nested.append(0)
            nested.append(flow.sweeper.reminders.post_due())  # another replica sweeps now
        return original(request, kind, mentions)

    notifier.post_thread_reply = slow_post
    assert flow.sweeper.reminders.post_due() + sum(nested) == 2
    assert sorted(k for k, _ in replies(notifier)) == ["escalation", "reminder"]


def test_a_claim_whose_replica_died_is_taken_over_after_two_minutes_and_the_late_post_withdrawn(flow, notifier,
                                                                                               clock):
    request = announced(flow)
    clock.advance(601)
    original, taken_over = notifier.post_thread_reply, []

    def dead_slow(request_, kind, mentions):  # this replica hangs in Slack; another takes the claim over
        if not taken_over:
            clock.advance(121)
            taken_over.append("sweeping")
            taken_over.append(flow.sweeper.reminders.post_due())
        return original(request_, kind, mentions)

    notifier.post_thread_reply = dead_slow
    flow.sweeper.reminders.post_due()
    assert taken_over == ["sweeping", 1] and len(audit(flow, "reminded")) == 1
    assert "withdraw" in notifier.kinds()  # the slow one's post, whose claim was taken over
    assert flow.lookups.get(request.id).reminded_at is not None


ESCALATED_AT = datetime(2026, 1, 1, 12, 20, tzinfo=UTC)


@pytest.mark.parametrize(("who", "target", "now", "members", "reaches"), [
    (LEAD, LEAD, ESCALATED_AT, None, True),  # a user escalate_to, at escalate_at
    (LEAD, LEAD, ESCALATED_AT - timedelta(seconds=1), None, False),  # before it
    (OTHER, LEAD, ESCALATED_AT, None, False),  # someone else
    (LEAD, LEADS, ESCALATED_AT, {LEAD}, True),  # a member of the escalation group
    (OTHER, LEADS, ESCALATED_AT, {LEAD}, False),  # not a member
    (LEAD, LEADS, ESCALATED_AT, None, False),  # Slack could not tell: nobody
    (ENGINEER, LEADS, ESCALATED_AT, {ENGINEER}, False),  # never the requester, even as a member
    (ENGINEER, ENGINEER, ESCALATED_AT, None, False),
    (LEAD, None, ESCALATED_AT, {LEAD}, False),  # no escalation
])
def test_who_the_escalation_reaches(flow, who, target, now, members, reaches):
    request = replace(announced(flow), escalate_to=target, escalate_at=ESCALATED_AT if target else None)
    assert policy.escalation_reaches(who, request, now, members) is reaches
    roles: set[Role] = set()
    assert policy.can_decide(who, roles, request, request.created_at, "approve", provider_label="MyOwnFreeHost",
                             escalated=reaches).allowed is reaches


def test_escalate_to_members_may_approve_from_the_escalation_on_never_the_requester(flow, gateways, clock, groups):
    request = announced(flow)
    clock.advance(1199)
    with pytest.raises(NotAllowed, match="approver role"):
        flow.decisions.approve(request.id, LEAD)
    clock.advance(2)
    with pytest.raises(NotAllowed, match="You asked for this reset"):
        flow.decisions.approve(request.id, ENGINEER)  # a member of the group, but the requester
    flow.decisions.approve(request.id, LEAD)
    assert flow.lookups.get(request.id).status is Status.SUCCEEDED
    assert len(gateways["mofh"].calls) == 1 and LEADS in groups.asked
    (approved,) = audit(flow, "approved")
    assert approved.actor_id == LEAD


def test_an_escalation_member_may_deny_and_a_slack_failure_refuses_with_a_sentence(flow, clock, groups):
    request = announced(flow)
    clock.advance(1201)
    groups.known.pop(LEADS)  # Slack cannot tell who is in the escalation group
    with pytest.raises(NotAllowed, match="could not tell whether you are a member of the user group S0LEADS0001"):
        flow.decisions.deny(request.id, LEAD)
    groups.known[LEADS] = {LEAD}
    assert flow.decisions.deny(request.id, LEAD, reason="Not this account.").status is Status.DENIED


def waiting_for(flow, user_id: str) -> list[str]:
    return [r.id for r in flow.lookups.home_for(user_id).waiting]


def test_the_app_home_lists_an_escalated_request_for_the_escalation_members_from_the_escalation_on(flow, clock,
                                                                                                    groups):
    request = announced(flow)
    clock.advance(1199)
    assert waiting_for(flow, LEAD) == []  # not escalated yet, and LEAD holds no role
    clock.advance(2)
    assert waiting_for(flow, LEAD) == [request.id]
    assert waiting_for(flow, ENGINEER) == []  # a member of the group, but the requester
    groups.known.pop(LEADS)  # Slack cannot tell: what the tab merely shows counts it as not a member
    assert waiting_for(flow, LEAD) == []
    groups.known[LEADS] = {LEAD}
    flow.decisions.approve(request.id, LEAD)
    assert waiting_for(flow, LEAD) == []  # decided


def test_the_app_home_lists_a_request_escalated_to_one_user_for_that_user_only(flow, clock):
    flow.policies.set("mofh", {"escalate_to": LEAD}, actor="test")
    request = announced(flow)
    clock.advance(1201)
    assert waiting_for(flow, LEAD) == [request.id]
    assert waiting_for(flow, "U0SOMEONE01") == []
    assert waiting_for(flow, APPROVER) == [request.id]  # an approver sees it once, as before


def test_a_change_to_an_escalated_request_republishes_the_escalation_members_tabs(flow, clock):
    flow.admin.revoke("S0APPROVERS", Role.APPROVER, "mofh", actor="test")  # else every viewer may approve
    request = announced(flow)
    flow.lookups.remember_home_viewer(LEAD)
    flow.lookups.remember_home_viewer("U0SOMEONE01")
    assert LEAD not in flow.lookups.home_viewers_for_request(request)
    clock.advance(1201)
    escalated = flow.lookups.get(request.id)
    viewers = flow.lookups.home_viewers_for_request(escalated)
    assert LEAD in viewers  # a viewer the escalation group may hold (publishing the tab asks Slack)
    flow.policies.set("mofh", {"escalate_to": "U0SOMEONE01"}, actor="test")
    to_one = flow.intake.announce(submit(flow, mofh_form("other123"), view_id="V2"))
    clock.advance(1201)
    assert flow.lookups.home_viewers_for_request(flow.lookups.get(to_one.id)) == ["U0SOMEONE01"]


# --- Cancel request and Remind approvers ------------------------------------------------------------------


def test_the_requester_cancels_a_waiting_request_the_card_and_the_dm_say_so(flow, notifier):
    request = announced(flow)
    cancelled = flow.requester.cancel(request.id, ENGINEER)
    assert cancelled.status is Status.CANCELLED and cancelled.decided_by == ENGINEER
    assert notifier.kinds()[-3:] == ["update_card", "tell_requester", "update_dm"]
    assert notifier.events[-1][1].status is Status.CANCELLED
    (audited,) = audit(flow, "cancelled")
    assert audited.actor_id == ENGINEER
    with pytest.raises(NotAllowed, match=r"already cancelled by the engineer who asked for it\. You can no longer"):
        flow.requester.cancel(request.id, ENGINEER)
    with pytest.raises(NotAllowed, match="already cancelled by the engineer who asked for it"):
        flow.decisions.approve(request.id, APPROVER)


@pytest.mark.parametrize(("who", "words"), [
    (APPROVER, "Only the engineer who asked for this reset can cancel this request"),
    ("lost role", "no longer have the requester role for MyOwnFreeHost"),
    ("after approval", "already decided by <@U0APPROVER1>: it was approved and the change is done"),
])
def test_a_cancel_is_refused_with_a_sentence(flow, who, words):
    request = announced(flow)
    user = ENGINEER
    if who == "lost role":
        flow.admin.revoke(ENGINEER, Role.REQUESTER, None, actor="test")
    elif who == "after approval":
        flow.decisions.approve(request.id, APPROVER)
    else:
        user = who
    with pytest.raises(NotAllowed, match=words):
        flow.requester.cancel(request.id, user)
    assert [e.actor_id for e in audit(flow, "cancel_refused")] == [user]
    assert flow.lookups.get(request.id).status is not Status.CANCELLED


def test_remind_approvers_posts_the_reminder_at_most_once_per_10_minutes(flow, notifier, clock):
    request = announced(flow)
    flow.requester.remind(request.id, ENGINEER)
    assert replies(notifier) == [("requester_reminder", ["U0ADMIN0001", APPROVER, "S0APPROVERS"])]
    assert notifier.events[-1][0] == "update_dm"  # the DM says when the approvers were reminded
    assert notifier.events[-1][1].requester_reminded_at == clock()
    clock.advance(9 * 60)
    with pytest.raises(NotAllowed, match="remind them again in 1 min, from 12:10 UTC"):
        flow.requester.remind(request.id, ENGINEER)
    with pytest.raises(NotAllowed, match="Only the engineer who asked"):
        flow.requester.remind(request.id, APPROVER)
    clock.advance(60)
    flow.requester.remind(request.id, ENGINEER)
    assert len(replies(notifier, "requester_reminder")) == 2
    assert [e.detail["by"] for e in audit(flow, "reminded")] == ["requester", "requester"]
    assert flow.lookups.get(request.id).reminded_at is None  # the policy's own reminder is still to come


def test_a_reminder_slack_refused_does_not_count_towards_the_10_minutes(flow, notifier):
    request = announced(flow)
    original = notifier.post_thread_reply
    notifier.post_thread_reply = lambda *args: None
    with pytest.raises(NotAllowed, match="Slack did not post the reminder"):
        flow.requester.remind(request.id, ENGINEER)
    notifier.post_thread_reply = original
    flow.requester.remind(request.id, ENGINEER)
    assert len(replies(notifier, "requester_reminder")) == 1 and len(audit(flow, "reminded")) == 1


def test_remind_after_a_decision_or_expiry_is_refused(flow, clock):
    denied = announced(flow)
    flow.decisions.deny(denied.id, APPROVER)
    with pytest.raises(NotAllowed, match=r"it was denied\. You can no longer remind the approvers"):
        flow.requester.remind(denied.id, ENGINEER)
    late = flow.intake.announce(submit(flow, view_id="V2"))
    clock.advance(3601)
    with pytest.raises(NotAllowed, match="expired"):
        flow.requester.remind(late.id, ENGINEER)
    assert flow.lookups.get(late.id).status is Status.EXPIRED


# --- the requester's one DM ----------------------------------------------------------------------------------


def test_one_dm_per_request_updated_in_place_up_to_the_reveal(flow, notifier):
    request = announced(flow)
    assert notifier.kinds().count("post_dm") == 1 and request.dm is not None
    flow.decisions.approve(request.id, APPROVER)
    assert notifier.kinds().count("post_dm") == 1
    sent = [r for kind, r in notifier.events if kind == "send_reveal"]
    assert [r.dm for r in sent] == [request.dm]  # the Reveal button goes into that same DM
    assert flow.lookups.get(request.id).reveal_sent_at is not None


def test_a_reveal_rewrite_that_lands_after_a_newer_one_binds_the_button_again(flow, notifier, gateways, clock):
    """A replica slow in Slack (its rewrite comes back after the sweep's newer one) must not leave a dead button."""
    request = announced(flow)
    original, nested = notifier.send_reveal, []

    def slow_rewrite(request_):
        if not nested:
            clock.advance(16)
            nested.append("sweeping")
            nested.append(flow.sweeper.resend_missing_reveals())  # the sweep's rewrite lands first
        return original(request_)  # then this older one: its button is what the DM shows

    notifier.send_reveal = slow_rewrite
    flow.decisions.approve(request.id, APPROVER)
    assert nested == ["sweeping", 1]
    last = notifier.reveal_button(request.id)  # what the DM shows in the end
    _, secret = flow.reveal.begin(last, ENGINEER)
    assert secret.reveal() == gateways["mofh"].calls[0]["password"]
    assert flow.lookups.get(request.id).reveal_state is RevealState.OPENING


def test_the_dm_is_stored_before_the_card_gets_its_buttons_so_an_approval_never_posts_a_second_one(flow, notifier):
    request = announced(flow)
    kinds = notifier.kinds()
    assert kinds.index("post_dm") < kinds.index("post_card") < kinds.index("update_card")  # buttons come last
    assert flow.lookups.get(request.id).dm is not None
    flow.decisions.approve(request.id, APPROVER)  # the first click the armed card allows
    assert notifier.kinds().count("post_dm") == 1 and "withdraw" not in notifier.kinds()
