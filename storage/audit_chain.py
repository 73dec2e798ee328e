"""The audit trail's hash chain (storage/models.py: AuditEvent; docs/CONTRACT.md "Rules that always hold").

Each event's `hash` is the hex SHA-256 of the previous event's hash (GENESIS before the first) followed by the
event's canonical JSON: its `at` (ISO 8601 in UTC, as Python's isoformat writes it), `actor_id`, `action`,
`request_id`, `provider`, `account` and `detail` (the stored JSON, parsed), with sorted keys, no spaces and
ASCII only. PostgreSQL computes the same hash in the statement that appends the event (storage/repository.py),
SQLite with `sha256_hex`, which storage/db.py registers on each of its connections as `resetbot_sha256`.

`walk` is `resetbot audit verify`: it recomputes every hash in chain order and names the first event that was
changed, removed or inserted out of order.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

GENESIS = "0" * 64  # the "previous hash" of the first event, and the head's hash before any event
SQLITE_SHA256 = "resetbot_sha256"  # the SQL function storage/db.py gives SQLite connections


def sha256_hex(text: str | None) -> str | None:
    return None if text is None else hashlib.sha256(text.encode()).hexdigest()


def parse_detail(text: str | None) -> Any:
    """A stored detail as the canonical form holds it: the JSON parsed (a text that is no JSON stays text)."""
    try:
        return json.loads(text or "{}")
    except ValueError:
        return text


def canonical(*, at: datetime, actor_id: str | None, action: str, request_id: str | None, provider: str | None,
              account: str | None, detail: Any) -> str:
    if at.tzinfo is None:
        raise ValueError("naive datetime given to the audit chain")
    return json.dumps({"account": account, "action": action, "actor_id": actor_id,
                       "at": at.astimezone(UTC).isoformat(), "detail": detail, "provider": provider,
                       "request_id": request_id}, sort_keys=True, separators=(",", ":"))


def chain_hash(prev_hash: str, canonical_json: str) -> str:
    return hashlib.sha256((prev_hash + canonical_json).encode()).hexdigest()


@dataclass(frozen=True)
class ChainRow:
    """One stored event, as `walk` checks it."""

    id: int
    seq: int
    prev_hash: str
    hash: str
    at: datetime
    actor_id: str | None
    action: str
    request_id: str | None
    provider: str | None
    account: str | None
    detail: str | None  # as stored

    def recomputed_hash(self) -> str:
        return chain_hash(self.prev_hash, canonical(
            at=self.at, actor_id=self.actor_id, action=self.action, request_id=self.request_id,
            provider=self.provider, account=self.account, detail=parse_detail(self.detail)))


def _seqs(first: int, last: int) -> str:
    return f"event seq {first}" if first == last else f"events seq {first}-{last}"


def walk(rows: Iterable[ChainRow], head_seq: int, head_hash: str) -> tuple[int, str | None]:
    """(events checked, the first problem or None), for `rows` in seq order and the chain's head."""
    count, seq, last_hash, last_id = 0, 0, GENESIS, None

    def after() -> str:
        return "the start of the chain" if last_id is None else f"event {last_id} (seq {seq})"

    for row in rows:
        name = f"event {row.id} (seq {row.seq})"
        if row.seq > head_seq:
            return count, f"{name} was inserted out of order: it comes after the chain's head (seq {head_seq})"
        if row.seq > seq + 1:
            return count, (f"{_seqs(seq + 1, row.seq - 1)} {'was' if row.seq == seq + 2 else 'were'} removed: the "
                           f"chain goes from {after()} to {name}")
        if row.seq <= seq:  # a seq of 0 or less: never given
            return count, f"{name} was inserted out of order: it comes before the start of the chain"
        if row.recomputed_hash() != row.hash:
            return count, f"{name} was changed: its contents no longer match its hash"
        if row.prev_hash != last_hash:
            return count, (f"{name} is out of order: it does not follow {after()} (it was inserted out of order, or "
                           "the event before it was removed, or changed and its hash recomputed)")
        if last_id is not None and row.id <= last_id:
            return count, f"{name} was inserted out of order: it was recorded before {after()}"
        count, seq, last_hash, last_id = count + 1, row.seq, row.hash, row.id
    if head_seq > seq:
        return count, (f"{_seqs(seq + 1, head_seq)} {'was' if head_seq == seq + 1 else 'were'} removed: the "
                       f"chain's head is at seq {head_seq}, its last event is {after()}")
    if head_hash != last_hash:
        if last_id is None:
            return count, "the chain's head was changed: it does not match the start of the chain"
        return count, f"{after()} was changed or replaced: it does not match the chain's head"
    return count, None
