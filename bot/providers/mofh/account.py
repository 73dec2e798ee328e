"""MyOwnFreeHost's account field: what an engineer may type (key, vPanel username, domain) and the key it becomes.

`passwd` takes only the reseller's account key, never the vPanel username (the API answers
`tests/fixtures/providers/mofh/passwd_username_too_long.txt`), so the other two are looked
up in the account directory. The client checks
the same patterns before it sends anything (`client.py`).
"""

from __future__ import annotations

import re

from bot.providers._names import DOMAIN, non_ascii_problem
from bot.providers.plugin import AccountDirectory, AccountField, ParsedAccount

# re.ASCII throughout: IGNORECASE alone lets U+212A KELVIN SIGN pass as `k` (bot/providers/_names.py).
ACCOUNT_KEY = re.compile(r"^[A-Za-z0-9]{1,8}\Z", re.ASCII)
# A vPanel username: prefix, underscore, 6 to 10 digits (hname_12345678; older panels show 9).
VPANEL_USERNAME = re.compile(r"^[a-z0-9]{1,16}_[0-9]{6,10}\Z", re.IGNORECASE | re.ASCII)
# Anything of that shape, to tell the engineer why it cannot be sent as a key.
VPANEL_LIKE = re.compile(r"^[a-z0-9]+_[0-9]+\Z", re.IGNORECASE | re.ASCII)

LABEL = "Account (key, vPanel username or domain)"
HINT = "MyOwnFreeHost: the 8-character account key; a vPanel username or domain is looked up in the directory."


def parse(raw: str, directory: AccountDirectory) -> ParsedAccount:
    """The account key for what was typed, through the directory for a vPanel username or a domain."""
    raw = raw.strip()
    if not raw:
        return ParsedAccount(raw, "Enter the account key, vPanel username or domain.")
    if problem := non_ascii_problem(raw):
        return ParsedAccount(raw, problem)
    if ACCOUNT_KEY.match(raw):
        return ParsedAccount(raw)
    if VPANEL_USERNAME.match(raw):
        key = directory.key_for_vpanel_username(raw)
        if key:
            return ParsedAccount(key)
        return ParsedAccount(raw, (
            f"{raw} is a vPanel username, and the account directory has no account key for it. "
            "Enter the 8-character account key, or ask your bot admin to add it to the account directory."
        ))
    if DOMAIN.match(raw):
        key = directory.key_for_domain(raw)
        if key:
            return ParsedAccount(key)
        return ParsedAccount(raw, (
            f"The account directory has no MyOwnFreeHost account for the domain {raw}. "
            "Enter the 8-character account key instead."
        ))
    return ParsedAccount(raw, (
        "A MyOwnFreeHost account key is at most 8 letters and digits; "
        "you can also enter a vPanel username (abcd_12345678) or a domain."
    ))


ACCOUNT = AccountField(label=LABEL, hint=HINT, parse=parse)

__all__ = ["ACCOUNT", "ACCOUNT_KEY", "DOMAIN", "HINT", "LABEL", "VPANEL_LIKE", "VPANEL_USERNAME", "parse"]
