"""The sandbox cPanel & WHM: its accounts, `/json-api/<function>` (WHM API 1) and the bodies of its spec.

Decisions where the real API is undocumented or only inferred (docs/provider-cpanel.md §12):

* Token authentication first: no `Authorization` header -> HTTP 401 ``Access denied`` (fixture
  cpanel/auth_http_401_access_denied.txt); a header with another scheme (``Basic …``) -> HTTP 403
  (an HTML page); ``whm USER:TOKEN`` with a wrong user or token -> HTTP 401 ``Access denied``.
  The scheme is matched case-insensitively, as cPanel's own clients send ``whm``.
* Then the targeted account's injected failure or delay (the account named by ``user``, or the one
  owning ``domain``), then the function: `passwd`, `accountsummary`, `getdomainowner`; any other
  name -> result 0 "Unknown app (…) requested for this version (1) of the API." (§4 E8). A function
  in `cpanel_denied_functions` -> result 0 "Permission denied" (E10: a token without the privilege).
  Parameters come from the query string and the form body (the body wins), GET or POST, as
  cpsrvd reads both; `calls()` records the method.
* Without ``api.version=1`` the call runs as WHM API 0: `passwd` takes ``pass`` and answers
  ``{"passwd":[{"status":…,"statusmsg":…}]}`` (E17); the other functions answer result 0.
* The API user is a reseller unless it is ``root``: a reseller sees and changes only the accounts
  it owns (and its own), so another reseller's account and an absent one both answer E2 to
  `passwd` and "Account does not exist." to `accountsummary`; `getdomainowner` names ``null``.
  Root sees every account and gets E1 for an absent one.
* `passwd` checks, in order: ``user`` given (E9), visible and existing (E2 / E1), not suspended
  (E3), ``password`` given (E9), at least 5 characters (E5), not containing the username,
  case-insensitively (E6), a strength rating of at least `cpanel_min_strength` (E4; default 65),
  the account's `hook_halts` (E7); then the change. The rating is a small model of §9: log2 of the
  character pool per character (1.6 bits for a repeat or a sequential pair), 100 at 70 bits, and 0
  for a password holding a common word. Setting the same password again succeeds again.
  ``db_pass_update`` left out counts as 1 (cPanel's default): the account's MySQL password
  changes too and ``MySQL`` joins the ``app`` list; ``0`` leaves it alone.
* Bodies are compact JSON with sorted keys and raw UTF-8 (curly quotes), byte-identical to the
  fixtures for the same account.
* Failure modes (`set_failure("cpanel", user, mode)`): ``timeout``, ``http_503`` (an HTML page),
  ``http_500`` (fixture cpanel/http_500_html.html), ``empty`` (a 0-byte 200), ``garbage``;
  ``cut`` and ``truncated`` process the call (the change happens) and damage the answer.
"""

from __future__ import annotations

import json
import math
import re
import string
from dataclasses import dataclass, field
from typing import Any

from devkit.sandbox.server import _HTML_404, _HTML_503, _Answer, _Request, _same, _text

CPANEL_FAILURES = frozenset({"timeout", "http_503", "http_500", "empty", "garbage", "cut", "truncated"})
_PROCESSED = frozenset({"cut", "truncated"})  # the change happens; only the answer is damaged
CPANEL_MIN_STRENGTH = 65
_FUNCTIONS = ("passwd", "accountsummary", "getdomainowner")

_HTML_500 = ("<html><head><title>500 Internal Server Error</title></head><body><h1>Internal Server Error</h1>"
             "<p>The server encountered an internal error.</p></body></html>\n")  # fixture cpanel/http_500_html.html
_HTML_403 = ("<html><head><title>403 Forbidden</title></head><body><h1>Forbidden</h1>"
             "<p>Token authentication needs the whm scheme.</p></body></html>\n")
_ACCESS_DENIED = "Access denied\n"  # fixture cpanel/auth_http_401_access_denied.txt
_COMMON_WORDS = ("password", "passwd", "qwerty", "letmein", "welcome", "admin", "cpanel", "123456", "abc123")

# §4 wording (tests/fixtures/providers/cpanel).
_E1 = "Sorry, the user “{user}” does not exist."
_E2 = "You are not permitted to change the password for “{user}” because you are not the owner of this account."
_E3 = "Sorry, the user “{user}” is currently suspended. Changing the user’s password would unsuspend the account."
_E4 = ("Sorry, the password you selected cannot be used because it is too weak and would be too easy to guess. "
       "Please select a password with strength rating of {minimum} or higher.")
_E5 = "Sorry, passwords must be at least 5 characters for security reasons."
_E6 = "Sorry, the password may not contain the username for security reasons."
_E7 = ("A hook has halted this operation.\nCategory : Passwd\nEvent : ChangePasswd\nStage : pre\n"
       "The password policy module refused the change.\n")
_E8 = "Unknown app ({function}) requested for this version (1) of the API."
_E9 = "You did not pass the “{field}” parameter in your request."
_E10 = "Permission denied"
_NOT_FOUND = "Account does not exist."


@dataclass
class CpanelAccount:
    user: str
    password: str = field(repr=False)
    domain: str = ""  # the main domain
    owner: str = ""  # the reseller (or root) that owns it; the sandbox's API user when empty
    email: str = ""
    suspended: bool = False
    suspend_reason: str = ""
    addon_domains: list[str] = field(default_factory=list)  # addon, parked and sub domains: getdomainowner only
    hook_halts: bool = False  # a Passwd::ChangePasswd pre hook refuses every change (E7)
    mysql_password: str = field(default="", repr=False)  # set by passwd only with db_pass_update=1
    delay: float = 0.0
    fail: str | None = None  # None | timeout | http_503 | http_500 | empty | garbage | cut | truncated


def password_strength(password: str) -> int:
    """A 0–100 rating shaped after cPanel's (§9): pool entropy per character, 100 at 70 bits; common words 0."""
    if any(word in password.lower() for word in _COMMON_WORDS):
        return 0
    pool = sum(size for chars, size in ((string.ascii_lowercase, 26), (string.ascii_uppercase, 26),
                                        (string.digits, 10)) if any(ch in chars for ch in password))
    pool += 32 if any(not (ch.isascii() and ch.isalnum()) for ch in password) else 0
    bits = 0.0
    for i, ch in enumerate(password):
        previous = password[i - 1] if i else None
        weak = previous is not None and (ch == previous or abs(ord(ch) - ord(previous)) == 1)
        bits += 1.6 if weak else math.log2(max(pool, 2))
    return min(100, int(bits * 100 / 70))


def _body(document: dict[str, Any]) -> str:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _metadata(function: str, result: int, reason: str, data: Any = None) -> _Answer:
    document: dict[str, Any] = {"metadata": {"command": function, "reason": reason, "result": result, "version": 1}}
    if data is not None:
        document["data"] = data
    return _text(_body(document), content_type="application/json; charset=utf-8")


class CpanelSandbox:
    """The cPanel half of `Sandbox`: accounts by username, `/json-api/<function>` with token authentication."""

    def _init_cpanel(self, *, api_username: str, api_token: str, min_strength: int,
                     denied_functions: frozenset[str]) -> None:
        self.cpanel_api_username = api_username
        self.cpanel_api_token = api_token
        self.cpanel_min_strength = min_strength
        self.cpanel_denied_functions = set(denied_functions)
        self._cpanel: dict[str, CpanelAccount] = {}

    def add_cpanel_account(self, account: CpanelAccount) -> None:
        if account.fail is not None and account.fail not in CPANEL_FAILURES:
            raise ValueError(f"cPanel failure mode must be one of {sorted(CPANEL_FAILURES)}")
        if not re.fullmatch(r"(?![-.])[-._a-z0-9]{1,16}", account.user):
            raise ValueError("a cPanel username is 1 to 16 of [a-z0-9._-], not starting with - or .")
        account.owner = account.owner or self.cpanel_api_username
        account.mysql_password = account.mysql_password or account.password
        with self._lock:
            self._cpanel[account.user] = account

    def cpanel_account(self, user: str) -> CpanelAccount:
        with self._lock:
            return self._cpanel[user]

    # -- dispatch ----------------------------------------------------------------------------------
    def _handle_cpanel(self, request: _Request) -> _Answer:
        params = request.params()
        api_user, auth_problem = self._cpanel_auth(request.headers.get("authorization", ""))
        match = re.fullmatch(r"/json-api/([A-Za-z0-9_]+)", request.path.rstrip("/"))
        function = match.group(1) if match else ""
        if match is None:
            self._record("cpanel", request, "", api_user=api_user, account=None, outcome="not_found", status=404,
                         params=params)
            return _text(_HTML_404, status=404)
        if auth_problem is not None:
            self._record("cpanel", request, function, api_user=api_user, account=params.get("user"),
                         outcome="auth_failed", status=auth_problem.status, params=params)
            return auth_problem

        with self._lock:
            target = self._cpanel_target(function, params)
            delay, fail = self._take_failure(target)
        account = target.user if target else params.get("user")

        def record(outcome: str, status: int | None) -> None:
            self._record("cpanel", request, function, api_user=api_user, account=account, outcome=outcome,
                         status=status, params=params)

        if fail == "timeout":
            record("fail:timeout", None)
        if fail and fail not in _PROCESSED:
            answer = self._injected(fail, html=_HTML_500 if fail == "http_500" else _HTML_503)
            if fail != "timeout":
                record(f"fail:{fail}", answer.status)
            return answer
        if not self._hold(delay):
            record("dropped_on_stop", None)
            return _Answer(mode="drop")

        outcome, answer = self._cpanel_function(function, params)
        if fail in _PROCESSED:
            answer.mode = fail
            outcome = f"{outcome}+fail:{fail}"
        record(outcome, answer.status)
        return answer

    def _cpanel_auth(self, header: str) -> tuple[str | None, _Answer | None]:
        """(the API user named, the refusal) for the Authorization header; no refusal when it is right."""
        if not header.strip():
            return None, _text(_ACCESS_DENIED, status=401, content_type="text/plain; charset=utf-8")
        scheme, _, credentials = header.strip().partition(" ")
        if scheme.lower() != "whm":
            return None, _text(_HTML_403, status=403)
        user, sep, token = credentials.strip().partition(":")
        if not sep or not _same(user, self.cpanel_api_username) or not _same(token, self.cpanel_api_token):
            return user or None, _text(_ACCESS_DENIED, status=401, content_type="text/plain; charset=utf-8")
        return user, None

    def _cpanel_target(self, function: str, params: dict[str, str]) -> CpanelAccount | None:
        """The account a call names (lock held): by `user`, or the owner of `domain`."""
        if params.get("user"):
            return self._cpanel.get(params["user"])
        domain = params.get("domain", "").lower()
        return next((a for a in self._cpanel.values() if domain and domain in self._domains_of(a)), None)

    @staticmethod
    def _domains_of(account: CpanelAccount) -> list[str]:
        return [d.lower() for d in [account.domain, *account.addon_domains] if d]

    def _visible(self, account: CpanelAccount | None) -> bool:
        """What the API user may see and change: everything for root, else its own accounts and itself."""
        if account is None:
            return False
        me = self.cpanel_api_username
        return me == "root" or account.owner == me or account.user == me

    def _cpanel_function(self, function: str, params: dict[str, str]) -> tuple[str, _Answer]:
        if params.get("api.version") != "1":
            return self._cpanel_api0(function, params)
        if function not in _FUNCTIONS:
            return "bad_request", _metadata(function, 0, _E8.format(function=function))
        if function in self.cpanel_denied_functions:
            return "auth_failed", _metadata(function, 0, _E10)
        if function == "passwd":
            return self._cpanel_passwd(params, password_field="password")
        if function == "accountsummary":
            return self._cpanel_summary(params)
        return self._cpanel_domain_owner(params)

    # -- passwd ------------------------------------------------------------------------------------
    def _cpanel_passwd(self, params: dict[str, str], *, password_field: str) -> tuple[str, _Answer]:
        def refused(outcome: str, reason: str) -> tuple[str, _Answer]:
            return outcome, _metadata("passwd", 0, reason)

        user = params.get("user", "")
        if not user:
            return refused("bad_request", _E9.format(field="user"))
        with self._lock:
            account = self._cpanel.get(user)
            if not self._visible(account):
                if self.cpanel_api_username == "root":
                    return refused("account_not_found", _E1.format(user=user))
                return refused("account_not_found", _E2.format(user=user))
            assert account is not None
            if account.suspended:
                return refused("account_inactive", _E3.format(user=user))
            if password_field not in params:
                return refused("bad_request", _E9.format(field=password_field))
            password = params[password_field]
            if len(password) < 5:
                return refused("invalid_password", _E5)
            if user.lower() in password.lower():
                return refused("invalid_password", _E6)
            if password_strength(password) < self.cpanel_min_strength:
                return refused("invalid_password", _E4.format(minimum=self.cpanel_min_strength))
            if account.hook_halts:
                return refused("change_rejected", _E7)
            database_too = params.get("db_pass_update", "1") != "0"
            account.password = password
            if database_too:
                account.mysql_password = password
        apps = ["system", "ftp", "mail"] + (["MySQL"] if database_too else [])
        return "changed", _metadata("passwd", 1, f"Password changed for user “{user}”.", {"app": apps})

    def _cpanel_api0(self, function: str, params: dict[str, str]) -> tuple[str, _Answer]:
        """WHM API 0, which runs when api.version=1 did not arrive (§4 E17)."""
        if function != "passwd":
            body = _body({function: [{"status": 0, "statusmsg": "The sandbox serves WHM API 0 for passwd only."}]})
            return "bad_request", _text(body, content_type="application/json; charset=utf-8")
        outcome, answer = self._cpanel_passwd(params, password_field="pass")
        said = json.loads(answer.body)["metadata"]["reason"].replace("“", "").replace("”", "")
        body = _body({"passwd": [{"status": 1 if outcome == "changed" else 0, "statusmsg": said}]})
        return f"{outcome}:api0", _text(body, content_type="application/json; charset=utf-8")

    # -- lookups -----------------------------------------------------------------------------------
    def _cpanel_summary(self, params: dict[str, str]) -> tuple[str, _Answer]:
        if not params.get("user") and not params.get("domain"):
            return "bad_request", _metadata("accountsummary", 0, _E9.format(field="user"))
        with self._lock:
            account = self._cpanel_target("accountsummary", params)
            if not self._visible(account):
                return "lookup_empty", _metadata("accountsummary", 0, _NOT_FOUND, {"acct": []})
            assert account is not None
            entry = {
                "backup": 1, "disklimit": "2048M", "diskused": "311M", "domain": account.domain,
                "email": account.email or "*unknown*", "ip": "192.0.2.41", "ipv6": [], "is_locked": 0,
                "maxaddons": "unlimited", "owner": account.owner, "partition": "home", "plan": f"{account.owner}_basic",
                "shell": "/usr/local/cpanel/bin/noshell", "startdate": "24 Mar 03 09:12",
                "suspended": 1 if account.suspended else 0,
                "suspendreason": account.suspend_reason if account.suspended else "not suspended",
                "suspendtime": 1731400000 if account.suspended else None, "theme": "jupiter",
                "uid": 1042 + sorted(self._cpanel).index(account.user), "unix_startdate": 1711271520,
                "user": account.user,
            }
        return "lookup_ok", _metadata("accountsummary", 1, "OK", {"acct": [entry]})

    def _cpanel_domain_owner(self, params: dict[str, str]) -> tuple[str, _Answer]:
        domain = params.get("domain", "")
        if not domain:
            return "bad_request", _metadata("getdomainowner", 0, _E9.format(field="domain"))
        with self._lock:
            account = self._cpanel_target("getdomainowner", {"domain": domain})
            owner = account.user if self._visible(account) and account is not None else None
        return ("lookup_ok" if owner else "lookup_empty"), _metadata("getdomainowner", 1, "OK", {"user": owner})


__all__ = ["CPANEL_FAILURES", "CPANEL_MIN_STRENGTH", "CpanelAccount", "CpanelSandbox", "password_strength"]
