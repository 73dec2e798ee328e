"""A rolling seal-key rotation never destroys what is set (issue 20 item 3; CONTRACT.md "Rules that always hold").

Two replicas share one database: `new` already holds `NEW,OLD`, `old` still holds only `OLD`. A value
sealed by `new` is one `old` cannot open: `old` must leave it for a replica that can (never destroy it,
never record its call as not sent), tell the clicker to try again, and log the key's fingerprint.
"""

from __future__ import annotations

import logging

import pytest

from bot.domain import NotAllowed, RevealState, Role, Status
from bot.sealing import Sealer, ephemeral_key
from bot.secret import Secret
from bot.workflow import ResetWorkflow
from storage.db import make_sessionmaker
from tests.unit.conftest import APPROVER, ENGINEER, InlineExecutor, RecordingNotifier, mofh_form
from tests.unit.test_outcomes import sealed_password

OLD, NEW = ephemeral_key(), ephemeral_key()


@pytest.fixture
def replicas(engine, gateways, clock):
    def replica(key: Secret, name: str) -> ResetWorkflow:
        return ResetWorkflow(sessions=make_sessionmaker(engine), providers=gateways, sealer=Sealer(key),
                             notifier=RecordingNotifier(), executor=InlineExecutor(), clock=clock,
                             approval_ttl=3600, reveal_ttl=900, replica_id=name,
                             db_clock=lambda session: clock())

    new = replica(Secret(f"{NEW.reveal()},{OLD.reveal()}"), "replica-new")
    old = replica(OLD, "replica-old")
    new.admin.grant(ENGINEER, Role.REQUESTER, None, actor="test")
    new.admin.grant(APPROVER, Role.APPROVER, None, actor="test")
    return new, old


def approved_on(flow: ResetWorkflow):
    request, _ = flow.intake.submit(mofh_form(), requester_id=ENGINEER, source_view_id=None)
    flow.intake.announce(request)
    flow.decisions.approve(request.id, APPROVER)
    return flow.lookups.get(request.id)


def test_a_reveal_click_on_a_replica_without_the_key_keeps_the_password_and_says_try_again(replicas, engine,
                                                                                          gateways, caplog):
    new, old = replicas
    done = approved_on(new)
    assert done.status is Status.SUCCEEDED
    button = new.context.notifier.reveal_button(done.id)
    with caplog.at_level(logging.ERROR), pytest.raises(NotAllowed, match="try again in a minute"):
        old.reveal.begin(button, ENGINEER)
    kept = old.lookups.get(done.id)
    assert kept.reveal_state is RevealState.READY and sealed_password(engine) is not None
    fingerprint = Sealer(NEW).fingerprints[0]
    assert any(fingerprint in r.getMessage() and r.levelno == logging.ERROR for r in caplog.records)
    assert NEW.reveal() not in caplog.text and OLD.reveal() not in caplog.text
    # The same click on a replica that holds the key: shown once, as always.
    _, secret = new.reveal.begin(button, ENGINEER)
    assert secret.reveal() == gateways["mofh"].calls[0]["password"]


def test_a_replica_without_the_key_never_takes_over_an_execution_it_cannot_open(replicas, engine, gateways, clock,
                                                                               caplog):
    new, old = replicas
    new.execution.execute, original = (lambda *a: None), new.execution.execute  # dies mid-call
    request, _ = new.intake.submit(mofh_form(), requester_id=ENGINEER, source_view_id=None)
    new.decisions.approve(request.id, APPROVER)
    new.execution.execute = original
    clock.advance(91)
    with caplog.at_level(logging.ERROR):
        assert old.execution.recover_executions() == 0
        old.execution.recover_executions()
    waiting = old.lookups.get(request.id)
    assert waiting.status is Status.EXECUTING and gateways["mofh"].calls == []
    assert "nothing was sent" not in (waiting.outcome_message or "") and sealed_password(engine) is not None
    assert sum("does not hold" in r.getMessage() for r in caplog.records) == 1  # once, however many sweeps
    # A replica that holds the key takes it over and makes the call.
    assert new.execution.recover_executions() == 1
    assert new.lookups.get(request.id).status is Status.SUCCEEDED and len(gateways["mofh"].calls) == 1


def test_an_execution_handed_to_a_replica_without_the_key_records_nothing(replicas, engine, gateways, clock):
    new, old = replicas
    new.execution.execute, original = (lambda *a: None), new.execution.execute
    request, _ = new.intake.submit(mofh_form(), requester_id=ENGINEER, source_view_id=None)
    new.decisions.approve(request.id, APPROVER)
    new.execution.execute = original
    # The lease is the approving replica's; a stray call by the old one (a race of the sweep) sends nothing.
    assert old.execution.execute(request.id, "replica-new") is None
    after = old.lookups.get(request.id)
    assert after.status is Status.EXECUTING and after.outcome is None and gateways["mofh"].calls == []
    assert sealed_password(engine) is not None


def test_the_sweep_of_a_replica_without_the_key_does_not_send_a_reveal_button_that_opens_nothing(replicas, engine,
                                                                                              clock):
    new, old = replicas
    new.context.notifier.send_reveal = lambda request: None  # Slack refused the DM on the replica that set it
    done = approved_on(new)
    assert done.status is Status.SUCCEEDED and done.reveal_sent_at is None
    clock.advance(16)
    assert old.sweeper.resend_missing_reveals() == 0
    assert "send_reveal" not in old.context.notifier.kinds()
    assert old.lookups.get(done.id).reveal_state is RevealState.READY and sealed_password(engine) is not None
