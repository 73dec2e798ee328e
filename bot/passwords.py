"""New passwords, drawn with `secrets` to a provider's rules.

Each provider's rules live in its folder (`bot/providers/mofh/passwords.py`,
`bot/providers/namecheap/passwords.py`) and reach the workflow through its gateway.
A provider whose panel refuses a password that contains the account's name (cPanel) says
which names those are for an account (`names_in`); `generate` then draws again until the
password contains none of them, case-insensitively.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Callable
from dataclasses import dataclass

from bot.secret import Secret

ALNUM = string.ascii_letters + string.digits


@dataclass(frozen=True)
class PasswordRules:
    length: int
    alphabet: str
    min_length: int
    max_length: int
    # Each string is a class the password must draw at least one character from.
    required_classes: tuple[str, ...] = ()
    # The names a password for an account (as the request names it) must not contain, case-insensitively;
    # None when the provider has no such rule.
    names_in: Callable[[str], tuple[str, ...]] | None = None

    def check(self, password: str, *, account: str | None = None) -> str | None:
        """Why `password` breaks these rules (for `account`, when given), or None when it keeps them."""
        if not self.min_length <= len(password) <= self.max_length:
            return f"must be {self.min_length} to {self.max_length} characters long"
        if any(ch not in self.alphabet for ch in password):
            return "contains characters outside the allowed set"
        if password != password.strip():
            return "must not start or end with a space"
        if account is not None and self.names_in is not None:
            folded = password.casefold()
            if any(name and name.casefold() in folded for name in self.names_in(account)):
                return "must not contain the account's name"
        return None


def generate(rules: PasswordRules, *, account: str | None = None) -> Secret:
    """A fresh password (for `account`, when given); rejection sampling keeps the distribution uniform over
    valid outputs."""
    while True:
        candidate = "".join(secrets.choice(rules.alphabet) for _ in range(rules.length))
        if not all(any(ch in cls for ch in candidate) for cls in rules.required_classes):
            continue
        if account is None or rules.names_in is None or rules.check(candidate, account=account) is None:
            return Secret(candidate)
