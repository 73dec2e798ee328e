"""Sealing secrets held until reveal (security.md; architecture §0.2).

Fernet is authenticated encryption (AES-CBC + HMAC-SHA256). The request id and the
purpose are sealed inside the token and checked on opening, so a sealed value copied
into another row or column does not open there.
"""

from __future__ import annotations

import json
import os
import tempfile
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
    if not key_path.exists():
        # Written whole to a private temp file, then linked into place: a process starting at the
        # same moment either wins the link or reads the complete key of the one that did.
        fd, temp = tempfile.mkstemp(dir=key_path.parent, prefix=".resetbot-key-")
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(Fernet.generate_key().decode() + "\n")
            os.link(temp, key_path)
        except FileExistsError:
            pass
        finally:
            os.unlink(temp)
    return Secret(key_path.read_text().strip())


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
