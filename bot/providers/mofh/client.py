"""MyOwnFreeHost reseller API client: `passwd` and the read-only lookups (docs/providers.md §1).

Every call is a POST with a form body and HTTP Basic auth (the lookups also carry
`api_user`/`api_key` in the body, as the MOFH docs show); nothing secret is ever put in a
URL. Answers are classified with the algorithm of docs/providers.md §1.5. The client never
raises for a provider answer or a transport failure, and it logs nothing.

Lookup outcomes (`account_info`): `lookup_ok`, `lookup_empty` (`null`, `[]`, or an empty
body, the last with certainty "ambiguous"), `lookup_error` (any other error text, e.g.
"The data is not valid."), and, because they need a different fix, `auth_failed` /
`ip_not_allowed` when the error text is the API-credential or allowed-IP message, and
`provider_unavailable` for transport failures, non-2xx answers and HTML pages. Giving
both or neither of `vpanel_username` / `domain` is `bad_request` (nothing sent).
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Mapping
from typing import Any

import requests

from bot.providers import AMBIGUOUS, ChangeResult, LookupResult, Outcome
from bot.providers._http import (
    CHANGE_DEADLINE,
    DEFAULT_TIMEOUT,
    LOOKUP_DEADLINE,
    MAX_RESPONSE_BYTES,
    HttpAnswer,
    TransportError,
    checked_url,
    collapse,
    post_form,
    require_tls_verification,
    secret_variants,
    snippet,
    timeout_pair,
)
from bot.providers._xml import XmlError, XmlNode, XmlRefused, parse_xml
from bot.providers.mofh.account import ACCOUNT_KEY, DOMAIN, VPANEL_LIKE, VPANEL_USERNAME
from bot.providers.mofh.passwords import MOFH_RULES
from bot.secret import Secret, reveal

PROVIDER = "MyOwnFreeHost"
MAX_ATTEMPTS = 2

STATE_NAMES = {"a": "active", "x": "suspended", "r": "reactivating", "c": "closing", "d": "deleted"}

_INACTIVE = re.compile(r"must be active to change the password\s*(?:\(\s*(\w)\s*\))?", re.IGNORECASE)
_IDEMPOTENT = re.compile(r"error occ?urr?ed changing this password", re.IGNORECASE)
_IP_SHOWN = re.compile(r"calling\s*\(\s*([0-9A-Fa-f:.]{2,45})\s*\)", re.IGNORECASE)
_HTML = re.compile(rb"^\s*(?:<!doctype\s+html|<html\b|<head\b|<body\b)", re.IGNORECASE)
_HTML_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_XML_DECL_OR_MISC = re.compile(rb"^\s*(?:<\?.*?\?>|<!--.*?-->|\s)*", re.DOTALL)
_ROOT_NAME = re.compile(rb"<([A-Za-z_][\w.\-]*(?::[\w.\-]+)?)")


# ----------------------------------------------------------------------------------------------
# client
# ----------------------------------------------------------------------------------------------


class MofhClient:
    """Talks to one MyOwnFreeHost reseller API with one set of API credentials."""

    def __init__(
        self,
        base_url: str,
        api_username: str | Secret,
        api_password: str | Secret,
        *,
        session: requests.Session | None = None,
        timeout: tuple[float, float] | float = DEFAULT_TIMEOUT,
        retry_delay: float = 1.0,
        deadline: float = CHANGE_DEADLINE,
        lookup_deadline: float = LOOKUP_DEADLINE,
    ) -> None:
        self.base_url = normalise_base_url(base_url)
        self._api_username = Secret(reveal(api_username) or "")
        self._api_password = Secret(reveal(api_password) or "")
        self._session = session if session is not None else requests.Session()
        require_tls_verification(self._session)
        self.timeout = timeout_pair(timeout)
        self.retry_delay = max(0.0, float(retry_delay))
        # Seconds one passwd call, or one lookup, may take in all, both attempts included (bot/providers/_http.py).
        self.deadline = float(deadline)
        self.lookup_deadline = float(lookup_deadline)
        self._sleep = time.sleep

    def __repr__(self) -> str:
        return f"MofhClient(base_url={self.base_url!r})"

    @property
    def passwd_url(self) -> str:
        return self.base_url + "/xml-api/passwd.php"

    # -- passwd ----------------------------------------------------------------------------------
    def change_password(self, account_key: str, new_password: str | Secret) -> ChangeResult:
        refusal = _check_account_key(account_key)
        if refusal is not None:
            return refusal
        password = reveal(new_password) if isinstance(new_password, (str, Secret)) else None
        if password is None:
            return ChangeResult(
                Outcome.INVALID_PASSWORD, "The new password must be a string.", attempts=0, reason="missing"
            )
        broken = MOFH_RULES.check(password)
        if broken is not None:
            return ChangeResult(
                Outcome.INVALID_PASSWORD,
                f"The new password was refused before sending: it {broken}.",
                reason=_local_password_reason(password),
                attempts=0,
            )
        secrets = self._secrets(password)
        form = {"user": account_key, "pass": password}
        exchange = self._exchange(self.passwd_url, form, deadline=self.deadline)
        if isinstance(exchange, _Failure):
            return exchange.as_result(ChangeResult, secrets)
        answer, attempts = exchange
        try:
            return _classify_passwd(answer, account_key, secrets, attempts)
        except Exception:  # a parser surprise: see ChangeResult.unreadable
            return ChangeResult.unreadable(
                f"{PROVIDER}'s answer could not be read; verify account {account_key} by logging in.",
                http_status=answer.status, attempts=attempts)

    # -- lookups ---------------------------------------------------------------------------------
    def account_info(self, *, vpanel_username: str | None = None, domain: str | None = None) -> LookupResult:
        if (vpanel_username is None) == (domain is None):
            return LookupResult(
                Outcome.BAD_REQUEST,
                "Give exactly one of vpanel_username or domain to look an account up.",
                attempts=0,
            )
        if vpanel_username is not None:
            if not isinstance(vpanel_username, str) or not VPANEL_USERNAME.match(vpanel_username):
                return LookupResult(
                    Outcome.LOOKUP_ERROR,
                    "That is not a vPanel username (expected something like hname_12345678).",
                    attempts=0,
                )
            url = self.base_url + "/xml-api/getuserdomains.php"
            field, subject = "username", vpanel_username
        else:
            cleaned = domain.strip().rstrip(".").lower() if isinstance(domain, str) else ""
            if not DOMAIN.match(cleaned):
                return LookupResult(
                    Outcome.LOOKUP_ERROR, "That is not a domain name (expected something like example.org).",
                    attempts=0,
                )
            url = self.base_url + "/xml-api/getdomainuser.php"
            field, subject = "domain", cleaned
        secrets = self._secrets(None)
        form = {
            "api_user": self._api_username.reveal(),
            "api_key": self._api_password.reveal(),
            field: subject,
        }
        exchange = self._exchange(url, form, deadline=self.lookup_deadline)
        if isinstance(exchange, _Failure):
            return exchange.as_result(LookupResult, secrets)
        answer, attempts = exchange
        try:
            return _classify_lookup(answer, subject, secrets, attempts)
        except Exception:
            return LookupResult(
                Outcome.LOOKUP_ERROR,
                f"{PROVIDER}'s lookup answer for {subject} could not be read.",
                http_status=answer.status,
                attempts=attempts,
            )

    # -- transport -------------------------------------------------------------------------------
    def _secrets(self, password: str | None) -> list[str]:
        """What must never show in a provider_message, even if the server echoes the request."""
        credentials = f"{self._api_username.reveal()}:{self._api_password.reveal()}"
        basic = base64.b64encode(credentials.encode("latin-1", errors="replace")).decode("ascii")
        return secret_variants([password, self._api_password.reveal(), basic])

    def _exchange(self, url: str, form: Mapping[str, str], *, deadline: float) -> tuple[HttpAnswer, int] | _Failure:
        """POST with at most 2 attempts; the second only after a timeout, connection error or 5xx, and only
        while the call's `deadline` (seconds, both attempts together) has time left."""
        auth = (self._api_username.reveal(), self._api_password.reveal())
        ends = time.monotonic() + deadline
        failure: _Failure | None = None
        for attempt in range(1, MAX_ATTEMPTS + 1):
            if attempt > 1:
                if ends - time.monotonic() <= self.retry_delay:
                    break  # no time left for a second attempt
                if self.retry_delay:
                    self._sleep(self.retry_delay)
            left = ends - time.monotonic()
            try:
                answer = post_form(self._session, url, form, timeout=self.timeout, auth=auth, deadline=left)
            except TransportError as transport:
                sent = transport.sent or (failure is not None and failure.sent)
                failure = _Failure(kind=transport.kind, attempts=attempt, sent=sent, retryable=True)
                continue
            except Exception as exc:
                # a local problem (e.g. an unencodable header); repeating will not help
                return _Failure(
                    kind=f"the request could not be made ({type(exc).__name__})",
                    attempts=attempt,
                    sent=True,
                    retryable=False,
                )
            if 500 <= answer.status <= 599:
                failure = _Failure(
                    kind=f"answered HTTP {answer.status}",
                    attempts=attempt,
                    sent=True,
                    retryable=True,
                    http_status=answer.status,
                    detail=_display_text(answer),
                )
                continue
            return answer, attempt
        assert failure is not None
        return failure


class _Failure:
    """No usable answer: transport failure or 5xx on every attempt, or a local request error."""

    def __init__(
        self,
        *,
        kind: str,
        attempts: int,
        sent: bool,
        retryable: bool,
        http_status: int | None = None,
        detail: str | None = None,
    ) -> None:
        self.kind = kind
        self.attempts = attempts
        self.sent = sent
        self.retryable = retryable
        self.http_status = http_status
        self.detail = detail

    def as_result(self, cls, secrets: list[str]):
        tries = "once" if self.attempts == 1 else f"{self.attempts} times"
        return cls(
            Outcome.PROVIDER_UNAVAILABLE,
            f"{PROVIDER} gave no usable answer ({self.kind}, tried {tries}); try again later"
            " or check MOFH_API_URL.",
            provider_message=snippet(self.detail, secrets) if self.detail else None,
            http_status=self.http_status,
            retryable=self.retryable,
            certainty=AMBIGUOUS if self.sent else None,
            attempts=self.attempts,
        )


# ----------------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------------


def normalise_base_url(base_url: str) -> str:
    """`https://host`, `https://host/` and `https://host/xml-api[/]` all become `https://host`."""
    url = checked_url(base_url, "MOFH base_url")
    url = url.rstrip("/")
    if url.lower().endswith("/xml-api"):
        url = url[: -len("/xml-api")].rstrip("/")
    return url






def _local_password_reason(password: str) -> str:
    if len(password) < MOFH_RULES.min_length:
        return "too_short"
    if len(password) > MOFH_RULES.max_length:
        return "too_long"
    return "illegal_characters"


def _check_account_key(account_key) -> ChangeResult | None:
    if isinstance(account_key, str) and ACCOUNT_KEY.match(account_key):
        return None
    if isinstance(account_key, str) and VPANEL_LIKE.match(account_key.strip()) and len(account_key) <= 64:
        message = (
            f"{account_key.strip()} is a vPanel username; the API needs the 8-character account key"
            " (map it through the account directory)."
        )
    else:
        message = "The MyOwnFreeHost account key must be 1 to 8 letters and digits; nothing was sent."
    return ChangeResult(Outcome.INVALID_USERNAME, message, attempts=0)


def _display_text(answer: HttpAnswer) -> str:
    text = answer.text
    title = _HTML_TITLE.search(text[:4096]) if _HTML.match(answer.body[:512]) else None
    return title.group(1) if title else text



def _split_documents(data: bytes) -> list[bytes]:
    """Cut concatenated XML documents apart at each end of the root element (E15)."""
    documents: list[bytes] = []
    rest = data
    while rest.strip():
        prolog = _XML_DECL_OR_MISC.match(rest)
        start = prolog.end() if prolog else 0
        name_match = _ROOT_NAME.match(rest, start)
        if not name_match:
            raise XmlError("no root element")
        name = re.escape(name_match.group(1))
        tags = re.compile(rb"<(/?)" + name + rb"(?=[\s/>])[^>]*?(/?)>")
        depth = 0
        end = None
        for tag in tags.finditer(rest, start):
            if tag.group(1):
                depth -= 1
            elif not tag.group(2):
                depth += 1
            if depth <= 0:
                end = tag.end()
                break
        if end is None:
            raise XmlError("unterminated root element")
        documents.append(rest[:end])
        rest = rest[end:]
    return documents


def _find_status(root: XmlNode) -> tuple[XmlNode | None, XmlNode | None, bool]:
    """The `status` element, its sibling `statusmsg`, and whether they sit where a `passwd` answer has them
    (`<passwd><passwd><status>`, docs/providers.md §1.2); `passwd/status` first, then any."""
    if root.tag == "passwd":
        inner = root.find("passwd")
        if inner is not None and inner.find("status") is not None:
            return inner.find("status"), inner.find("statusmsg"), True
    for element in root.iter():
        status = element.find("status")
        if status is not None:
            return status, element.find("statusmsg"), False
    return None, None, False


def _status_is_one(value) -> bool | None:
    """`int(str(x).strip()) == 1`; None when the value is not an integer at all."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        return int(str(value).strip()) == 1
    except ValueError:
        return None


# ----------------------------------------------------------------------------------------------
# classification (docs/providers.md §1.5)
# ----------------------------------------------------------------------------------------------


class _Verdict:
    __slots__ = ("account_status", "ip", "outcome", "reason", "text")

    def __init__(self, outcome: Outcome, text: str = "", *, account_status=None, reason=None, ip=None):
        self.outcome = outcome
        self.text = text
        self.account_status = account_status
        self.reason = reason
        self.ip = ip

    def key(self) -> tuple:
        return (self.outcome, self.account_status, self.reason)


def _text_rules(text: str) -> _Verdict:
    """docs/providers.md §1.5 step 5: case-insensitive substrings, in this order."""
    low = collapse(text).lower()
    if "does not match the allowed ip" in low:
        shown = _IP_SHOWN.search(text)
        return _Verdict(Outcome.IP_NOT_ALLOWED, text, ip=shown.group(1) if shown else None)
    if "appears to be invalid" in low or "api username entered is not valid" in low:
        return _Verdict(Outcome.AUTH_FAILED, text)
    if "username is invalid" in low:
        return _Verdict(Outcome.INVALID_USERNAME, text)
    if "password is to short" in low or "password is too short" in low:
        return _Verdict(Outcome.INVALID_PASSWORD, text, reason="too_short")
    if "password contains illegal" in low:
        return _Verdict(Outcome.INVALID_PASSWORD, text, reason="illegal_characters")
    if "no account mathcing" in low or "no account matching" in low:
        return _Verdict(Outcome.ACCOUNT_NOT_FOUND, text)
    return _Verdict(Outcome.UNKNOWN, text)


def _status_rules(status_value, message: str) -> _Verdict:
    """docs/providers.md §1.5 step 3/4 once the status and its message are known."""
    if _status_is_one(status_value):
        return _Verdict(Outcome.CHANGED, message)
    if _IDEMPOTENT.search(message):
        return _Verdict(Outcome.CHANGED_IDEMPOTENT, message)
    inactive = _INACTIVE.search(message)
    if inactive:
        letter = inactive.group(1)
        return _Verdict(Outcome.ACCOUNT_INACTIVE, message, account_status=letter.lower() if letter else None)
    return _text_rules(message)


def _text_without_rawout(element: XmlNode) -> str:
    """All text of the document except `rawout`, which must never be read (docs/providers.md §1.5 step 6)."""
    return " ".join(element.itertext(skip=("rawout",)))


def _xml_verdict(root: XmlNode) -> _Verdict:
    status, statusmsg, passwd_shape = _find_status(root)
    message = "".join(statusmsg.itertext()) if statusmsg is not None else ""
    if status is None:  # no status at all: never a success, but the text may still say why
        return _text_rules(message or _text_without_rawout(root))
    verdict = _status_rules(status.text, message)
    if verdict.outcome in _SUCCESS_MESSAGES and not passwd_shape:
        # A status of 1 (or the identical-password text) in any other document, an HTML page or another
        # call's answer, is no proof that passwd ran: never a success (issue 9).
        return _Verdict(Outcome.UNKNOWN, message, reason="not_a_passwd_answer")
    return verdict


def _json_verdict(document) -> _Verdict:
    if isinstance(document, dict):
        passwd = document.get("passwd")
        if isinstance(passwd, list) and passwd and isinstance(passwd[0], dict):
            entry = passwd[0]
            message = entry.get("statusmsg")
            return _status_rules(entry.get("status"), message if isinstance(message, str) else "")
        envelope = document.get("cpanelresult")
        if isinstance(envelope, dict):
            data = envelope.get("data")
            if not isinstance(data, dict):
                data = {}
            parts = [envelope.get("error"), data.get("reason")]
            text = " ".join(part for part in parts if isinstance(part, str))
            return _text_rules(text)
    return _Verdict(Outcome.UNKNOWN, "")


def _body_verdict(body: bytes) -> _Verdict:
    """Classify a stripped, non-empty 2xx body."""
    if body.startswith(b"<"):
        try:
            return _xml_verdict(parse_xml(body))
        except XmlRefused:
            return _Verdict(Outcome.UNKNOWN, "(refused: the answer declared a DTD or entities)")
        except XmlError:
            pass
        try:
            documents = _split_documents(body)
            verdicts = [_xml_verdict(parse_xml(document)) for document in documents]
        except XmlRefused:
            return _Verdict(Outcome.UNKNOWN, "(refused: the answer declared a DTD or entities)")
        except XmlError:
            return _Verdict(Outcome.UNKNOWN, body.decode("utf-8", errors="replace"))
        first = verdicts[0]
        if len(verdicts) > 1 and any(v.key() != first.key() for v in verdicts[1:]):
            return _Verdict(
                Outcome.UNKNOWN, " | ".join(collapse(v.text) for v in verdicts), reason="disagreeing_documents"
            )
        return first
    if body[:1] in (b"{", b"["):
        try:
            document = json.loads(body.decode("utf-8"))
        except (ValueError, RecursionError):
            return _Verdict(Outcome.UNKNOWN, body.decode("utf-8", errors="replace"))
        return _json_verdict(document)
    return _text_rules(body.decode("utf-8", errors="replace"))


def _strip_body(body: bytes) -> bytes:
    body = body.strip(b" \t\r\n\x00\x0b\x0c")
    if body.startswith(b"\xef\xbb\xbf"):
        body = body[3:].strip(b" \t\r\n")
    return body


_SUCCESS_MESSAGES = {
    Outcome.CHANGED: "{provider} changed the password of account {key}.",
    Outcome.CHANGED_IDEMPOTENT: "{provider} already had this password for account {key}; nothing needed changing.",
}


def _classify_passwd(answer: HttpAnswer, key: str, secrets: list[str], attempts: int) -> ChangeResult:
    base: dict[str, Any] = {"http_status": answer.status, "attempts": attempts}
    if not 200 <= answer.status <= 299:
        return ChangeResult(
            Outcome.PROVIDER_UNAVAILABLE,
            f"{PROVIDER} answered HTTP {answer.status} instead of a result; check MOFH_API_URL"
            " and try again later.",
            provider_message=snippet(_display_text(answer), secrets) or None,
            **base,
        )
    if answer.oversized:
        return ChangeResult(
            Outcome.UNKNOWN,
            f"{PROVIDER} sent an answer larger than {MAX_RESPONSE_BYTES // (1 << 20)} MiB, which is not"
            f" trusted; verify account {key} by logging in.",
            certainty=AMBIGUOUS,
            **base,
        )
    body = _strip_body(answer.body)
    if not body:
        return ChangeResult(
            Outcome.ACCOUNT_NOT_FOUND,
            f"{PROVIDER} returned an empty answer: account {key} was not found or has been deleted.",
            certainty=AMBIGUOUS,
            **base,
        )
    if _HTML.match(body):
        return ChangeResult(
            Outcome.PROVIDER_UNAVAILABLE,
            f"{PROVIDER} answered with a web page instead of an API result; check MOFH_API_URL"
            " and try again later.",
            provider_message=snippet(_display_text(answer), secrets) or None,
            **base,
        )
    verdict = _body_verdict(body)
    provider_message = snippet(verdict.text, secrets) or None
    outcome = verdict.outcome
    extra: dict = {}
    if outcome in _SUCCESS_MESSAGES:
        message = _SUCCESS_MESSAGES[outcome].format(provider=PROVIDER, key=key)
    elif outcome is Outcome.ACCOUNT_INACTIVE:
        letter = verdict.account_status
        state = f"state {letter}: {STATE_NAMES.get(letter, 'unrecognised')}" if letter else "state not given"
        message = (
            f"Account {key} is not active ({state}), so {PROVIDER} will not change its password;"
            " reactivate it first."
        )
        extra["account_status"] = letter
    elif outcome is Outcome.INVALID_PASSWORD:
        why = "is too short" if verdict.reason == "too_short" else "contains illegal characters"
        message = f"{PROVIDER} says the new password {why}; the password generator's rules need fixing."
        extra["reason"] = verdict.reason
    elif outcome is Outcome.INVALID_USERNAME:
        message = (
            f"{PROVIDER} rejected the account key {key}; it needs the 8-character account key chosen"
            " at account creation, not the vPanel username."
        )
    elif outcome is Outcome.ACCOUNT_NOT_FOUND:
        message = f"{PROVIDER} has no account with the key {key}; check the account directory."
    elif outcome is Outcome.AUTH_FAILED:
        message = f"{PROVIDER} refused the API credentials; check MOFH_API_USERNAME and MOFH_API_PASSWORD."
    elif outcome is Outcome.IP_NOT_ALLOWED:
        where = f"calls from {verdict.ip}" if verdict.ip else "calls from this server's IP address"
        message = (
            f"{PROVIDER} refused {where}; set that IP as the API allowed IP address in the reseller panel."
        )
    else:  # UNKNOWN
        if verdict.reason == "disagreeing_documents":
            message = (
                f"{PROVIDER} sent several answers that disagree; verify account {key} by logging in."
            )
            extra["reason"] = verdict.reason
        elif verdict.reason == "not_a_passwd_answer":
            message = (
                f"{PROVIDER} answered with a document that is not a passwd answer; verify account {key}"
                " by logging in."
            )
            extra["reason"] = verdict.reason
        else:
            message = (
                f"{PROVIDER} gave an answer that could not be classified; verify account {key}"
                " by logging in."
            )
        extra["certainty"] = AMBIGUOUS
    return ChangeResult(outcome, message, provider_message=provider_message, **base, **extra)


def _lookup_verdict(document: Any) -> tuple[Outcome, dict[str, Any]]:
    """A decoded getuserdomains / getdomainuser JSON value → outcome and fields."""
    if document is None:
        return Outcome.LOOKUP_EMPTY, {}
    if isinstance(document, list):
        if not document:
            return Outcome.LOOKUP_EMPTY, {}
        if all(isinstance(item, str) for item in document) and len(document) >= 4:
            status, domain, _docroot, vp_username = document[:4]
            return Outcome.LOOKUP_OK, {
                "domains": [domain],
                "account_state": status.strip().upper(),
                "vp_username": vp_username,
            }
        if len(document) == 2 and all(isinstance(item, str) for item in document):
            document = [document]
        pairs = []
        for item in document:
            if not (isinstance(item, list) and len(item) >= 2 and all(isinstance(x, str) for x in item[:2])):
                return Outcome.LOOKUP_ERROR, {}
            pairs.append((item[0].strip().upper(), item[1]))
        states = {state for state, _ in pairs}
        return Outcome.LOOKUP_OK, {
            "domains": [domain for _, domain in pairs],
            "account_state": states.pop() if len(states) == 1 else "MIXED",
        }
    return Outcome.LOOKUP_ERROR, {}


def _classify_lookup(answer: HttpAnswer, subject: str, secrets: list[str], attempts: int) -> LookupResult:
    base: dict[str, Any] = {"http_status": answer.status, "attempts": attempts}
    if not 200 <= answer.status <= 299 or _HTML.match(_strip_body(answer.body[:512])):
        return LookupResult(
            Outcome.PROVIDER_UNAVAILABLE,
            f"{PROVIDER} did not answer the lookup properly (HTTP {answer.status}); check MOFH_API_URL"
            " and try again later.",
            provider_message=snippet(_display_text(answer), secrets) or None,
            **base,
        )
    if answer.oversized:
        return LookupResult(
            Outcome.LOOKUP_ERROR,
            f"{PROVIDER} sent a lookup answer larger than 1 MiB, which is not trusted.",
            **base,
        )
    body = _strip_body(answer.body)
    if not body:
        return LookupResult(
            Outcome.LOOKUP_EMPTY,
            f"{PROVIDER} returned an empty answer for {subject}; it may not exist.",
            certainty=AMBIGUOUS,
            **base,
        )
    text = body.decode("utf-8", errors="replace")
    document = _MISSING = object()
    if body[:1] in (b"[", b"{") or body == b"null":
        try:
            document = json.loads(body.decode("utf-8"))
        except (ValueError, RecursionError):
            document = _MISSING
    if document is not _MISSING and not isinstance(document, dict):
        outcome, fields = _lookup_verdict(document)
        if outcome is Outcome.LOOKUP_OK:
            domains = fields["domains"]
            state = fields["account_state"]
            if "vp_username" in fields:
                message = f"{subject} belongs to vPanel user {fields['vp_username']} ({state})."
            elif state == "MIXED":
                message = f"{subject} has {len(domains)} domains on {PROVIDER} whose statuses disagree (MIXED)."
            else:
                count = f"{len(domains)} domain" + ("" if len(domains) == 1 else "s")
                message = f"{subject} has {count} on {PROVIDER}, all {state}."
            return LookupResult(outcome, message, **base, **fields)
        if outcome is Outcome.LOOKUP_EMPTY:
            return LookupResult(outcome, f"{PROVIDER} knows no domains for {subject}.", **base)
        return LookupResult(
            outcome,
            f"{PROVIDER} sent a lookup answer for {subject} in an unexpected shape.",
            provider_message=snippet(text, secrets) or None,
            **base,
        )
    if isinstance(document, dict):
        verdict = _json_verdict(document)
    elif body.startswith(b"<"):
        try:
            verdict = _xml_verdict(parse_xml(body))
        except XmlError:  # XmlRefused included
            verdict = _Verdict(Outcome.UNKNOWN, text)
    else:
        verdict = _text_rules(text)
    provider_message = snippet(verdict.text or text, secrets) or None
    if verdict.outcome is Outcome.AUTH_FAILED:
        message = f"{PROVIDER} refused the API credentials; check MOFH_API_USERNAME and MOFH_API_PASSWORD."
    elif verdict.outcome is Outcome.IP_NOT_ALLOWED:
        where = f"calls from {verdict.ip}" if verdict.ip else "calls from this server's IP address"
        message = (
            f"{PROVIDER} refused {where}; set that IP as the API allowed IP address in the reseller panel."
        )
    else:
        return LookupResult(
            Outcome.LOOKUP_ERROR,
            f"{PROVIDER} could not look up {subject}: {collapse(provider_message or 'no reason given')[:120]}.",
            provider_message=provider_message,
            **base,
        )
    return LookupResult(verdict.outcome, message, provider_message=provider_message, **base)


__all__ = ["MofhClient", "normalise_base_url"]
