"""Insider-risk alerts (bot/workflow/alerts.py), on SQLite and PostgreSQL: more refusals than the cap, or more
than 10 distinct accounts, in an hour post one alert per engineer and kind an hour, exactly once across replicas."""

from __future__ import annotations

import threading

import pytest

from bot.domain import NotAllowed, Role
from bot.policy import RiskKind
from bot.sealing import Sealer, ephemeral_key
from bot.workflow import ResetWorkflow
from storage.db import make_sessionmaker
from tests.unit.conftest import ENGINEER, InlineExecutor, mofh_form


def submit(flow, account, view_id, user=ENGINEER):
    return flow.intake.submit(mofh_form(account), requester_id=user, source_view_id=view_id)[0]


def alerts(notifier):
    return [alert for kind, alert in notifier.events if kind == "post_alert"]


def risk_audit(flow):
    return [e for e in flow.admin.audit_trail() if e.action == "risk_alert"]


def test_more_than_10_distinct_accounts_in_an_hour_post_one_alert_an_hour(workflow, notifier, clock):
    for n in range(10):
        submit(workflow, f"acct{n:04d}", f"V{n}")
    assert alerts(notifier) == []  # 10 is not more than 10
    submit(workflow, "acct0010", "V10")
    (alert,) = alerts(notifier)
    assert (alert.engineer_id, alert.kind, alert.count, alert.threshold) == (ENGINEER, RiskKind.ACCOUNTS, 11, 10)
    submit(workflow, "acct0011", "V11")
    assert len(alerts(notifier)) == 1  # at most one an hour
    (event,) = risk_audit(workflow)
    assert event.actor_id is None and event.account is None  # names a count, never an account
    assert event.detail == {"engineer": ENGINEER, "kind": "accounts", "count": 11, "threshold": 10, "window": "1h"}
    clock.advance(3601)  # a new hour: the old requests no longer count, and the claim has lapsed
    for n in range(11):
        submit(workflow, f"late{n:04d}", f"VL{n}")
    assert [a.count for a in alerts(notifier)] == [11, 11]


def test_more_refusals_than_the_cap_in_an_hour_post_one_alert(workflow, notifier, clock):
    workflow.policies.set("mofh", {"requests_per_hour": 2}, actor="cli:ops")
    submit(workflow, "acct0001", "V1")
    submit(workflow, "acct0002", "V2")
    for n in range(3):  # the same refusal three times within a minute: one audit row counting 3
        with pytest.raises(NotAllowed):
            submit(workflow, "acct0003", f"VR{n}")
        assert len(alerts(notifier)) == (1 if n == 2 else 0)
        clock.advance(5)
    (alert,) = alerts(notifier)
    assert (alert.kind, alert.count, alert.threshold, alert.provider) == (RiskKind.REFUSALS, 3, 2, "mofh")
    with pytest.raises(NotAllowed):
        submit(workflow, "acct0004", "VR9")
    assert len(alerts(notifier)) == 1
    assert [e.detail["kind"] for e in risk_audit(workflow)] == ["refusals"]


def test_two_replicas_storing_the_11th_and_12th_request_at_once_post_one_alert(engine, gateways, notifier, clock):
    a, b = [ResetWorkflow(sessions=make_sessionmaker(engine), providers=gateways, sealer=Sealer(ephemeral_key()),
                          notifier=notifier, executor=InlineExecutor(), clock=clock, replica_id=name)
            for name in ("a", "b")]
    a.admin.grant(ENGINEER, Role.REQUESTER, None, actor="test")
    for n in range(10):
        submit(a, f"acct{n:04d}", f"V{n}")
    start = threading.Barrier(2)

    def last(flow, account):
        start.wait()
        submit(flow, account, f"V{account}")

    threads = [threading.Thread(target=last, args=(a, "acct0010")), threading.Thread(target=last, args=(b, "acct0011"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(alerts(notifier)) == 1 and len(risk_audit(a)) == 1
