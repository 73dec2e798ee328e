"""Policy from Slack end to end: the real app over Socket Mode with the simulated Slack.

An admin opens the App Home, clicks Edit policy, lowers the approvals (a loosening change); the
Policy change card appears in the approvals channel; the proposer's own Approve change is refused;
a second admin's applies it; the next request needs one approval, and the admin's tab shows it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.domain import Role, Status
from tests.e2e.conftest import APPROVALS, APPROVER, ENGINEER

ADMIN, ADMIN2 = "U0ADMIN0001", "U0ADMIN0002"
NOROLE = "U0NOROLE01"  # in the approvals channel, with no role at all
LABELS = ["Approvals", "Expire after", "Remind after", "Escalate after", "Escalate to", "Requests per hour"]


def test_a_loosening_change_from_the_app_home_applies_when_a_second_admin_approves_it(bot_over_socket):
    bot = bot_over_socket
    sim = bot.sim
    for uid, name in ((ADMIN, "ari"), (ADMIN2, "kim")):
        sim.add_user(uid, name, channels=[APPROVALS])
        bot.workflow.admin.grant(uid, Role.ADMIN, "mofh", actor="cli:ops")  # one provider: one Edit policy
    bot.workflow.policies.set("mofh", {"approvals": 2}, actor="cli:ops")

    sim.open_home(ADMIN)
    home = sim.wait_for(lambda: (h := sim.home(ADMIN)) is not None and "Edit policy" in h.buttons and h,
                        message="no Policy section in the admin's Home tab")
    assert "Approvals: 2" in home.visible_text
    modal = sim.opened_by(ADMIN, lambda: sim.click(ADMIN, "Edit policy", in_home=True))
    assert modal.labels == LABELS
    sim.fill(ADMIN, {"Approvals": "1"})
    ack = sim.submit(ADMIN)
    assert ack.ok and ack.errors is None, ack.errors
    card = sim.wait_for(lambda: next((m for m in sim.messages(APPROVALS) if "Approve change" in m.buttons), None),
                        message="no Policy change card")
    assert "Policy change" in card.visible_text and "2 → 1" in card.visible_text
    assert bot.workflow.policies.effective("mofh").approvals == 2  # not before a second admin

    sim.click(ADMIN, "Approve change", channel=APPROVALS)
    sim.wait_for(lambda: any("You proposed this policy change, so you can't approve it" in e.text
                             for e in sim.ephemerals(ADMIN)), message="the proposer was not told why")
    assert bot.workflow.policies.effective("mofh").approvals == 2

    sim.click(ADMIN2, "Approve change", channel=APPROVALS)
    sim.wait_for(lambda: bot.workflow.policies.effective("mofh").approvals == 1, message="the change did not apply")
    sim.wait_for(lambda: "Approve change" not in sim.messages(APPROVALS)[0].buttons
                 and "Approved" in sim.messages(APPROVALS)[0].visible_text, message="the card was not rewritten")
    sim.wait_for(lambda: "Approvals: 1" in sim.home(ADMIN).visible_text, message="the admin's tab did not follow")

    # In effect: the next request needs one approval.
    assert bot.request_mofh().errors is None
    bot.card()
    sim.click(APPROVER, "Approve", channel=APPROVALS)
    sim.wait_for(lambda: bot.workflow.lookups.home_for(ENGINEER).requests[0].status is Status.SUCCEEDED,
                 timeout=10, message="one approval did not complete the request")


def test_one_admin_cannot_make_someone_with_no_role_an_approver_with_an_escalation(bot_over_socket):
    """Issue 20 item 1, the attack end to end: "Escalate after 1s, Escalate to <someone with no role>" typed by one
    admin is a Policy change card, not a change; a request made meanwhile does not let that person approve."""
    bot = bot_over_socket
    sim = bot.sim
    for uid, name in ((ADMIN, "ari"), (ADMIN2, "kim"), (NOROLE, "mallory")):
        sim.add_user(uid, name, channels=[APPROVALS])
    for uid in (ADMIN, ADMIN2):
        bot.workflow.admin.grant(uid, Role.ADMIN, "mofh", actor="cli:ops")
    bot.workflow.policies.set("mofh", {"approvals": 2}, actor="cli:ops")
    before = bot.workflow.policies.effective("mofh")

    sim.open_home(ADMIN)
    sim.wait_for(lambda: (h := sim.home(ADMIN)) is not None and "Edit policy" in h.buttons,
                 message="no Policy section in the admin's Home tab")
    sim.opened_by(ADMIN, lambda: sim.click(ADMIN, "Edit policy", in_home=True))
    sim.fill(ADMIN, {"Escalate after": "1s", "Escalate to": NOROLE})
    ack = sim.submit(ADMIN)
    assert ack.ok and ack.errors is None, ack.errors
    change = sim.wait_for(lambda: next((m for m in sim.messages(APPROVALS) if "Approve change" in m.buttons), None),
                          message="no Policy change card")
    assert "Policy change" in change.visible_text and NOROLE in change.visible_text
    assert bot.workflow.policies.effective("mofh") == before  # not at once

    # A request made while the change waits keeps the policy in effect: no escalation, however long it waits.
    assert bot.request_mofh().errors is None
    card = bot.card()
    made = bot.workflow.lookups.home_for(ENGINEER).requests[0]
    sim.wait_for(lambda: datetime.now(UTC) > made.created_at + timedelta(seconds=1.5), message="time stood still")
    sim.click(NOROLE, "Approve", channel=APPROVALS, message_ts=card.ts)
    sim.wait_for(lambda: any("approver role" in e.visible_text for e in sim.ephemerals(NOROLE)),
                 message="someone with no role was not refused")
    waiting = bot.workflow.lookups.get(made.id)
    assert waiting.status is Status.PENDING and waiting.approvers == []

    sim.click(ADMIN, "Approve change", channel=APPROVALS, message_ts=change.ts)
    sim.wait_for(lambda: any("You proposed this policy change, so you can't approve it" in e.text
                             for e in sim.ephemerals(ADMIN)), message="the proposer was not told why")
    assert bot.workflow.policies.effective("mofh") == before
    sim.click(ADMIN2, "Approve change", channel=APPROVALS, message_ts=change.ts)
    sim.wait_for(lambda: bot.workflow.policies.effective("mofh").escalate_to == NOROLE,
                 message="the second admin's approval did not apply the change")
    assert bot.workflow.lookups.get(made.id).escalate_to is None  # the waiting request keeps its policy
