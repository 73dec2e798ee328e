"""One small protocol in front of every client, so the workflow never knows which it calls.

`execute` maps a request's method to the client call. Each provider folder has its own
gateway (`mofh/gateway.py`, `namecheap/gateway.py`); its plugin builds it, and the
composition root (`bot/app.py`) asks every configured plugin for one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from bot.domain import Method, ProviderName
from bot.passwords import PasswordRules
from bot.providers import ChangeResult, LookupResult, Outcome
from bot.secret import Secret


class ProviderGateway(Protocol):
    provider: ProviderName
    rules: PasswordRules
    # True when repeating the call with the same password is harmless (MyOwnFreeHost, §1.6).
    same_password_retry_is_safe: bool

    def execute(self, *, account: str, method: Method, new_password: Secret | None,
                secret_input: Secret | None) -> ChangeResult: ...

    def account_context(self, account: str, known_as: Sequence[str] = ()) -> LookupResult | None:
        """Read-only context for approvers about a request's account (its `username` as the provider resolves it,
        domains, state); None where the provider has none. `known_as`: what the account directory calls it
        (bot/providers/plugin.py: AccountDirectory), for a provider whose read-only calls take another name."""

    def probe(self) -> LookupResult | None:
        """One harmless read-only call for `resetbot check --connect`; None where the provider has none (it is
        called only to change a password). `lookup_ok` or `lookup_empty` means it answered and took the
        credentials."""


def misuse(message: str) -> ChangeResult:
    """A call the gateway refuses without sending: the request asked for something this provider cannot do."""
    return ChangeResult(outcome=Outcome.BAD_REQUEST, message=message, attempts=0)
