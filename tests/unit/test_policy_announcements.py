"""`resetbot policy set` applies at once and the running bot announces it (bot/workflow/policy_announcements.py), on
SQLite and PostgreSQL: the CLI records the change with the policy, the sweep posts one message to the approvals
channel, claimed in the database first, so several replicas sweeping at once post it once."""

from __future__ import annotations

import threading

import pytest

from bot.domain import Role
from bot.policy import ApprovalPolicy
from bot.sealing import Sealer, ephemeral_key
from bot.workflow import ResetWorkflow
from storage.db import make_sessionmaker
from tests.unit.conftest import InlineExecutor
from tests.unit.test_policy_changes import texts

ADMIN = "U0ADMIN0001"


def announced(notifier):
    return [what for kind, what in notifier.events if kind == "post_policy_announcement"]


def audited(flow, action="policy_change_announced"):
    return [e for e in flow.admin.audit_trail() if e.action == action]


def test_a_policy_set_applies_at_once_and_the_sweep_announces_it_once(workflow, notifier):
    change = workflow.policies.set("mofh", {"approvals": 2, "escalate_after": 600, "escalate_to": "U0NOROLE01"},
                                   actor="cli:opsperson")
    assert workflow.policies.effective("mofh") == change.new  # at once: no second admin for the CLI
    assert announced(notifier) == []  # the CLI has no Slack: the running bot announces it
    workflow.sweeper.sweep()
    (notice,) = announced(notifier)
    assert (notice.provider, notice.changed_by) == ("mofh", "cli:opsperson")
    assert notice.old == ApprovalPolicy() and notice.new == change.new
    assert notice.changed == ["approvals", "escalate_after", "escalate_to"]
    assert notice.weakened == ["a new escalation (to U0NOROLE01 after 10m)"]
    workflow.sweeper.sweep()
    workflow.sweeper.sweep()
    assert len(announced(notifier)) == 1
    (event,) = audited(workflow)
    assert event.provider == "mofh" and event.detail["changed_by"] == "cli:opsperson"
    (changed,) = audited(workflow, "policy_changed")
    assert changed.actor_id == "cli:opsperson"


def test_each_change_is_announced_in_order_and_one_that_changes_nothing_is_not(workflow, notifier):
    workflow.policies.set("mofh", {"approvals": 2}, actor="cli:ops")
    workflow.policies.set("mofh", {"approvals": 2}, actor="cli:ops")  # no change
    workflow.policies.set("namecheap", {"requests_per_hour": 0}, actor="cli:root")
    workflow.sweeper.sweep()
    assert [(n.provider, n.changed_by, n.changed) for n in announced(notifier)] == [
        ("mofh", "cli:ops", ["approvals"]), ("namecheap", "cli:root", ["requests_per_hour"])]


def test_a_change_made_in_slack_is_not_announced_again(workflow, notifier):
    workflow.admin.grant(ADMIN, Role.ADMIN, None, actor="test")
    current = workflow.policies.effective("mofh")
    edit = workflow.policy_changes.submit("mofh", texts(current, approvals="3"), ADMIN, current)
    assert edit.applied is not None  # tightening: the admin is told, and it is audited
    workflow.sweeper.sweep()
    assert announced(notifier) == []


def test_an_announcement_slack_refused_is_posted_by_a_later_sweep(workflow, notifier):
    workflow.policies.set("mofh", {"approvals": 2}, actor="cli:ops")
    notifier.refuse_announcements = 1
    workflow.sweeper.sweep()
    assert announced(notifier) == [] and audited(workflow) == []
    workflow.sweeper.sweep()
    assert len(announced(notifier)) == 1 and len(audited(workflow)) == 1


def test_a_claim_whose_replica_died_is_taken_over_after_the_timeout(workflow, notifier, clock):
    workflow.policies.set("mofh", {"approvals": 2}, actor="cli:ops")
    announcements = workflow.sweeper.announcements
    notifier.announcement_crash = RuntimeError("the replica died")  # after its claim, before Slack answered
    with pytest.raises(RuntimeError, match="the replica died"):
        announcements.post_due()
    notifier.announcement_crash = None
    assert announcements.post_due() == 0  # still claimed by the dead replica
    clock.advance(121)
    assert announcements.post_due() == 1
    assert len(announced(notifier)) == 1 and len(audited(workflow)) == 1


def test_two_replicas_sweeping_at_once_announce_a_change_once(engine, gateways, notifier, clock):
    a, b = [ResetWorkflow(sessions=make_sessionmaker(engine), providers=gateways, sealer=Sealer(ephemeral_key()),
                          notifier=notifier, executor=InlineExecutor(), clock=clock, replica_id=name,
                          db_clock=lambda session: clock()) for name in ("replica-a", "replica-b")]
    for round_ in range(6):
        a.policies.set("mofh", {"approvals": 2 + round_ % 2}, actor="cli:ops")
        start, posted = threading.Barrier(2), []

        def sweep(flow, start=start, posted=posted):
            start.wait()
            posted.append(flow.sweeper.announcements.post_due())

        threads = [threading.Thread(target=sweep, args=(flow,)) for flow in (a, b)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert sorted(posted) == [0, 1], (round_, posted)
        assert len(announced(notifier)) == round_ + 1
    assert len(audited(a)) == 6
