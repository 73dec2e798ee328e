"""New passwords, drawn with `secrets` to each provider's rules (providers.md §1.8, §2.6; security.md §4)."""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass

from bot.secret import Secret

ALNUM = string.ascii_letters + string.digits
# Namecheap's own example password contains "~"; these symbols are form-encoded and survive it.
NAMECHEAP_SYMBOLS = "~!@#%*-_+="


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


MOFH_RULES = PasswordRules(length=16, alphabet=ALNUM, min_length=16, max_length=16)
NAMECHEAP_RULES = PasswordRules(
    length=18,
    alphabet=ALNUM + NAMECHEAP_SYMBOLS,
    min_length=8,
    max_length=20,
    required_classes=(string.ascii_uppercase, string.ascii_lowercase, string.digits, NAMECHEAP_SYMBOLS),
)


def generate(rules: PasswordRules) -> Secret:
    """A fresh password; rejection sampling keeps the distribution uniform over valid outputs."""
    while True:
        candidate = "".join(secrets.choice(rules.alphabet) for _ in range(rules.length))
        if all(any(ch in cls for ch in candidate) for cls in rules.required_classes):
            return Secret(candidate)
