"""New passwords, drawn with `secrets` to a provider's rules.

Each provider's rules live in its folder (`bot/providers/mofh/passwords.py`,
`bot/providers/namecheap/passwords.py`) and reach the workflow through its gateway.
"""

from __future__ import annotations

import secrets
import string
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

    def check(self, password: str) -> str | None:
        """Why `password` breaks these rules, or None when it keeps them."""
        if not self.min_length <= len(password) <= self.max_length:
            return f"must be {self.min_length} to {self.max_length} characters long"
        if any(ch not in self.alphabet for ch in password):
            return "contains characters outside the allowed set"
        if password != password.strip():
            return "must not start or end with a space"
        return None


def generate(rules: PasswordRules) -> Secret:
    """A fresh password; rejection sampling keeps the distribution uniform over valid outputs."""
    while True:
        candidate = "".join(secrets.choice(rules.alphabet) for _ in range(rules.length))
        if all(any(ch in cls for ch in candidate) for cls in rules.required_classes):
            return Secret(candidate)
