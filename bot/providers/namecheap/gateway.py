"""The Namecheap gateway: a request's method mapped to a `NamecheapClient` call (e-mail, reset code, old password)."""

from __future__ import annotations

from collections.abc import Sequence

from bot.domain import Method
from bot.providers import ChangeResult, LookupResult
from bot.providers.gateway import misuse
from bot.providers.namecheap.client import NamecheapClient
from bot.providers.namecheap.passwords import NAMECHEAP_RULES
from bot.secret import Secret


class NamecheapGateway:
    provider = "namecheap"  # its registry name (plugin.py reads it from here)
    rules = NAMECHEAP_RULES
    # A repeat is refused (a reused password, a spent reset code) even when the first call changed it.
    same_password_retry_is_safe = False

    def __init__(self, client: NamecheapClient) -> None:
        self.client = client

    def execute(self, *, account: str, method: Method, new_password: Secret | None,
                secret_input: Secret | None) -> ChangeResult:
        if method is Method.EMAIL_LINK:
            return self.client.reset_password(find_by="USERNAME", value=account)
        if new_password is None or secret_input is None:
            return misuse("The reset code or current password for this request is missing.")
        if method is Method.RESET_CODE:
            return self.client.change_password(new_password, reset_code=secret_input)
        if method is Method.CURRENT_PASSWORD:
            return self.client.change_password(new_password, username=account, old_password=secret_input)
        return misuse(f"Namecheap cannot run the method {method.value}.")

    def account_context(self, account: str, known_as: Sequence[str] = ()) -> LookupResult | None:
        return None  # Namecheap has no read-only call the bot may make for an account

    def probe(self) -> LookupResult | None:
        return None
