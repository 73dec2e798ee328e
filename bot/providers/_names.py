"""Name shapes more than one provider checks: domain names, and the ASCII every account field requires.

Labels as in RFC 1035 (letters, digits, inner hyphens, at most 63); the last label is a
TLD of letters or an IDNA `xn--` label, so `1.2.3.4` or `example.-x` are not domains.
Every pattern is `re.ASCII`: with `re.IGNORECASE` alone Python also matches look-alikes
such as U+212A KELVIN SIGN for `k` (and U+017F for `s`), which lower() then maps to a
real account.
"""

from __future__ import annotations

import re
import unicodedata

DOMAIN = re.compile(
    r"^(?=.{1,253}\Z)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+(?:[a-z]{2,63}|xn--[a-z0-9-]{0,58}[a-z0-9])\Z",
    re.IGNORECASE | re.ASCII,
)


def non_ascii_problem(raw: str) -> str | None:
    """The sentence shown under Account when what was typed holds anything but ASCII, else None."""
    odd = next((ch for ch in raw if not ch.isascii()), None)
    if odd is None:
        return None
    name = unicodedata.name(odd, "a character")
    return (f"The account may hold only plain ASCII letters, digits, dots, dashes and underscores; it contains "
            f"U+{ord(odd):04X} ({name}), which only looks like one. Retype it.")
