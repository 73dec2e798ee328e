"""Policy changes from Slack (bot/workflow/policy_changes.py), on SQLite and PostgreSQL: tightening applies at
once, loosening waits for a second admin (never the proposer), one application under races, stale proposals
refused."""

from __future__ import annotations

import pytest

from bot.domain import InputErrors, NotAllowed, Role
from bot.policy import FIELDS, ApprovalPolicy, ProposalStatus
from bot.sealing import Sealer, ephemeral_key
from bot.workflow import ResetWorkflow
from storage.db import make_sessionmaker
from tests.unit.conftest import APPROVER, InlineExecutor
from tests.unit.test_quorum import _at_once

ADMIN, ADMIN2, ADMIN3 = "U0ADMIN0001", "U0ADMIN0002", "U0ADMIN0003"


def texts(rules: ApprovalPolicy, **typed: str) -> dict[str, str | None]:
    """What the modal sends back: the prefilled values, with `typed` changed."""
    shown = {name: str(getattr(rules, name) or "") if name == "escalate_to" else
             (f"{getattr(rules, name)}s" if name not in ("approvals", "requests_per_hour") else
              str(getattr(rules, name))) for name in FIELDS}
    return {**shown, **typed}


@pytest.fixture
def admins(workflow):
    for who in (ADMIN, ADMIN2, ADMIN3):
        workflow.admin.grant(who, Role.ADMIN, "mofh", actor="test")
    workflow.policies.set("mofh", {"approvals": 2}, actor="cli:ops")
    return workflow


def propose_looser(flow, who=ADMIN):
    current = flow.policies.effective("mofh")
    return flow.policy_changes.submit("mofh", texts(current, approvals="1", requests_per_hour="40"), who, current)


def actions(flow):
    return [(e.action, e.actor_id) for e in flow.admin.audit_trail() if e.action.startswith("policy")]


def test_a_change_that_only_tightens_applies_at_once_audited_with_the_admin(admins):
    current = admins.policies.effective("mofh")
    edit = admins.policy_changes.submit("mofh", texts(current, approvals="3", remind_after="15m"), ADMIN, current)
    assert edit.applied is not None and edit.proposal is None
    assert admins.policies.effective("mofh") == ApprovalPolicy(approvals=3, remind_after=900)
    (event,) = [e for e in admins.admin.audit_trail() if e.actor_id == ADMIN]
    assert event.action == "policy_changed" and event.provider == "mofh"
    assert event.detail["old"]["approvals"] == 2 and event.detail["new"]["approvals"] == 3
    assert event.detail["changed"] == ["approvals", "remind_after"]


def test_a_loosening_change_waits_for_a_second_admin_and_the_proposer_cannot_approve_it(admins, notifier):
    edit = propose_looser(admins)
    proposal = edit.proposal
    assert edit.applied is None and proposal is not None and proposal.card is not None
    assert admins.policies.effective("mofh").approvals == 2  # not yet
    assert notifier.kinds()[-1] == "post_policy_change"
    with pytest.raises(NotAllowed, match="You proposed this policy change, so you can't approve it: a second admin"):
        admins.policy_changes.approve(proposal.id, ADMIN)
    with pytest.raises(NotAllowed, match="You don't have the admin role for MyOwnFreeHost"):
        admins.policy_changes.approve(proposal.id, APPROVER)
    assert admins.policies.effective("mofh").approvals == 2
    applied = admins.policy_changes.approve(proposal.id, ADMIN2)
    assert applied.status is ProposalStatus.APPLIED and applied.decided_by == ADMIN2
    assert admins.policies.effective("mofh") == ApprovalPolicy(approvals=1, requests_per_hour=40)
    assert notifier.kinds()[-1] == "update_policy_change"
    with pytest.raises(NotAllowed, match=f"already decided by <@{ADMIN2}>: it was approved and is in effect"):
        admins.policy_changes.approve(proposal.id, ADMIN3)
    assert [a for a in actions(admins) if a[0] != "policy_change_refused"] == [
        ("policy_changed", "cli:ops"), ("policy_change_proposed", ADMIN), ("policy_change_approved", ADMIN2),
        ("policy_changed", ADMIN2)]
    assert [who for what, who in actions(admins) if what == "policy_change_refused"] == [ADMIN, APPROVER, ADMIN3]
    changed = [e for e in admins.admin.audit_trail() if e.action == "policy_changed"][-1]
    assert changed.detail["proposed_by"] == ADMIN and changed.detail["old"]["approvals"] == 2
    assert changed.detail["new"]["approvals"] == 1 and changed.detail["weakened"]


def test_a_proposal_made_against_an_older_policy_is_refused_as_stale_and_never_applied(admins):
    proposal = propose_looser(admins).proposal
    admins.policies.set("mofh", {"approvals": 4}, actor="cli:ops")  # a newer change in between
    with pytest.raises(NotAllowed, match="changed after this was proposed, so it was not applied"):
        admins.policy_changes.approve(proposal.id, ADMIN2)
    assert admins.policies.effective("mofh").approvals == 4
    assert admins.policy_changes.get(proposal.id).status is ProposalStatus.STALE
    with pytest.raises(NotAllowed, match="it was overtaken by a newer change"):
        admins.policy_changes.approve(proposal.id, ADMIN3)


def test_an_edit_saved_over_a_newer_change_is_refused(admins):
    opened_on = admins.policies.effective("mofh")
    admins.policies.set("mofh", {"approvals": 4}, actor="cli:ops")
    with pytest.raises(NotAllowed, match="changed while you were editing it"):
        admins.policy_changes.submit("mofh", texts(opened_on, approvals="5"), ADMIN, opened_on)
    assert admins.policies.effective("mofh").approvals == 4


def test_the_proposer_withdraws_and_another_admin_rejects(admins):
    first = propose_looser(admins).proposal
    assert admins.policy_changes.reject(first.id, ADMIN).status is ProposalStatus.WITHDRAWN
    second = propose_looser(admins).proposal
    assert admins.policy_changes.reject(second.id, ADMIN2).status is ProposalStatus.REJECTED
    assert admins.policies.effective("mofh").approvals == 2
    assert ("policy_change_withdrawn", ADMIN) in actions(admins) and ("policy_change_rejected", ADMIN2) in actions(admins)


def test_only_an_admin_edits_and_bad_input_names_each_field(admins):
    current = admins.policies.effective("mofh")
    with pytest.raises(NotAllowed, match="admin role for MyOwnFreeHost"):
        admins.policy_changes.open_editor("mofh", APPROVER)
    with pytest.raises(NotAllowed, match="admin role for MyOwnFreeHost"):
        admins.policy_changes.submit("mofh", texts(current, approvals="1"), APPROVER, current)
    with pytest.raises(InputErrors) as bad:
        admins.policy_changes.submit("mofh", texts(current, approvals="two", remind_after="soon"), ADMIN, current)
    assert bad.value.errors == {"approvals": "approvals must be a whole number (got 'two').",
                                "remind_after": "remind_after must be a duration such as 90s, 15m or 2h, or 0 for "
                                                "off (got 'soon')."}
    with pytest.raises(InputErrors) as whole:
        admins.policy_changes.submit("mofh", texts(current, remind_after="2h"), ADMIN, current)
    assert list(whole.value.errors) == ["remind_after"] and "shorter than expire_after" in whole.value.errors[
        "remind_after"]
    assert admins.policy_changes.open_editor("mofh", ADMIN) == current


def test_two_admins_approving_at_once_on_two_replicas_apply_the_change_once(engine, gateways, notifier, clock):
    a, b = [ResetWorkflow(sessions=make_sessionmaker(engine), providers=gateways, sealer=Sealer(ephemeral_key()),
                          notifier=notifier, executor=InlineExecutor(), clock=clock, replica_id=name,
                          admins=[ADMIN, ADMIN2, ADMIN3]) for name in ("a", "b")]
    for round_ in range(6):
        a.policies.set("mofh", {"approvals": 2, "requests_per_hour": 20}, actor="cli:ops")
        proposal = propose_looser(a).proposal
        # Each click on its own thread, released together (tests/unit/test_quorum.py: _at_once).
        outcomes = _at_once([(a.policy_changes.approve, (proposal.id, ADMIN2)),
                             (b.policy_changes.approve, (proposal.id, ADMIN3))])
        won = [o for o in outcomes if o is ProposalStatus.APPLIED]
        lost = [o for o in outcomes if isinstance(o, str) and "already decided" in o]
        assert (len(won), len(lost)) == (1, 1), (round_, outcomes)
        assert a.policies.effective("mofh").approvals == 1
    approvals = [e for e in a.admin.audit_trail() if e.action == "policy_change_approved"]
    assert len(approvals) == 6  # one application per proposal
