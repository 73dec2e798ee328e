"""Provider vocabulary shared by every client: outcomes, result types and the call-budget port.

Clients never raise for a provider answer or a transport failure; they return a
`ChangeResult` or `LookupResult` whose `outcome` says what happened and whose
`message` is a short sentence an engineer can act on. Each provider lives in its own
folder here (`mofh/`, `namecheap/`, `cpanel/`); `registry.py` lists them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol


class Outcome(StrEnum):
    CHANGED = "changed"
    CHANGED_IDEMPOTENT = "changed_idempotent"
    ACCOUNT_INACTIVE = "account_inactive"
    ACCOUNT_NOT_FOUND = "account_not_found"
    INVALID_USERNAME = "invalid_username"
    INVALID_PASSWORD = "invalid_password"
    CHANGE_REJECTED = "change_rejected"
    AUTH_FAILED = "auth_failed"
    IP_NOT_ALLOWED = "ip_not_allowed"
    RATE_LIMITED = "rate_limited"
    BAD_REQUEST = "bad_request"
    PROVIDER_ERROR = "provider_error"
    PROVIDER_UNAVAILABLE = "provider_unavailable"
    UNKNOWN = "unknown"
    RESET_EMAIL_SENT = "reset_email_sent"
    LOOKUP_OK = "lookup_ok"
    LOOKUP_EMPTY = "lookup_empty"
    LOOKUP_ERROR = "lookup_error"

    @property
    def is_success(self) -> bool:
        return self in _SUCCESSES


_SUCCESSES = frozenset({Outcome.CHANGED, Outcome.CHANGED_IDEMPOTENT, Outcome.RESET_EMAIL_SENT, Outcome.LOOKUP_OK})

AMBIGUOUS = "ambiguous"


@dataclass(frozen=True)
class ProviderResult:
    """Fields common to every provider answer. A field that does not apply is None ([] for lists)."""

    outcome: Outcome
    message: str  # one sentence for the engineer; never contains a secret
    provider_message: str | None = None  # whitespace-collapsed, redacted provider text, at most 512 chars
    http_status: int | None = None
    account_status: str | None = None  # MyOwnFreeHost state letter: a, x, r, c
    reason: str | None = None  # sub-reason, e.g. too_short / illegal_characters
    error_numbers: list[int] = field(default_factory=list)
    retryable: bool = False  # the same call may safely be repeated later
    certainty: str | None = None  # "ambiguous" when the answer cannot tell what happened
    attempts: int = 1  # requests actually sent (0 = refused locally or by the limiter)
    user_id: str | None = None
    email: str | None = None
    domains: list[str] = field(default_factory=list)
    account_state: str | None = None  # ACTIVE, SUSPENDED or MIXED
    vp_username: str | None = None

    @property
    def ok(self) -> bool:
        return self.outcome.is_success


@dataclass(frozen=True)
class ChangeResult(ProviderResult):
    """Answer to change_password / reset_password."""

    @classmethod
    def unreadable(cls, message: str, *, http_status: int, attempts: int) -> ChangeResult:
        """A parser surprise: it never escapes as an exception (nor leaks a body), and it decides nothing."""
        return cls(Outcome.UNKNOWN, message, http_status=http_status, certainty=AMBIGUOUS, attempts=attempts)


@dataclass(frozen=True)
class LookupResult(ProviderResult):
    """Answer to a read-only account lookup (getuserdomains / getdomainuser, accountsummary / getdomainowner)."""

    username: str | None = None  # the account the lookup resolved to, where the provider names one (cPanel)


class CallBudget(Protocol):
    """A shared rate limit a client takes a slot from before each call (storage/budget.py keeps one in the database)."""

    def try_acquire(self, key: str, *, limit: int, window_seconds: float) -> float:
        """Take a slot for `key`: 0.0 when taken, else the seconds until one frees (nothing taken)."""
        ...


__all__ = ["AMBIGUOUS", "CallBudget", "ChangeResult", "LookupResult", "Outcome", "ProviderResult"]
