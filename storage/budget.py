"""A call budget kept in the database, so every replica shares one limit (CONTRACT: Namecheap 20/min per api_user)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from storage import repository as repo
from storage.db import transaction


class DatabaseCallBudget:
    def __init__(self, sessions, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.sessions = sessions
        self.clock = clock

    def try_acquire(self, key: str, *, limit: int, window_seconds: float) -> float:
        with transaction(self.sessions) as session:
            return repo.take_budget_slot(session, key, limit=limit, window=timedelta(seconds=window_seconds),
                                         now=self.clock())
