"""Plesk's account field: the customer login, as the modal takes it and as the client checks it before sending.

Two patterns. `LOGIN` is Plesk's own rule (docs/provider-plesk.md §8.1: 1 to 255 characters,
the first a letter or digit, no whitespace or control character); the client refuses
anything else with nothing sent, above all an empty login, since an empty filter would select
every customer (§0.4). `FIELD_LOGIN` is what the modal accepts: ASCII letters, digits and
`. _ - @ +` only, at most 64, because the login is shown in Slack messages
(handlers/blocks.py) where `<`, `>`, `&`, backticks or `*` would be markup. Everything the
field accepts the client accepts too.
"""

from __future__ import annotations

import re

from bot.providers._names import non_ascii_problem
from bot.providers.plugin import AccountDirectory, AccountField, ParsedAccount

# Used with fullmatch: `$` would let a trailing newline through.
LOGIN = re.compile(r"[A-Za-z0-9][^\s\x00-\x1f\x7f]{0,254}")
FIELD_MAX = 64
FIELD_LOGIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}", re.ASCII)
FIELD_RULE = ("starts with a letter or digit and holds only letters, digits and . _ - @ +, "
              f"at most {FIELD_MAX} characters")

LABEL = "Account (Plesk customer login)"
HINT = "The login of the Plesk customer account whose panel password is reset."


def parse(raw: str, directory: AccountDirectory) -> ParsedAccount:
    """A Plesk account is the customer login as typed (case-sensitive); no directory is needed."""
    raw = raw.strip()
    if not raw:
        return ParsedAccount(raw, "Enter the Plesk customer login.")
    if problem := non_ascii_problem(raw):
        return ParsedAccount(raw, problem)
    if not FIELD_LOGIN.fullmatch(raw):
        return ParsedAccount(raw, f"A Plesk customer login this bot takes {FIELD_RULE}.")
    return ParsedAccount(raw)


ACCOUNT = AccountField(label=LABEL, hint=HINT, parse=parse, max_length=FIELD_MAX)

__all__ = ["ACCOUNT", "FIELD_LOGIN", "FIELD_MAX", "FIELD_RULE", "HINT", "LABEL", "LOGIN", "parse"]
