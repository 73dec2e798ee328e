"""A call budget kept in the database, so every replica shares one limit (CONTRACT: Namecheap 20/min per api_user)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from storage import repository as repo
from storage.db import transaction


class DatabaseCallBudget:
    """The window is measured by the database's clock (`repo.db_now`), not this replica's:
    a replica whose clock runs ahead must not see the others' slots as already expired."""

    def __init__(self, sessions, db_clock: Callable[[Session], datetime] = repo.db_now) -> None:
        self.sessions = sessions
        self.db_clock = db_clock

    def try_acquire(self, key: str, *, limit: int, window_seconds: float) -> float:
        with transaction(self.sessions) as session:
            return repo.take_budget_slot(session, key, limit=limit, window=timedelta(seconds=window_seconds),
                                         now=self.db_clock(session))
