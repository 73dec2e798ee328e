"""Policies per provider (bot/workflow/policies.py) and how intake applies them, on SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
import threading
from datetime import timedelta

import pytest

from bot.domain import NotAllowed, Role, Status
from bot.policy import ApprovalPolicy, InvalidPolicy
from bot.sealing import Sealer, ephemeral_key
from bot.workflow import ResetWorkflow
from bot.workflow.policies import UnknownProvider
from storage.db import make_sessionmaker
from tests.unit.conftest import ENGINEER, OTHER, InlineExecutor, mofh_form
from tests.unit.test_workflow import submit as submit_one

ADMIN = "U0ADMIN0001"


def submit(workflow, form=None, view_id="V1", user=ENGINEER):
    """One request per view, each for its own account: an account takes one open request (intake.py)."""
    return submit_one(workflow, form=form or mofh_form(f"k{view_id}"), view_id=view_id, user=user)


def namecheap_form(user: str = "alice", **overrides):
    return mofh_form(provider="namecheap", account=user, method="email_link", **overrides)


def test_a_provider_without_a_stored_policy_has_the_settings_defaults(engine, gateways, notifier, clock):
    flow = ResetWorkflow(sessions=make_sessionmaker(engine), providers=gateways, sealer=Sealer(ephemeral_key()),
                         notifier=notifier, executor=InlineExecutor(), clock=clock, approval_ttl=600,
                         requests_per_hour=7)
    defaults = ApprovalPolicy(approvals=1, expire_after=600, remind_after=0, escalate_after=0, escalate_to=None,
                              requests_per_hour=7)
    assert flow.policies.effective("mofh") == defaults
    assert flow.policies.all() == {"mofh": defaults, "namecheap": defaults, "cpanel": defaults,  # registry order
                                   "plesk": defaults}
    assert list(flow.policies.all()) == ["mofh", "namecheap", "cpanel", "plesk"]


def test_set_changes_only_the_fields_given_and_is_audited_with_old_and_new(workflow, clock):
    change = workflow.policies.set("mofh", {"approvals": 2, "remind_after": 900}, actor=ADMIN)
    assert change.changed == ["approvals", "remind_after"] and change.weakened == []
    assert workflow.policies.effective("mofh") == ApprovalPolicy(approvals=2, remind_after=900)
    assert workflow.policies.effective("namecheap") == ApprovalPolicy()  # the other provider is untouched
    clock.advance(60)
    again = workflow.policies.set("mofh", {"approvals": 1}, actor="cli:ops")
    assert again.old.approvals == 2 and again.new == ApprovalPolicy(remind_after=900)
    assert again.weakened == ["fewer approvals (2 → 1)"]
    events = [e for e in workflow.admin.audit_trail() if e.action == "policy_changed"]
    assert [(e.actor_id, e.provider) for e in events] == [(ADMIN, "mofh"), ("cli:ops", "mofh")]
    assert events[0].detail["old"] == ApprovalPolicy().as_dict()
    assert events[0].detail["new"] == ApprovalPolicy(approvals=2, remind_after=900).as_dict()
    assert events[0].detail["changed"] == ["approvals", "remind_after"] and events[0].detail["weakened"] == []
    assert events[1].detail["weakened"] == ["fewer approvals (2 → 1)"]


def test_a_set_that_changes_nothing_writes_no_audit(workflow):
    assert workflow.policies.set("mofh", {"approvals": 1}, actor=ADMIN).changed == []
    assert not [e for e in workflow.admin.audit_trail() if e.action == "policy_changed"]


def test_an_invalid_change_or_unknown_provider_changes_nothing(workflow):
    workflow.policies.set("mofh", {"remind_after": 900}, actor=ADMIN)
    with pytest.raises(InvalidPolicy) as refused:
        workflow.policies.set("mofh", {"expire_after": 600}, actor=ADMIN)
    assert refused.value.field == "remind_after"
    with pytest.raises(UnknownProvider, match="mofh, namecheap, cpanel"):
        workflow.policies.set("aws", {"approvals": 2}, actor=ADMIN)
    assert workflow.policies.effective("mofh") == ApprovalPolicy(remind_after=900)
    assert len([e for e in workflow.admin.audit_trail() if e.action == "policy_changed"]) == 1


def test_a_request_keeps_the_policy_it_was_made_under(workflow, clock):
    workflow.policies.set("mofh", {"approvals": 2, "expire_after": 90, "remind_after": 30, "escalate_after": 60,
                                   "escalate_to": "S0LEADS01"}, actor=ADMIN)
    request = submit(workflow)
    assert request.expires_at == clock.now + timedelta(seconds=90)
    assert request.approvals_needed == 2
    assert request.remind_at == clock.now + timedelta(seconds=30)
    assert request.escalate_at == clock.now + timedelta(seconds=60) and request.escalate_to == "S0LEADS01"
    workflow.policies.set("mofh", {"approvals": 1, "expire_after": 3600, "remind_after": 0, "escalate_after": 0},
                          actor=ADMIN)
    kept = workflow.lookups.get(request.id)
    assert (kept.approvals_needed, kept.expires_at, kept.remind_at, kept.escalate_at, kept.escalate_to) == (
        2, request.expires_at, request.remind_at, request.escalate_at, "S0LEADS01")
    later = submit(workflow, view_id="V2", form=mofh_form("susp01x"))
    assert (later.approvals_needed, later.remind_at, later.escalate_at, later.escalate_to) == (1, None, None, None)
    assert later.expires_at == clock.now + timedelta(hours=1)


def test_without_a_policy_a_request_needs_one_approval_and_expires_after_the_approval_ttl(workflow, clock):
    request = submit(workflow)
    assert request.approvals_needed == 1 and request.expires_at == clock.now + timedelta(seconds=3600)
    assert (request.remind_at, request.escalate_at, request.escalate_to) == (None, None, None)


def test_the_hourly_cap_comes_from_the_providers_policy_per_engineer_and_provider(workflow, clock):
    workflow.admin.grant(OTHER, Role.REQUESTER, None, actor="test")
    workflow.policies.set("mofh", {"requests_per_hour": 2}, actor=ADMIN)
    submit(workflow, view_id="V1")
    submit(workflow, view_id="V2")
    with pytest.raises(NotAllowed, match="You have made 2 reset requests in the last hour for MyOwnFreeHost"):
        submit(workflow, view_id="V3")
    # Another engineer, and the same engineer for another provider, have budgets of their own.
    assert submit(workflow, view_id="V4", user=OTHER).status is Status.PENDING
    assert submit(workflow, view_id="V5", form=namecheap_form()).status is Status.PENDING
    refusals = [e for e in workflow.admin.audit_trail() if e.action == "request_refused"]
    assert [(e.actor_id, e.provider, e.detail["why"]) for e in refusals] == [(ENGINEER, "mofh", "hourly cap")]
    clock.advance(3601)
    assert submit(workflow, view_id="V6").status is Status.PENDING


def test_refused_requests_do_not_use_up_the_cap(workflow, clock):
    workflow.policies.set("mofh", {"requests_per_hour": 2}, actor=ADMIN)
    submit(workflow, view_id="V1")
    clock.advance(1800)
    submit(workflow, view_id="V2")
    clock.advance(100)
    for n in range(5):
        with pytest.raises(NotAllowed, match="Try again in 28 min"):
            submit(workflow, view_id=f"R{n}")
    clock.advance(1701)  # V1's slot frees; the refusals, had they taken one, would still hold theirs
    assert submit(workflow, view_id="V3").status is Status.PENDING
    with pytest.raises(NotAllowed):
        submit(workflow, view_id="V4")  # V2 and V3


def test_a_cap_of_0_means_no_cap(workflow):
    workflow.policies.set("mofh", {"requests_per_hour": 0}, actor=ADMIN)
    for n in range(25):
        assert submit(workflow, view_id=f"V{n}").status is Status.PENDING


def test_a_lowered_cap_counts_the_requests_already_made(workflow):
    for n in range(3):
        submit(workflow, view_id=f"V{n}")
    workflow.policies.set("mofh", {"requests_per_hour": 3}, actor=ADMIN)
    with pytest.raises(NotAllowed, match="3 reset requests"):
        submit(workflow, view_id="V3")


def test_concurrent_changes_to_one_policy_lose_nothing_and_audit_the_true_old_values(workflow):
    changes = [{"approvals": 2}, {"remind_after": 600}, {"requests_per_hour": 5}, {"escalate_to": "S0LEADS01"}]
    start = threading.Barrier(len(changes))

    def change(values):
        start.wait()
        workflow.policies.set("namecheap", values, actor=ADMIN)

    threads = [threading.Thread(target=change, args=(values,)) for values in changes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert workflow.policies.effective("namecheap") == ApprovalPolicy(approvals=2, remind_after=600,
                                                                      requests_per_hour=5, escalate_to="S0LEADS01")
    events = [e.detail for e in workflow.admin.audit_trail() if e.action == "policy_changed"]
    assert len(events) == 4
    assert events[0]["old"] == ApprovalPolicy().as_dict()
    for before, after in itertools.pairwise(events):
        assert after["old"] == before["new"]  # each change saw the one before it
