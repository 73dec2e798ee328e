"""Logging that cannot leak a secret (security.md §5).

Chatty libraries are held at WARNING (slack_sdk logs request and response bodies at DEBUG,
SQLAlchemy bound parameters at INFO), and a filter on our handler masks secret-looking
key=value pairs and Slack tokens, as a second line behind never logging them at all.
"""

from __future__ import annotations

import logging
import re

from bot.secret import MASK

_KEYS = r"(?:password|pass|newpassword|oldpassword|resetcode|reset_code|apikey|api_key|token|secret|signing_secret)"
_PAIR = re.compile(rf"(?i)(\b{_KEYS}\b\s*[=:]\s*['\"]?)([^\s&'\",}}]+)")
_TOKENS = re.compile(r"\bx(?:ox[abprs]|app)-[A-Za-z0-9-]+")

QUIET = ("slack_sdk", "slack_bolt", "sqlalchemy.engine", "urllib3", "websockets", "alembic")


def redact(text: str) -> str:
    text = _PAIR.sub(lambda m: m.group(1) + MASK, text)
    return _TOKENS.sub(MASK, text)


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        if clean != message or record.args:
            record.msg, record.args = clean, None
        return True


class _BotHandler(logging.StreamHandler):
    pass


def configure(level: int = logging.INFO) -> None:
    """Idempotent: one stderr handler of ours; handlers others installed (pytest's) stay."""
    root = logging.getLogger()
    if not any(isinstance(h, _BotHandler) for h in root.handlers):
        handler = _BotHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler.addFilter(RedactingFilter())
        root.addHandler(handler)
    root.setLevel(level)
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
