"""What a new MyOwnFreeHost password must be: 16 letters and digits, no more, no fewer."""

from __future__ import annotations

from bot.passwords import ALNUM, PasswordRules

MOFH_RULES = PasswordRules(length=16, alphabet=ALNUM, min_length=16, max_length=16)
