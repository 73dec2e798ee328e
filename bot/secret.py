"""A string wrapper that never shows its value by accident.

Passwords, reset codes, API keys and tokens travel as `Secret` so that a stray
`repr()`, f-string, log call or exception argument prints `***` instead.
The value comes out only through an explicit `.reveal()`.
"""

from __future__ import annotations

import hmac
import re

MASK = "***"


class Secret:
    __slots__ = ("_value",)

    def __init__(self, value: str | Secret) -> None:
        if isinstance(value, Secret):
            value = value.reveal()
        if not isinstance(value, str):
            raise TypeError("Secret holds a str")
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({MASK!r})"

    def __str__(self) -> str:
        return MASK

    def __format__(self, spec: str) -> str:
        return MASK

    def __len__(self) -> int:
        return len(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Secret):
            return hmac.compare_digest(self._value.encode(), other._value.encode())
        return NotImplemented

    def __hash__(self) -> int:
        return hash((Secret, len(self._value)))

    def __reduce__(self):  # pickling would write the value somewhere we do not control
        raise TypeError("Secret cannot be pickled")


def reveal(value: str | Secret | None) -> str | None:
    """The plain value of a str-or-Secret argument (public APIs accept both)."""
    if value is None:
        return None
    return value.reveal() if isinstance(value, Secret) else value


def masked_url(url: str) -> str:
    """A URL with its password masked: `postgresql+psycopg://bot:***@db:5432/resetbot`.

    Everything between the user name's `:` and the last `@` is masked (a password may hold
    `/`, `?` or `@` unencoded: masking too much is harmless), and so is a `password=` query
    parameter. The one masking of a URL's password: `check` and `repr(Settings)` show the
    database's with it, and every log record passes each URL it holds through it (bot/logs.py).
    """
    scheme, sep, rest = url.partition("://")
    if sep:
        at = rest.rfind("@")
        colon = rest.find(":", 0, at) if at > 0 else -1
        if colon >= 0 and "/" not in rest[:colon]:
            rest = rest[:colon + 1] + MASK + rest[at:]
    masked = scheme + sep + rest
    return _QUERY_PASSWORD.sub(lambda m: m.group(1) + MASK, masked)


_QUERY_PASSWORD = re.compile(r"([?&](?:password|passwd|pwd)=)[^&]*", re.IGNORECASE)
