"""Logging that cannot leak a secret (docs/security.md §5), whatever level an operator turns a logger to.

Chatty libraries are held at WARNING (slack_sdk logs request and response bodies at DEBUG, Bolt
the Socket Mode envelopes it receives, SQLAlchemy bound parameters at INFO). An operator may turn
them up anyway, so every record is cleaned when it is made (a log record factory, so any handler,
ours or theirs, only ever sees the clean text), and again by the filter on our own handler:

* every record: secret-looking key=value pairs (also in JSON, and in URL-encoded text such as
  `payload=%7B%22reset_code%22%3A...`, which is decoded first), an Authorization header's
  credentials, Slack tokens and the password of every URL (`http://user:***@proxy:3128`: slack_sdk
  names its proxy, password and all, each time the proxy refuses it) are masked: in the message
  with its args, the traceback and the stack, and (by our handler's filter) in `extra=` fields;
* a record from a library (any logger outside this project) keeps only its shape: every quoted
  value and every form value is masked, since a library's DEBUG record may carry a whole Slack
  payload (a typed reset code, a revealed password) under keys nobody can list in advance.

Our own code never passes a request body or a secret to a log call; this is the line behind that.

RESETBOT_LOG_FORMAT=json writes one JSON object a line (python-json-logger) with time, level,
logger, message and, where they apply, request_id, error_id and replica_id: bound with `bound()`
(a context variable), given as `extra=`, or found in the message, so one request can be followed
across replicas. The JSON handler gets the same cleaned records, and only those fields: an
`extra=` a library adds is never written.
"""

from __future__ import annotations

import contextvars
import logging
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from urllib.parse import unquote_plus

from pythonjsonlogger.json import JsonFormatter

from bot.secret import MASK, masked_url

_KEYS = (r"(?:password|pass|passwd|newpassword|oldpassword|resetcode|reset_code|apikey|api_key|token|secret"
         r"|signing_secret|authorization)")
# key, optionally closing its quote (JSON, repr), "=" or ":", then a quoted or a bare value; a bare value may
# follow an HTTP authentication scheme (`Proxy-Authorization: Basic dXNlcjpwYXNz`: the scheme goes too)
_PAIR = re.compile(rf"(?i)(\b{_KEYS}\b['\"]?\s*[=:]\s*)(\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'"
                   r"|(?:(?:basic|bearer|digest|token|whm)\s+)?[^\s&'\",})\]]+)")
_TOKENS = re.compile(r"\bx(?:ox[a-z]|app)-[A-Za-z0-9-]+")
_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")
# A quoted literal that opens a value (not an apostrophe inside a word), as JSON and Python reprs write them.
_QUOTED = re.compile(r"""(?<![\w'"])(?:b?"(?:[^"\\]|\\.)*"|b?'(?:[^'\\]|\\.)*')(\s*:)?""")
# name=value in a form body or a query string (a name starts only where a run of name characters does)
_FORM_VALUE = re.compile(r"(?<![\w%.\[\]-])([\w.\[\]-]+=)([^&\s'\",)}\]]+)")
_BLANK = re.compile(r"\s")

# The loggers of this project; every other logger is a library's.
OURS = ("resetbot", "bot", "handlers", "storage", "devkit")
QUIET = ("slack_sdk", "slack_bolt", "sqlalchemy.engine", "urllib3", "websockets", "alembic")


def _decoded(text: str) -> str:
    """URL-encoded text, decoded (twice-encoded too), so what it carries can be recognised."""
    for _ in range(3):
        if not _ESCAPE.search(text):
            break
        text = unquote_plus(text)
    return text


def _mask_pair(match: re.Match[str]) -> str:
    value = match.group(2)
    if value[:1] in ("'", '"'):
        return match.group(1) + value[0] + MASK + value[0]
    return match.group(1) + MASK


def without_url_passwords(text: str) -> str:
    """`text` with the password of each URL in it masked by bot.secret.masked_url, a URL taken from the blank
    before its "://" to the blank after (a password may hold quotes, commas or "@" unencoded: masking more of the
    line is harmless).

    Every record goes through this, so it looks for "@" and "://" first (nearly every line has neither), and
    then scans the line once with str.find, no regular expression that would try each position."""
    if "@" not in text:
        return text
    sep = text.find("://")
    if sep < 0:
        return text
    pieces, done = [], 0
    while sep >= 0:
        start = sep
        while start > done and not text[start - 1].isspace():
            start -= 1
        blank = _BLANK.search(text, sep)
        end = blank.start() if blank else len(text)
        if "@" in text[sep:end]:
            pieces += [text[done:start], masked_url(text[start:end])]
            done = end
        sep = text.find("://", end)
    return "".join(pieces) + text[done:] if pieces else text


def redact(text: str) -> str:
    """Secret-looking pairs, URL passwords and Slack tokens masked, in plain, JSON or URL-encoded text."""
    text = _PAIR.sub(_mask_pair, without_url_passwords(_decoded(text)))
    return _TOKENS.sub(MASK, text)


def _mask_quoted(match: re.Match[str]) -> str:
    if match.group(1) is not None:  # a key: kept, so the shape stays readable
        return match.group(0)
    return MASK


def shape_only(text: str) -> str:
    """A library's text with every form value and quoted value masked: keys, numbers and words stay."""
    text = _FORM_VALUE.sub(lambda m: m.group(1) + MASK, without_url_passwords(text))
    text = _QUOTED.sub(_mask_quoted, _decoded(text))
    return redact(text)


def is_ours(name: str) -> bool:
    return name.split(".", 1)[0] in OURS


def clean(record: logging.LogRecord) -> None:
    """Rewrite the record in place: its message (args merged in) and its traceback, redacted."""
    if getattr(record, "_resetbot_clean", False):
        return
    cleaned = redact if is_ours(record.name) else shape_only
    try:
        record.msg, record.args = cleaned(record.getMessage()), None
    except Exception:  # a broken format string: logging reports it, with the message and its args, when a
        # handler formats the record: each is cleaned on its own
        record.msg = _cleaned_text(record.msg, cleaned)
        if isinstance(record.args, Mapping):
            record.args = {key: _cleaned_text(value, cleaned) for key, value in record.args.items()}
        elif record.args:
            record.args = tuple(_cleaned_text(value, cleaned) for value in record.args)
    if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
        # Formatters use exc_text when it is set; exc_info stays for code that inspects the exception.
        record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
    elif record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
    record._resetbot_clean = True


def _cleaned_text(value: object, cleaned: Callable[[str], str]) -> str:
    try:
        return cleaned(value if isinstance(value, str) else str(value))
    except Exception:
        return "<unprintable>"


# What every LogRecord has; any other attribute came from `extra=` (set after the record factory ran).
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def clean_extra(record: logging.LogRecord) -> None:
    """The `extra=` fields that are text, redacted (the JSON format writes request_id, error_id, replica_id)."""
    for key in vars(record).keys() - _RECORD_ATTRIBUTES:  # usually none
        value = getattr(record, key)
        if isinstance(value, str):
            setattr(record, key, redact(value))


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        clean(record)
        clean_extra(record)
        return True


def _cleaning_factory(make: Callable[..., logging.LogRecord]) -> Callable[..., logging.LogRecord]:
    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make(*args, **kwargs)
        clean(record)
        return record

    factory._resetbot_cleaning = True  # type: ignore[attr-defined]
    return factory


class _BotHandler(logging.StreamHandler):
    pass


# What a log line is about, where it applies: bound for a stretch of work, or given as extra=.
_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("resetbot_request_id", default=None)
_replica_id: str | None = None  # one per process (set_replica), on every line
_REQUEST_ID = re.compile(r"\brr_[0-9a-f]{20}\b")  # bot/workflow/intake.py makes them: not secret
_ERROR_ID = re.compile(r"\berror id ([0-9a-f]{8})\b")  # handlers/errors.py, bot/server.py
JSON_FIELDS = ("time", "level", "logger", "message", "request_id", "error_id", "replica_id", "exc_info",
               "stack_info")


def set_replica(replica_id: str | None) -> None:
    global _replica_id
    _replica_id = replica_id


@contextmanager
def bound(*, request_id: str | None) -> Iterator[None]:
    """Lines logged inside carry this request id (unless they name another)."""
    token = _request_id.set(request_id)
    try:
        yield
    finally:
        _request_id.reset(token)


class IdsFilter(logging.Filter):
    """Puts request_id, error_id and replica_id on the record, from extra=, the context, or the (clean) message."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: the handler reports it when it formats the record
            message = ""
        if getattr(record, "request_id", None) is None:
            found = _REQUEST_ID.search(message)
            record.request_id = found.group(0) if found else _request_id.get()
        if getattr(record, "error_id", None) is None:
            error = _ERROR_ID.search(message)
            record.error_id = error.group(1) if error else None
        if getattr(record, "replica_id", None) is None:
            record.replica_id = _replica_id
        return True


class JsonLines(JsonFormatter):
    """One JSON object a line with JSON_FIELDS only; tracebacks redacted as the text format's are."""

    def __init__(self) -> None:
        super().__init__("%(levelname)s %(name)s %(message)s", timestamp="time",
                         rename_fields={"levelname": "level", "name": "logger"})

    def formatException(self, ei: Any) -> str:
        return redact(logging.Formatter.formatException(self, ei))  # one string, as exc_info_as_array is off

    def formatStack(self, stack_info: str) -> str:
        return redact(logging.Formatter.formatStack(self, stack_info))

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        return {key: log_data[key] for key in JSON_FIELDS if log_data.get(key) is not None}


def configure(level: int = logging.INFO, log_format: str = "text") -> None:
    """Idempotent: records are cleaned as they are made; one stderr handler of ours; others' handlers stay."""
    current = logging.getLogRecordFactory()
    if not getattr(current, "_resetbot_cleaning", False):
        logging.setLogRecordFactory(_cleaning_factory(current))
    root = logging.getLogger()
    handler = next((h for h in root.handlers if isinstance(h, _BotHandler)), None)
    if handler is None:
        handler = _BotHandler()
        handler.addFilter(RedactingFilter())
        handler.addFilter(IdsFilter())
        root.addHandler(handler)
    handler.setFormatter(JsonLines() if log_format == "json" else
                         logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    if log_format == "json":  # a Python warning becomes a record too, so every stderr line is one JSON object
        logging.captureWarnings(True)
    root.setLevel(level)
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
