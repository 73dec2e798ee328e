"""Policy from Slack, the risk alert and App Home refreshes through app.dispatch: the Policy section, Edit policy's
modal and its errors, the Policy change card and the second-admin rule, tabs that follow a request."""

from __future__ import annotations

import json

import pytest

from bot.domain import Role
from bot.policy import FIELDS, ApprovalPolicy
from handlers import blocks
from handlers.ids import FIELD_BLOCKS
from tests.handlers.conftest import (
    APPROVALS,
    APPROVER,
    ENGINEER,
    OUTSIDER,
    TEAM,
    ack_body,
    button_click,
    home_opened,
    view_submission,
)

ADMIN, ADMIN2 = "U0ADMIN0001", "U0ADMIN0002"
LABELS = ["Approvals", "Expire after", "Remind after", "Escalate after", "Escalate to", "Requests per hour"]


@pytest.fixture
def admins(slack):
    for who in (ADMIN, ADMIN2):
        slack.workflow.admin.grant(who, Role.ADMIN, None, actor="test")
    return slack


def policy_view(slack, provider: str = "mofh", **typed: str) -> dict:
    """The Edit policy modal as Slack sends it back: opened on the policy in effect, with `typed` changed."""
    rules = slack.workflow.policies.effective(provider)
    view = blocks.policy_modal(slack.workflow.catalog.get(provider), rules)
    values = {FIELD_BLOCKS[name].value: {"policy_input": {
        "type": "plain_text_input", "value": typed.get(name, blocks.policy_input_value(name, getattr(rules, name)))}}
        for name in FIELDS}
    return {**view, "id": "V0POLICY001", "hash": "1.p", "team_id": TEAM, "state": {"values": values}}


def published_for(slack, user: str) -> list[dict]:
    return [c["view"] for c in slack.client.to("views.publish") if c["user_id"] == user]


def policy_cards(slack) -> list[dict]:
    return [m for m in slack.client.to("chat.postMessage")
            if m.get("channel") == APPROVALS and "Policy change" in json.dumps(m.get("blocks"))]


def buttons(message_blocks: list[dict]) -> dict[str, str]:
    return {e["text"]["text"]: e["value"] for b in message_blocks if b.get("type") == "actions" for e in b["elements"]}


def test_an_admin_sees_the_policy_section_with_edit_policy_per_provider_and_an_approver_does_not(admins):
    admins.workflow.policies.set("mofh", {"approvals": 2, "remind_after": 900}, actor="cli:ops")
    admins.dispatch(home_opened(ADMIN))
    (view,) = published_for(admins, ADMIN)
    assert "Policy" in [b["text"]["text"] for b in view["blocks"] if b["type"] == "header"]
    edits = [b["accessory"] for b in view["blocks"] if (b.get("accessory") or {}).get("action_id") == "edit_policy"]
    assert [(e["text"]["text"], e["value"]) for e in edits] == [("Edit policy", "mofh"), ("Edit policy", "namecheap")]
    shown = json.dumps(view)
    assert "Approvals: 2" in shown and "Remind after: 15m" in shown and "Requests per hour: 20" in shown
    admins.dispatch(home_opened(APPROVER, event_id="Ev0HOME00002"))
    (theirs,) = published_for(admins, APPROVER)
    assert "Edit policy" not in json.dumps(theirs)


def test_edit_policy_opens_the_modal_with_the_contracts_labels_prefilled(admins):
    admins.workflow.policies.set("mofh", {"approvals": 2, "remind_after": 900, "escalate_after": 1800,
                                          "escalate_to": "S0LEADS01"}, actor="cli:ops")
    admins.dispatch(button_click(ADMIN, "edit_policy", "mofh", in_home=True))
    (opened,) = admins.client.to("views.open")
    inputs = [b for b in opened["view"]["blocks"] if b["type"] == "input"]
    assert [b["label"]["text"] for b in inputs] == LABELS
    assert [b["element"].get("initial_value") for b in inputs] == ["2", "1h", "15m", "30m", "S0LEADS01", "20"]


def test_edit_policy_by_someone_who_is_no_admin_is_refused_with_a_sentence(admins):
    admins.dispatch(button_click(APPROVER, "edit_policy", "mofh", in_home=True))
    assert admins.client.to("views.open") == []
    assert any("You don't have the admin role for MyOwnFreeHost, so you can't change its approval policy" in t
               for t in admins.private_texts(APPROVER))


def test_bad_input_keeps_the_modal_open_with_each_error_under_its_input(admins):
    response = admins.dispatch(view_submission(policy_view(admins, approvals="two", expire_after="15", escalate_to="x"),
                                               user=ADMIN))
    body = ack_body(response)
    assert body["response_action"] == "errors"
    assert body["errors"]["policy_approvals_block"] == "approvals must be a whole number (got 'two')."
    assert "90s, 15m or 2h" in body["errors"]["policy_expire_after_block"]
    assert "user group ID" in body["errors"]["policy_escalate_to_block"]
    whole = ack_body(admins.dispatch(view_submission(policy_view(admins, remind_after="2h"), user=ADMIN)))
    assert list(whole["errors"]) == ["policy_remind_after_block"]
    assert "shorter than expire_after" in whole["errors"]["policy_remind_after_block"]
    assert admins.workflow.policies.effective("mofh") == ApprovalPolicy()


def test_a_tightening_change_applies_at_once(admins):
    response = admins.dispatch(view_submission(policy_view(admins, approvals="2", requests_per_hour="5"), user=ADMIN))
    assert (response.status, response.body) == (200, "")  # the modal closes
    assert admins.workflow.policies.effective("mofh") == ApprovalPolicy(approvals=2, requests_per_hour=5)
    assert policy_cards(admins) == []
    (changed,) = [e for e in admins.workflow.admin.audit_trail() if e.action == "policy_changed"]
    assert changed.actor_id == ADMIN and changed.detail["old"]["approvals"] == 1 and changed.detail["new"][
        "requests_per_hour"] == 5


def test_a_loosening_change_is_a_policy_change_card_that_only_a_second_admin_can_approve(admins):
    admins.workflow.policies.set("mofh", {"approvals": 2}, actor="cli:ops")
    admins.dispatch(view_submission(policy_view(admins, approvals="1", requests_per_hour="0"), user=ADMIN))
    assert admins.workflow.policies.effective("mofh").approvals == 2  # not yet
    (card,) = policy_cards(admins)
    shown = json.dumps(card["blocks"], ensure_ascii=False)
    assert "MyOwnFreeHost" in shown and "*Approvals*: 2 → 1" in shown and "*Requests per hour*: 20 → no cap" in shown
    assert f"<@{ADMIN}>" in shown and "Expire after" not in shown  # only the changed fields
    proposal_id = buttons(card["blocks"])["Approve change"]
    assert set(buttons(card["blocks"])) == {"Approve change", "Reject change"}
    assert any("waits for a second admin" in t for t in admins.private_texts(ADMIN))

    admins.dispatch(button_click(ADMIN, "approve_policy_change", proposal_id))
    assert admins.workflow.policies.effective("mofh").approvals == 2
    assert "You proposed this policy change, so you can't approve it: a second admin has to." in [
        m["text"] for _, m in admins.webhooks.sent]
    admins.dispatch(button_click(APPROVER, "approve_policy_change", proposal_id))
    assert admins.workflow.policies.effective("mofh").approvals == 2

    admins.dispatch(button_click(ADMIN2, "approve_policy_change", proposal_id))
    assert admins.workflow.policies.effective("mofh") == ApprovalPolicy(approvals=1, requests_per_hour=0)
    rewritten = admins.client.to("chat.update")[-1]
    stored = admins.workflow.policy_changes.get(proposal_id).card  # where chat.postMessage said the card is
    assert stored is not None and (rewritten["channel"], rewritten["ts"]) == (stored.channel, stored.ts)
    assert buttons(rewritten["blocks"]) == {} and f"*Approved* by <@{ADMIN2}>" in json.dumps(rewritten["blocks"])
    trail = [(e.action, e.actor_id) for e in admins.workflow.admin.audit_trail()
             if e.action in ("policy_change_proposed", "policy_change_approved", "policy_changed")]
    assert trail == [("policy_changed", "cli:ops"), ("policy_change_proposed", ADMIN),
                     ("policy_change_approved", ADMIN2), ("policy_changed", ADMIN2)]


NOROLE = "U0NOROLE01"  # holds no role at all
LEADS = "S0LEADS01"


@pytest.mark.parametrize("before, typed, shown, why", [
    pytest.param({}, {"escalate_after": "1s", "escalate_to": NOROLE},
                 ["*Escalate after*: off → 1s", f"*Escalate to*: none → `{NOROLE}`"],
                 f"a new escalation (to {NOROLE} after 1s)", id="adding an escalation to someone with no role"),
    pytest.param({"escalate_after": 1800, "escalate_to": LEADS}, {"escalate_after": "1m"},
                 ["*Escalate after*: 30m → 1m"], "an earlier escalation (30m → 1m)", id="an earlier escalate-after"),
    pytest.param({"escalate_after": 1800, "escalate_to": LEADS}, {"escalate_to": NOROLE},
                 [f"*Escalate to*: `{LEADS}` → `{NOROLE}`"], f"a different escalation target ({LEADS} → {NOROLE})",
                 id="a different escalate-to"),
])
def test_an_edit_that_lets_someone_approve_who_could_not_is_a_policy_change_card_for_a_second_admin(
        admins, before, typed, shown, why):
    """Issue 20 item 1: one admin could make anyone an approver with an escalation, applied at once."""
    admins.workflow.policies.set("mofh", {"approvals": 2, **before}, actor="cli:ops")
    was = admins.workflow.policies.effective("mofh")
    response = admins.dispatch(view_submission(policy_view(admins, **typed), user=ADMIN))
    assert (response.status, response.body) == (200, "")  # the modal closes
    assert admins.workflow.policies.effective("mofh") == was  # not at once
    (card,) = policy_cards(admins)
    text = json.dumps(card["blocks"], ensure_ascii=False)
    for line in shown:
        assert line in text
    assert why in text and "Escalate to may approve or deny a waiting request from Escalate after on" in text
    assert any("waits for a second admin" in t and why in t for t in admins.private_texts(ADMIN))
    proposal_id = buttons(card["blocks"])["Approve change"]

    admins.dispatch(button_click(ADMIN, "approve_policy_change", proposal_id))  # the same admin: refused
    assert "You proposed this policy change, so you can't approve it: a second admin has to." in [
        m["text"] for _, m in admins.webhooks.sent]
    assert admins.workflow.policies.effective("mofh") == was
    admins.dispatch(button_click(ADMIN2, "approve_policy_change", proposal_id))
    now = admins.workflow.policies.effective("mofh")
    assert now != was and all(blocks.policy_input_value(name, getattr(now, name)) == value
                              for name, value in typed.items())
    trail = [(e.action, e.actor_id) for e in admins.workflow.admin.audit_trail()
             if e.action in ("policy_change_proposed", "policy_change_approved", "policy_changed")]
    assert trail == [("policy_changed", "cli:ops"), ("policy_change_proposed", ADMIN),
                     ("policy_change_approved", ADMIN2), ("policy_changed", ADMIN2)]


def test_the_attack_before_a_second_admin_approves_the_escalation_target_cannot_approve(admins):
    """"Escalate after 1s, Escalate to <someone with no role>" by one admin: until a second admin approves the change,
    a request made under the policy does not let that person approve, however long it waits."""
    admins.workflow.policies.set("mofh", {"approvals": 2}, actor="cli:ops")
    admins.dispatch(view_submission(policy_view(admins, escalate_after="1s", escalate_to=NOROLE), user=ADMIN))
    proposal_id = buttons(policy_cards(admins)[0]["blocks"])["Approve change"]
    request = admins.pending_request()
    admins.clock.advance(5)
    admins.dispatch(button_click(NOROLE, "approve_reset", request.id, message_ts=request.card.ts))
    assert any("You don't have the approver role for MyOwnFreeHost" in t for t in admins.private_texts(NOROLE))
    waiting = admins.workflow.lookups.get(request.id)
    assert waiting.status.value == "pending" and waiting.approvers == []
    assert waiting.escalate_to is None and waiting.escalate_at is None

    # Once a second admin approved the change, it applies to requests made from then on, as a policy does.
    admins.dispatch(button_click(ADMIN2, "approve_policy_change", proposal_id))
    later = admins.pending_request(account="acct0002")
    admins.clock.advance(5)
    admins.dispatch(button_click(NOROLE, "approve_reset", later.id, message_ts=later.card.ts))
    assert admins.workflow.lookups.get(later.id).approvers == [NOROLE]
    assert admins.workflow.lookups.get(request.id).approvers == []  # the earlier one keeps its policy


def test_approving_a_change_proposed_against_an_older_policy_is_refused_and_the_card_says_so(admins):
    admins.dispatch(view_submission(policy_view(admins, expire_after="2h"), user=ADMIN))  # loosens
    proposal_id = buttons(policy_cards(admins)[0]["blocks"])["Approve change"]
    admins.dispatch(view_submission(policy_view(admins, approvals="3"), user=ADMIN2))  # tightens: applies at once
    admins.dispatch(button_click(ADMIN2, "approve_policy_change", proposal_id))
    assert admins.workflow.policies.effective("mofh") == ApprovalPolicy(approvals=3)
    assert any("changed after this was proposed, so it was not applied" in m["text"] for _, m in admins.webhooks.sent)
    assert "*Not applied*" in json.dumps(admins.client.to("chat.update")[-1]["blocks"])


def test_the_proposer_can_withdraw_a_change(admins):
    admins.dispatch(view_submission(policy_view(admins, approvals="1", requests_per_hour="50"), user=ADMIN))
    proposal_id = buttons(policy_cards(admins)[0]["blocks"])["Reject change"]
    admins.dispatch(button_click(ADMIN, "reject_policy_change", proposal_id))
    assert f"*Withdrawn* by <@{ADMIN}>" in json.dumps(admins.client.to("chat.update")[-1]["blocks"])
    assert admins.workflow.policies.effective("mofh").requests_per_hour == 20


# --- `resetbot policy set`, announced by the running bot ---------------------------------------------


def announcements(slack) -> list[dict]:
    return [m for m in slack.client.to("chat.postMessage")
            if m.get("channel") == APPROVALS and "command line" in m.get("text", "")]


def test_a_policy_set_from_the_cli_is_announced_once_in_the_approvals_channel_in_words(slack):
    slack.workflow.policies.set("mofh", {"approvals": 2, "escalate_after": 600, "escalate_to": NOROLE,
                                         "requests_per_hour": 0}, actor="cli:opsperson")
    slack.workflow.sweeper.sweep()
    slack.workflow.sweeper.sweep()
    (message,) = announcements(slack)
    assert message["text"] == ("Policy changed from the command line for MyOwnFreeHost by cli:opsperson: Approvals 1 → 2, "
                               f"Escalate after off → 10m, Escalate to none → `{NOROLE}`, Requests per hour 20 → no cap")
    shown = json.dumps(message["blocks"], ensure_ascii=False)
    for line in ("*Approvals*: 1 → 2", "*Escalate after*: off → 10m", f"*Escalate to*: none → `{NOROLE}`",
                 "*Requests per hour*: 20 → no cap", "`cli:opsperson`", "MyOwnFreeHost"):
        assert line in shown
    assert "Expire after" not in shown  # only what changed
    assert f"a new escalation (to {NOROLE} after 10m)" in shown and "a higher cap (20/h → no cap)" in shown
    assert buttons(message["blocks"]) == {}  # already in effect: nothing to approve


def test_the_os_user_in_an_announcement_never_pings_or_links(slack):
    slack.workflow.policies.set("mofh", {"approvals": 3}, actor="cli:<!channel>&<https://evil.example|x>")
    slack.workflow.sweeper.sweep()
    (message,) = announcements(slack)
    for text in (message["text"], json.dumps(message["blocks"])):
        assert "<!channel>" not in text and "<https://" not in text
    assert "&lt;!channel&gt;" in message["text"]


# --- App Home tabs follow what they show -----------------------------------------------------------


def test_the_tabs_of_recent_viewers_follow_a_request_and_nobody_elses_is_published(slack):
    slack.dispatch(home_opened(ENGINEER, event_id="Ev0HOMEENG01"))
    slack.dispatch(home_opened(APPROVER, event_id="Ev0HOMEAPP01"))
    slack.client.clear()
    request = slack.pending_request()
    assert request.id in json.dumps(published_for(slack, APPROVER)[-1])  # now waits for them
    assert "waiting for approval" in json.dumps(published_for(slack, ENGINEER)[-1])
    after_posting = len(slack.client.to("views.publish"))
    slack.workflow.decisions.approve(request.id, APPROVER)  # the provider call runs inline here: done at once
    assert request.id not in json.dumps(published_for(slack, APPROVER)[-1])  # no longer waits
    assert "*done*" in json.dumps(published_for(slack, ENGINEER)[-1])
    assert published_for(slack, OUTSIDER) == []
    # One request with one approval: 2 tabs when its card is armed, 2 when it is approved, the requester's at the end.
    assert (after_posting, len(slack.client.to("views.publish"))) == (2, 5)


def test_a_failing_views_publish_touches_no_decision(slack):
    slack.dispatch(home_opened(APPROVER, event_id="Ev0HOMEAPP02"))
    request = slack.pending_request()
    for _ in range(5):
        slack.client.fail_next("views.publish", "internal_error")
    slack.workflow.decisions.approve(request.id, APPROVER)
    assert slack.workflow.lookups.get(request.id).status.value == "succeeded"
    card_updates = [c for c in slack.client.to("chat.update") if c["ts"] == request.card.ts]
    assert "*Approved* by" in json.dumps(card_updates[-1]["blocks"])


def test_an_admins_tab_follows_a_policy_change(admins):
    admins.dispatch(home_opened(ADMIN, event_id="Ev0HOMEADM01"))
    admins.dispatch(home_opened(ENGINEER, event_id="Ev0HOMEENG02"))
    admins.client.clear()
    admins.dispatch(view_submission(policy_view(admins, approvals="3"), user=ADMIN2))
    assert "Approvals: 3" in json.dumps(published_for(admins, ADMIN)[-1])
    assert published_for(admins, ENGINEER) == []


# --- the insider-risk alert ------------------------------------------------------------------------


def test_the_eleventh_distinct_account_in_an_hour_posts_one_alert_naming_the_engineer(slack):
    for n in range(12):
        slack.pending_request(account=f"acct{n:04d}")
    alerts = [m for m in slack.client.to("chat.postMessage") if "Insider-risk alert" in m.get("text", "")]
    (alert,) = alerts
    assert alert["channel"] == APPROVALS
    assert alert["text"] == (f"Insider-risk alert: <@{ENGINEER}> asked for resets of 11 different accounts in the "
                             "last hour, more than 10.")
    assert "acct" not in json.dumps(alert["blocks"])
