"""Policy from Slack end to end: the real app over Socket Mode with the simulated Slack.

An admin opens the App Home, clicks Edit policy, lowers the approvals (a loosening change); the
Policy change card appears in the approvals channel; the proposer's own Approve change is refused;
a second admin's applies it; the next request needs one approval, and the admin's tab shows it.
"""

from __future__ import annotations

from bot.domain import Role, Status
from tests.e2e.conftest import APPROVALS, APPROVER, ENGINEER

ADMIN, ADMIN2 = "U0ADMIN0001", "U0ADMIN0002"
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
