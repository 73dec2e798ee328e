"""The MyOwnFreeHost gateway: a request's method mapped to `MofhClient` (one method, `passwd`)."""

from __future__ import annotations

from collections.abc import Sequence

from bot.domain import Method
from bot.providers import ChangeResult, LookupResult
from bot.providers.gateway import misuse
from bot.providers.mofh.client import MofhClient
from bot.providers.mofh.passwords import MOFH_RULES
from bot.secret import Secret

# A vPanel username no account has (the sandbox and MyOwnFreeHost answer "none"): a harmless question to ask.
PROBE_VPANEL_USERNAME = "resetbot_00000000"


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

    def account_context(self, account: str, known_as: Sequence[str] = ()) -> LookupResult | None:
        """getuserdomains for the vPanel username the directory knows the account key as; None without one
        (MyOwnFreeHost's lookups take no account key)."""
        if not known_as:
            return None
        return self.client.account_info(vpanel_username=known_as[0])

    def probe(self) -> LookupResult:
        """getuserdomains of a vPanel username no account has: MyOwnFreeHost answers `lookup_empty`."""
        return self.client.account_info(vpanel_username=PROBE_VPANEL_USERNAME)
