"""The request and reveal state machines (bot/domain.py), and that storage refuses what they refuse."""

from __future__ import annotations

from datetime import timedelta
from itertools import product

import pytest

from bot.domain import (
    TRANSITIONS,
    InvalidTransition,
    RevealState,
    Status,
    check_reveal_transition,
    check_transition,
)
from storage import repository as repo
from storage.db import make_sessionmaker, transaction
from tests.unit.conftest import APPROVER, ENGINEER, mofh_form

# Written out here, not read from bot/domain.py, so a change to the table has to change this too.
ALLOWED = {
    (None, Status.PENDING),  # submit
    (Status.PENDING, Status.EXECUTING),  # approve
    (Status.PENDING, Status.DENIED),  # deny
    (Status.PENDING, Status.EXPIRED),  # nobody approved in time
    (Status.PENDING, Status.CANCELLED),  # the requester cancelled it
    (Status.PENDING, Status.WITHDRAWN),  # an approval found the requester no longer a requester
    (Status.EXECUTING, Status.EXECUTING),  # a live replica takes over a lapsed lease
    (Status.EXECUTING, Status.SUCCEEDED),
    (Status.EXECUTING, Status.FAILED),  # provider refused, seal broken, provider no longer enabled
    (Status.EXECUTING, Status.UNKNOWN),  # ambiguous answer, or a recovery that cannot safely retry
}
ALL_PAIRS = list(product([None, *Status], Status))

REVEAL_ALLOWED = {
    (RevealState.NONE, RevealState.READY),  # the execution succeeded with a new password
    (RevealState.READY, RevealState.OPENING),  # a click claims the reveal
    (RevealState.READY, RevealState.EXPIRED),  # past RESETBOT_REVEAL_TTL
    (RevealState.OPENING, RevealState.OPENING),  # a stale claim is claimed again
    (RevealState.OPENING, RevealState.REVEALED),
    (RevealState.OPENING, RevealState.READY),  # the modal could not be shown
    (RevealState.OPENING, RevealState.EXPIRED),  # past the TTL, or the seal would not open
}
ALL_REVEAL_PAIRS = list(product(RevealState, RevealState))


def _name(pair) -> str:
    return f"{pair[0] or 'new'}->{pair[1]}"


@pytest.mark.parametrize("pair", sorted(ALLOWED, key=_name), ids=_name)
def test_allowed_status_moves(pair):
    check_transition(*pair)


@pytest.mark.parametrize("pair", [p for p in ALL_PAIRS if p not in ALLOWED], ids=_name)
def test_refused_status_moves(pair):
    with pytest.raises(InvalidTransition, match="cannot go from"):
        check_transition(*pair)


@pytest.mark.parametrize("pair", sorted(REVEAL_ALLOWED, key=_name), ids=_name)
def test_allowed_reveal_moves(pair):
    check_reveal_transition(*pair)


@pytest.mark.parametrize("pair", [p for p in ALL_REVEAL_PAIRS if p not in REVEAL_ALLOWED], ids=_name)
def test_refused_reveal_moves(pair):
    with pytest.raises(InvalidTransition, match="cannot go from"):
        check_reveal_transition(*pair)


def test_final_statuses_are_the_ones_nothing_may_follow():
    assert {s for s in Status if s.is_final} == {Status.SUCCEEDED, Status.FAILED, Status.UNKNOWN, Status.DENIED,
                                                  Status.EXPIRED, Status.CANCELLED, Status.WITHDRAWN}
    assert all(not TRANSITIONS.get(s) for s in Status if s.is_final)


def test_storage_refuses_a_move_the_state_machine_refuses_and_leaves_the_row(workflow, engine, clock):
    request, _ = workflow.intake.submit(mofh_form(), requester_id=ENGINEER, source_view_id="V1")
    workflow.decisions.deny(request.id, APPROVER)
    sessions = make_sessionmaker(engine)
    with pytest.raises(InvalidTransition), transaction(sessions) as session:
        repo.transition(session, request.id, from_status=Status.DENIED, to_status=Status.EXECUTING,
                        now=clock() + timedelta(seconds=1))
    with pytest.raises(InvalidTransition), transaction(sessions) as session:
        repo.set_reveal_state(session, "sec_any", from_state=RevealState.REVEALED, to_state=RevealState.READY,
                              now=clock())
    assert workflow.lookups.get(request.id).status is Status.DENIED
