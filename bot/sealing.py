"""Sealing secrets held until reveal (security.md; architecture §0.2).

Fernet is authenticated encryption (AES-CBC + HMAC-SHA256). The request id and the
purpose are sealed inside the token and checked on opening, so a sealed value copied
into another row or column does not open there.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from bot.secret import Secret


class SealBroken(Exception):
    """A sealed value failed authentication or belongs to another request: never shown."""


class Sealer:
    def __init__(self, key: Secret) -> None:
        self._fernet = Fernet(key.reveal().encode())

    def seal(self, secret: Secret, *, request_id: str, purpose: str) -> bytes:
        payload = json.dumps({"r": request_id, "p": purpose, "v": secret.reveal()}).encode()
        return self._fernet.encrypt(payload)

    def open(self, token: bytes, *, request_id: str, purpose: str) -> Secret:
        try:
            payload = json.loads(self._fernet.decrypt(bytes(token)))
        except (InvalidToken, ValueError, TypeError):
            raise SealBroken("sealed value failed authentication") from None
        if payload.get("r") != request_id or payload.get("p") != purpose:
            raise SealBroken("sealed value belongs to another request")
        return Secret(payload["v"])


def key_beside_sqlite(database_url: str) -> Secret | None:
    """The key file for an embedded SQLite database, created 0600 on first use.

    None for an in-memory database: the caller uses a process-lifetime key.
    """
    path = sqlite_path(database_url)
    if path is None:
        return None
    key_path = Path(str(path) + ".key")
    if key_path.exists():
        return Secret(key_path.read_text().strip())
    key = Fernet.generate_key().decode()
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return Secret(key)


def sqlite_path(database_url: str) -> Path | None:
    prefix = "sqlite:///"
    if not database_url.startswith(prefix):
        return None
    rest = database_url[len(prefix):].split("?", 1)[0]
    if rest in ("", ":memory:"):
        return None
    return Path(rest)


def ephemeral_key() -> Secret:
    return Secret(Fernet.generate_key().decode())
