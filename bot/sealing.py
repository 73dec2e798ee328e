"""Sealing secrets held until reveal (docs/security.md).

Fernet is authenticated encryption (AES-CBC + HMAC-SHA256). The request id and the
purpose are sealed inside the token and checked on opening, so a sealed value copied
into another row or column does not open there.

A value sealed *to a button* (`seal_bound`) opens only with the seal key and the button's
value together: the key is derived from both (HKDF-SHA256), and the button's value lives
only in the Slack message, never in the database, which keeps a lookup of it
(`button_lookup`, a one-way hash). A copy of the database plus the seal key cannot open it.

Rotation: RESETBOT_SEAL_KEY may hold several keys, comma-separated; the first seals, every one
opens. Every sealed value carries the fingerprint of the key that sealed it in front of it
(KEY_ID_PREFIX: a keyed hash of the key, from which nothing of it can be learnt), so `key_index`
tells which key sealed it without decrypting (`resetbot check`: when the old key may go), and a
replica that does not hold that key says so (SealKeyMissing: never a reason to destroy the value,
which a replica holding the key can open). Values sealed before they carried it are told by the
token's authentication tag.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import tempfile
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from bot.secret import Secret

BUTTON_PREFIX = "rv_"  # a Reveal button value that a sealed password is bound to (bot/workflow/reveal.py)
KEY_ID_PREFIX = b"rk1:"  # then 16 hex digits of the sealing key's fingerprint and ":", before a bound token


class SealBroken(Exception):
    """A sealed value failed authentication or belongs to another request: never shown."""


class SealKeyMissing(Exception):
    """A sealed value was sealed under a key this replica does not hold (a rolling restart that adds or
    drops a seal key): another replica may open it, so it must never be destroyed here
    (CONTRACT.md "Rules that always hold"). `fingerprint`: the sealing key's, when the value names it."""

    def __init__(self, fingerprint: str | None, held: list[str]) -> None:
        self.fingerprint = fingerprint
        self.held = held
        sealed_by = f"the seal key with fingerprint {fingerprint}" if fingerprint else "a seal key not configured here"
        super().__init__(f"sealed under {sealed_by}; this replica holds {', '.join(held)}")


def seal_keys(key: Secret) -> list[str]:
    """The keys RESETBOT_SEAL_KEY holds, first (the one that seals) first."""
    return [part.strip() for part in key.reveal().split(",") if part.strip()]


# What a seal key is, in the words of every refusal (docs/configuration.md, CONTRACT.md "Configuration").
SEAL_KEY_WORDS = "url-safe base64 of 32 bytes, as Fernet.generate_key() prints"
_STANDARD_BASE64 = "standard base64 (+ or /, where url-safe base64 has - and _)"


class SealKeyProblem(ValueError):
    """RESETBOT_SEAL_KEY holds something Fernet does not take: seal_key_problem's words, never the key."""


def is_seal_key(key: str) -> bool:
    """Whether `key` is url-safe base64 of 32 bytes as Fernet.generate_key() prints it (43 characters and "="),
    and Fernet takes it: what passes, both Fernet's decoding (which refuses + and /) and the Python one Sealer
    does (which refuses a key without its "=") accept."""
    if not _SEAL_KEY.fullmatch(key):
        return False
    try:
        Fernet(key.encode())
    except (ValueError, TypeError):
        return False
    return True


_SEAL_KEY = re.compile(r"[A-Za-z0-9_-]{43}=")


def seal_key_problem(value: str) -> str | None:
    """What is wrong with a RESETBOT_SEAL_KEY value (one key, or several separated by commas), as the rest of a
    line that starts with the variable's name; None when Fernet takes every key. Never quotes a key: it says
    which one (by position) and, for a key in standard base64, that it is."""
    keys = [part.strip() for part in value.split(",")]
    bad = [(number, key) for number, key in enumerate(keys, start=1) if not is_seal_key(key)]
    if not bad:
        return None

    def why(key: str) -> str:
        if not key:
            return "empty"
        if ("+" in key or "/" in key) and is_seal_key(key.replace("+", "-").replace("/", "_")):
            return _STANDARD_BASE64
        return "not"

    if len(keys) == 1:
        reason = why(keys[0])
        return f"must be {SEAL_KEY_WORDS}" + (f": this key is {reason}" if reason != "not" else
                                              " (or several such keys separated by commas: the first seals, "
                                              "every one opens)")
    named = "; ".join(f"the {_ordinal(number)} is {why(key)}" for number, key in bad)
    return f"must be {SEAL_KEY_WORDS}, each of its comma-separated keys: {named}"


def _ordinal(number: int) -> str:
    suffix = "th" if 10 <= number % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return f"{number}{suffix}"


class Sealer:
    def __init__(self, key: Secret) -> None:
        problem = seal_key_problem(key.reveal())
        if problem is not None:  # Settings refuse it first; this keeps anything else from getting Fernet's ValueError
            raise SealKeyProblem(problem)
        keys = seal_keys(key)
        self._keys = [base64.urlsafe_b64decode(k.encode()) for k in keys]
        self._fernets = [Fernet(k.encode()) for k in keys]
        self._fernet = MultiFernet(self._fernets)  # encrypts with the first, decrypts with any
        self._key_ids = [hmac.new(k, b"resetbot seal key id v1", hashlib.sha256).hexdigest()[:16].encode()
                         for k in self._keys]

    @property
    def key_count(self) -> int:
        return len(self._fernets)

    @property
    def fingerprints(self) -> list[str]:
        """Each configured key's fingerprint, the first (the one that seals) first: what logs and `check` name."""
        return [key_id.decode() for key_id in self._key_ids]

    def seal(self, secret: Secret, *, request_id: str, purpose: str) -> bytes:
        """Sealed under the first key, behind that key's fingerprint (so a replica without it can say which)."""
        return KEY_ID_PREFIX + self._key_ids[0] + b":" + _seal(self._fernets[0], secret, request_id, purpose)

    def open(self, token: bytes, *, request_id: str, purpose: str) -> Secret:
        """Raises SealKeyMissing when no key here sealed it (never a reason to destroy it), SealBroken when one
        did and it does not open (altered, or another request's)."""
        token = bytes(token)
        index = self.key_index(token)
        if index is None:
            raise self._missing(token)
        if token.startswith(KEY_ID_PREFIX):
            return _open(self._fernets[index], token.split(b":", 2)[2], request_id, purpose)
        return _open(self._fernet, token, request_id, purpose)  # sealed before values carried the fingerprint

    def can_open(self, token: bytes) -> bool:
        """Whether a key here sealed `token` (nothing is decrypted)."""
        return self.key_index(token) is not None

    def _missing(self, token: bytes) -> SealKeyMissing:
        fingerprint = token[len(KEY_ID_PREFIX):].split(b":", 1)[0].decode("ascii", "replace") \
            if token.startswith(KEY_ID_PREFIX) else None
        return SealKeyMissing(fingerprint, self.fingerprints)

    def seal_bound(self, secret: Secret, *, request_id: str, purpose: str, button: Secret) -> bytes:
        """Seal so that only the seal key together with `button` (a Reveal button's value) opens it.

        Under a key derived from the first seal key and the button, behind that seal key's fingerprint."""
        sealed = _seal(self._bound(0, button), secret, request_id, purpose)
        return KEY_ID_PREFIX + self._key_ids[0] + b":" + sealed

    def open_bound(self, token: bytes, *, request_id: str, purpose: str, button: Secret) -> Secret:
        token = bytes(token)
        index = self.key_index(token)
        if token.startswith(KEY_ID_PREFIX):
            if index is None:
                raise self._missing(token)
            return _open(self._bound(index, button), token.split(b":", 2)[2], request_id, purpose)
        # Sealed before bound values carried the key's fingerprint: the key derived from each seal key in turn.
        for candidate in range(len(self._keys)):
            try:
                return _open(self._bound(candidate, button), token, request_id, purpose)
            except SealBroken:
                continue
        raise SealBroken("sealed value failed authentication")

    def key_index(self, token: bytes) -> int | None:
        """Which configured key (0 = the first) sealed `token`, by its fingerprint or its authentication tag:
        nothing is decrypted. None when no key here did (or a bound value from before fingerprints)."""
        token = bytes(token)
        if token.startswith(KEY_ID_PREFIX):
            key_id = token[len(KEY_ID_PREFIX):].split(b":", 1)[0]
            return next((i for i, known in enumerate(self._key_ids) if hmac.compare_digest(known, key_id)), None)
        for index, fernet in enumerate(self._fernets):
            try:
                fernet.extract_timestamp(bytes(token))
                return index
            except (InvalidToken, TypeError, ValueError):
                continue
        return None

    def _bound(self, index: int, button: Secret) -> Fernet:
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=self._keys[index],
                       info=b"resetbot reveal button v1").derive(button.reveal().encode())
        return Fernet(base64.urlsafe_b64encode(derived))


def _seal(fernet: Fernet | MultiFernet, secret: Secret, request_id: str, purpose: str) -> bytes:
    payload = json.dumps({"r": request_id, "p": purpose, "v": secret.reveal()}).encode()
    return fernet.encrypt(payload)


def _open(fernet: Fernet | MultiFernet, token: bytes, request_id: str, purpose: str) -> Secret:
    try:
        payload = json.loads(fernet.decrypt(bytes(token)))
    except (InvalidToken, ValueError, TypeError):
        raise SealBroken("sealed value failed authentication") from None
    if payload.get("r") != request_id or payload.get("p") != purpose:
        raise SealBroken("sealed value belongs to another request")
    return Secret(payload["v"])


def new_button() -> Secret:
    """A fresh Reveal button value: 256 random bits, never stored."""
    return Secret(BUTTON_PREFIX + secrets.token_urlsafe(32))


def is_button(value: str) -> bool:
    return value.startswith(BUTTON_PREFIX)


def button_lookup(button: Secret) -> str:
    """What the database keeps to find a button's request: a one-way hash, from which the button (and so
    the key it derives) cannot be recovered."""
    return hashlib.sha256(b"resetbot reveal lookup v1\0" + button.reveal().encode()).hexdigest()


class KeyFileProblem(Exception):
    """The key file beside a SQLite database cannot be used: one line for the operator, naming the file."""


# Group or others may do anything with the key file: refused (docs/CONTRACT.md: files the bot creates are 0600).
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
    if not is_seal_key(raw):
        raise KeyFileProblem(
            f"{key_path}: not a seal key (expected {SEAL_KEY_WORDS}); restore the file, or set RESETBOT_SEAL_KEY"
        )
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
