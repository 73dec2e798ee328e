"""What a new Plesk password must be: 20 characters passing Plesk's "Very strong" policy, never the login.

docs/provider-plesk.md §8.2: Plesk's strength policy is set on the server and cannot be read
through the API; its strictest level ("Very strong") asks for at least 16 characters with
upper- and lower-case letters, digits and special characters. So the bot draws 20 from
`A-Z a-z 0-9` and the specials Plesk's own hint lists, with at least two of each class (about
123 bits), and never a password that contains the customer login, compared case-insensitively
(Plesk refuses one that includes the user name). `&` is among the specials on purpose: an
escaping bug shows in the first test run. The client's own hard rules (5 to 255 printable
ASCII characters, no quote) are in client.py.
"""

from __future__ import annotations

import string

from bot.passwords import ALNUM, PasswordRules

PLESK_SPECIALS = "!@#$%^&*?_~"

PLESK_RULES = PasswordRules(
    length=20,
    alphabet=ALNUM + PLESK_SPECIALS,
    min_length=20,
    max_length=20,
    required_classes=(string.ascii_uppercase, string.ascii_lowercase, string.digits, PLESK_SPECIALS),
    min_each=2,
    names_in=lambda login: (login,),
)
