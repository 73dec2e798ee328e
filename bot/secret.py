"""A string wrapper that never shows its value by accident.

Passwords, reset codes, API keys and tokens travel as `Secret` so that a stray
`repr()`, f-string, log call or exception argument prints `***` instead.
The value comes out only through an explicit `.reveal()`.
"""

from __future__ import annotations

import hmac

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
