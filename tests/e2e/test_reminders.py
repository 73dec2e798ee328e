"""Reminders, escalation and the requester's DM end to end: the real app over Socket Mode, the simulated Slack.

The policy's reminder and escalation are thread replies on the card, posted by the sweep once each;
the escalation group's members may then approve. The requester's one DM is posted with the request,
offers Cancel request and Remind approvers while it waits, and gets the Reveal password button.
The due times are moved into the past in the database (its clock decides), then the sweep runs.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from storage import repository as repo
from storage.db import transaction
from tests.e2e.conftest import APPROVALS, APPROVER, APPROVER2, ENGINEER, OUTSIDER

LEADS = "S0LEADS0001"


def request_id(bot) -> str:
    return bot.workflow.lookups.home_for(ENGINEER).requests[0].id


def make_due(bot, rid: str, field: str) -> None:
    with transaction(bot.workflow.context.sessions) as session:
        repo.set_fields(session, rid, **{field: datetime.now(UTC) - timedelta(seconds=1)})


def the_dm(bot):
    return bot.sim.wait_for(lambda: next((m for m in bot.sim.dm_messages(ENGINEER) if m.blocks), None),
                            message="no DM for the request")


def test_reminder_then_escalation_in_the_card_thread_and_an_escalation_member_approves(bot_over_socket):
    bot, sim = bot_over_socket, bot_over_socket.sim
    sim.add_usergroup(LEADS, "pw-reset-leads", [OUTSIDER])  # OUTSIDER has no role of their own
    sim.join(OUTSIDER, APPROVALS)
    bot.workflow.policies.set("mofh", {"remind_after": 600, "escalate_after": 1200, "escalate_to": LEADS},
                              actor="test")
    bot.request_mofh()
    card = bot.card()
    dm = the_dm(bot)
    rid = request_id(bot)
    bot.workflow.sweeper.sweep()
    assert sim.replies(APPROVALS, card.ts) == []  # not due yet
    make_due(bot, rid, "remind_at")
    bot.workflow.sweeper.sweep()
    bot.workflow.sweeper.sweep()
    (reminder,) = sim.replies(APPROVALS, card.ts)
    assert "Reminder" in reminder.text and f"<@{APPROVER}>" in reminder.text and f"<@{APPROVER2}>" in reminder.text
    assert f"<@{ENGINEER}>" not in reminder.text.split("Who can approve:")[1]
    # The transcript renders emoji as symbols and wraps long lines: read it with its spaces normalised.
    assert "[#pw-reset-approvals] resetbot posted in thread: 🔔 Reminder" in " ".join(" ".join(sim.transcript).split())
    sim.click(OUTSIDER, "Approve", channel=APPROVALS, message_ts=card.ts)
    sim.wait_for(lambda: any("approver role" in e.visible_text for e in sim.ephemerals(OUTSIDER)),
                 message="a member of the escalation group approved before the escalation")
    make_due(bot, rid, "escalate_at")
    bot.workflow.sweeper.sweep()
    bot.workflow.sweeper.sweep()
    again, escalation = sim.replies(APPROVALS, card.ts)
    assert again.ts == reminder.ts  # the reminder was not posted a second time
    assert f"<!subteam^{LEADS}>" in escalation.text and "you may now approve or deny it" in escalation.text
    assert "@pw-reset-leads, you may now approve" in " ".join(" ".join(sim.transcript).split())
    assert [r.action for r in bot.workflow.admin.audit_trail()].count("escalated") == 1
    sim.click(OUTSIDER, "Approve", channel=APPROVALS, message_ts=card.ts)
    revealable = sim.wait_for(lambda: next((m for m in sim.dm_messages(ENGINEER) if "Reveal password" in m.buttons),
                                           None), timeout=10, message="no Reveal button after the escalated approval")
    assert revealable.ts == dm.ts  # the request's one DM, rewritten in place
    assert len(bot.mofh_passwd_calls()) == 1 and f"<@{OUTSIDER}>" in card.visible_text


def test_the_requester_reminds_once_per_10_minutes_and_cancels_from_the_dm(bot_over_socket):
    bot, sim = bot_over_socket, bot_over_socket.sim
    bot.request_mofh()
    card = bot.card()
    dm = sim.wait_for(lambda: next((m for m in sim.dm_messages(ENGINEER) if "Cancel request" in m.buttons), None),
                      message="the DM offers no Cancel request")
    assert dm.buttons == ["Cancel request", "Remind approvers"] and "waiting for approval" in dm.visible_text
    sim.click(ENGINEER, "Remind approvers", in_dm=True)
    reminder = sim.wait_for(lambda: sim.replies(APPROVALS, card.ts), message="no reminder in the card's thread")
    assert "asks for a decision" in reminder[0].text and f"<@{APPROVER}>" in reminder[0].text
    sim.wait_for(lambda: "You reminded the approvers" in dm.visible_text, message="the DM does not say so")
    sim.click(ENGINEER, "Remind approvers", in_dm=True)
    sim.wait_for(lambda: any("You can remind them again in 10 min" in e.visible_text for e in sim.ephemerals(ENGINEER)),
                 message="a second reminder within 10 minutes was not refused with when")
    assert len(sim.replies(APPROVALS, card.ts)) == 1
    sim.click(ENGINEER, "Cancel request", in_dm=True)
    sim.wait_for(lambda: "*Cancelled* by the requester" in card.visible_text and card.buttons == [],
                 message="the card was not rewritten as cancelled")
    sim.wait_for(lambda: dm.buttons == [] and "You cancelled" in dm.visible_text, message="the DM was not rewritten")
    assert [m for m in sim.dm_messages(ENGINEER) if m.blocks] == [dm]
    assert bot.mofh_passwd_calls() == []
    actions = [r.action for r in bot.workflow.admin.audit_trail()]
    assert "cancelled" in actions and "remind_refused" in actions and actions.count("reminded") == 1
