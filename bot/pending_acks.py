"""Acks first: work that may wait yields to deliveries still waiting for their ack (issue 13).

Every delivery must be acked within 3 s, and Python runs one thread at a time: under a burst,
a thread posting an earlier request's card or DM competes with the threads building later
deliveries' acks, and those acks wait. So each transport counts the deliveries it received and
has not acked yet, and what runs after an ack (the rest of a listener, the background runners,
the sweep) first waits until that count is zero, for at most `max_wait`: a flood that never
ends delays that work by `max_wait`, never longer, which keeps a modal opened after its
command's ack well inside the trigger_id's 3 s.
"""

from __future__ import annotations

import threading
import time

# How long work after an ack waits for the others' acks at most (the trigger_id budget is 3 s).
MAX_WAIT_SECONDS = 0.5


class PendingAcks:
    def __init__(self, max_wait: float = MAX_WAIT_SECONDS) -> None:
        self.max_wait = max_wait
        self._pending = 0
        self._waiters = 0
        self._quiet = threading.Condition()

    def arrived(self) -> None:
        with self._quiet:
            self._pending += 1

    def acked(self) -> None:
        with self._quiet:
            self._pending = max(self._pending - 1, 0)
            if self._pending == 0:
                self._quiet.notify_all()

    @property
    def pending(self) -> int:
        return self._pending

    @property
    def waiters(self) -> int:
        """Threads holding back work until the pending acks are sent (what tests and bench/ poll for)."""
        return self._waiters

    def yield_to_acks(self) -> float:
        """Wait until no delivery waits for its ack, or `max_wait`; the seconds waited."""
        if self._pending == 0:  # the common case: no lock taken
            return 0.0
        began = time.monotonic()
        with self._quiet:
            self._waiters += 1
            try:
                self._quiet.wait_for(lambda: self._pending == 0, self.max_wait)
            finally:
                self._waiters -= 1
        return time.monotonic() - began


class NoPendingAcks(PendingAcks):
    """Where nothing counts deliveries (the CLI, tests that call use cases directly): nothing to wait for."""

    def arrived(self) -> None:
        pass
