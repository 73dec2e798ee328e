"""One small protocol in front of both clients, so the workflow never knows which it calls.

`execute` maps a request's method to the client call; the concrete clients are
chosen in the composition root (`bot/app.py`).
"""

from __future__ import annotations

from typing import Protocol

from bot.domain import Method, Provider
from bot.passwords import MOFH_RULES, NAMECHEAP_RULES, PasswordRules
from bot.providers import ChangeResult, LookupResult, Outcome
from bot.secret import Secret


class ProviderGateway(Protocol):
    provider: Provider
    rules: PasswordRules
    # True when repeating the call with the same password is harmless (MyOwnFreeHost, §1.6).
    same_password_retry_is_safe: bool

    def execute(self, *, account: str, method: Method, new_password: Secret | None,
                secret_input: Secret | None) -> ChangeResult: ...

    def lookup(self, *, vpanel_username: str) -> LookupResult | None:
        """Read-only context for approvers (state, domains); None where the provider has none."""


class MofhGateway:
    provider = Provider.MOFH
    rules = MOFH_RULES
    same_password_retry_is_safe = True

    def __init__(self, client) -> None:  # bot.providers.mofh.MofhClient
        self.client = client

    def execute(self, *, account: str, method: Method, new_password: Secret | None,
                secret_input: Secret | None) -> ChangeResult:
        if method is not Method.SET_PASSWORD or new_password is None:
            return _misuse(f"MyOwnFreeHost cannot run the method {method.value}.")
        return self.client.change_password(account, new_password)

    def lookup(self, *, vpanel_username: str) -> LookupResult | None:
        return self.client.account_info(vpanel_username=vpanel_username)


class NamecheapGateway:
    provider = Provider.NAMECHEAP
    rules = NAMECHEAP_RULES
    same_password_retry_is_safe = False

    def __init__(self, client) -> None:  # bot.providers.namecheap.NamecheapClient
        self.client = client

    def execute(self, *, account: str, method: Method, new_password: Secret | None,
                secret_input: Secret | None) -> ChangeResult:
        if method is Method.EMAIL_LINK:
            return self.client.reset_password(find_by="USERNAME", value=account)
        if new_password is None or secret_input is None:
            return _misuse("The reset code or current password for this request is missing.")
        if method is Method.RESET_CODE:
            return self.client.change_password(new_password, reset_code=secret_input)
        if method is Method.CURRENT_PASSWORD:
            return self.client.change_password(new_password, username=account, old_password=secret_input)
        return _misuse(f"Namecheap cannot run the method {method.value}.")

    def lookup(self, *, vpanel_username: str) -> LookupResult | None:
        return None


def _misuse(message: str) -> ChangeResult:
    return ChangeResult(outcome=Outcome.BAD_REQUEST, message=message, attempts=0)
