"""Two apps (replicas) on one PostgreSQL database, one simulated Slack: sweeping at once, they post each
reminder and each escalation exactly once (bot/workflow/reminders.py claims each in the database first).

PostgreSQL only (SQLite is for one process). The apps are built in this process by the composition root,
as `resetbot run` builds them; their sweeps run together, released by one barrier, round after round.
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from bot.app import build_runtime
from bot.forms import RequestForm
from storage import repository as repo
from storage.db import transaction
from tests.conftest import POSTGRES_URL, fresh_postgres_database
from tests.e2e.conftest import APPROVALS, ENGINEER, REASON, _grant, _world, make_settings

pytestmark = [pytest.mark.postgres,
              pytest.mark.skipif(not POSTGRES_URL, reason="RESETBOT_TEST_POSTGRES_URL is not set")]

REQUESTS = 12


@pytest.fixture
def two_replicas():
    url, drop = fresh_postgres_database()
    sim, sandbox = _world()
    replicas = [build_runtime(make_settings(sim, sandbox, url), replica_id=name) for name in ("replica-a", "replica-b")]
    _grant(replicas[0])
    try:
        yield sim, replicas, url
    finally:
        for runtime in replicas:
            runtime.shutdown(timeout=10)
        sandbox.stop()
        sim.stop()
        drop()


def test_two_replicas_sweeping_at_once_post_each_reminder_and_escalation_once(two_replicas):
    sim, (a, b), url = two_replicas
    a.workflow.policies.set("mofh", {"remind_after": 600, "escalate_after": 1200, "escalate_to": "S0LEADS0001"},
                            actor="test")
    ids = []
    for n in range(REQUESTS):
        form = RequestForm("mofh", f"rmnd{n:04d}", REASON, None)
        request, _ = (a if n % 2 else b).workflow.intake.submit(form, requester_id=ENGINEER, source_view_id=f"V{n}")
        ids.append((a if n % 2 else b).workflow.intake.announce(request).id)
    # The channel also gets the insider-risk alert (over 10 distinct accounts in an hour): count cards by request.
    cards = {a.workflow.lookups.get(rid).card.ts for rid in ids}
    assert len(cards) == REQUESTS and cards <= {m.ts for m in sim.messages(APPROVALS)}
    past = datetime.now(UTC) - timedelta(seconds=1)
    with transaction(a.workflow.context.sessions) as session:  # due now, by the database's clock
        for rid in ids:
            repo.set_fields(session, rid, remind_at=past, escalate_at=past)
    for _ in range(3):
        start = threading.Barrier(2)
        counts: list[int] = []

        def sweep(runtime, start=start, counts=counts):
            start.wait()
            counts.append(runtime.workflow.sweeper.reminders.post_due())

        threads = [threading.Thread(target=sweep, args=(runtime,)) for runtime in (a, b)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    replies = [m for m in sim.messages(APPROVALS, include_replies=True) if m.thread_ts and m.thread_ts != m.ts]
    per_card = Counter((m.thread_ts, "Escalated" in m.text) for m in replies)
    assert set(per_card) == {(ts, kind) for ts in cards for kind in (False, True)}
    assert set(per_card.values()) == {1}, per_card  # one reminder and one escalation per card, never two
    assert sim.calls_to("chat.delete") == []  # and no replica posted one it had to withdraw
    engine = sa.create_engine(url)
    try:
        with engine.connect() as db:
            audited = Counter(db.execute(sa.text(
                "select action from audit_events where action in ('reminded', 'escalated')")).scalars())
    finally:
        engine.dispose()
    assert audited == {"reminded": REQUESTS, "escalated": REQUESTS}
