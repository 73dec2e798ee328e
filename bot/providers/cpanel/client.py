"""cPanel & WHM client: WHM API 1 `passwd` and the read-only `accountsummary` / `getdomainowner`.

The protocol is docs/provider-cpanel.md (§ numbers below are its sections).

Every call is `POST {base}/json-api/<function>` with a form body that carries `api.version=1`
and the function's fields, and the header `Authorization: whm USER:TOKEN`. Nothing goes in
the URL: no query string at all. Redirects are never followed (a 307 would re-send the
password elsewhere). At most 2 attempts per call, the second with exactly the same fields
and only after a timeout, a connection error or a 5xx; at most 1 MiB of an answer is read.

Answers are classified with the algorithm of §6: the HTTP status, then the JSON envelope
(`metadata.result` 0/1 and `metadata.command`), then the phrases of §4 in `metadata.reason`.
An answer that cannot be read is never a success (`unknown`, certainty "ambiguous"). The
client never raises for an answer or a transport failure, and it logs nothing; the token and
the password never appear in a result, a repr or an exception.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests
import requests.auth

from bot.providers import AMBIGUOUS, ChangeResult, LookupResult, Outcome, ProviderResult
from bot.providers._http import (
    CHANGE_DEADLINE,
    DEFAULT_TIMEOUT,
    LOOKUP_DEADLINE,
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
from bot.providers.cpanel.account import DOMAIN, USERNAME, is_domain, normalised_domain, username_problem
from bot.secret import Secret, reveal

PROVIDER = "cPanel"
URL_VARIABLE = "CPANEL_API_URL"
CREDENTIAL_VARIABLES = "CPANEL_API_USERNAME and CPANEL_API_TOKEN"
CREDENTIALS = "CPANEL_API_USERNAME, CPANEL_API_TOKEN"  # followed by "and …"
MAX_ATTEMPTS = 2
MIN_PASSWORD = 5  # cPanel's own minimum (§4 E5); the client refuses nothing else about a password (§9)

# §1.1: cpsrvd's other services. 2086 is WHM over plain HTTP; the rest are cPanel and Webmail, which answer
# "Permission denied" / "Function not found" to a WHM token.
REFUSED_PORTS = {2086: "WHM over plain HTTP", 2082: "cPanel over plain HTTP", 2083: "cPanel (not WHM)",
                 2095: "Webmail over plain HTTP", 2096: "Webmail (not WHM)"}

_TOKEN = re.compile(r"^[\x21-\x7e]{1,256}\Z")  # WHM shows 32 letters and digits; any visible ASCII is passed on
_EMAIL = re.compile(r"^[^@\s\x00-\x1f\x7f]{1,64}@[^@\s\x00-\x1f\x7f]{1,253}\Z")
_HTML_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_QUOTES = str.maketrans({"\u201c": '"', "\u201d": '"', "\u2018": "'", "\u2019": "'"})

# §6 step 7: the phrases of §4, tried in this order (E2, E1, E3, E4, E5, E6, E7, E8, E10, E9).
_PASSWD_PHRASES: tuple[tuple[tuple[str, ...], Outcome, str | None], ...] = (
    (("not permitted to change the password", "not the owner of this account"), Outcome.ACCOUNT_NOT_FOUND,
     "not_owner"),
    (("does not exist",), Outcome.ACCOUNT_NOT_FOUND, None),
    (("currently suspended",), Outcome.ACCOUNT_INACTIVE, "suspended"),
    (("too weak",), Outcome.INVALID_PASSWORD, "too_weak"),
    (("must be at least",), Outcome.INVALID_PASSWORD, "too_short"),
    (("may not contain the username",), Outcome.INVALID_PASSWORD, "contains_username"),
    (("hook has halted",), Outcome.CHANGE_REJECTED, "hook_halted"),
    (("unknown app",), Outcome.BAD_REQUEST, "unknown_function"),
    (("access denied", "permission denied"), Outcome.AUTH_FAILED, None),
    (("did not pass the", "is a required argument", "missing parameter"), Outcome.BAD_REQUEST,
     "missing_parameter"),
)
_DENIED = ("access denied", "permission denied")

R = TypeVar("R", bound=ProviderResult)


# ----------------------------------------------------------------------------------------------
# configuration checks (settings.py uses them too)
# ----------------------------------------------------------------------------------------------


def port_problem(url: str) -> str | None:
    """The sentence naming CPANEL_API_URL when it points at a cpsrvd port that is not WHM over TLS, else None."""
    try:
        port = urlsplit(url.strip()).port
    except ValueError:
        return f"{URL_VARIABLE} is not a valid URL"
    if port in REFUSED_PORTS:
        return (f"{URL_VARIABLE} must not use port {port} ({REFUSED_PORTS[port]}): use WHM over TLS, "
                "https://host:2087 or https://whm.host")
    return None


def token_problem(token: str) -> str | None:
    """Why a WHM API token cannot be sent in the Authorization header (the end of a sentence), else None."""
    if not _TOKEN.match(token):
        return "must be the API token as WHM shows it (visible ASCII only: no spaces, at most 256 characters)"
    return None


def normalise_base_url(base_url: str) -> str:
    """`https://host:2087`, with a trailing `/` or `/json-api[/]` dropped; ValueError names the variable only."""
    url = checked_url(base_url, URL_VARIABLE).rstrip("/")
    if url.lower().endswith("/json-api"):
        url = url[: -len("/json-api")].rstrip("/")
    problem = port_problem(url)
    if problem:
        raise ValueError(problem)
    return url


class WhmTokenAuth(requests.auth.AuthBase):
    """`Authorization: whm USER:TOKEN` on each request (§1.1), and no cookie: token calls need no session, and a
    cookie some answer set on the shared session must not ride along. Its repr names the user only."""

    def __init__(self, username: str, token: Secret) -> None:
        self._username = username
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers.pop("Cookie", None)  # requests adds the session's cookies before it calls the auth
        request.headers["Authorization"] = f"whm {self._username}:{self._token.reveal()}"
        return request

    def __repr__(self) -> str:
        return f"WhmTokenAuth(username={self._username!r})"


# ----------------------------------------------------------------------------------------------
# client
# ----------------------------------------------------------------------------------------------


class CpanelClient:
    """Talks to one WHM with one API token (a reseller's, or root's)."""

    def __init__(
        self,
        base_url: str,
        api_username: str | Secret,
        api_token: str | Secret,
        *,
        session: requests.Session | None = None,
        timeout: tuple[float, float] | float = DEFAULT_TIMEOUT,
        db_pass_update: bool = False,
        retry_delay: float = 1.0,
        deadline: float = CHANGE_DEADLINE,
        lookup_deadline: float = LOOKUP_DEADLINE,
    ) -> None:
        self.base_url = normalise_base_url(base_url)
        username = reveal(api_username) or ""
        if not USERNAME.match(username):
            raise ValueError("CPANEL_API_USERNAME must be the WHM user the token belongs to (root or a reseller)")
        token = reveal(api_token) or ""
        if token_problem(token):
            raise ValueError(f"CPANEL_API_TOKEN {token_problem(token)}")
        self.api_username = username
        self._token = Secret(token)
        self._auth = WhmTokenAuth(username, self._token)
        if not isinstance(db_pass_update, bool):
            raise TypeError("db_pass_update must be True or False")
        self.db_pass_update = db_pass_update
        self._session = session if session is not None else requests.Session()
        require_tls_verification(self._session)
        self.timeout = timeout_pair(timeout)
        self.retry_delay = max(0.0, float(retry_delay))
        # Seconds one passwd call, or one lookup (both of a domain's calls), may take in all, retries included.
        self.deadline = float(deadline)
        self.lookup_deadline = float(lookup_deadline)
        self._sleep: Callable[[float], None] = time.sleep

    def __repr__(self) -> str:
        return f"CpanelClient(base_url={self.base_url!r}, api_username={self.api_username!r})"

    def url_for(self, function: str) -> str:
        return f"{self.base_url}/json-api/{function}"

    # -- passwd ----------------------------------------------------------------------------------
    def change_password(self, username: str, new_password: str | Secret) -> ChangeResult:
        """WHM API 1 `passwd` for one cPanel account: its login password (and FTP, mail), not MySQL's by default."""
        why = username_problem(username, api_username=self.api_username)
        if why is not None:
            shown = username if isinstance(username, str) and USERNAME.match(username) else "That account"
            return ChangeResult(Outcome.INVALID_USERNAME, f"{shown} {why}; nothing was sent.", attempts=0)
        password = reveal(new_password) if isinstance(new_password, (str, Secret)) else None
        refusal = _password_refusal(password, username)
        if refusal is not None:
            return refusal
        assert password is not None
        secrets = self._secrets(password)
        form = {"user": username, "password": password, "db_pass_update": "1" if self.db_pass_update else "0"}
        try:
            exchange = self._call("passwd", form, ends=time.monotonic() + self.deadline)
            if isinstance(exchange, _Failure):
                return exchange.as_result(ChangeResult, secrets)
            answer, attempts = exchange
            return _classify_passwd(answer, username, secrets, attempts)
        except Exception:  # a surprise of our own: never an exception out of the client, never a success
            return ChangeResult(Outcome.UNKNOWN, f"{PROVIDER}'s answer could not be read; verify account {username} "
                                "by logging in.", certainty=AMBIGUOUS, retryable=True)

    def change_password_by_domain(self, domain: str, new_password: str | Secret) -> ChangeResult:
        """`getdomainowner`, then `passwd` for the account it names; refused with nothing changed when it names none.

        `attempts` counts every request sent, the read-only `getdomainowner` included. When that
        question gets no usable answer the result is what `passwd` would have given for the same
        trouble (unavailable, unknown, auth failed), so a retry of an earlier call whose answer was
        lost is never reported as a plain failure: only its own words say nothing was sent this time.
        """
        cleaned = normalised_domain(domain) if isinstance(domain, str) else ""
        owner = self.domain_owner(cleaned)
        if owner.outcome is Outcome.LOOKUP_OK and owner.username:
            result = self.change_password(owner.username, new_password)
            result = replace(result, attempts=result.attempts + owner.attempts)
            if result.outcome is Outcome.CHANGED:
                return replace(result, message=f"{PROVIDER} changed the password of account {owner.username}, "
                                               f"the owner of {cleaned}.")
            return result
        return _unresolved(cleaned, owner)

    # -- lookups (read-only) ---------------------------------------------------------------------
    def account_info(self, *, username: str | None = None, domain: str | None = None) -> LookupResult:
        """`accountsummary` for a username; for a domain `getdomainowner` first, then its owner's summary."""
        if (username is None) == (domain is None):
            return LookupResult(Outcome.BAD_REQUEST, "Give exactly one of username or domain to look an account up.",
                                attempts=0)
        ends = time.monotonic() + self.lookup_deadline
        if username is not None:
            why = username_problem(username, api_username=self.api_username)
            if why is not None:
                shown = username if isinstance(username, str) and USERNAME.match(username) else "That account"
                return LookupResult(Outcome.LOOKUP_ERROR, f"{shown} {why}.", attempts=0)
            return self._account_summary(username, ends=ends)
        cleaned = normalised_domain(domain) if isinstance(domain, str) else ""
        owner = self.domain_owner(cleaned, ends=ends)
        if owner.outcome is not Outcome.LOOKUP_OK or not owner.username:
            return owner
        summary = self._account_summary(owner.username, ends=ends)
        message = summary.message
        if summary.outcome is Outcome.LOOKUP_OK:
            state = summary.account_state or "state not given"
            message = f"{cleaned} belongs to {PROVIDER} account {owner.username} ({state})."
        return replace(summary, message=message, attempts=owner.attempts + summary.attempts)

    def domain_owner(self, domain: str, *, ends: float | None = None) -> LookupResult:
        """`getdomainowner`: the account a domain (main, addon, parked or sub) belongs to, in `username`."""
        if not isinstance(domain, str) or not is_domain(domain) or len(domain) > 253 or domain != domain.lower():
            return LookupResult(Outcome.LOOKUP_ERROR, "That is not a domain name (expected something like "
                                "example.org).", attempts=0)
        return self._lookup("getdomainowner", {"domain": domain}, domain, _owner_verdict_for(self.api_username),
                            ends=ends)

    def probe(self) -> LookupResult:
        """One read-only call that proves the URL and the token (`accountsummary` of the token's own user).

        `lookup_ok` (a reseller's own account) and `lookup_empty` (root has no cPanel account) both
        mean WHM answered and took the token; `auth_failed` means it did not.
        """
        return self._account_summary(self.api_username, ends=None, own=True)

    def _account_summary(self, username: str, *, ends: float | None, own: bool = False) -> LookupResult:
        verdict = _summary_verdict(username, own=own)
        return self._lookup("accountsummary", {"user": username}, username, verdict, ends=ends)

    def _lookup(self, function: str, fields: Mapping[str, str], subject: str,
                verdict: Callable[[Any, str], LookupResult], *, ends: float | None) -> LookupResult:
        secrets = self._secrets(None)
        try:
            exchange = self._call(function, fields, ends=ends if ends is not None
                                  else time.monotonic() + self.lookup_deadline)
            if isinstance(exchange, _Failure):
                return exchange.as_result(LookupResult, secrets)
            answer, attempts = exchange
            return _classify_lookup(answer, function, subject, verdict, secrets, attempts)
        except Exception:
            return LookupResult(Outcome.UNKNOWN, f"{PROVIDER}'s answer to the lookup of {subject} could not be read.",
                                certainty=AMBIGUOUS)

    # -- transport -------------------------------------------------------------------------------
    def _secrets(self, password: str | None) -> list[str]:
        """What must never show in a provider_message, even if the server echoes the request."""
        token = self._token.reveal()
        return secret_variants([password, token, f"{self.api_username}:{token}"])

    def _call(self, function: str, fields: Mapping[str, str], *, ends: float) -> tuple[HttpAnswer, int] | _Failure:
        """POST with at most 2 attempts; the second only after a timeout, connection error or 5xx, and only
        while the call has time left before `ends` (time.monotonic())."""
        form = {"api.version": "1", **fields}
        url = self.url_for(function)
        failure: _Failure | None = None
        for attempt in range(1, MAX_ATTEMPTS + 1):
            if attempt > 1:
                if ends - time.monotonic() <= self.retry_delay:
                    break  # no time left for a second attempt
                if self.retry_delay:
                    self._sleep(self.retry_delay)
            left = ends - time.monotonic()
            if left <= 0:
                failure = failure or _Failure(kind="no time was left to ask", attempts=0, sent=False, retryable=True)
                break
            try:
                answer = post_form(self._session, url, form, timeout=self.timeout, auth=self._auth, deadline=left)
            except TransportError as transport:
                sent = transport.sent or (failure is not None and failure.sent)
                failure = _Failure(kind=transport.kind, attempts=attempt, sent=sent, retryable=True)
                continue
            except Exception as exc:  # a local problem (e.g. an unencodable header): repeating will not help
                return _Failure(kind=f"the request could not be made ({type(exc).__name__})", attempts=attempt,
                                sent=True, retryable=False)
            if 500 <= answer.status <= 599:
                failure = _Failure(kind=f"answered HTTP {answer.status}", attempts=attempt, sent=True, retryable=True,
                                   http_status=answer.status, detail=_display_text(answer))
                continue
            return answer, attempt
        assert failure is not None
        return failure


@dataclass(frozen=True)
class _Failure:
    """No usable answer: a transport failure or a 5xx on every attempt, or a local request error (§4 E15, E23)."""

    kind: str
    attempts: int
    sent: bool
    retryable: bool
    http_status: int | None = None
    detail: str | None = None

    def as_result(self, cls: type[R], secrets: list[str]) -> R:
        tries = {0: "not sent", 1: "tried once", 2: "tried twice"}.get(self.attempts, f"tried {self.attempts} times")
        return cls(
            Outcome.PROVIDER_UNAVAILABLE,
            f"{PROVIDER} gave no usable answer ({self.kind}, {tries}); try again later or check {URL_VARIABLE}.",
            provider_message=(snippet(self.detail, secrets) or None) if self.detail else None,
            http_status=self.http_status,
            reason="http_5xx" if self.http_status else "transport",
            retryable=self.retryable,
            certainty=AMBIGUOUS if self.sent else None,
            attempts=self.attempts,
        )


# ----------------------------------------------------------------------------------------------
# reading an answer (§6 steps 3–6)
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Status:
    """A non-2xx answer that is not retried: what it means."""

    outcome: Outcome
    reason: str
    message: str


def _status_verdict(answer: HttpAnswer) -> _Status | None:
    status = answer.status
    if 200 <= status <= 299:
        return None
    if 300 <= status <= 399:
        return _Status(Outcome.PROVIDER_UNAVAILABLE, "redirect",
                       f"{PROVIDER} answered with a redirect (HTTP {status}), which the bot never follows; check "
                       f"{URL_VARIABLE} (WHM over TLS: https://host:2087).")
    if status in (401, 403):
        return _Status(Outcome.AUTH_FAILED, f"http_{status}",
                       f"{PROVIDER} refused the API token (HTTP {status}); check {CREDENTIALS}, the token's "
                       "privileges and the addresses it may be used from.")
    return _Status(Outcome.PROVIDER_UNAVAILABLE, f"http_{status}",
                   f"{PROVIDER} answered HTTP {status} instead of an API result; check {URL_VARIABLE}.")


@dataclass(frozen=True)
class _Envelope:
    """A 2xx answer read: `result` 1 or 0 with its data and reason, an access denial, or why it cannot be read."""

    result: int | None = None
    data: Any = None
    reason_text: str = ""
    denied: bool = False  # §4 E11: the legacy cpanelresult denial
    unreadable: str | None = None  # response_too_large / not_utf8 / empty / not_json / not_an_object / ...


class _Duplicate(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys):
        raise _Duplicate("duplicate key")
    return dict(pairs)


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _result_value(value: Any) -> int | None:
    """`metadata.result` as 0 or 1 (an int, or a digit string: API 0 habits); None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and value in (0, 1):
        return value
    if isinstance(value, str) and value in ("0", "1"):
        return int(value)
    return None


def _envelope(answer: HttpAnswer, function: str) -> _Envelope:
    if answer.oversized:
        return _Envelope(unreadable="response_too_large")
    try:
        text = answer.body.decode("utf-8")
    except UnicodeDecodeError:
        return _Envelope(unreadable="not_utf8")
    text = text.removeprefix("\ufeff").strip()
    if not text:
        return _Envelope(unreadable="empty")
    try:
        document = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
    except (ValueError, RecursionError, TypeError):
        return _Envelope(unreadable="not_json")
    if not isinstance(document, dict):
        return _Envelope(unreadable="not_an_object")
    if "metadata" not in document:
        legacy = document.get("cpanelresult")
        if isinstance(legacy, dict):  # §4 E11
            data = legacy.get("data")
            inner = data.get("reason") if isinstance(data, dict) else None
            said = " ".join(t for t in (legacy.get("error"), inner) if isinstance(t, str))
            if any(phrase in _folded(said) for phrase in _DENIED):
                return _Envelope(denied=True, reason_text=said)
            return _Envelope(unreadable="cpanelresult", reason_text=said)
        if "passwd" in document:
            return _Envelope(unreadable="api_version_0")  # §4 E17: api.version=1 did not arrive
        return _Envelope(unreadable="no_metadata")
    metadata = document["metadata"]
    if not isinstance(metadata, dict):
        return _Envelope(unreadable="no_metadata")
    reason = metadata.get("reason")
    reason_text = reason if isinstance(reason, str) else ""
    if "command" in metadata and metadata["command"] != function:
        return _Envelope(unreadable="wrong_command", reason_text=reason_text)  # §4 E18
    result = _result_value(metadata.get("result"))
    if result is None:
        return _Envelope(unreadable="no_result", reason_text=reason_text)  # §4 E19
    return _Envelope(result=result, data=document.get("data"), reason_text=reason_text)


def _folded(text: str) -> str:
    """What the phrases are matched against: straight quotes, whitespace collapsed, lower case (§4)."""
    return " ".join(text.translate(_QUOTES).split()).lower()


def _phrase(text: str) -> tuple[Outcome, str | None] | None:
    folded = _folded(text)
    for phrases, outcome, reason in _PASSWD_PHRASES:
        if any(phrase in folded for phrase in phrases):
            return outcome, reason
    return None


_UNREADABLE = {
    "response_too_large": f"an answer larger than {MAX_RESPONSE_BYTES // (1 << 20)} MiB, which is not trusted",
    "not_utf8": "an answer that is not UTF-8",
    "empty": "an empty answer",
    "not_json": "an answer that is not one JSON document",
    "not_an_object": "a JSON answer of the wrong shape",
    "cpanelresult": "a legacy cpanelresult answer",
    "api_version_0": "a WHM API 0 answer (api.version=1 did not arrive)",
    "no_metadata": "an answer without a result",
    "wrong_command": "the answer of another function",
    "no_result": "an answer whose result is neither 0 nor 1",
}


def _short(text: str, secrets: list[str], limit: int = 120) -> str:
    """A provider's words for a message: masked, collapsed, bounded, without its own final stop."""
    return snippet(text, secrets)[:limit].rstrip(" .") or "no reason given"


# ----------------------------------------------------------------------------------------------
# passwd (§5)
# ----------------------------------------------------------------------------------------------


def _password_refusal(password: str | None, username: str) -> ChangeResult | None:
    """§9: cPanel's own two rules, checked before sending; any character is allowed."""
    if password is None:
        return ChangeResult(Outcome.INVALID_PASSWORD, "The new password must be a string; nothing was sent.",
                            reason="missing", attempts=0)
    if len(password) < MIN_PASSWORD:
        return ChangeResult(Outcome.INVALID_PASSWORD, f"The new password is shorter than {MIN_PASSWORD} characters, "
                            f"which {PROVIDER} refuses; nothing was sent.", reason="too_short", attempts=0)
    if username.casefold() in password.casefold():
        return ChangeResult(Outcome.INVALID_PASSWORD, f"The new password contains the username {username}, which "
                            f"{PROVIDER} refuses; nothing was sent (ask again: a new password is drawn).",
                            reason="contains_username", attempts=0)
    return None


_PASSWD_MESSAGES = {
    (Outcome.ACCOUNT_NOT_FOUND, None): "{provider} has no account {user}.",
    (Outcome.ACCOUNT_NOT_FOUND, "not_owner"): (
        "{provider} did not find {user} among this API token's accounts (it may belong to another reseller, "
        "or not exist)."),
    (Outcome.ACCOUNT_INACTIVE, "suspended"): (
        "Account {user} is suspended, and changing its password would unsuspend it, so {provider} refused; "
        "unsuspend it first."),
    (Outcome.INVALID_PASSWORD, "too_weak"): (
        "{provider} rated the new password too weak; the password generator's rules need fixing."),
    (Outcome.INVALID_PASSWORD, "too_short"): (
        "{provider} says the new password is too short; the password generator's rules need fixing."),
    (Outcome.INVALID_PASSWORD, "contains_username"): (
        "{provider} says the new password contains the username; the password generator's rules need fixing."),
    (Outcome.CHANGE_REJECTED, "hook_halted"): "A {provider} server policy hook refused the change of {user}: {said}.",
    (Outcome.BAD_REQUEST, "unknown_function"): (
        "{provider} does not offer passwd at this address; check " + URL_VARIABLE + " (WHM, port 2087)."),
    (Outcome.BAD_REQUEST, "missing_parameter"): "{provider} says the bot's request lacked a field: {said}.",
    (Outcome.AUTH_FAILED, None): (
        "{provider} refused the API token; check " + CREDENTIALS + " and the token's privileges."),
}


def _classify_passwd(answer: HttpAnswer, user: str, secrets: list[str], attempts: int) -> ChangeResult:
    base: dict[str, Any] = {"http_status": answer.status, "attempts": attempts}
    bad_status = _status_verdict(answer)
    if bad_status is not None:
        return ChangeResult(bad_status.outcome, bad_status.message, reason=bad_status.reason,
                            provider_message=snippet(_display_text(answer), secrets) or None, **base)
    envelope = _envelope(answer, "passwd")
    said = snippet(envelope.reason_text, secrets) or None
    if envelope.denied:
        return ChangeResult(Outcome.AUTH_FAILED, _PASSWD_MESSAGES[(Outcome.AUTH_FAILED, None)].format(
            provider=PROVIDER), provider_message=said, **base)
    if envelope.unreadable is not None:
        what = _UNREADABLE.get(envelope.unreadable, "an answer it could not read")
        return ChangeResult(Outcome.UNKNOWN, f"{PROVIDER} sent {what}; verify account {user} by logging in.",
                            reason=envelope.unreadable, certainty=AMBIGUOUS, retryable=True,
                            provider_message=said or snippet(_display_text(answer), secrets) or None, **base)
    if envelope.result == 1:
        return ChangeResult(Outcome.CHANGED, f"{PROVIDER} changed the password of account {user}.",
                            provider_message=said, **base)
    matched = _phrase(envelope.reason_text)
    if matched is None:
        return ChangeResult(Outcome.PROVIDER_ERROR, f"{PROVIDER} refused the change of {user}: "
                            f"{_short(envelope.reason_text, secrets)}.", reason="unrecognised_failure",
                            provider_message=said, **base)
    outcome, reason = matched
    message = _PASSWD_MESSAGES[(outcome, reason)].format(provider=PROVIDER, user=user,
                                                         said=_short(envelope.reason_text, secrets))
    certainty = AMBIGUOUS if reason == "not_owner" else None  # absent, or another reseller's: cPanel cannot tell
    return ChangeResult(outcome, message, reason=reason, certainty=certainty, provider_message=said, **base)


def _unresolved(domain: str, owner: LookupResult) -> ChangeResult:
    """A domain that `getdomainowner` did not resolve to an account the bot may change: no passwd was sent."""
    fields: dict[str, Any] = {"provider_message": owner.provider_message, "http_status": owner.http_status,
                              "attempts": owner.attempts}
    unsent = "the new password was not sent"
    if owner.outcome is Outcome.LOOKUP_EMPTY:
        return ChangeResult(Outcome.ACCOUNT_NOT_FOUND, f"No account among this API token's {PROVIDER} accounts owns "
                            f"{domain} (it may not exist, or belong to another reseller); {unsent}.",
                            reason="domain_not_found", certainty=AMBIGUOUS, **fields)
    if owner.outcome is Outcome.LOOKUP_ERROR and owner.reason == "owner_refused":
        return ChangeResult(Outcome.INVALID_USERNAME, f"{owner.message.removesuffix('.')}; {unsent}.",
                            reason="owner_refused", **fields)
    if owner.outcome is Outcome.LOOKUP_ERROR and owner.attempts == 0:
        return ChangeResult(Outcome.INVALID_USERNAME, f"{domain or 'That'} is neither a cPanel username nor a "
                            "domain; nothing was sent.", **fields)
    asked = f"Asking {PROVIDER} which account owns {domain}"
    if owner.outcome is Outcome.AUTH_FAILED:
        return ChangeResult(Outcome.AUTH_FAILED, f"{asked}: {owner.message.removesuffix('.')}; {unsent}.",
                            reason=owner.reason, **fields)
    if owner.outcome is Outcome.PROVIDER_UNAVAILABLE:
        return ChangeResult(Outcome.PROVIDER_UNAVAILABLE, f"{asked}: no usable answer; {unsent} this time.",
                            reason="domain_lookup", retryable=owner.retryable, certainty=owner.certainty, **fields)
    if owner.outcome is Outcome.UNKNOWN:
        return ChangeResult(Outcome.UNKNOWN, f"{asked}: an answer that could not be read; {unsent} this time.",
                            reason="domain_lookup", retryable=True, certainty=AMBIGUOUS, **fields)
    return ChangeResult(Outcome.PROVIDER_ERROR, f"{asked}: {PROVIDER} did not say which; {unsent}.",
                        reason="domain_lookup", **fields)


# ----------------------------------------------------------------------------------------------
# lookups (§3, §5)
# ----------------------------------------------------------------------------------------------


def _state(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    if value in (1, "1"):
        return "SUSPENDED"
    if value in (0, "0"):
        return "ACTIVE"
    return None


def _email(value: Any) -> str | None:
    return value if isinstance(value, str) and _EMAIL.match(value) else None


def _summary_verdict(asked: str, *, own: bool) -> Callable[[Any, str], LookupResult]:
    """How `accountsummary`'s data for `asked` reads once `result` is 1."""

    def verdict(data: Any, subject: str) -> LookupResult:
        entries = data.get("acct") if isinstance(data, dict) else None
        if not isinstance(entries, list):
            return LookupResult(Outcome.LOOKUP_ERROR, f"{PROVIDER} sent a summary of {subject} in an unexpected "
                                "shape.")
        if not entries:
            return LookupResult(Outcome.LOOKUP_EMPTY, _empty_summary(subject, own), username=None)
        entry = next((e for e in entries if isinstance(e, dict) and isinstance(e.get("user"), str)
                      and e["user"].casefold() == asked.casefold()), None)
        if entry is None:
            return LookupResult(Outcome.LOOKUP_ERROR, f"{PROVIDER}'s summary does not name {subject}.")
        domain = entry.get("domain")
        domains = [domain.lower()] if isinstance(domain, str) and DOMAIN.match(domain) else []
        state = _state(entry.get("suspended"))
        shown = f"{state or 'state not given'}" + (f", main domain {domains[0]}" if domains else "")
        return LookupResult(Outcome.LOOKUP_OK, f"{PROVIDER} account {asked}: {shown}.", username=asked,
                            domains=domains, account_state=state, email=_email(entry.get("email")))

    return verdict


def _empty_summary(subject: str, own: bool) -> str:
    if own:
        return f"{PROVIDER} has no cPanel account for the token's user {subject} (as for root); the token works."
    return f"{PROVIDER} has no account {subject} among this API token's accounts."


def _owner_verdict_for(api_username: str) -> Callable[[Any, str], LookupResult]:
    def verdict(data: Any, subject: str) -> LookupResult:
        if not isinstance(data, dict) or "user" not in data:
            return LookupResult(Outcome.LOOKUP_ERROR, f"{PROVIDER} sent the owner of {subject} in an unexpected "
                                "shape.")
        owner = data["user"]
        if owner is None or owner == "":
            return LookupResult(Outcome.LOOKUP_EMPTY, f"No account among this API token's {PROVIDER} accounts owns "
                                f"{subject}.")
        why = username_problem(owner, api_username=api_username)
        if why is not None:
            shown = owner if isinstance(owner, str) and USERNAME.match(owner) else "an account whose name"
            return LookupResult(Outcome.LOOKUP_ERROR, f"{subject} belongs to {shown}, which {why}.",
                                reason="owner_refused")
        return LookupResult(Outcome.LOOKUP_OK, f"{subject} belongs to {PROVIDER} account {owner}.", username=owner)

    return verdict


def _classify_lookup(answer: HttpAnswer, function: str, subject: str, verdict: Callable[[Any, str], LookupResult],
                     secrets: list[str], attempts: int) -> LookupResult:
    base: dict[str, Any] = {"http_status": answer.status, "attempts": attempts}
    bad_status = _status_verdict(answer)
    if bad_status is not None:
        return LookupResult(bad_status.outcome, bad_status.message, reason=bad_status.reason,
                            provider_message=snippet(_display_text(answer), secrets) or None, **base)
    envelope = _envelope(answer, function)
    said = snippet(envelope.reason_text, secrets) or None
    if envelope.denied:
        return LookupResult(Outcome.AUTH_FAILED, f"{PROVIDER} refused the API token; check {CREDENTIAL_VARIABLES} "
                            "(the token needs the acct-summary privilege).", provider_message=said, **base)
    if envelope.unreadable is not None:
        what = _UNREADABLE.get(envelope.unreadable, "an answer it could not read")
        return LookupResult(Outcome.UNKNOWN, f"{PROVIDER} sent {what} to the lookup of {subject}.",
                            reason=envelope.unreadable, certainty=AMBIGUOUS,
                            provider_message=said or snippet(_display_text(answer), secrets) or None, **base)
    if envelope.result == 1:
        found = verdict(envelope.data, subject)
        return replace(found, provider_message=said, **base)
    folded = _folded(envelope.reason_text)
    if "does not exist" in folded:
        empty = verdict({"acct": []}, subject) if function == "accountsummary" else verdict({"user": None}, subject)
        return replace(empty, provider_message=said, **base)
    if any(phrase in folded for phrase in _DENIED):
        return LookupResult(Outcome.AUTH_FAILED, f"{PROVIDER} refused the lookup; check {CREDENTIAL_VARIABLES} (the "
                            "token needs the acct-summary privilege).", provider_message=said, **base)
    return LookupResult(Outcome.LOOKUP_ERROR, f"{PROVIDER} could not look up {subject}: "
                        f"{_short(envelope.reason_text, secrets)}.", provider_message=said, **base)


def _display_text(answer: HttpAnswer) -> str:
    """An error page's title, or its text (the caller masks and bounds it)."""
    text = answer.text
    title = _HTML_TITLE.search(text[:4096])
    return title.group(1) if title else text


__all__ = [
    "REFUSED_PORTS",
    "CpanelClient",
    "WhmTokenAuth",
    "normalise_base_url",
    "port_problem",
    "token_problem",
]
