"""Namecheap `namecheap.users.changePassword` / `namecheap.users.resetPassword` client (docs/providers.md §2).

Every call is a POST with a form body (ApiUser, ApiKey, ClientIp, Command, and UserName only
where the command takes it); nothing secret is ever put in a URL. Answers are parsed with
xmltodict, DTDs and entities refused (bot/providers/_xml.py), and classified per
docs/providers.md §2.7. Calls are sent exactly once, except after HTTP 405 (Namecheap's
rate-limit signal), and every HTTP request first takes a slot from a `CallBudget`: at most 20
calls in any rolling 60 s per API user, across every client in the process (the app may
inject a database-backed budget to share it across replicas). The client never raises for a
provider answer or a transport failure, and logs nothing.

Budget key: ``"namecheap:" + api_user.lower()``.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import requests

from bot.providers import AMBIGUOUS, CallBudget, ChangeResult, Outcome
from bot.providers._http import (
    CHANGE_DEADLINE,
    DEFAULT_TIMEOUT,
    MAX_RESPONSE_BYTES,
    HttpAnswer,
    TransportError,
    checked_url,
    post_form,
    require_tls_verification,
    secret_variants,
    snippet,
    timeout_pair,
)
from bot.providers._names import DOMAIN
from bot.providers._xml import XmlError, XmlNode, XmlRefused, parse_xml
from bot.providers.namecheap.account import OLD_PASSWORD_MAX, RESET_CODE, USERNAME, USERNAME_RULE
from bot.providers.namecheap.passwords import NAMECHEAP_RULES
from bot.secret import Secret, reveal

PROVIDER = "Namecheap"
CHANGE_PASSWORD = "namecheap.users.changePassword"
RESET_PASSWORD = "namecheap.users.resetPassword"

CALLS_PER_WINDOW = 20
WINDOW_SECONDS = 60.0
MAX_SLOT_WAIT = 5.0  # seconds a call may wait for a limiter slot before giving up

FIND_BY = ("USERNAME", "EMAILADDRESS", "DOMAINNAME")
NEW_PASSWORD_MIN, NEW_PASSWORD_MAX = NAMECHEAP_RULES.min_length, NAMECHEAP_RULES.max_length
IPV4 = re.compile(r"^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\Z")
# NAMECHEAP_API_USER is the operator's own credential, checked only for what the API takes (20, no blanks).
_API_USER = re.compile(r"^[^\s\x00-\x1f\x7f]{1,20}\Z")
_EMAIL = re.compile(r"^[^\s@\x00-\x1f\x7f]{1,64}@[^\s@\x00-\x1f\x7f]{1,253}\Z")
_HTML = re.compile(rb"^\s*(?:<!doctype\s+html|<html\b|<head\b|<body\b)", re.IGNORECASE)
_IP_IN_TEXT = re.compile(r"\b(\d{1,3}(?:\.\d{1,3}){3})\b")


# ----------------------------------------------------------------------------------------------
# call budget (client-side rate limiter)
# ----------------------------------------------------------------------------------------------


class InProcessCallBudget:
    """A thread-safe rolling-window budget kept in this process's memory."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._calls: dict[str, deque[float]] = {}

    def try_acquire(self, key: str, *, limit: int, window_seconds: float) -> float:
        with self._lock:
            now = self._clock()
            calls = self._calls.setdefault(key, deque())
            while calls and calls[0] <= now - window_seconds:
                calls.popleft()
            if len(calls) < limit:
                calls.append(now)
                return 0.0
            return max(calls[0] + window_seconds - now, 0.001)


DEFAULT_BUDGET: CallBudget = InProcessCallBudget()


# ----------------------------------------------------------------------------------------------
# error-number tables (docs/providers.md §2.2, §2.3, §2.4, §2.5)
# ----------------------------------------------------------------------------------------------

IP_ERRORS = {1011150, 1017150, 1017105, 1011147}
AUTH_ERRORS = {1030408, 1011102, 1017101, 1017410, 1017411, 1016103}
NOT_FOUND_ERRORS = {1019103}
INACTIVE_ERRORS = {1017103}
BAD_REQUEST_ERRORS = {1010101, 1010102, 1010104, 1010105, 1011105, 2010302, 2010103, 2010303, 2015103, 2011315}
REJECTED_ERRORS = {4022335, 4011331}
PROVIDER_ERRORS = {5050900, 1050900, 4027153}
AMBIGUOUS_ERRORS = {5050900}  # "Unhandled exceptions": the command may or may not have run

# Highest first: docs/providers.md §2.7 step 4, with the two account-level globals placed after auth.
PRECEDENCE = (
    Outcome.IP_NOT_ALLOWED,
    Outcome.AUTH_FAILED,
    Outcome.ACCOUNT_NOT_FOUND,
    Outcome.ACCOUNT_INACTIVE,
    Outcome.BAD_REQUEST,
    Outcome.CHANGE_REJECTED,
    Outcome.PROVIDER_ERROR,
)


_ERROR_OUTCOMES = (
    (IP_ERRORS, Outcome.IP_NOT_ALLOWED),
    (AUTH_ERRORS, Outcome.AUTH_FAILED),
    (NOT_FOUND_ERRORS, Outcome.ACCOUNT_NOT_FOUND),
    (INACTIVE_ERRORS, Outcome.ACCOUNT_INACTIVE),
    (BAD_REQUEST_ERRORS, Outcome.BAD_REQUEST),
    (REJECTED_ERRORS, Outcome.CHANGE_REJECTED),
    (PROVIDER_ERRORS, Outcome.PROVIDER_ERROR),
)


def outcome_for_error(number: int | None) -> Outcome:
    if number is None:
        return Outcome.PROVIDER_ERROR
    for numbers, outcome in _ERROR_OUTCOMES:
        if number in numbers:
            return outcome
    if 1010000 <= number <= 1019999:  # unknown global 101xxxx: an auth/configuration problem
        return Outcome.AUTH_FAILED
    return Outcome.PROVIDER_ERROR


# ----------------------------------------------------------------------------------------------
# client
# ----------------------------------------------------------------------------------------------


class NamecheapClient:
    """Talks to one Namecheap API endpoint as one API user."""

    def __init__(
        self,
        endpoint_url: str,
        api_user: str,
        api_key: str | Secret,
        client_ip: str,
        *,
        session: requests.Session | None = None,
        timeout: tuple[float, float] | float = DEFAULT_TIMEOUT,
        budget: CallBudget | None = None,
        rate_limit_backoff: Iterable[float] = (5.0, 15.0),
        deadline: float = CHANGE_DEADLINE,
    ) -> None:
        self.endpoint_url = checked_url(endpoint_url, "Namecheap endpoint_url")
        self.api_user = reveal(api_user) or ""
        self._api_key = Secret(reveal(api_key) or "")
        self.client_ip = (client_ip or "").strip() if isinstance(client_ip, str) else ""
        self._session = session if session is not None else requests.Session()
        require_tls_verification(self._session)
        self.timeout = timeout_pair(timeout)
        self.budget: CallBudget = budget if budget is not None else DEFAULT_BUDGET
        self.rate_limit_backoff = tuple(max(0.0, float(delay)) for delay in rate_limit_backoff)
        self.deadline = float(deadline)  # seconds one HTTP exchange may take in all (bot/providers/_http.py)
        self._sleep = time.sleep
        self._clock = time.monotonic

    def __repr__(self) -> str:
        return f"NamecheapClient(endpoint_url={self.endpoint_url!r}, api_user={self.api_user!r})"

    @property
    def budget_key(self) -> str:
        return "namecheap:" + self.api_user.lower()

    # -- public calls ------------------------------------------------------------------------------
    def change_password(
        self,
        new_password: str | Secret,
        *,
        username: str | None = None,
        old_password: str | Secret | None = None,
        reset_code: str | Secret | None = None,
    ) -> ChangeResult:
        """Way 1 (username + old_password, sends UserName) or way 2 (reset_code, no UserName)."""
        new = reveal(new_password) if isinstance(new_password, (str, Secret)) else None
        old = reveal(old_password) if isinstance(old_password, (str, Secret)) else old_password
        code = reveal(reset_code) if isinstance(reset_code, (str, Secret)) else reset_code
        way1 = username is not None or old is not None
        way2 = code is not None
        if way1 and way2:
            return _local(Outcome.BAD_REQUEST, "Give either username and old_password or reset_code, not both.")
        if not way1 and not way2:
            return _local(Outcome.BAD_REQUEST, "Give either username and old_password, or reset_code.")
        refusal = self._check_config() or _check_new_password(new)
        if refusal is not None:
            return refusal
        assert new is not None  # _check_new_password refuses a missing one
        form = self._globals(CHANGE_PASSWORD)
        if way1:
            if username is None or old is None:
                return _local(Outcome.BAD_REQUEST, "Way 1 needs both username and old_password.")
            if not isinstance(username, str) or not USERNAME.match(username):
                return _local(Outcome.INVALID_USERNAME, f"The Namecheap UserName must be {USERNAME_RULE}.")
            if not isinstance(old, str) or not 1 <= len(old) <= OLD_PASSWORD_MAX:
                return _local(
                    Outcome.BAD_REQUEST, f"The current password must be 1 to {OLD_PASSWORD_MAX} characters."
                )
            form["UserName"] = username
            form["OldPassword"] = old
        else:
            if not isinstance(code, str) or not RESET_CODE.match(code):
                return _local(Outcome.BAD_REQUEST, "The reset code must be 1 to 50 letters and digits.")
            form["ResetCode"] = code
        form["NewPassword"] = new
        secrets = self._secrets(new, old, code)
        return self._call(form, secrets, _ChangeReading(username))

    def reset_password(
        self,
        *,
        find_by: str,
        value: str,
        url_pattern: str | None = None,
        email_from: str | None = None,
        email_from_name: str | None = None,
    ) -> ChangeResult:
        """Ask Namecheap to e-mail the account owner a reset link (no UserName is sent)."""
        refusal = self._check_config()
        if refusal is not None:
            return refusal
        kind = find_by.strip().upper() if isinstance(find_by, str) else ""
        if kind not in FIND_BY:
            return _local(Outcome.BAD_REQUEST, "find_by must be USERNAME, EMAILADDRESS or DOMAINNAME.")
        subject = value.strip() if isinstance(value, str) else ""
        valid = {
            "USERNAME": USERNAME.match(subject),
            "EMAILADDRESS": _EMAIL.match(subject) and len(subject) <= 254,
            "DOMAINNAME": DOMAIN.match(subject),
        }[kind]
        if not valid:
            what = {"USERNAME": "a Namecheap username", "EMAILADDRESS": "an e-mail address",
                    "DOMAINNAME": "a domain name"}[kind]
            return _local(Outcome.BAD_REQUEST, f"The value to find the account by must be {what}.")
        form = self._globals(RESET_PASSWORD)
        form["FindBy"] = kind
        form["FindByValue"] = subject
        if url_pattern is not None:
            if not isinstance(url_pattern, str) or "[RESETCODE]" not in url_pattern:
                return _local(Outcome.BAD_REQUEST, "url_pattern must contain the [RESETCODE] placeholder.")
            form["URLPattern"] = url_pattern
        if email_from is not None:
            form["EmailFrom"] = email_from
        if email_from_name is not None:
            form["EmailFromName"] = email_from_name
        return self._call(form, self._secrets(), _ResetReading(subject))

    # -- internals ---------------------------------------------------------------------------------
    def _globals(self, command: str) -> dict[str, str]:
        return {
            "ApiUser": self.api_user,
            "ApiKey": self._api_key.reveal(),
            "ClientIp": self.client_ip,
            "Command": command,
        }

    def _check_config(self) -> ChangeResult | None:
        if not _API_USER.match(self.api_user):
            return _local(Outcome.BAD_REQUEST, "NAMECHEAP_API_USER must be 1 to 20 characters without spaces.")
        if not self._api_key:
            return _local(Outcome.BAD_REQUEST, "NAMECHEAP_API_KEY is empty.")
        if not IPV4.match(self.client_ip):
            return _local(
                Outcome.BAD_REQUEST, "NAMECHEAP_CLIENT_IP must be this server's whitelisted public IPv4 address."
            )
        return None

    def _secrets(self, *values: str | None) -> list[str]:
        return secret_variants((*values, self._api_key.reveal()))

    def _take_slot(self) -> float:
        """0.0 once a slot is taken; otherwise the seconds the caller would still have to wait."""
        deadline = self._clock() + MAX_SLOT_WAIT
        while True:
            wait = float(self.budget.try_acquire(self.budget_key, limit=CALLS_PER_WINDOW,
                                                 window_seconds=WINDOW_SECONDS))
            if wait <= 0:
                return 0.0
            if self._clock() + wait > deadline:
                return wait
            self._sleep(wait)

    def _call(self, form: Mapping[str, str], secrets: list[str], reading: _Reading) -> ChangeResult:
        attempts = 0
        delays = list(self.rate_limit_backoff)
        while True:
            wait = self._take_slot()
            if wait:
                seconds = max(1, math.ceil(wait))
                return ChangeResult(
                    Outcome.RATE_LIMITED,
                    f"{PROVIDER} allows {CALLS_PER_WINDOW} calls a minute; try again in {seconds} s.",
                    retryable=True,
                    attempts=attempts,
                )
            attempts += 1
            try:
                answer = post_form(self._session, self.endpoint_url, form, timeout=self.timeout,
                                   deadline=self.deadline)
            except TransportError as exc:
                return ChangeResult(
                    Outcome.PROVIDER_UNAVAILABLE,
                    f"{PROVIDER} could not be reached ({exc.kind}); "
                    + (f"{reading.verify} before trying again." if exc.sent else "try again later."),
                    certainty=AMBIGUOUS if exc.sent else None,
                    attempts=attempts,
                )
            except Exception as exc:  # a local problem making the request; not retried
                return ChangeResult(
                    Outcome.PROVIDER_UNAVAILABLE,
                    f"The request to {PROVIDER} could not be made ({type(exc).__name__}); "
                    f"{reading.verify} before trying again.",
                    certainty=AMBIGUOUS,
                    attempts=attempts,
                )
            if answer.status == 405:
                if delays:
                    self._sleep(delays.pop(0))
                    continue
                return ChangeResult(
                    Outcome.RATE_LIMITED,
                    f"{PROVIDER} is rate limiting this API user (HTTP 405); try again in a minute.",
                    http_status=405,
                    retryable=True,
                    attempts=attempts,
                )
            try:
                return _classify(answer, secrets, reading, attempts)
            except Exception:  # a parser surprise: see ChangeResult.unreadable
                return ChangeResult.unreadable(f"{PROVIDER}'s answer could not be read; {reading.verify}.",
                                               http_status=answer.status, attempts=attempts)


# ----------------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------------






def _local(outcome: Outcome, message: str, **extra: Any) -> ChangeResult:
    return ChangeResult(outcome, message, attempts=0, **extra)


def _check_new_password(new: str | None) -> ChangeResult | None:
    if not isinstance(new, str):
        return _local(Outcome.INVALID_PASSWORD, "The new password must be a string.", reason="missing")
    if len(new) < NEW_PASSWORD_MIN:
        return _local(Outcome.INVALID_PASSWORD, "The new password must be at least 8 characters.",
                      reason="too_short")
    if len(new) > NEW_PASSWORD_MAX:
        return _local(Outcome.INVALID_PASSWORD, "The new password must be at most 20 characters.",
                      reason="too_long")
    if new != new.strip():
        return _local(Outcome.INVALID_PASSWORD, "The new password must not start or end with a space.",
                      reason="leading_or_trailing_space")
    return None


class _Reading:
    result_tag = ""
    verify = "verify the outcome"
    acted = "acted"
    refused = "refused"

    def success(self, result: XmlNode, attrs: dict[str, str], secrets: list[str]) -> dict[str, Any]:
        raise NotImplementedError


class _ChangeReading(_Reading):
    result_tag = "userchangepasswordresult"

    def __init__(self, username: str | None) -> None:
        self.who = f"user {username}" if username else "the account"
        self.verify = f"verify by logging in as {self.who}"
        self.acted = "changed the password"
        self.refused = "refused to change the password"

    def success(self, result, attrs, secrets):
        user_id = attrs.get("userid") or None
        return dict(outcome=Outcome.CHANGED, message=f"{PROVIDER} changed the password of {self.who}.",
                    user_id=user_id)


class _ResetReading(_Reading):
    result_tag = "userresetpasswordresult"

    def __init__(self, subject: str) -> None:
        self.subject = subject
        self.verify = "check with the account owner whether a reset e-mail arrived"
        self.acted = "sent the reset e-mail"
        self.refused = "refused to send the reset e-mail"

    def success(self, result, attrs, secrets):
        email_el = next((el for el in result.iter() if el.tag.lower() == "email"), None)
        email = "".join(email_el.itertext()).strip() if email_el is not None else None
        where = f" to {email}" if email else ""
        return dict(outcome=Outcome.RESET_EMAIL_SENT,
                    message=f"{PROVIDER} e-mailed a password reset link{where} for {self.subject}.",
                    email=email or None)



def _attrs(element: XmlNode) -> dict[str, str]:
    """Attributes with lower-case names (Namecheap's casing varies); parse_xml already dropped namespaces."""
    return {name.lower(): value for name, value in element.attrs.items()}


def _number(raw: str | None) -> int | None:
    raw = (raw or "").strip()
    return int(raw) if raw.isdigit() and len(raw) <= 12 else None


def _classify(answer: HttpAnswer, secrets: list[str], reading: _Reading, attempts: int) -> ChangeResult:
    base: dict[str, Any] = {"http_status": answer.status, "attempts": attempts}
    if not 200 <= answer.status <= 299:
        return ChangeResult(
            Outcome.PROVIDER_UNAVAILABLE,
            f"{PROVIDER} answered HTTP {answer.status}; it may or may not have acted, so {reading.verify}"
            " before trying again.",
            provider_message=snippet(answer.text, secrets) or None,
            certainty=AMBIGUOUS,
            **base,
        )
    unknown: dict[str, Any] = dict(outcome=Outcome.UNKNOWN, certainty=AMBIGUOUS, **base)
    if answer.oversized:
        return ChangeResult(
            message=f"{PROVIDER} sent an answer larger than {MAX_RESPONSE_BYTES // (1 << 20)} MiB, which is"
            f" not trusted; {reading.verify}.",
            **unknown,
        )
    if _HTML.match(answer.body[:512]):
        return ChangeResult(
            message=f"{PROVIDER} answered with a web page instead of an API result; {reading.verify}.",
            provider_message=snippet(answer.text, secrets) or None,
            **unknown,
        )
    try:
        root = parse_xml(answer.body.strip())
    except XmlRefused:
        return ChangeResult(
            message=f"{PROVIDER}'s answer declared a DTD or entities and was refused; {reading.verify}.",
            provider_message=snippet(answer.text, secrets) or None,
            **unknown,
        )
    except XmlError:
        return ChangeResult(
            message=f"{PROVIDER}'s answer was not the expected XML; {reading.verify}.",
            provider_message=snippet(answer.text, secrets) or None,
            **unknown,
        )
    if root.tag.lower() != "apiresponse":
        return ChangeResult(
            message=f"{PROVIDER}'s answer was not an ApiResponse document; {reading.verify}.",
            provider_message=snippet(answer.text, secrets) or None,
            **unknown,
        )
    status = _attrs(root).get("status", "").strip().upper()
    if status == "ERROR":
        return _classify_errors(root, secrets, reading, base)
    if status == "OK":
        result = next((el for el in root.iter() if el.tag.lower() == reading.result_tag), None)
        if result is not None:
            attrs = _attrs(result)
            if attrs.get("success", "").strip().lower() == "true":
                return ChangeResult(**reading.success(result, attrs, secrets), **base)
        return ChangeResult(
            message=f"{PROVIDER} answered OK without confirming success; {reading.verify}.",
            **unknown,
        )
    return ChangeResult(
        message=f"{PROVIDER}'s answer had no recognisable status; {reading.verify}.",
        provider_message=snippet(answer.text, secrets) or None,
        **unknown,
    )


def _classify_errors(root: XmlNode, secrets: list[str], reading: _Reading, base: dict[str, Any]) -> ChangeResult:
    errors: list[tuple[int | None, str]] = []
    for container in root.iter():
        if container.tag.lower() != "errors":
            continue
        for error in container.children:
            if error.tag.lower() == "error":
                errors.append((_number(_attrs(error).get("number")), " ".join("".join(error.itertext()).split())))
    if not errors:
        return ChangeResult(
            Outcome.PROVIDER_ERROR,
            f"{PROVIDER} reported an error without saying which; {reading.verify}.",
            certainty=AMBIGUOUS,
            **base,
        )
    numbers = [number for number, _ in errors if number is not None]
    found = {outcome_for_error(number) for number, _ in errors}
    outcome = next(o for o in PRECEDENCE if o in found)
    ambiguous = any(number in AMBIGUOUS_ERRORS for number in numbers)
    provider_message = snippet(
        "; ".join(f"{text} [{number}]" if number is not None else text for number, text in errors), secrets
    )
    first_number, first_text = next((n, t) for n, t in errors if outcome_for_error(n) is outcome)
    first = (first_number, snippet(first_text, secrets))
    code = f"error {first[0]}" if first[0] is not None else "an unnumbered error"
    if outcome is Outcome.IP_NOT_ALLOWED:
        ip = _IP_IN_TEXT.search(first[1])
        seen = f" (it saw {ip.group(1)})" if ip else ""
        message = (
            f"{PROVIDER} refused the request IP{seen}, {code}; whitelist the address in NAMECHEAP_CLIENT_IP"
            " in Namecheap's API access settings."
        )
    elif outcome is Outcome.AUTH_FAILED:
        if 1016103 in numbers:
            message = f"{PROVIDER} says the API user may not act on that UserName ({code})."
        elif 1017411 in numbers:
            message = f"{PROVIDER} locked the API user after too many login attempts ({code}); do not retry."
        else:
            message = (
                f"{PROVIDER} refused the API credentials ({code}); check NAMECHEAP_API_USER, NAMECHEAP_API_KEY"
                " and that API access is enabled."
            )
    elif outcome is Outcome.ACCOUNT_NOT_FOUND:
        message = f"{PROVIDER} has no such UserName ({code}); check the account name."
    elif outcome is Outcome.ACCOUNT_INACTIVE:
        message = f"{PROVIDER} says the UserName is disabled or locked ({code}); it must be unlocked first."
    elif outcome is Outcome.BAD_REQUEST:
        message = (
            f"{PROVIDER} rejected the request as malformed ({code}: {first[1][:80]}); this is a bot bug or"
            " a configuration error."
        )
    elif outcome is Outcome.CHANGE_REJECTED:
        message = (
            f"{PROVIDER} {reading.refused} ({code}); the current password or reset code may be wrong or"
            " expired, or the new password was used before."
        )
    elif ambiguous:
        message = (
            f"{PROVIDER} hit an internal error ({code}) and may or may not have {reading.acted};"
            f" {reading.verify} before trying again."
        )
    else:
        message = f"{PROVIDER} reported an error ({code}: {first[1][:80]}); try again later."
    return ChangeResult(
        outcome,
        message,
        provider_message=provider_message or None,
        error_numbers=numbers,
        certainty=AMBIGUOUS if ambiguous else None,
        **base,
    )


__all__ = [
    "CALLS_PER_WINDOW",
    "DEFAULT_BUDGET",
    "WINDOW_SECONDS",
    "CallBudget",
    "InProcessCallBudget",
    "NamecheapClient",
    "outcome_for_error",
]
