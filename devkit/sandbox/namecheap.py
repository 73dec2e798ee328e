"""The sandbox Namecheap: its users, reset codes and e-mails, and the `/xml.response` commands.

Decisions where the real API is undocumented (docs/providers.md §5 open questions):


Namecheap (`/xml.response`, GET or POST, parameter names case-insensitive)
* Rate limit first: more than `namecheap_rate_limit` calls (default 20) within
  `namecheap_rate_window` seconds (default 60) per ApiUser -> HTTP 405 with the body of
  fixture namecheap/http_405_rate_limited.txt (empty). Refused calls do not count.
* Then the targeted user's injected failure / delay, then global checks: missing
  ApiUser/ApiKey/Command/ClientIp (all missing ones reported together), 1011102 for a
  wrong ApiUser or ApiKey, 1017101 when `namecheap_api_locked`, 1011150 naming the
  `ClientIp` parameter when it is not the whitelisted IP, else naming the peer address
  when that is not whitelisted; an unknown Command -> 1011104 "Parameter Command is
  invalid" (number invented by the sandbox).
* UserName, when present: unknown -> 1019103; a user added with ``sub_user=False``
  (belongs to another account) and not equal to ApiUser -> 1016103; locked -> 1017103.
  Every other user added to the sandbox is a sub-user of the API account, so way 1 may
  change its password.
* changePassword way 1: OldPassword missing -> 2010302; wrong OldPassword, NewPassword
  missing, NewPassword used before (current one included), shorter than 8, longer than
  20, or with leading/trailing spaces -> 4022335.
* Way 2: UserName present -> 2015103; unknown or already used ResetCode -> 4022335;
  code of a locked user -> 4011331; same password rules as way 1 (the code stays valid
  when the password is refused). A code works once; a successful change also voids the
  user's other outstanding codes. Neither UserName nor ResetCode: 2010103 when
  OldPassword was sent, else 2010303.
* resetPassword: UserName present -> 2015103; FindBy missing or not one of USERNAME /
  EMAILADDRESS / DOMAINNAME (case-insensitive) -> 2011315; no match or a locked user ->
  4022335 "Unable to reset password". Success records an email (see `emails()`).
* Failure mode "5050900" answers that error after the global checks and changes nothing.
* Fixed ExecutionTime values (0 for global errors, 0.013 command errors, 0.061 / 0.688
  successes) keep bodies byte-identical to the fixtures. ``namespaced=False`` serves the
  docs' second shape: no xmlns, no <Warnings />, GMTTimeDifference "--4:00".
"""

from __future__ import annotations

import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from xml.sax.saxutils import escape as _xml_escape

from devkit.sandbox.server import _HTML_404, _HTML_500, RATE_LIMIT_BODY, _Answer, _Request, _same, _text

NAMECHEAP_FAILURES = frozenset({"timeout", "http_500", "5050900", "http_405", "garbage", "cut", "truncated"})


@dataclass
class NamecheapUser:
    username: str
    password: str = field(repr=False)
    email: str = ""
    status: str = "active"  # or "locked"
    domains: list[str] = field(default_factory=list)
    delay: float = 0.0
    fail: str | None = None  # None | timeout | http_500 | 5050900 | http_405 | garbage | cut | truncated
    user_id: str = ""  # assigned (48213, 48214, ...) when empty
    sub_user: bool = True  # False: belongs to another Namecheap account -> 1016103


NC_NS = "http://api.namecheap.com/xml.response"
NC_CHANGE = "namecheap.users.changePassword"
NC_RESET = "namecheap.users.resetPassword"
_NC_COMMANDS = {NC_CHANGE.lower(): NC_CHANGE, NC_RESET.lower(): NC_RESET}
_NC_FIND_BY = ("USERNAME", "EMAILADDRESS", "DOMAINNAME")


def _nc_body(
    *,
    ok: bool,
    errors: list[tuple[int, str]] = (),
    command: str | None = None,
    result: str | None = None,
    exec_time: str = "0",
    namespaced: bool = True,
) -> str:
    ns = f' xmlns="{NC_NS}"' if namespaced else ""
    out = ['<?xml version="1.0" encoding="utf-8"?>', f'<ApiResponse Status="{"OK" if ok else "ERROR"}"{ns}>']
    if errors:
        out.append("  <Errors>")
        out += [f'    <Error Number="{n}">{_xml_escape(text)}</Error>' for n, text in errors]
        out.append("  </Errors>")
    else:
        out.append("  <Errors />")
    if namespaced:
        out.append("  <Warnings />")
    if command is None:
        out.append("  <RequestedCommand />")
    else:
        out.append(f"  <RequestedCommand>{_xml_escape(command)}</RequestedCommand>")
    if result is not None:
        out.append(f'  <CommandResponse Type="{_xml_escape(command or "")}">')
        out.append(result)
        out.append("  </CommandResponse>")
    out.append("  <Server>PHX01APIEXT07</Server>")
    out.append(f"  <GMTTimeDifference>{'--5:00' if namespaced else '--4:00'}</GMTTimeDifference>")
    out.append(f"  <ExecutionTime>{exec_time}</ExecutionTime>")
    out.append("</ApiResponse>")
    return "\n".join(out) + "\n"


class NamecheapSandbox:
    """The Namecheap half of `Sandbox`: users by lower-cased name, changePassword and resetPassword."""

    def _init_namecheap(self, *, api_user: str, api_key: str, client_ip: str, namespaced: bool,
                        rate_limit: int, rate_window: float, api_locked: bool) -> None:
        self.namecheap_api_user = api_user
        self.namecheap_api_key = api_key
        self.namecheap_client_ip = client_ip
        self.namespaced = namespaced
        self.namecheap_rate_limit = rate_limit
        self.namecheap_rate_window = rate_window
        self.namecheap_api_locked = api_locked
        self._nc: dict[str, NamecheapUser] = {}  # lower-cased username -> user
        self._nc_history: dict[str, list[str]] = {}  # lower-cased username -> passwords used
        self._codes: dict[str, dict] = {}  # reset code -> {"username": lower, "used": bool}
        self._emails: list[dict] = []
        self._rate: dict[str, deque] = {}
        self._next_user_id = 48213

    def add_namecheap_user(self, user: NamecheapUser) -> None:
        if user.status not in ("active", "locked"):
            raise ValueError("Namecheap status must be 'active' or 'locked'")
        if user.fail is not None and user.fail not in NAMECHEAP_FAILURES:
            raise ValueError(f"Namecheap failure mode must be one of {sorted(NAMECHEAP_FAILURES)}")
        with self._lock:
            if not user.user_id:
                user.user_id = str(self._next_user_id)
                self._next_user_id += 1
            self._nc[user.username.lower()] = user
            self._nc_history[user.username.lower()] = [user.password]

    def namecheap_user(self, username: str) -> NamecheapUser:
        with self._lock:
            return self._nc[username.lower()]

    def issue_reset_code(self, username: str) -> str:
        """A fresh single-use way-2 reset code for `username` (what the owner would find in the email)."""
        with self._lock:
            user = self._nc[username.lower()]
            return self._new_code(user)

    def _new_code(self, user: NamecheapUser) -> str:
        code = secrets.token_hex(17)[:33]  # the docs' example code is 33 hex characters
        self._codes[code] = {"username": user.username.lower(), "used": False}
        return code

    def emails(self) -> list[dict]:
        with self._lock:
            return [dict(e) for e in self._emails]

    def _handle_namecheap(self, request: _Request) -> _Answer:
        params = request.params(lower=True)
        api_user = params.get("apiuser") or None
        command_raw = params.get("command", "")
        command = _NC_COMMANDS.get(command_raw.lower(), command_raw[:80])

        if request.path != "/xml.response":
            self._record("namecheap", request, command, api_user=api_user, account=None, outcome="not_found",
                         status=404, params=params)
            return _text(_HTML_404, status=404)

        # Rate limit (pre-execution, per ApiUser).
        if api_user:
            now = time.monotonic()
            with self._lock:
                window = self._rate.setdefault(api_user.lower(), deque())
                while window and now - window[0] >= self.namecheap_rate_window:
                    window.popleft()
                limited = len(window) >= self.namecheap_rate_limit
                if not limited:
                    window.append(now)
            if limited:
                self._record("namecheap", request, command, api_user=api_user, account=None,
                             outcome="rate_limited", status=405, params=params)
                return _Answer(status=405, body=RATE_LIMIT_BODY, content_type="text/plain")

        with self._lock:
            target = self._nc_target(params, command)
            delay, fail = self._take_failure(target)
        account = target.username if target else (params.get("username") or None)

        def record(outcome: str, status: int | None, errors=()) -> None:
            self._record("namecheap", request, command, api_user=api_user, account=account, outcome=outcome,
                         status=status, errors=errors, params=params)

        if fail == "timeout":
            record("fail:timeout", None)
        if fail and fail not in ("cut", "truncated", "5050900"):
            answer = self._injected(fail, html=_HTML_500)
            if fail != "timeout":
                record(f"fail:{fail}", answer.status)
            return answer
        if not self._hold(delay):
            record("dropped_on_stop", None)
            return _Answer(mode="drop")

        outcome, errors, body = self._namecheap(request, params, command, fail)
        answer = _text(body, content_type="text/xml; charset=utf-8")
        if fail in ("cut", "truncated"):
            answer.mode = fail
            outcome = f"{outcome}+fail:{fail}"
        record(outcome, answer.status, [n for n, _ in errors])
        return answer

    def _nc_target(self, params: dict[str, str], command: str) -> NamecheapUser | None:
        if params.get("username"):
            return self._nc.get(params["username"].lower())
        if command == NC_CHANGE and params.get("resetcode"):
            entry = self._codes.get(params["resetcode"])
            return self._nc.get(entry["username"]) if entry else None
        if command == NC_RESET:
            return self._find_by(params.get("findby", ""), params.get("findbyvalue", ""))
        return None

    def _find_by(self, find_by: str, value: str) -> NamecheapUser | None:
        find_by, value = find_by.upper(), value.strip().lower()
        if not value:
            return None
        for user in self._nc.values():
            if find_by == "USERNAME" and user.username.lower() == value:
                return user
            if find_by == "EMAILADDRESS" and user.email.lower() == value:
                return user
            if find_by == "DOMAINNAME" and value in (d.lower() for d in user.domains):
                return user
        return None

    def _namecheap(self, request, params, command, fail) -> tuple[str, list[tuple[int, str]], str]:
        ns = self.namespaced

        def global_error(outcome: str, errors: list[tuple[int, str]]):
            return outcome, errors, _nc_body(ok=False, errors=errors, namespaced=ns)

        def command_error(outcome: str, number: int, text: str):
            errors = [(number, text)]
            return outcome, errors, _nc_body(ok=False, errors=errors, command=command, exec_time="0.013",
                                             namespaced=ns)

        missing = []
        if not params.get("apiuser"):
            missing.append((1010101, "Parameter APIUser is missing"))
        if not params.get("apikey"):
            missing.append((1010102, "Parameter APIKey is missing"))
        if not params.get("command"):
            missing.append((1010104, "Parameter Command is missing"))
        if not params.get("clientip"):
            missing.append((1011105, "Parameter ClientIP is missing"))
        if missing:
            return global_error("bad_request", missing)
        if params["apiuser"].lower() != self.namecheap_api_user.lower() or not _same(
            params["apikey"], self.namecheap_api_key
        ):
            return global_error(
                "auth_failed", [(1011102, "API Key is invalid or API access has not been enabled")]
            )
        if self.namecheap_api_locked:
            return global_error("auth_failed", [(1017101, "Parameter ApiUser is disabled or locked")])
        if params["clientip"] != self.namecheap_client_ip:
            text = f"Invalid request IP: {params['clientip'][:15]}"
            return global_error("ip_not_allowed", [(1011150, text)])
        if request.ip != self.namecheap_client_ip:
            return global_error("ip_not_allowed", [(1011150, f"Invalid request IP: {request.ip}")])
        if command not in (NC_CHANGE, NC_RESET):
            return global_error("bad_request", [(1011104, "Parameter Command is invalid")])

        username = params.get("username", "")
        if username:
            with self._lock:
                user = self._nc.get(username.lower())
            if user is None:
                return global_error("account_not_found", [(1019103, "Parameter UserName is not available")])
            if not user.sub_user and username.lower() != self.namecheap_api_user.lower():
                return global_error("auth_failed", [(1016103, "Parameter UserName is unauthorized")])
            if user.status != "active":
                text = "Parameter UserName is disabled or locked"
                return global_error("account_inactive", [(1017103, text)])

        if fail == "5050900":
            return command_error("provider_error", 5050900, "Unhandled exceptions")
        if command == NC_RESET:
            return self._nc_reset(params, command_error)
        return self._nc_change(params, command_error)

    def _nc_password_refused(self, user: NamecheapUser, new: str) -> bool:
        if not 8 <= len(new) <= 20 or new != new.strip():
            return True
        return any(_same(new, old) for old in self._nc_history.get(user.username.lower(), []))

    def _nc_changed(self, user: NamecheapUser, new: str):
        user.password = new
        self._nc_history.setdefault(user.username.lower(), []).append(new)
        ns = self.namespaced
        result = f'    <UserChangePasswordResult Success="true" UserId="{_xml_escape(user.user_id)}" />'
        body = _nc_body(ok=True, command=NC_CHANGE, result=result, exec_time="0.061" if ns else "0.17",
                        namespaced=ns)
        return "changed", [], body

    def _nc_change(self, params, command_error):
        username, code = params.get("username", ""), params.get("resetcode", "")
        old, new = params.get("oldpassword", ""), params.get("newpassword", "")
        unable = (4022335, "Unable to change password")
        if code and username:
            return command_error("bad_request", 2015103, "Cannot change UserName and ResetCode at a time")
        if not code and not username:
            if old:
                return command_error("bad_request", 2010103, "UserName is missing")
            return command_error("bad_request", 2010303, "ResetCode is missing")
        with self._lock:
            if username:  # way 1; the global checks found the user
                user = self._nc[username.lower()]
                if not old:
                    return command_error("bad_request", 2010302, "OldPassword is missing")
                if not _same(old, user.password) or self._nc_password_refused(user, new):
                    return command_error("change_rejected", *unable)
                return self._nc_changed(user, new)
            entry = self._codes.get(code)  # way 2
            if entry is None or entry["used"]:
                return command_error("change_rejected", *unable)
            user = self._nc.get(entry["username"])
            if user is None:
                return command_error("change_rejected", *unable)
            if user.status != "active":
                return command_error("change_rejected", 4011331, "Invalid status")
            if self._nc_password_refused(user, new):
                return command_error("change_rejected", *unable)
            for other in self._codes.values():
                if other["username"] == entry["username"]:
                    other["used"] = True
            return self._nc_changed(user, new)

    def _nc_reset(self, params, command_error):
        if params.get("username"):
            return command_error("bad_request", 2015103, "Cannot change UserName and ResetCode at a time")
        find_by = params.get("findby", "").upper()
        if find_by not in _NC_FIND_BY:
            return command_error("bad_request", 2011315, "FindBy is invalid")
        with self._lock:
            user = self._find_by(find_by, params.get("findbyvalue", ""))
            if user is None or user.status != "active":
                return command_error("change_rejected", 4022335, "Unable to reset password")
            code = self._new_code(user)
            pattern = params.get("urlpattern", "")
            self._emails.append(
                {
                    "to": user.email,
                    "username": user.username,
                    "reset_code": code,
                    "link": pattern.replace("[RESETCODE]", code) if pattern else None,
                    "from": params.get("emailfrom") or "support@namecheap.com",
                    "from_name": params.get("emailfromname") or "namecheap.com",
                }
            )
        result = (
            '    <UserResetPasswordResult Success="true">\n'
            f"      <Email>{_xml_escape(user.email)}</Email>\n"
            "    </UserResetPasswordResult>"
        )
        body = _nc_body(
            ok=True, command=NC_RESET, result=result, exec_time="0.688", namespaced=self.namespaced
        )
        return "reset_email_sent", [], body
