"""Namecheap's account field and typed secrets: the username, the reset code, the current password.

One set of rules for the modal (through the workflow) and for `client.py`, which checks
the same patterns before it sends anything.
"""

from __future__ import annotations

import re

from bot.providers._names import non_ascii_problem
from bot.providers.plugin import AccountDirectory, AccountField, ParsedAccount

USERNAME_MAX = 20
# The documents give only "at most 20"; Namecheap usernames are letters and digits, and the
# charset keeps what engineers type free of Slack mrkdwn (handlers/blocks.py shows the account).
USERNAME = re.compile(r"^[A-Za-z0-9._-]{1,20}\Z", re.ASCII)
USERNAME_RULE = f"at most {USERNAME_MAX} letters, digits, dots, dashes or underscores"
RESET_CODE = re.compile(r"^[A-Za-z0-9]{1,50}\Z", re.ASCII)
OLD_PASSWORD_MAX = 20

LABEL = "Account (Namecheap username)"
HINT = "The Namecheap username whose password is reset."


def parse(raw: str, directory: AccountDirectory) -> ParsedAccount:
    """A Namecheap account is its username as typed; no directory is needed."""
    raw = raw.strip()
    if not raw:
        return ParsedAccount(raw, "Enter the Namecheap username.")
    if problem := non_ascii_problem(raw):
        return ParsedAccount(raw, problem)
    if not USERNAME.match(raw):
        return ParsedAccount(raw, f"A Namecheap username is {USERNAME_RULE}.")
    return ParsedAccount(raw)


def check_reset_code(typed: str) -> str | None:
    if not RESET_CODE.match(typed.strip()):
        return "Paste the reset code from Namecheap's e-mail: up to 50 letters and digits."
    return None


def check_current_password(typed: str) -> str | None:
    if not 1 <= len(typed.strip()) <= OLD_PASSWORD_MAX:
        return f"Enter the account's current password (at most {OLD_PASSWORD_MAX} characters)."
    return None


ACCOUNT = AccountField(label=LABEL, hint=HINT, parse=parse)

__all__ = [
    "ACCOUNT",
    "HINT",
    "LABEL",
    "OLD_PASSWORD_MAX",
    "RESET_CODE",
    "USERNAME",
    "USERNAME_MAX",
    "USERNAME_RULE",
    "check_current_password",
    "check_reset_code",
    "parse",
]
