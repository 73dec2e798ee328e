"""The MyOwnFreeHost gateway: a request's method mapped to `MofhClient` (one method, `passwd`)."""

from __future__ import annotations

from bot.domain import Method
from bot.providers import ChangeResult, LookupResult
from bot.providers.gateway import misuse
from bot.providers.mofh.client import MofhClient
from bot.providers.mofh.passwords import MOFH_RULES
from bot.secret import Secret


class MofhGateway:
    provider = "mofh"  # its registry name (plugin.py reads it from here)
    rules = MOFH_RULES
    # The same password twice is "changed_idempotent" (tests/fixtures/providers/mofh/passwd_identical_password.xml).
    same_password_retry_is_safe = True

    def __init__(self, client: MofhClient) -> None:
        self.client = client

    def execute(self, *, account: str, method: Method, new_password: Secret | None,
                secret_input: Secret | None) -> ChangeResult:
        if method is not Method.SET_PASSWORD or new_password is None:
            return misuse(f"MyOwnFreeHost cannot run the method {method.value}.")
        return self.client.change_password(account, new_password)

    def lookup(self, *, vpanel_username: str) -> LookupResult | None:
        return self.client.account_info(vpanel_username=vpanel_username)
