"""The Plesk gateway: a request's method mapped to `PleskClient` (one method), the approvers' context and a probe."""

from __future__ import annotations

from collections.abc import Sequence

from bot.domain import Method
from bot.providers import ChangeResult, LookupResult
from bot.providers.gateway import misuse
from bot.providers.plesk.client import PleskClient
from bot.providers.plesk.passwords import PLESK_RULES
from bot.secret import Secret


class PleskGateway:
    provider = "plesk"  # its registry name (plugin.py reads it from here)
    rules = PLESK_RULES
    # Setting a customer's password to the value it already has leaves the same state (docs/provider-plesk.md §7).
    same_password_retry_is_safe = True

    def __init__(self, client: PleskClient) -> None:
        self.client = client

    def execute(self, *, account: str, method: Method, new_password: Secret | None,
                secret_input: Secret | None) -> ChangeResult:
        if method is not Method.SET_PASSWORD or new_password is None:
            return misuse(f"Plesk cannot run the method {method.value}.")
        return self.client.change_password(account, new_password)

    def account_context(self, account: str, known_as: Sequence[str] = ()) -> LookupResult | None:
        """What approvers may see of the customer (read-only `customer/get` of the login typed; Plesk takes no
        directory name): its state, id and contact e-mail, `username` the login. None for an account the client
        would not send."""
        result = self.client.account_info(login=account)
        return None if result.attempts == 0 else result

    def probe(self) -> LookupResult:
        """A read-only call proving the URL and credentials work (for `check --connect`): ok when Plesk answered."""
        return self.client.probe()
