"""The Namecheap budget (20 calls a minute per API user) is kept in the database, shared by replicas."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from storage.budget import DatabaseCallBudget
from storage.db import make_engine, make_sessionmaker


def test_two_replicas_share_one_budget(engine, database_url, clock):
    other_engine = make_engine(database_url)  # a second replica: its own engine and pool
    try:
        replicas = [DatabaseCallBudget(make_sessionmaker(engine), lambda session: clock()),
                    DatabaseCallBudget(make_sessionmaker(other_engine), lambda session: clock())]
        with ThreadPoolExecutor(8) as pool:
            waits = list(pool.map(lambda i: replicas[i % 2].try_acquire("namecheap:api", limit=20, window_seconds=60),
                                  range(30)))
        assert sorted(w == 0.0 for w in waits).count(True) == 20
        refused = [w for w in waits if w]
        assert all(0 < w <= 60 for w in refused)
        assert replicas[0].try_acquire("namecheap:other", limit=20, window_seconds=60) == 0.0  # per key
        clock.advance(61)
        assert replicas[1].try_acquire("namecheap:api", limit=20, window_seconds=60) == 0.0
    finally:
        other_engine.dispose()


def test_wait_is_until_the_oldest_slot_frees(engine, clock):
    budget = DatabaseCallBudget(make_sessionmaker(engine), lambda session: clock())
    assert budget.try_acquire("k", limit=2, window_seconds=60) == 0.0
    clock.advance(10)
    assert budget.try_acquire("k", limit=2, window_seconds=60) == 0.0
    clock.advance(5)
    assert abs(budget.try_acquire("k", limit=2, window_seconds=60) - 45.0) < 0.01
