"""The cPanel gateway: a request's method mapped to `CpanelClient` (one method, `passwd`), and the account's context.

The request's account is what the account field returned (account.py): a cPanel username, or
a domain, which `getdomainowner` resolves right before `passwd` (the client refuses, with
nothing changed, a domain that names no account the token may change).
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.domain import Method
from bot.providers import ChangeResult, LookupResult
from bot.providers.cpanel.account import is_domain
from bot.providers.cpanel.client import CpanelClient
from bot.providers.cpanel.passwords import CPANEL_RULES
from bot.providers.gateway import misuse
from bot.secret import Secret


class CpanelGateway:
    provider = "cpanel"  # its registry name (plugin.py reads it from here)
    rules = CPANEL_RULES
    # passwd has no "password reused" check for a WHM-initiated change: the same password twice succeeds twice
    # (docs/provider-cpanel.md §7), so a lapsed or unreadable call is repeated with the same sealed password.
    same_password_retry_is_safe = True

    def __init__(self, client: CpanelClient) -> None:
        self.client = client

    def execute(self, *, account: str, method: Method, new_password: Secret | None,
                secret_input: Secret | None) -> ChangeResult:
        if method is not Method.SET_PASSWORD or new_password is None:
            return misuse(f"cPanel cannot run the method {method.value}.")
        if is_domain(account):
            return self.client.change_password_by_domain(account, new_password)
        return self.client.change_password(account, new_password)

    def account_context(self, account: str, known_as: Sequence[str] = ()) -> LookupResult | None:
        """Read-only context for approvers about the request's account: `username` (resolved from a domain),
        `domains` ([main domain]) and `account_state` (ACTIVE / SUSPENDED)."""
        if is_domain(account):
            return self.client.account_info(domain=account)
        return self.client.account_info(username=account)

    def probe(self) -> LookupResult:
        """One harmless read-only call for `check --connect`: `accountsummary` of the token's own user.
        `lookup_ok` or `lookup_empty` = WHM answered and took the token; anything else is a problem."""
        return self.client.probe()
