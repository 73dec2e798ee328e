"""What the provider clients share: one way to talk HTTP (a POST of a form or of a document,
read with a hard size cap and an overall deadline) and the helpers that keep secrets out of what they
report. XML is parsed in one place too: `bot/providers/_xml.py`.

Nothing here logs, and no exception raised from here carries a URL, a header or a body:
`requests` exceptions embed the URL, so they are replaced by `TransportError(kind)`.
"""

from __future__ import annotations

import html
import ipaddress
import re
import socket
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import quote, quote_plus, urlsplit

import requests
import requests.adapters
import requests.auth
from requests.exceptions import (
    ChunkedEncodingError,
    ConnectTimeout,
    ContentDecodingError,
    ReadTimeout,
    SSLError,
)
from urllib3.exceptions import NewConnectionError, ProtocolError, ReadTimeoutError

from bot.secret import MASK

MAX_RESPONSE_BYTES = 1 << 20  # CONTRACT: at most 1 MiB of an answer is read
SNIPPET_CHARS = 512  # docs/providers.md §2.7 / §4.4: bounded, redacted snippets only
DEFAULT_TIMEOUT = (5.0, 60.0)  # (connect, read) seconds, docs/providers.md §1.1
# The whole of one provider call (connect, send, headers, body, a retry included): requests' timeout
# bounds each socket read only, so a server sending a byte now and then could hold a call for ever.
CHANGE_DEADLINE = 90.0
LOOKUP_DEADLINE = 20.0  # read-only account context: an approver does not wait longer for it
DEADLINE_EXCEEDED = "no complete answer within the deadline"


class TransportError(Exception):
    """The request did not produce a complete HTTP answer.

    `sent` is False only when we know no byte of the request reached the server
    (connection refused, connect timeout, TLS handshake failure).
    """

    def __init__(self, kind: str, *, sent: bool) -> None:
        super().__init__(kind)
        self.kind = kind
        self.sent = sent


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    body: bytes  # at most MAX_RESPONSE_BYTES
    oversized: bool  # the server sent more than the cap; the body is not to be trusted

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


def pooled_session(connections: int) -> requests.Session:
    """A session whose connection pool matches how many calls may run at once."""
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=connections)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def require_tls_verification(session: requests.Session) -> None:
    if session.verify is False:
        raise ValueError("TLS verification must stay on for provider sessions")


FORM_ACCEPT = "application/xml, application/json, text/plain, */*"


def post_form(
    session: requests.Session,
    url: str,
    form: Mapping[str, str],
    *,
    timeout: tuple[float, float],
    auth: tuple[str, str] | requests.auth.AuthBase | None = None,  # Basic, or a header scheme of its own
    max_bytes: int = MAX_RESPONSE_BYTES,
    deadline: float = CHANGE_DEADLINE,
) -> HttpAnswer:
    """POST `form` (form-encoded) as `post` does."""
    return post(session, url, dict(form), headers={"Accept": FORM_ACCEPT}, timeout=timeout, auth=auth,
                max_bytes=max_bytes, deadline=deadline)


def post(
    session: requests.Session,
    url: str,
    data: bytes | Mapping[str, str],
    *,
    headers: Mapping[str, str | bytes],
    timeout: tuple[float, float],
    auth: tuple[str, str] | requests.auth.AuthBase | None = None,  # Basic, or a scheme of the client's own
    max_bytes: int = MAX_RESPONSE_BYTES,
    deadline: float = CHANGE_DEADLINE,
) -> HttpAnswer:
    """POST `data` (a form, or a body as bytes) with `headers`, never following a redirect, and read at most
    `max_bytes` of the answer, all within `deadline` seconds.

    The exchange runs on a helper thread and the caller waits at most `deadline` for it; past
    that it gets `TransportError(DEADLINE_EXCEEDED, sent=True)` (the request may have been
    acted on) and the helper's socket is shut, so a trickled body stops at once. A server
    that trickles its headers keeps only the helper thread, until it goes silent for the
    read timeout or finishes; the call is released at the deadline either way.
    """
    exchange = _Exchange()
    worker = threading.Thread(target=exchange.run, args=(session, url, data, dict(headers), timeout, auth, max_bytes),
                              name="provider-http", daemon=True)
    worker.start()
    if not exchange.done.wait(max(0.0, deadline)):
        exchange.abandon()
        raise TransportError(DEADLINE_EXCEEDED, sent=True)
    if exchange.error is not None:
        raise exchange.error
    assert exchange.answer is not None
    return exchange.answer


class _Exchange:
    """One POST and its capped read on a helper thread, which the caller may abandon at its deadline."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.answer: HttpAnswer | None = None
        self.error: Exception | None = None
        self._lock = threading.Lock()
        self._response: requests.Response | None = None
        self._abandoned = False

    def run(self, session, url, data, headers, timeout, auth, max_bytes) -> None:
        try:
            self.answer = self._post(session, url, data, headers, timeout, auth, max_bytes)
        except Exception as exc:  # handed to the caller, which raises it on its own thread
            self.error = exc
        finally:
            self.done.set()

    def abandon(self) -> None:
        with self._lock:
            self._abandoned = True
            response = self._response
        if response is not None:
            _shut(response)

    def _post(self, session, url, data, headers, timeout, auth, max_bytes) -> HttpAnswer:
        try:
            response = session.post(
                url,
                data=data,
                auth=auth,
                timeout=timeout,
                stream=True,
                allow_redirects=False,  # a redirect would re-send credentials somewhere else
                headers=headers,
            )
        except (ConnectTimeout, SSLError):
            raise TransportError("could not connect", sent=False) from None
        except ReadTimeout:
            raise TransportError("timed out waiting for the answer", sent=True) from None
        except requests.ConnectionError as exc:
            kind, sent = _connection_failure(exc)
            raise TransportError(kind, sent=sent) from None
        except requests.RequestException:
            raise TransportError("request failed", sent=True) from None
        try:
            with self._lock:
                self._response = response
                abandoned = self._abandoned
            if abandoned:
                raise TransportError(DEADLINE_EXCEEDED, sent=True)
            body, oversized = _read_capped(response, max_bytes)
        finally:
            response.close()
        return HttpAnswer(status=response.status_code, body=body, oversized=oversized)


def _shut(response: requests.Response) -> None:
    """Shut the answer's socket from another thread: a read blocked on it returns at once."""
    connection = getattr(response.raw, "_connection", None)
    sock = getattr(connection, "sock", None)
    if sock is None:  # the connection may already be detached from the answer; its file still holds the socket
        fp = getattr(getattr(response.raw, "_fp", None), "fp", None)
        sock = getattr(getattr(fp, "raw", None), "_sock", None)
    if isinstance(sock, socket.socket):
        try:
            socket.socket.shutdown(sock, socket.SHUT_RDWR)  # the plain socket's: TLS state is left to the reader
        except OSError:
            pass


def _connection_failure(exc: requests.ConnectionError) -> tuple[str, bool]:
    reason = exc.args[0] if exc.args else None
    inner = getattr(reason, "reason", reason)
    if isinstance(inner, NewConnectionError) or isinstance(reason, NewConnectionError):
        return "could not connect", False
    return "connection lost", True


def _read_capped(response: requests.Response, max_bytes: int) -> tuple[bytes, bool]:
    chunks: list[bytes] = []
    size = 0
    try:
        for chunk in response.raw.stream(16384, decode_content=True):
            chunks.append(chunk)
            size += len(chunk)
            if size > max_bytes:
                return b"".join(chunks)[:max_bytes], True
    except (ProtocolError, ReadTimeoutError, ChunkedEncodingError, ContentDecodingError, OSError):
        raise TransportError("connection lost while reading the answer", sent=True) from None
    return b"".join(chunks), False


_SPACES = re.compile(r"\s+")
_TRAILING_DOTS = re.compile(r"(?:\s*\.)+\s*$")


def collapse(text: str) -> str:
    """Whitespace folded and the providers' trailing ' .  .' noise removed."""
    folded = _SPACES.sub(" ", text).strip()
    trimmed = _TRAILING_DOTS.sub("", folded)
    return trimmed if trimmed else folded


def snippet(text: str, secrets: Iterable[str | None] = ()) -> str:
    """A display-safe excerpt of provider text: collapsed, secrets masked, bounded.

    Secrets are masked before folding (a secret with spaces inside) and after it.
    """
    values = [v for v in secrets if v]
    for value in values:
        text = text.replace(value, MASK)
    clean = collapse(text)
    for value in values:
        clean = clean.replace(value, MASK)
    return clean[:SNIPPET_CHARS]


def checked_url(url: str, what: str) -> str:
    """An http(s) URL without credentials, query or fragment; the error never repeats the URL."""
    if not isinstance(url, str) or not url.strip():
        raise ValueError(f"{what} must be an http(s) URL")
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{what} must be an http(s) URL")
    if parts.username is not None or parts.password is not None:
        raise ValueError(f"{what} must not carry credentials; pass them to the client separately")
    if parts.query or parts.fragment:
        raise ValueError(f"{what} must not have a query string or fragment")
    return url


_LOOPBACK_V4 = ipaddress.ip_network("127.0.0.0/8")
_LOOPBACK_V6 = ipaddress.ip_address("::1")


def is_loopback_host(host: str | None) -> bool:
    """127.0.0.0/8, ::1 or localhost: the only hosts plain http:// may go to (CONTRACT: the URL rule)."""
    if not host:
        return False
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address == _LOOPBACK_V6 if address.version == 6 else address in _LOOPBACK_V4


def endpoint_problem(url: str) -> str | None:
    """Why a configured endpoint may not be used, as the end of a sentence naming its variable; None if it may.

    The one URL rule for every endpoint the bot sends credentials or passwords to (Slack's Web
    API and each provider's, bot/config.py and bot/providers/*/settings.py): `https://`, or
    `http://` to a loopback host only, with no credentials, query or fragment. The sentence
    never repeats the URL (a token pasted into the wrong variable must not be echoed).
    """
    try:
        parts = urlsplit(url.strip())
        host, _port = parts.hostname, parts.port
    except ValueError:
        return "is not a valid URL"
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not host:
        return "must be an https:// URL"
    if parts.username is not None or parts.password is not None:
        return "must not carry a user name or password (each credential has its own variable)"
    if parts.query or parts.fragment:
        return "must not have a query string or fragment"
    if scheme == "http" and not is_loopback_host(host):
        return ("must be https:// (http:// only to a loopback host: 127.0.0.0/8, ::1, localhost), so that "
                "credentials and new passwords never cross the network in clear")
    return None


def timeout_pair(timeout) -> tuple[float, float]:
    if isinstance(timeout, (int, float)):
        return (float(timeout), float(timeout))
    connect, read = timeout
    return (float(connect), float(read))


def secret_variants(values: Iterable[str | None]) -> list[str]:
    """Each secret plus its form-encoded and HTML-escaped spellings, longest first, so an
    answer that echoes the request body is masked too."""
    out: list[str] = []
    for value in values:
        if not value:
            continue
        for variant in (value, quote_plus(value, safe=""), quote(value, safe=""), html.escape(value)):
            if variant not in out:
                out.append(variant)
    return sorted(out, key=len, reverse=True)
