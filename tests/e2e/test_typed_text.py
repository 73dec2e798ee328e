"""Text people type, through the real app: hostile reasons are posted, published, quoted and inert (issue 9: 11–13).

The simulated Slack refuses blocks over Block Kit's length limits as Slack does
(devkit/slack/blocks.py: text_limit_problems), so a card or Home that only fits before
escaping is refused here as it would be in a real workspace.
"""

from __future__ import annotations

import pytest

from tests.e2e.conftest import APPROVALS, APPROVER, ENGINEER, OUTSIDER

HOSTILE_LONG = ["&" * 600, "<x>" * 333]
FAKE_APPROVAL = ("Customer locked out, please help.\n:white_check_mark: *Approved* by <@U0APPROVER1> "
                 "<!channel> <!subteam^S1> <https://evil.example|click> https://evil.example www.evil.example"
                 "\n\u202eevil\u202c")


def _mrkdwn_objects(blocks):
    for block in blocks:
        for obj in [block.get("text"), *(block.get("fields") or []), *(block.get("elements") or [])]:
            if isinstance(obj, dict) and obj.get("type") == "mrkdwn":
                yield obj


def _reason_text(blocks) -> str:
    return next(b["text"]["text"] for b in blocks if str(b.get("block_id", "")).startswith("reason_"))


@pytest.mark.parametrize("reason", HOSTILE_LONG, ids=["600 ampersands", "333 <x>"])
def test_a_reason_that_only_fits_before_escaping_is_posted_and_every_approvers_home_publishes(bot_over_socket,
                                                                                              reason):
    bot, sim = bot_over_socket, bot_over_socket.sim
    assert bot.request_mofh(reason=reason).ok
    card = bot.card()  # posted: Slack took its blocks
    shown = _reason_text(card.blocks)
    assert len(shown) <= 3000 and "(shortened)" in shown
    assert shown.endswith("…") and "&amp" not in shown.rsplit(";", 1)[-1]  # no escape cut in half
    sim.wait_for(lambda: any("waiting for approval" in e.visible_text for e in sim.ephemerals(ENGINEER)),
                 message="requester not told it waits")
    sim.open_home(APPROVER)
    home = sim.wait_for(lambda: sim.home(APPROVER), message="the approver's Home was not published")
    assert "Waiting for your approval" in home.visible_text and "(shortened)" in home.visible_text
    failed = [c for c in sim.calls if c.method in ("chat.postMessage", "views.publish") and not c.ok]
    assert failed == []
    requested = [r for r in bot.workflow.admin.audit_trail() if r.action == "requested"]
    assert requested[-1].detail["reason"] == reason and requested[-1].detail["ticket"] == "SUP-1"


def test_a_multi_line_reason_stays_inside_its_quote_and_pings_or_links_nothing(bot_over_socket):
    bot, sim = bot_over_socket, bot_over_socket.sim
    assert bot.request_mofh(reason=FAKE_APPROVAL).ok
    card = bot.card()
    shown = _reason_text(card.blocks)
    lines = shown.split("\n")
    assert lines[0] == "*Reason*" and all(line.startswith(">") for line in lines[1:]) and len(lines) == 4
    assert ">:white_check_mark: *Approved* by &lt;@U0APPROVER1&gt; &lt;!channel&gt; &lt;!subteam^S1&gt;" in shown
    assert "&lt;https://evil.example|click&gt;" in shown
    assert "\u202e" not in shown and "[U+202E]evil[U+202C]" in shown
    assert all(obj.get("verbatim") is True for obj in _mrkdwn_objects(card.blocks))
    raw = str(card.blocks)
    assert "<!channel>" not in raw and "<!subteam^S1>" not in raw and "<@U0APPROVER1>" not in raw
    assert "<https://evil.example" not in raw
    sim.open_home(APPROVER)
    home = sim.wait_for(lambda: sim.home(APPROVER), message="the approver's Home was not published")
    assert _reason_text(home.blocks) == shown
    assert all(obj.get("verbatim") is True for obj in _mrkdwn_objects(home.blocks))
    assert OUTSIDER not in raw


def test_a_kelvin_sign_in_the_account_is_refused_under_account_and_maps_to_nothing(bot_over_socket):
    bot, sim = bot_over_socket, bot_over_socket.sim
    bot.workflow.admin.import_directory([("webq7k2m", "kelv_40312290", None)], actor="test")
    ack = bot.request_mofh(account="\u212aelv_40312290")  # KELVIN SIGN, then "elv_40312290"
    assert ack.errors is not None and "U+212A (KELVIN SIGN)" in ack.errors["account_block"]
    assert sim.messages(APPROVALS) == [] and bot.sandbox.calls() == []
    assert [r for r in bot.workflow.admin.audit_trail() if r.action == "requested"] == []


def test_300_refused_clicks_are_one_audit_row_with_a_count_and_one_message(bot_over_socket):
    bot, sim = bot_over_socket, bot_over_socket.sim
    assert bot.request_mofh().ok
    card = bot.card()
    sim.join(OUTSIDER, APPROVALS)
    for n in range(300):
        sim.click(OUTSIDER, "Approve", channel=APPROVALS, message_ts=card.ts)
        if n < 20:
            sim.click(ENGINEER, "Approve", channel=APPROVALS, message_ts=card.ts)  # the requester's own
    assert bot.runtime.listener_executor.wait_idle(20)
    refused = [r for r in bot.workflow.admin.audit_trail() if r.action == "approve_refused"]
    assert sorted((r.actor_id, r.detail.get("count")) for r in refused) == [(ENGINEER, 20), (OUTSIDER, 300)]
    assert len([e for e in sim.ephemerals(OUTSIDER) if "approver role" in e.visible_text]) == 1
    assert len([e for e in sim.ephemerals(ENGINEER) if "can't approve" in e.visible_text]) == 1
    assert "Approve" in sim.messages(APPROVALS)[-1].buttons and bot.mofh_passwd_calls() == []
