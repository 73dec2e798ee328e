"""What a new cPanel password must be: 20 letters and digits with every class, never holding the account's name.

docs/provider-cpanel.md §9: cPanel refuses a password shorter than 5 characters or one that
contains the username (case-insensitively), then rates its strength and refuses anything below
the server's `minpwstrength` (at most 100). 20 random alphanumerics rate 100 with a wide margin.

The account a request names is its username, or a domain whose username WHM gives only at
execution. For a domain, the generator keeps out the names cPanel derives a username from by
default (the first label's letters and digits, whole and cut to 8): a short label is where a
clash is likely. Whatever WHM then names, the client refuses locally, with nothing sent, a
password that contains it (bot/providers/cpanel/client.py).
"""

from __future__ import annotations

import string

from bot.passwords import ALNUM, PasswordRules
from bot.providers.cpanel.account import is_domain, normalised_domain

PASSWORD_LENGTH = 20


def names_in(account: str) -> tuple[str, ...]:
    """The names a password for `account` (a username, or a domain) must not contain."""
    if is_domain(normalised_domain(account)):
        label = "".join(ch for ch in normalised_domain(account).split(".", 1)[0] if ch.isascii() and ch.isalnum())
        return tuple(dict.fromkeys(name for name in (label, label[:8]) if name))
    return (account,) if account else ()


CPANEL_RULES = PasswordRules(
    length=PASSWORD_LENGTH,
    alphabet=ALNUM,
    min_length=PASSWORD_LENGTH,
    max_length=PASSWORD_LENGTH,
    required_classes=(string.ascii_lowercase, string.ascii_uppercase, string.digits),
    names_in=names_in,
)

__all__ = ["CPANEL_RULES", "PASSWORD_LENGTH", "names_in"]
