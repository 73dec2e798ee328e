"""What a new Namecheap password must be: 8 to 20 characters with every class, drawn 18 long."""

from __future__ import annotations

import string

from bot.passwords import ALNUM, PasswordRules

# Namecheap's own example password contains "~"; these symbols are form-encoded and survive it.
NAMECHEAP_SYMBOLS = "~!@#%*-_+="

NAMECHEAP_RULES = PasswordRules(
    length=18,
    alphabet=ALNUM + NAMECHEAP_SYMBOLS,
    min_length=8,
    max_length=20,
    required_classes=(string.ascii_uppercase, string.ascii_lowercase, string.digits, NAMECHEAP_SYMBOLS),
)
