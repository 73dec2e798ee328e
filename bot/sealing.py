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


class KeyFileProblem(Exception):
    """The key file beside a SQLite database cannot be used: one line for the operator, naming the file."""


# Group or others may do anything with the key file: refused (CONTRACT.md: files the bot creates are 0600).
_SHARED_BITS = 0o077


def key_beside_sqlite(database_url: str, *, create: bool = True) -> Secret | None:
    """The key file for an embedded SQLite database, created 0600 on first use.

    None for an in-memory database (the caller uses a process-lifetime key), and, with
    `create=False`, when there is no key file yet. Raises `KeyFileProblem` when the file
    is readable or writable by group or others, unreadable, or not a key; the message
    names the file and never quotes what it holds.
    """
    path = sqlite_path(database_url)
    if path is None:
        return None
    key_path = Path(str(path) + ".key")
    if not key_path.exists():
        if not create:
            return None
        # Written whole to a private (0600) temp file, then linked into place: a process starting at the
        # same moment either wins the link or reads the complete key of the one that did.
        try:
            fd, temp = tempfile.mkstemp(dir=key_path.parent, prefix=".resetbot-key-")
        except OSError as exc:
            raise KeyFileProblem(f"{key_path}: cannot create the seal key file ({exc.strerror})") from None
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(Fernet.generate_key().decode() + "\n")
            os.link(temp, key_path)
        except FileExistsError:
            pass
        finally:
            os.unlink(temp)
    return _read_key_file(key_path)


def _read_key_file(key_path: Path) -> Secret:
    try:
        mode = key_path.stat().st_mode
        if mode & _SHARED_BITS:
            raise KeyFileProblem(
                f"{key_path}: the seal key file is open to group or others (mode {mode & 0o777:04o}); "
                f"run chmod 600 {key_path}, or set RESETBOT_SEAL_KEY"
            )
        raw = key_path.read_text(encoding="ascii").strip()
    except KeyFileProblem:
        raise
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not text"
        raise KeyFileProblem(f"{key_path}: cannot read the seal key file ({why})") from None
    try:
        Fernet(raw.encode())
    except (ValueError, TypeError):
        raise KeyFileProblem(
            f"{key_path}: not a seal key (expected url-safe base64 of 32 bytes, as Fernet.generate_key() prints); "
            "restore the file, or set RESETBOT_SEAL_KEY"
        ) from None
    return Secret(raw)


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
