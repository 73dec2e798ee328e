"""Plesk XML API client: `customer/set gen_info/passwd`, read-only `customer/get gen_info` (docs/provider-plesk.md).

Every call is one POST of an XML packet to `{base}/enterprise/control/agent.php` with
`Content-Type: text/xml`, the API credentials only in the `HTTP_AUTH_LOGIN`/`HTTP_AUTH_PASSWD`
headers or the `KEY` header (never `Authorization`, never in the URL, which has no query
string). The packet is built with ElementTree, so a login or password holding `&`, `<`, `>`
or `]]>` arrives byte for byte (§2.3); its filter names exactly one `<login>`, since an empty
filter selects every customer (§0.4), and `set` carries exactly one `values/gen_info/passwd`.

Answers are parsed with bot/providers/_xml.py (xmltodict, DTDs and entities refused) and
classified with §5's algorithm and §6's table: HTTP 200 carries every API error, either as a
`<system>` checkup error or as a `<result><status>error`; an answer that cannot be read is
never a success (pypleski's `is_error()` read every error packet as one). At most 1 MiB is
read. At most 2 attempts, the second (the identical packet, after `retry_delay`) only after a
timeout, a connection error or a 5xx (§7); no redirect is followed (a 3xx is
`provider_unavailable`: it would carry the credentials, and the password, elsewhere).

Refused locally, nothing sent (§8): a login not matching `LOGIN` (`invalid_username`), a
password of fewer than 5 or more than 255 characters, with a character outside `0x21`–`0x7E`,
a quote, or the login inside it (`invalid_password`). The customer's own `password` field that
`customer/get` may return is never read into a result. The client never raises for an answer
or a transport failure, and logs nothing.
"""

from __future__ import annotations

import re
import time
import xml.etree.ElementTree as ET
from typing import Any

import requests
import requests.auth

from bot.providers import AMBIGUOUS, ChangeResult, LookupResult, Outcome
from bot.providers._http import (
    CHANGE_DEADLINE,
    DEADLINE_EXCEEDED,
    DEFAULT_TIMEOUT,
    LOOKUP_DEADLINE,
    MAX_RESPONSE_BYTES,
    HttpAnswer,
    TransportError,
    checked_url,
    collapse,
    endpoint_problem,
    post,
    require_tls_verification,
    secret_variants,
    snippet,
    timeout_pair,
)
from bot.providers._xml import XmlError, XmlNode, XmlRefused, parse_xml
from bot.providers.plesk.account import LOGIN
from bot.secret import Secret, reveal

PROVIDER = "Plesk"
AGENT_PATH = "/enterprise/control/agent.php"
PROTOCOL_VERSION = "1.6.3.0"  # the first with the customer operator; old Plesk answers 1017 without one (§0.11)
MAX_ATTEMPTS = 2
PASSWORD_MIN, PASSWORD_MAX = 5, 255
PROBE_LOGIN = "resetbot-connection-probe"  # a read-only customer/get that proves the credentials (gateway.probe)

# Characters XML 1.0 cannot carry at all (the login pattern already keeps out C0 controls and whitespace).
_NOT_XML = re.compile("[\ud800-\udfff\ufffe\uffff]")
_PRINTABLE = re.compile(r"[\x21-\x7e]+")
_HTML = re.compile(rb"^\s*(?:<!doctype\s+html|<html\b|<head\b|<body\b)", re.IGNORECASE)
_HTML_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_INTEGER = re.compile(r"\s*[0-9]{1,12}\s*")

# customer status bit mask (plesk_common.xsd objectStatus; 32 from newer docs): §10
STATUS_FLAGS = ((4, "backup_restore"), (16, "disabled_by_admin"), (32, "disabled_by_reseller"),
                (64, "disabled_by_customer"), (256, "expired"))

CREDENTIALS_HINT = "check PLESK_API_LOGIN and PLESK_API_PASSWORD, or PLESK_API_KEY"

# §6, `system` checkup errors: errcode -> (outcome, reason, what to do)
_SYSTEM = {
    1001: (Outcome.AUTH_FAILED, "wrong_credentials", f"Plesk refused the API login or password; {CREDENTIALS_HINT}."),
    1029: (Outcome.AUTH_FAILED, "auth_method_not_specified",
           "Plesk did not receive the API credentials; check PLESK_API_LOGIN and PLESK_API_PASSWORD or "
           "PLESK_API_KEY, and whether a proxy in front of port 8443 drops headers with underscores."),
    11003: (Outcome.AUTH_FAILED, "secret_key_invalid",
            "Plesk refused the secret key (PLESK_API_KEY); a key works only from the IP address it was created for."),
    1006: (Outcome.AUTH_FAILED, "permission_denied",
           "Plesk refused the API user: XML API access must be allowed for it (a reseller needs \"Ability to use "
           "XML API\")."),
    1011: (Outcome.AUTH_FAILED, "account_disabled", f"Plesk says the API login is disabled; {CREDENTIALS_HINT}."),
    1012: (Outcome.AUTH_FAILED, "login_locked",
           "Plesk locked the API login after failed attempts; do not retry until an administrator unlocks it."),
    1010: (Outcome.IP_NOT_ALLOWED, None,
           "Plesk denied access from this server's IP address; allow it under Restrict administrative access."),
    1005: (Outcome.BAD_REQUEST, "protocol_version",
           "Plesk does not support the protocol version the bot sent (1.6.3.0); nothing was changed."),
    1014: (Outcome.BAD_REQUEST, "xml_parse_error",
           "Plesk could not accept the packet the bot sent (a bot bug); nothing was changed."),
    1017: (Outcome.BAD_REQUEST, "not_supported",
           "Plesk does not support this operation in the protocol version the bot sent; nothing was changed."),
}


class _NoAuthorization(requests.auth.AuthBase):
    """Credentials travel in Plesk's own headers: no Authorization header, not even one from a .netrc file."""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers.pop("Authorization", None)
        return request


def normalise_base_url(base_url: str) -> str:
    """`https://host:8443`, with or without a trailing `/` or `/enterprise/control/agent.php`, as the agent URL."""
    url = checked_url(base_url, "Plesk base_url")
    problem = endpoint_problem(url)
    if problem:
        raise ValueError(f"Plesk base_url {problem}")
    url = url.rstrip("/")
    if url.endswith(AGENT_PATH):
        url = url[: -len(AGENT_PATH)].rstrip("/")
    return url + AGENT_PATH


class PleskClient:
    """Talks to one Plesk XML API as one API user: a login and password, or a secret key."""

    def __init__(
        self,
        base_url: str,
        *,
        login: str | None = None,
        password: str | Secret | None = None,
        secret_key: str | Secret | None = None,
        session: requests.Session | None = None,
        timeout: tuple[float, float] | float = DEFAULT_TIMEOUT,
        retry_delay: float = 1.0,
        deadline: float = CHANGE_DEADLINE,
        lookup_deadline: float = LOOKUP_DEADLINE,
    ) -> None:
        self.agent_url = normalise_base_url(base_url)
        api_login = reveal(login) or ""
        api_password = reveal(password) or ""
        key = reveal(secret_key) or ""
        if key and (api_login or api_password):
            raise ValueError("give PleskClient either login and password or secret_key, not both")
        if not key and not (api_login and api_password):
            raise ValueError("PleskClient needs login and password, or secret_key")
        for what, value in (("login", api_login), ("password", api_password), ("secret_key", key)):
            if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
                raise ValueError(f"the Plesk API {what} holds a control character, which cannot travel in a header")
        self.api_login = api_login or None
        self._api_password = Secret(api_password)
        self._secret_key = Secret(key)
        self._session = session if session is not None else requests.Session()
        require_tls_verification(self._session)
        self.timeout = timeout_pair(timeout)
        self.retry_delay = max(0.0, float(retry_delay))
        # Seconds one change, or one lookup, may take in all, both attempts included (bot/providers/_http.py).
        self.deadline = float(deadline)
        self.lookup_deadline = float(lookup_deadline)
        self._sleep = time.sleep

    def __repr__(self) -> str:
        mode = "secret key" if self._secret_key else "login and password"
        return f"PleskClient(agent_url={self.agent_url!r}, auth={mode!r})"

    # -- customer/set ------------------------------------------------------------------------------
    def change_password(self, customer_login: str, new_password: str | Secret) -> ChangeResult:
        """Set the customer's panel password (`customer/set` of `gen_info/passwd`, filtered by its login)."""
        refusal = _login_refusal(customer_login)
        if refusal is not None:
            return ChangeResult(Outcome.INVALID_USERNAME, refusal, attempts=0)
        password = reveal(new_password) if isinstance(new_password, (str, Secret)) else None
        if password is None:
            return ChangeResult(Outcome.INVALID_PASSWORD, "The new password must be a string; nothing was sent.",
                                reason="missing", attempts=0)
        broken = _password_problem(password, customer_login)
        if broken is not None:
            reason, why = broken
            return ChangeResult(Outcome.INVALID_PASSWORD, f"The new password was refused before sending: it {why}.",
                                reason=reason, attempts=0)
        secrets = self._secrets(password)
        exchange = self._exchange(_set_packet(customer_login, password), deadline=self.deadline)
        if isinstance(exchange, _Failure):
            return exchange.as_result(ChangeResult, secrets)
        answer, attempts = exchange
        try:
            return _classify(answer, "set", customer_login, secrets, attempts)
        except Exception:  # a parser surprise: never an exception, never a success
            return ChangeResult.unreadable(
                f"{PROVIDER}'s answer could not be read; verify customer {customer_login} by logging in.",
                http_status=answer.status, attempts=attempts)

    # -- customer/get ------------------------------------------------------------------------------
    def account_info(self, *, login: str) -> LookupResult:
        """The customer's id, contact e-mail and status (`customer/get` of `gen_info`); read-only."""
        refusal = _login_refusal(login)
        if refusal is not None:
            return LookupResult(Outcome.INVALID_USERNAME, refusal, attempts=0)
        secrets = self._secrets(None)
        exchange = self._exchange(_get_packet(login), deadline=self.lookup_deadline)
        if isinstance(exchange, _Failure):
            return exchange.as_result(LookupResult, secrets)
        answer, attempts = exchange
        try:
            return _classify(answer, "get", login, secrets, attempts)
        except Exception:
            return LookupResult(Outcome.UNKNOWN, f"{PROVIDER}'s answer to the lookup of {login} could not be read.",
                                http_status=answer.status, certainty=AMBIGUOUS, attempts=attempts)

    def probe(self) -> LookupResult:
        """Whether Plesk answers these credentials: a read-only `customer/get` of a login no customer is expected
        to have. `lookup_ok` when the API answered it (found or not: nothing about a customer is kept), else
        what went wrong (`auth_failed`, `ip_not_allowed`, `provider_unavailable`, `unknown`, ...)."""
        result = self.account_info(login=PROBE_LOGIN)
        if result.outcome in (Outcome.LOOKUP_OK, Outcome.LOOKUP_EMPTY):
            return LookupResult(Outcome.LOOKUP_OK,
                                f"{PROVIDER} at {self.agent_url} accepted the API credentials (customer/get answered).",
                                http_status=result.http_status, attempts=result.attempts)
        return result

    # -- transport ---------------------------------------------------------------------------------
    def _headers(self) -> dict[str, str | bytes]:
        headers: dict[str, str | bytes] = {"Content-Type": "text/xml", "Accept": "text/xml, application/xml, */*"}
        if self._secret_key:
            headers["KEY"] = self._secret_key.reveal().encode("utf-8")
        else:
            headers["HTTP_AUTH_LOGIN"] = (self.api_login or "").encode("utf-8")
            headers["HTTP_AUTH_PASSWD"] = self._api_password.reveal().encode("utf-8")
        return headers

    def _secrets(self, password: str | None) -> list[str]:
        """What must never show in a provider_message, even if the server echoes the request."""
        return secret_variants([password, self._api_password.reveal(), self._secret_key.reveal()])

    def _exchange(self, packet: bytes, *, deadline: float) -> tuple[HttpAnswer, int] | _Failure:
        """POST with at most 2 attempts; the second, the identical packet, only after a timeout, a connection error
        or a 5xx, and only while the call's `deadline` (seconds, both attempts together) has time left."""
        ends = time.monotonic() + deadline
        failure: _Failure | None = None
        for attempt in range(1, MAX_ATTEMPTS + 1):
            if attempt > 1:
                if ends - time.monotonic() <= self.retry_delay:
                    break  # no time left for a second attempt
                if self.retry_delay:
                    self._sleep(self.retry_delay)
            try:
                answer = post(self._session, self.agent_url, packet, headers=self._headers(), timeout=self.timeout,
                              auth=_NoAuthorization(), deadline=ends - time.monotonic())
            except TransportError as transport:
                sent = transport.sent or (failure is not None and failure.sent)
                failure = _Failure(kind=transport.kind, reason=_transport_reason(transport.kind), attempts=attempt,
                                   sent=sent, retryable=True)
                continue
            except Exception as exc:  # a local problem (e.g. an unencodable header): repeating will not help
                return _Failure(kind=f"the request could not be made ({type(exc).__name__})", reason="request_failed",
                                attempts=attempt, sent=True, retryable=False)
            if 500 <= answer.status <= 599:  # a proxy's 502/504 may come after Plesk acted: as ambiguous as a timeout
                failure = _Failure(kind=f"answered HTTP {answer.status}", reason=f"http_{answer.status}",
                                   attempts=attempt, sent=True, retryable=True, http_status=answer.status,
                                   detail=_page_title(answer))
                continue
            return answer, attempt
        assert failure is not None
        return failure


class _Failure:
    """No usable answer: a transport failure or a 5xx on every attempt, or a request that could not be made."""

    def __init__(self, *, kind: str, reason: str, attempts: int, sent: bool, retryable: bool,
                 http_status: int | None = None, detail: str | None = None) -> None:
        self.kind, self.reason, self.attempts = kind, reason, attempts
        self.sent = sent  # False only when no byte of any attempt can have reached Plesk
        self.retryable, self.http_status, self.detail = retryable, http_status, detail

    def as_result(self, cls: Any, secrets: list[str]) -> Any:
        tries = "once" if self.attempts == 1 else f"{self.attempts} times"
        return cls(
            Outcome.PROVIDER_UNAVAILABLE,
            f"{PROVIDER} gave no usable answer ({self.kind}, tried {tries}); try again later or check PLESK_API_URL.",
            provider_message=snippet(self.detail, secrets) if self.detail else None,
            http_status=self.http_status,
            reason=self.reason,
            retryable=self.retryable,
            certainty=AMBIGUOUS if self.sent else None,
            attempts=self.attempts,
        )


# ----------------------------------------------------------------------------------------------
# local checks and packets
# ----------------------------------------------------------------------------------------------


def _login_refusal(login: object) -> str | None:
    """Why `login` may not be sent (a sentence), or None. An empty filter would select every customer."""
    if isinstance(login, str) and LOGIN.fullmatch(login) and not _NOT_XML.search(login):
        return None
    return ("A Plesk customer login is 1 to 255 characters, starts with a letter or digit and has no space or "
            "control character; nothing was sent.")


def _password_problem(password: str, login: str) -> tuple[str, str] | None:
    """(reason, why) when `password` breaks Plesk's hard rules (§8.2), else None. Strength is Plesk's to judge."""
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        return "bad_length", f"must be {PASSWORD_MIN} to {PASSWORD_MAX} characters long"
    if not _PRINTABLE.fullmatch(password) or "'" in password or '"' in password:
        return "illegal_characters", "may hold only printable ASCII characters other than a space or a quote"
    if login.lower() in password.lower():
        return "contains_login", "must not contain the customer login"
    return None


def _packet(operation: str, login: str) -> tuple[ET.Element, ET.Element]:
    """`packet/customer/<operation>` with a filter of exactly one login; returns (packet, operation element)."""
    packet = ET.Element("packet", {"version": PROTOCOL_VERSION})
    node = ET.SubElement(ET.SubElement(packet, "customer"), operation)
    ET.SubElement(ET.SubElement(node, "filter"), "login").text = login
    return packet, node


def _serialise(packet: ET.Element) -> bytes:
    # ElementTree escapes &, < and > in text (so "]]>" cannot end anything); no pretty-printing: whitespace in
    # passwd would become part of the password.
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(packet, encoding="unicode")).encode("utf-8")


def _set_packet(login: str, password: str) -> bytes:
    packet, node = _packet("set", login)
    gen_info = ET.SubElement(ET.SubElement(node, "values"), "gen_info")
    ET.SubElement(gen_info, "passwd").text = password
    return _serialise(packet)


def _get_packet(login: str) -> bytes:
    packet, node = _packet("get", login)
    ET.SubElement(ET.SubElement(node, "dataset"), "gen_info")
    return _serialise(packet)


# ----------------------------------------------------------------------------------------------
# classification (§5, §6)
# ----------------------------------------------------------------------------------------------


def _transport_reason(kind: str) -> str:
    if kind == DEADLINE_EXCEEDED:
        return "deadline"
    if "timed out" in kind:
        return "timeout"
    if kind == "could not connect":
        return "connect_failed"
    return "connection_lost" if "connection lost" in kind else "request_failed"


def _page_title(answer: HttpAnswer) -> str | None:
    """The <title> of an HTML page (a proxy's error, a login page); nothing else of a body is ever kept."""
    if not _HTML.match(answer.body[:512]):
        return None
    title = _HTML_TITLE.search(answer.body[:8192].decode("utf-8", errors="replace"))
    return collapse(title.group(1)) if title else None


def _text(node: XmlNode | None, tag: str) -> str | None:
    child = node.find(tag) if node is not None else None
    return child.text.strip() if child is not None else None


def _number(text: str | None) -> int | None:
    return int(text) if text is not None and _INTEGER.fullmatch(text) else None


def _password_reason(errtext: str) -> str | None:
    """The password sub-reason of an errtext (§6), None when it is not about the password."""
    low = collapse(errtext).lower()
    if "password" not in low and "passwd" not in low:
        return None
    if any(w in low for w in ("contain", "include")) and any(w in low for w in ("user name", "username", "login")):
        return "contains_login"
    if any(w in low for w in ("complex", "strength", "weak", "simple")):
        return "too_weak"
    if any(w in low for w in ("short", "long", "length")):
        return "bad_length"
    return "policy"


_PASSWORD_WORDS = {
    "too_weak": "Plesk's password policy refused the generated password; nothing was changed. Check Tools & "
                "Settings > Security Policy.",
    "contains_login": "Plesk refused the new password because it contains the customer login; nothing was changed.",
    "bad_length": "Plesk refused the length of the new password; nothing was changed.",
    "policy": "Plesk's password rules refused the new password; nothing was changed.",
}


def _classify(answer: HttpAnswer, op: str, login: str, secrets: list[str], attempts: int) -> Any:
    """One answer to `customer/<op>` ("set" or "get") for `login`, as a ChangeResult (set) or LookupResult (get)."""
    cls: Any = ChangeResult if op == "set" else LookupResult
    base: dict[str, Any] = {"http_status": answer.status, "attempts": attempts}
    verify = (f"verify customer {login} by logging in to Plesk" if op == "set"
              else f"the state of customer {login} is not known")

    def unknown(why: str, reason: str, provider_message: str | None = None) -> Any:
        return cls(Outcome.UNKNOWN, f"{PROVIDER} {why}; {verify}.", reason=reason, certainty=AMBIGUOUS,
                   provider_message=provider_message, **base)

    if not 200 <= answer.status <= 299:  # a 3xx (never followed) or a 4xx: not retried within the call
        title = _page_title(answer)
        return cls(Outcome.PROVIDER_UNAVAILABLE,
                   f"{PROVIDER} answered HTTP {answer.status} instead of an API result; check PLESK_API_URL "
                   "and try again later.",
                   provider_message=snippet(title, secrets) if title else None, reason=f"http_{answer.status}",
                   retryable=True, **base)
    if answer.oversized:
        return unknown(f"sent an answer larger than {MAX_RESPONSE_BYTES // (1 << 20)} MiB, which is not trusted",
                       "oversized_answer")
    body = answer.body.strip(b" \t\r\n")
    if not body:
        return unknown("answered with an empty body", "empty_answer")
    if _HTML.match(body[:512]):  # a login page or a captive portal, even one with a status=ok field (E24)
        title = _page_title(answer)
        return unknown("answered with a web page instead of an API packet", "not_a_packet",
                       snippet(title, secrets) if title else None)
    try:
        root = parse_xml(body)
    except XmlRefused:
        return unknown("sent an answer declaring a DTD or entities, which was refused", "refused_dtd")
    except XmlError:
        title = _page_title(answer)
        return unknown("sent an answer that is not a readable XML packet", "unreadable_answer",
                       snippet(title, secrets) if title else None)
    if root.tag != "packet":
        return unknown(f"sent a <{root.tag[:40]}> document instead of an API packet", "not_a_packet")
    # The customer's own password (gen_info/password, hashed or not) must not reach a kept message either.
    secrets = secret_variants([*secrets, *(node.text.strip() for node in root.iter()
                                           if node.tag in ("password", "password_type") and node.text.strip())])

    system = root.find("system")
    if system is not None:
        return _system_error(cls, system, op, login, secrets, base, unknown)
    results = [result for customer in root.children if customer.tag == "customer"
               for operation in customer.children if operation.tag == op
               for result in operation.children if result.tag == "result"]
    if len(results) != 1:
        if not results:
            return unknown(f"answered without a result for {op}", "no_result")
        return unknown(f"answered with {len(results)} results where one customer was asked for", "several_results")
    (result,) = results
    filter_id = _text(result, "filter-id")
    if filter_id is not None and filter_id != login:
        return unknown("answered about another customer than the one asked for", "other_customer")
    status = (_text(result, "status") or "").lower()
    if status == "ok":
        return _success(cls, result, op, login, base, unknown)
    if status == "error":
        return _result_error(cls, result, op, login, secrets, base)
    return unknown("answered with a status that is neither ok nor error", "unexpected_status")


def _success(cls: Any, result: XmlNode, op: str, login: str, base: dict[str, Any], unknown: Any) -> Any:
    user_id = _text(result, "id") or None
    if op == "set":
        return cls(Outcome.CHANGED, f"{PROVIDER} changed the panel password of customer {login}.", user_id=user_id,
                   **base)
    data = result.find("data")
    gen_info = data.find("gen_info") if data is not None else None
    if gen_info is None:
        return unknown("answered ok without the customer's gen_info", "no_gen_info")
    named = _text(gen_info, "login")
    if named is not None and named != login:
        return unknown("answered with another customer's details", "other_customer")
    status = _number(_text(gen_info, "status"))
    if status is None:
        return unknown("answered without a readable customer status", "no_status")
    flags = [name for bit, name in STATUS_FLAGS if status & bit]
    state = "ACTIVE" if status == 0 else "SUSPENDED"
    words = "active" if status == 0 else f"suspended ({', '.join(flags) or f'status {status}'})"
    return cls(Outcome.LOOKUP_OK, f"{PROVIDER} customer {login} is {words}.", user_id=user_id,
               email=_text(gen_info, "email") or None, account_status=str(status), account_state=state,
               reason="+".join(flags) or None, domains=[], username=login, **base)


def _system_error(cls: Any, system: XmlNode, op: str, login: str, secrets: list[str], base: dict[str, Any],
                  unknown: Any) -> Any:
    """A checkup error in <system>: nothing was executed."""
    if (_text(system, "status") or "").lower() != "error":
        return unknown("sent a system node that is not an error", "unexpected_system")
    errcode = _number(_text(system, "errcode"))
    errtext = _text(system, "errtext") or ""
    said = snippet(errtext, secrets) or None
    code = f"error {errcode}" if errcode is not None else "an error without a code"
    outcome, reason, words = _SYSTEM.get(errcode or -1, (Outcome.PROVIDER_ERROR, None, None))
    if words is None:
        words = f"Plesk refused the request before running it ({code}); nothing was changed."
    return cls(outcome, words, provider_message=said, reason=reason,
               error_numbers=[errcode] if errcode is not None else [], **base)


def _result_error(cls: Any, result: XmlNode, op: str, login: str, secrets: list[str], base: dict[str, Any]) -> Any:
    """An execution error in <result> (§6)."""
    errcode = _number(_text(result, "errcode"))
    errtext = _text(result, "errtext") or ""
    said = snippet(errtext, secrets) or None
    numbers = [errcode] if errcode is not None else []
    code = f"error {errcode}" if errcode is not None else "an error without a code"
    common: dict[str, Any] = dict(provider_message=said, error_numbers=numbers, **base)
    if errcode == 1013:
        if op == "set":
            return cls(Outcome.ACCOUNT_NOT_FOUND,
                       f"No Plesk customer has the login {login} (for this API user); nothing was changed.", **common)
        return cls(Outcome.LOOKUP_EMPTY, f"No Plesk customer has the login {login} (for this API user).", **common)
    if errcode == 1006:
        return cls(Outcome.AUTH_FAILED,
                   f"The Plesk API user may not manage customer {login} (a reseller reaches only its own customers; "
                   "XML API access must be allowed).", reason="permission_denied", **common)
    password_reason = _password_reason(errtext) if op == "set" and errcode in (1019, 1023) else None
    if password_reason is not None:
        return cls(Outcome.INVALID_PASSWORD, _PASSWORD_WORDS[password_reason], reason=password_reason, **common)
    if errcode in (1014, 1019):
        return cls(Outcome.BAD_REQUEST,
                   f"Plesk could not accept the packet the bot sent ({code}, a bot bug); nothing was changed.",
                   **common)
    if op == "set":
        return cls(Outcome.PROVIDER_ERROR,
                   f"Plesk reported {code} for customer {login}; verify by logging in before trying again.", **common)
    return cls(Outcome.LOOKUP_ERROR, f"Plesk could not look up customer {login} ({code}).", **common)


__all__ = ["AGENT_PATH", "PROBE_LOGIN", "PROTOCOL_VERSION", "PleskClient", "normalise_base_url"]
