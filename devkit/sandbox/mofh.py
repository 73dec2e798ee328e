"""The sandbox MyOwnFreeHost: its accounts, the passwd and lookup endpoints, and their exact bodies.

Decisions where the real API is undocumented (docs/providers.md §5 open questions):

MyOwnFreeHost (`/xml-api/passwd[.php]`, `/json-api/passwd[.php]`)
* Checks, in order: injected failure / delay of the named account, credentials (no
  credentials at all -> E11 text; wrong API username -> E9; wrong API password -> E10),
  caller IP (peer address) against `mofh_allowed_ip` -> E12 (the message twice, as the
  errors page shows), `user` format (more than 8 characters -> E5; characters outside
  ``[A-Za-z0-9_]`` -> "Only letters and numbers"; both -> E6; "_" passes that check
  because a vPanel username got only E5 in MOFH-API-Docs#67; an underscore key of at most
  8 characters then ends as E7),
  password length (< 8 characters -> E3), password characters (anything outside
  ``[A-Za-z0-9]`` and ``MOFH_PASSWORD_SYMBOLS`` -> E4), unknown key (E7 text, or an
  empty body when ``unknown_user_empty_body``), state not ``a`` (E2 XML), new == current
  (E1 XML), then the change and the success XML.
* The JSON API answers success / E1 / E2 in the ``{"passwd": [...]}`` shape and
  credential / IP errors as a ``cpanelresult`` object (E13); the other errors stay text.
* GET on the passwd paths changes nothing and answers HTTP 405 (``Allow: POST``).
* Lookups (`getuserdomains`, `getdomainuser`, with or without `.php`, under `xml-api`
  or `json-api`, GET or POST) take credentials as Basic auth or `api_user`/`api_key`;
  errors come as ``ERROR :...`` text, a missing parameter as ``The data is not valid.``
  Domain status is ``ACTIVE`` for state ``a`` and ``SUSPENDED`` otherwise.
"""

from __future__ import annotations

import binascii
import json
import re
from dataclasses import dataclass, field
from xml.sax.saxutils import escape as _xml_escape

from devkit.sandbox.server import _HTML_404, _HTML_503, _Answer, _basic_auth, _Request, _same, _text

MOFH_FAILURES = frozenset({"timeout", "http_503", "empty", "garbage", "cut", "truncated"})
PROCESSED_FAILURES = frozenset({"cut", "truncated"})  # the change happens; only the answer is damaged
MOFH_STATES = frozenset({"a", "x", "r", "c"})
MOFH_PASSWORD_SYMBOLS = "!@#$%^*()-_=+.~"
_MOFH_PASSWORD_OK = re.compile(r"[A-Za-z0-9" + re.escape(MOFH_PASSWORD_SYMBOLS) + r"]*")
# The "Only letters and numbers" check lets "_" through: a vPanel username such as tccsc_41654245
# got only the 8-characters-maximum message (docs/providers.md §0, MOFH-API-Docs#67).
_MOFH_USER_CHARS = re.compile(r"[A-Za-z0-9_]+")


@dataclass
class MofhAccount:
    key: str  # the <= 8 char custom username `passwd` takes
    password: str = field(repr=False)
    state: str = "a"  # a active, x suspended, r reactivating, c closing
    vpanel_username: str = ""  # derived from the key when empty
    domains: list[str] = field(default_factory=list)
    delay: float = 0.0
    fail: str | None = None  # None | timeout | http_503 | empty | garbage | cut | truncated


# Bodies (docs/providers.md §1.2, §1.4; tests/fixtures/providers/mofh)

_MOFH_E1 = "An error occured changing this password."
_MOFH_E2 = (
    "This account  currently not active, the account must be active to change the password ({state}). .   "
)
_MOFH_E3 = "The choosen password is to short.  .  "
_MOFH_E4 = "The choosen password contains illegal characters.  .  "
_MOFH_E5 = "The username is invalid (8 characters maximum). .   "
_MOFH_ALNUM_ONLY = "The username is invalid (Only letters and numbers). .   "
_MOFH_E6 = (
    "The username is invalid (Only letters and numbers). .    "
    "The username is invalid (8 characters maximum).  .   "
)
_MOFH_E7 = "No account mathcing this username {key} could be found.  .  "
_MOFH_E9 = "The API username you are using appears to be invalid 1. .  "
_MOFH_E10 = "The API key you are using appears to be invalid 1. . "
_MOFH_E11 = "The API key or API username entered is not valid."
_MOFH_E12_ONE = (
    "The API ip address calling ({ip}) does not match the allowed ip address. Please log into your "
    "reseller panel and ensure that your server ip address is listed in the 'allowed ip address' "
    "option of the api section. . "
)
_MOFH_LOOKUP_BAD_USER = (
    "ERROR :The API username you are using appears to be invalid 1. . "
    "The API username you are using appears to be invalid 2. . "
)
_MOFH_LOOKUP_BAD_KEY = (
    "ERROR :The API key you are using appears to be invalid 1. . "
    "The API key you are using appears to be invalid 2. . "
)
_MOFH_DATA_NOT_VALID = "The data is not valid."


_MOFH_SERVICES_XML = "".join(
    f"      <services>\n        <app>{app}</app>\n      </services>\n"
    for app in ("system", "ftp", "mail", "mySQL")
)
_MOFH_SERVICES_JSON = [{"app": a} for a in ("system", "ftp", "mail", "MySQL", "webdisk (digest)")]


def _mofh_passwd_xml(key: str, status: int, statusmsg: str) -> str:
    return (
        "\n<passwd>\n  <passwd>\n      <rawout>\n"
        f"          Changing password for {key}\n"
        f"          Password for {key} has been changed\n"
        f"          Updating ftp passwords for {key}\n"
        "          Ftp password files updated.\n"
        "          Ftp vhost passwords synced\n"
        "      </rawout>\n"
        f"{_MOFH_SERVICES_XML}"
        f"      <status>{status}</status>\n"
        f"      <statusmsg>{_xml_escape(statusmsg)}</statusmsg>\n"
        "  </passwd>\n</passwd>\n"
    )


def _mofh_passwd_json(status: int, statusmsg: str) -> str:
    doc = {
        "passwd": [
            {
                "statusmsg": statusmsg,
                "services": _MOFH_SERVICES_JSON,
                "rawout": "Password changed",
                "status": status,
            }
        ]
    }
    return json.dumps(doc, indent=4) + "\n"


def _mofh_cpanelresult(message: str) -> str:
    doc = {
        "cpanelresult": {
            "apiversion": "2",
            "error": message,
            "data": {"reason": message, "result": "0"},
            "type": "text",
        }
    }
    return json.dumps(doc, separators=(",", ":"))


class MofhSandbox:
    """The MyOwnFreeHost half of `Sandbox`: accounts by key, `/xml-api/...` and `/json-api/...`."""

    def _init_mofh(self, *, api_username: str, api_password: str, allowed_ip: str,
                   unknown_user_empty_body: bool) -> None:
        self.mofh_api_username = api_username
        self.mofh_api_password = api_password
        self.mofh_allowed_ip = allowed_ip
        self.unknown_user_empty_body = unknown_user_empty_body
        self._mofh: dict[str, MofhAccount] = {}

    def add_mofh_account(self, account: MofhAccount) -> None:
        if account.state not in MOFH_STATES:
            raise ValueError(f"MOFH state must be one of {sorted(MOFH_STATES)}")
        if account.fail is not None and account.fail not in MOFH_FAILURES:
            raise ValueError(f"MOFH failure mode must be one of {sorted(MOFH_FAILURES)}")
        if not account.vpanel_username:
            account.vpanel_username = f"sbox_{binascii.crc32(account.key.encode()) % 10**8:08d}"
        with self._lock:
            self._mofh[account.key] = account

    def mofh_account(self, key: str) -> MofhAccount:
        with self._lock:
            return self._mofh[key]

    def _handle_mofh(self, request: _Request) -> _Answer:
        path = request.path.rstrip("/")
        match = re.fullmatch(r"/(xml-api|json-api)/(passwd|getuserdomains|getdomainuser)(\.php)?", path)
        params = request.params()
        basic = _basic_auth(request.headers)
        creds = basic or (
            (params["api_user"], params.get("api_key", "")) if "api_user" in params else None
        )
        api_user = creds[0] if creds else None
        if match is None:
            self._record(
                "mofh", request, "", api_user=api_user, account=None, outcome="not_found", status=404,
                params=params,
            )
            return _text(_HTML_404, status=404)
        json_api, command = match.group(1) == "json-api", match.group(2)

        if command == "passwd" and request.method != "POST":
            self._record("mofh", request, command, api_user=api_user, account=params.get("user"),
                         outcome="method_not_allowed", status=405, params=params)
            answer = _text("Method Not Allowed", status=405, content_type="text/plain")
            answer.headers["Allow"] = "POST"
            return answer

        with self._lock:
            if command == "passwd":
                target = self._mofh.get(params.get("user", ""))
            elif command == "getuserdomains":
                vp = params.get("username")
                target = next((a for a in self._mofh.values() if a.vpanel_username == vp), None)
            else:
                domain = params.get("domain", "").lower()
                target = next(
                    (a for a in self._mofh.values() if domain in (d.lower() for d in a.domains)), None
                )
            delay, fail = self._take_failure(target)
        account = target.key if target else (params.get("user") if command == "passwd" else None)

        def record(outcome: str, status: int | None) -> None:
            self._record("mofh", request, command, api_user=api_user, account=account, outcome=outcome,
                         status=status, params=params)

        if fail == "timeout":
            record("fail:timeout", None)
        if fail and fail not in PROCESSED_FAILURES:
            answer = self._injected(fail, html=_HTML_503)
            if fail != "timeout":
                record(f"fail:{fail}", answer.status)
            return answer
        if not self._hold(delay):
            record("dropped_on_stop", None)
            return _Answer(mode="drop")

        if command == "passwd":
            outcome, answer = self._mofh_passwd(request, params, creds, json_api)
        else:
            outcome, answer = self._mofh_lookup(request, params, creds, command)
        if fail in PROCESSED_FAILURES:
            answer.mode = fail
            outcome = f"{outcome}+fail:{fail}"
        record(outcome, answer.status)
        return answer

    def _mofh_auth_error(self, creds, ip: str) -> tuple[str, str, str] | None:
        """(outcome, passwd text, lookup text) for a credential / IP problem, else None."""
        if creds is None or (not creds[0] and not creds[1]):
            return "auth_failed", _MOFH_E11, "ERROR :" + _MOFH_E11
        if not _same(creds[0], self.mofh_api_username):
            return "auth_failed", _MOFH_E9, _MOFH_LOOKUP_BAD_USER
        if not _same(creds[1], self.mofh_api_password):
            return "auth_failed", _MOFH_E10, _MOFH_LOOKUP_BAD_KEY
        if ip != self.mofh_allowed_ip:
            one = _MOFH_E12_ONE.format(ip=ip)
            return "ip_not_allowed", one + one, "ERROR :" + one
        return None

    def _mofh_passwd(self, request, params, creds, json_api) -> tuple[str, _Answer]:
        auth = self._mofh_auth_error(creds, request.ip)
        if auth:
            if json_api:
                return auth[0], _text(_mofh_cpanelresult(auth[1].strip()), content_type="application/json")
            return auth[0], _text(auth[1])
        user, password = params.get("user", ""), params.get("pass", "")
        not_alnum, too_long = not _MOFH_USER_CHARS.fullmatch(user), len(user) > 8
        if not_alnum and too_long:
            return "invalid_username", _text(_MOFH_E6)
        if too_long:
            return "invalid_username", _text(_MOFH_E5)
        if not_alnum:
            return "invalid_username", _text(_MOFH_ALNUM_ONLY)
        if len(password) < 8:
            return "invalid_password", _text(_MOFH_E3)
        if not _MOFH_PASSWORD_OK.fullmatch(password):
            return "invalid_password", _text(_MOFH_E4)

        def passwd_answer(status: int, msg: str) -> _Answer:
            if json_api:
                return _text(_mofh_passwd_json(status, msg), content_type="application/json")
            return _text(_mofh_passwd_xml(user, status, msg), content_type="text/xml")

        with self._lock:
            account = self._mofh.get(user)
            if account is None:
                if self.unknown_user_empty_body:
                    return "account_not_found", _Answer(body=b"")
                return "account_not_found", _text(_MOFH_E7.format(key=user))
            if account.state != "a":
                return "account_inactive", passwd_answer(0, _MOFH_E2.format(state=account.state))
            if _same(password, account.password):
                return "changed_idempotent", passwd_answer(0, _MOFH_E1)
            account.password = password
        suffix = "." if json_api else ""
        return "changed", passwd_answer(1, f"Password changed for user {user}{suffix}")

    def _mofh_lookup(self, request, params, creds, command) -> tuple[str, _Answer]:
        auth = self._mofh_auth_error(creds, request.ip)
        if auth:
            return auth[0], _text(auth[2])
        key = "username" if command == "getuserdomains" else "domain"
        value = params.get(key, "")
        if not value:
            return "lookup_error", _text(_MOFH_DATA_NOT_VALID)
        with self._lock:
            if command == "getuserdomains":
                account = next((a for a in self._mofh.values() if a.vpanel_username == value), None)
                if account is None or not account.domains:
                    return "lookup_empty", _text("null")
                status = "ACTIVE" if account.state == "a" else "SUSPENDED"
                return "lookup_ok", _text(json.dumps([[status, d] for d in account.domains]))
            for account in self._mofh.values():
                for domain in account.domains:
                    if domain.lower() == value.lower():
                        status = "ACTIVE" if account.state == "a" else "SUSPENDED"
                        vp = account.vpanel_username
                        docroot = f"/home/vol9_4/example.net/{vp}/{domain}/htdocs"
                        body = json.dumps([status, domain, docroot, vp], separators=(",", ":"))
                        return "lookup_ok", _text(body.replace("/", "\\/"))
        return "lookup_empty", _text("null")
