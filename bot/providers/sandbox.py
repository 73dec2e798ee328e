"""Loopback servers that speak the MyOwnFreeHost and Namecheap wire protocols (providers.md §1, §2).

`resetbot sandbox`, `resetbot demo` and the end-to-end tests run the real provider clients
against these servers. Accounts live in memory; every request is recorded in `calls()`
with its secrets masked. Stdlib only (http.server.ThreadingHTTPServer, daemon threads).

Decisions where the real APIs are undocumented (providers.md §5 open questions):

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

Failure modes (per account): "timeout" holds the request without answering until
`stop()` (or `hold_seconds`), "cut" processes the request (the change happens) and sends
the headers and half the body before closing, "http_503" / "http_500" an HTML page,
"empty" a 0-byte 200, "garbage" non-provider bytes, "http_405" the rate-limit answer,
"5050900" the Namecheap unhandled-exception error. Only "cut" changes state.
`set_failure(..., times=N)` makes a failure clear itself after N answers (e.g. one lost
answer, then a normal retry).

`Sandbox(seed=None)` starts empty; `serve()` and the demo pass `default_seed()`.
`add_*` stores the object given (tests may keep it); seed entries are copied first.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import copy
import hmac
import json
import re
import secrets
import signal
import socket
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field, fields
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit
from xml.sax.saxutils import escape as _xml_escape

__all__ = [
    "MOFH_FAILURES",
    "MOFH_PASSWORD_SYMBOLS",
    "NAMECHEAP_FAILURES",
    "MofhAccount",
    "NamecheapUser",
    "Sandbox",
    "SandboxCall",
    "SandboxSeed",
    "default_seed",
    "load_seed",
    "serve",
]

MOFH_FAILURES = frozenset({"timeout", "http_503", "empty", "garbage", "cut"})
NAMECHEAP_FAILURES = frozenset({"timeout", "http_500", "5050900", "http_405", "garbage", "cut"})
MOFH_STATES = frozenset({"a", "x", "r", "c"})
MOFH_PASSWORD_SYMBOLS = "!@#$%^*()-_=+.~"
_MOFH_PASSWORD_OK = re.compile(r"[A-Za-z0-9" + re.escape(MOFH_PASSWORD_SYMBOLS) + r"]*")
# The "Only letters and numbers" check lets "_" through: a vPanel username such as tccsc_41654245
# got only the 8-characters-maximum message (providers.md §0, MOFH-API-Docs#67).
_MOFH_USER_CHARS = re.compile(r"[A-Za-z0-9_]+")

_SECRET_PARAMS = frozenset(
    {"pass", "password", "newpassword", "oldpassword", "resetcode", "apikey", "api_key", "authorization"}
)
MASK = "***"
MAX_BODY = 64 * 1024
DEFAULT_HOLD_SECONDS = 300.0

# ---------------------------------------------------------------------------------------------
# Data


@dataclass
class MofhAccount:
    key: str  # the <= 8 char custom username `passwd` takes
    password: str = field(repr=False)
    state: str = "a"  # a active, x suspended, r reactivating, c closing
    vpanel_username: str = ""  # derived from the key when empty
    domains: list[str] = field(default_factory=list)
    delay: float = 0.0
    fail: str | None = None  # None | timeout | http_503 | empty | garbage | cut


@dataclass
class NamecheapUser:
    username: str
    password: str = field(repr=False)
    email: str = ""
    status: str = "active"  # or "locked"
    domains: list[str] = field(default_factory=list)
    delay: float = 0.0
    fail: str | None = None  # None | timeout | http_500 | 5050900 | http_405 | garbage | cut
    user_id: str = ""  # assigned (48213, 48214, ...) when empty
    sub_user: bool = True  # False: belongs to another Namecheap account -> 1016103


@dataclass
class SandboxSeed:
    mofh_accounts: list[MofhAccount] = field(default_factory=list)
    namecheap_users: list[NamecheapUser] = field(default_factory=list)


@dataclass(frozen=True)
class SandboxCall:
    provider: str  # "mofh" | "namecheap"
    method: str
    path: str  # without the query string
    command: str  # passwd / getuserdomains / getdomainuser / namecheap.users.changePassword / ...
    remote_ip: str
    api_user: str | None
    account: str | None  # MOFH key / Namecheap username the request targeted, when known
    outcome: str  # providers.md §4.2 vocabulary, or fail:<mode> / method_not_allowed / not_found
    http_status: int | None  # None when no answer was sent (timeout)
    error_numbers: tuple[int, ...] = ()
    params: dict[str, str] = field(default_factory=dict)  # secrets masked
    at: float = 0.0  # time.time() when recorded


def default_seed() -> SandboxSeed:
    return SandboxSeed(
        mofh_accounts=[
            MofhAccount(
                key="webq7k2m",
                password="Start1234Pass",
                vpanel_username="abcd_40312277",
                domains=["shop.example.net"],
            ),
            MofhAccount(
                key="susp01x",
                password="Susp1234Pass",
                state="x",
                vpanel_username="abcd_40312278",
                domains=["old.example.net"],
            ),
            MofhAccount(
                key="slow01",
                password="Slow1234Pass",
                vpanel_username="abcd_40312279",
                domains=["slow.example.net"],
            ),
        ],
        namecheap_users=[
            NamecheapUser(
                username="acmeshop",
                password="Acme~Start2024",
                email="owner@example.org",
                domains=["acmeshop.example.com"],
            ),
            NamecheapUser(
                username="lockeduser",
                password="Locked~2024x",
                email="locked@example.org",
                status="locked",
                domains=["locked.example.com"],
            ),
        ],
    )


def _from_dict(cls, data: dict):
    names = {f.name for f in fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown field(s) {sorted(unknown)}")
    return cls(**data)


def load_seed(path) -> SandboxSeed:
    """Read a JSON seed: {"mofh_accounts": [{...MofhAccount...}], "namecheap_users": [{...}]}."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError("seed must be a JSON object")
    unknown = set(data) - {"mofh_accounts", "namecheap_users"}
    if unknown:
        raise ValueError(f"seed: unknown key(s) {sorted(unknown)}")
    return SandboxSeed(
        mofh_accounts=[_from_dict(MofhAccount, item) for item in data.get("mofh_accounts", [])],
        namecheap_users=[_from_dict(NamecheapUser, item) for item in data.get("namecheap_users", [])],
    )


# ---------------------------------------------------------------------------------------------
# Bodies (providers.md §1.2, §1.4, §2.3 - §2.5; tests/fixtures/providers)

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

_HTML_503 = (
    "<!DOCTYPE html>\n"
    "<html><head><title>503 Service Unavailable</title></head>\n"
    "<body><h1>Service Unavailable</h1>\n"
    "<p>The server is temporarily unable to service your request. Please try again later.</p>\n"
    "</body></html>\n"
)
_HTML_500 = (
    "<!DOCTYPE html>\n"
    "<html><head><title>500 Internal Server Error</title></head>\n"
    "<body><h1>Internal Server Error</h1>\n"
    "<p>The server encountered an internal error and was unable to complete your request.</p>\n"
    "</body></html>\n"
)
_HTML_404 = (
    "<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head>\n"
    "<body><h1>Not Found</h1></body></html>\n"
)
_GARBAGE = b"\x89\x00\xff\xfe<<%%garbage%%>> \x1b[0m not a provider answer \xc3\x28\n"
RATE_LIMIT_BODY = b""  # fixture namecheap/http_405_rate_limited.txt is 0 bytes

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


# ---------------------------------------------------------------------------------------------
# Request / answer plumbing


@dataclass
class _Request:
    method: str
    path: str
    query: str
    body: bytes
    headers: dict[str, str]
    ip: str

    def params(self, *, lower: bool = False) -> dict[str, str]:
        """Query string and form body merged (the body wins); a repeated key keeps its last value."""
        merged: dict[str, str] = {}
        sources = [self.query]
        if self.method == "POST":
            sources.append(self.body.decode("utf-8", errors="replace"))
        for source in sources:
            for key, value in parse_qsl(source, keep_blank_values=True):
                merged[key.lower() if lower else key] = value
        return merged


@dataclass
class _Answer:
    status: int = 200
    body: bytes = b""
    content_type: str = "text/html; charset=UTF-8"
    mode: str = "normal"  # normal | cut | drop
    headers: dict[str, str] = field(default_factory=dict)


def _text(body: str, status: int = 200, content_type: str = "text/html; charset=UTF-8") -> _Answer:
    return _Answer(status=status, body=body.encode("utf-8"), content_type=content_type)


def _masked(params: dict[str, str]) -> dict[str, str]:
    return {k: (MASK if k.lower() in _SECRET_PARAMS else v[:200]) for k, v in params.items()}


def _basic_auth(headers: dict[str, str]) -> tuple[str, str] | None:
    value = headers.get("authorization", "")
    if not value.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(value[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, sandbox: Sandbox, provider: str) -> None:
        self.sandbox = sandbox
        self.provider = provider
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "Apache"
    sys_version = ""
    timeout = 30

    def log_message(self, format, *args) -> None:  # never log: bodies carry secrets
        pass

    def setup(self) -> None:
        super().setup()
        self.server.sandbox._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.sandbox._track(self.connection, add=False)

    def _dispatch(self) -> None:
        sandbox: Sandbox = self.server.sandbox
        try:
            length = max(0, int(self.headers.get("Content-Length") or 0))
        except ValueError:
            length = 0
        body = self.rfile.read(min(length, MAX_BODY)) if length else b""
        if length > MAX_BODY:
            self.close_connection = True
        parts = urlsplit(self.path)
        request = _Request(
            method=self.command,
            path=re.sub(r"/{2,}", "/", parts.path) or "/",
            query=parts.query,
            body=body,
            headers={k.lower(): v for k, v in self.headers.items()},
            ip=self.client_address[0],
        )
        with sandbox._in_flight():
            try:
                if self.server.provider == "mofh":
                    answer = sandbox._handle_mofh(request)
                else:
                    answer = sandbox._handle_namecheap(request)
            except Exception:  # a sandbox bug: answer like a broken server, never echo the request
                answer = _text(_HTML_500, status=500)
        self._write(answer)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _dispatch

    def _write(self, answer: _Answer) -> None:
        if answer.mode == "drop":
            self.close_connection = True
            return
        try:
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.content_type)
            for key, value in answer.headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(answer.body)))
            if answer.mode == "cut":
                self.send_header("Connection", "close")
            self.end_headers()
            if answer.mode == "cut":
                self.wfile.write(answer.body[: len(answer.body) // 2])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            self.wfile.write(answer.body)
        except OSError:
            self.close_connection = True


# ---------------------------------------------------------------------------------------------
# The sandbox


class Sandbox:
    def __init__(
        self,
        *,
        mofh_api_username: str = "sandbox-reseller",
        mofh_api_password: str = "sandbox-mofh-password",
        namecheap_api_user: str = "sandboxapi",
        namecheap_api_key: str = "sandbox-namecheap-key",
        namecheap_client_ip: str = "127.0.0.1",
        mofh_allowed_ip: str = "127.0.0.1",
        host: str = "127.0.0.1",
        mofh_port: int = 0,
        namecheap_port: int = 0,
        seed: SandboxSeed | None = None,
        unknown_user_empty_body: bool = False,
        namespaced: bool = True,
        namecheap_rate_limit: int = 20,
        namecheap_rate_window: float = 60.0,
        namecheap_api_locked: bool = False,
        hold_seconds: float = DEFAULT_HOLD_SECONDS,
    ) -> None:
        self.mofh_api_username = mofh_api_username
        self.mofh_api_password = mofh_api_password
        self.namecheap_api_user = namecheap_api_user
        self.namecheap_api_key = namecheap_api_key
        self.namecheap_client_ip = namecheap_client_ip
        self.mofh_allowed_ip = mofh_allowed_ip
        self.host = host
        self.unknown_user_empty_body = unknown_user_empty_body
        self.namespaced = namespaced
        self.namecheap_rate_limit = namecheap_rate_limit
        self.namecheap_rate_window = namecheap_rate_window
        self.namecheap_api_locked = namecheap_api_locked
        self.hold_seconds = hold_seconds
        self._ports = {"mofh": mofh_port, "namecheap": namecheap_port}

        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self._mofh: dict[str, MofhAccount] = {}
        self._nc: dict[str, NamecheapUser] = {}  # lower-cased username -> user
        self._nc_history: dict[str, list[str]] = {}  # lower-cased username -> passwords used
        self._codes: dict[str, dict] = {}  # reset code -> {"username": lower, "used": bool}
        self._emails: list[dict] = []
        self._calls: list[SandboxCall] = []
        self._rate: dict[str, deque] = {}
        self._pending = 0
        self._conns: set[socket.socket] = set()
        self._servers: dict[str, _Server] = {}
        self._threads: list[threading.Thread] = []
        self._next_user_id = 48213
        self._fail_budget: dict[int, int] = {}  # id(account) -> answers left with the failure

        for account in (seed.mofh_accounts if seed else []):
            self.add_mofh_account(copy.deepcopy(account))
        for user in (seed.namecheap_users if seed else []):
            self.add_namecheap_user(copy.deepcopy(user))

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> Sandbox:
        if self._servers:
            return self
        self._stopping.clear()
        try:
            for provider in ("mofh", "namecheap"):
                server = _Server((self.host, self._ports[provider]), self, provider)
                self._servers[provider] = server
        except OSError:
            for server in self._servers.values():
                server.server_close()
            self._servers.clear()
            raise
        for provider, server in self._servers.items():
            thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.02},
                name=f"sandbox-{provider}",
                daemon=True,
            )
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        """Stop both servers; held (timeout / delayed) requests are released and their sockets closed."""
        self._stopping.set()
        servers, self._servers = list(self._servers.values()), {}
        stoppers = [threading.Thread(target=server.shutdown, daemon=True) for server in servers]
        for stopper in stoppers:  # both serve_forever loops notice within one poll interval
            stopper.start()
        for stopper in stoppers:
            stopper.join(timeout=2)
        for server in servers:
            server.server_close()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for thread in self._threads:
            thread.join(timeout=2)
        self._threads.clear()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _port(self, provider: str) -> int:
        server = self._servers.get(provider)
        if server is None:
            raise RuntimeError("sandbox is not started")
        return server.server_address[1]

    @property
    def mofh_url(self) -> str:
        return f"http://{self.host}:{self._port('mofh')}"

    @property
    def namecheap_url(self) -> str:
        return f"http://{self.host}:{self._port('namecheap')}/xml.response"

    # -- accounts -------------------------------------------------------------------------------
    def add_mofh_account(self, account: MofhAccount) -> None:
        if account.state not in MOFH_STATES:
            raise ValueError(f"MOFH state must be one of {sorted(MOFH_STATES)}")
        if account.fail is not None and account.fail not in MOFH_FAILURES:
            raise ValueError(f"MOFH failure mode must be one of {sorted(MOFH_FAILURES)}")
        if not account.vpanel_username:
            account.vpanel_username = f"sbox_{binascii.crc32(account.key.encode()) % 10**8:08d}"
        with self._lock:
            self._mofh[account.key] = account

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

    def mofh_account(self, key: str) -> MofhAccount:
        with self._lock:
            return self._mofh[key]

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

    def calls(self) -> list[SandboxCall]:
        with self._lock:
            return list(self._calls)

    def wait_for_calls(self, n: int, timeout: float = 5.0) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: len(self._calls) >= n, timeout)

    def pending(self) -> int:
        """Requests received and not yet answered (held by a delay or a timeout failure)."""
        with self._lock:
            return self._pending

    def wait_for_pending(self, n: int, timeout: float = 5.0) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self._pending >= n, timeout)

    def _target(self, provider: str, account: str):
        if provider == "mofh":
            return self.mofh_account(account)
        if provider == "namecheap":
            return self.namecheap_user(account)
        raise ValueError("provider must be 'mofh' or 'namecheap'")

    def set_delay(self, provider: str, account: str, seconds: float) -> None:
        with self._lock:
            self._target(provider, account).delay = float(seconds)

    def set_failure(self, provider: str, account: str, mode: str | None, *, times: int | None = None) -> None:
        """Inject a failure mode (None clears it). With `times`, it clears itself after that many answers."""
        allowed = MOFH_FAILURES if provider == "mofh" else NAMECHEAP_FAILURES
        if mode is not None and mode not in allowed:
            raise ValueError(f"failure mode must be one of {sorted(allowed)} or None")
        with self._lock:
            target = self._target(provider, account)
            target.fail = mode
            if mode is not None and times is not None:
                self._fail_budget[id(target)] = int(times)
            else:
                self._fail_budget.pop(id(target), None)

    def _take_failure(self, target) -> tuple[float, str | None]:
        """(delay, failure mode) for one request to `target`; uses up one limited failure (lock held)."""
        if target is None:
            return 0.0, None
        fail = target.fail
        if fail is not None and id(target) in self._fail_budget:
            self._fail_budget[id(target)] -= 1
            if self._fail_budget[id(target)] <= 0:
                del self._fail_budget[id(target)]
                target.fail = None
        return target.delay, fail

    # -- internals ------------------------------------------------------------------------------
    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._lock:
            (self._conns.add if add else self._conns.discard)(conn)

    class _InFlight:
        def __init__(self, sandbox: Sandbox) -> None:
            self.sandbox = sandbox

        def __enter__(self):
            with self.sandbox._cond:
                self.sandbox._pending += 1
                self.sandbox._cond.notify_all()

        def __exit__(self, *exc):
            with self.sandbox._cond:
                self.sandbox._pending -= 1
                self.sandbox._cond.notify_all()

    def _in_flight(self) -> _InFlight:
        return Sandbox._InFlight(self)

    def _hold(self, seconds: float) -> bool:
        """Wait `seconds`; False when stop() cut the wait short."""
        if seconds <= 0:
            return not self._stopping.is_set()
        return not self._stopping.wait(seconds)

    def _record(
        self, provider, request, command, *, api_user, account, outcome, status, errors=(), params=None
    ) -> None:
        call = SandboxCall(
            provider=provider,
            method=request.method,
            path=request.path,
            command=command,
            remote_ip=request.ip,
            api_user=api_user,
            account=account,
            outcome=outcome,
            http_status=status,
            error_numbers=tuple(errors),
            params=_masked(params or {}),
            at=time.time(),
        )
        with self._cond:
            self._calls.append(call)
            self._cond.notify_all()

    def _injected(self, mode: str, *, html: str) -> _Answer | None:
        """The answer of a transport-level failure mode, or None when `mode` is processed normally."""
        if mode == "timeout":
            self._hold(self.hold_seconds)
            return _Answer(mode="drop")
        if mode in ("http_503", "http_500"):
            return _text(html, status=int(mode[5:]))
        if mode == "empty":
            return _Answer(body=b"")
        if mode == "garbage":
            return _Answer(body=_GARBAGE, content_type="text/plain")
        if mode == "http_405":
            return _Answer(status=405, body=RATE_LIMIT_BODY, content_type="text/plain")
        return None

    # -- MyOwnFreeHost ----------------------------------------------------------------------------
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
        if fail and fail != "cut":
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
        if fail == "cut":
            answer.mode = "cut"
            outcome = f"{outcome}+fail:cut"
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

    # -- Namecheap --------------------------------------------------------------------------------
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
        if fail and fail not in ("cut", "5050900"):
            answer = self._injected(fail, html=_HTML_500)
            if fail != "timeout":
                record(f"fail:{fail}", answer.status)
            return answer
        if not self._hold(delay):
            record("dropped_on_stop", None)
            return _Answer(mode="drop")

        outcome, errors, body = self._namecheap(request, params, command, fail)
        answer = _text(body, content_type="text/xml; charset=utf-8")
        if fail == "cut":
            answer.mode = "cut"
            outcome = f"{outcome}+fail:cut"
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


# ---------------------------------------------------------------------------------------------
# `resetbot sandbox`


class _Stop(Exception):
    pass


def serve(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="resetbot sandbox",
        description="Serve the sandbox MyOwnFreeHost and Namecheap APIs on 127.0.0.1 until SIGINT/SIGTERM.",
    )
    parser.add_argument(
        "--seed", help="JSON seed file (mofh_accounts, namecheap_users); default: built-in demo seed"
    )
    parser.add_argument("--mofh-port", type=int, default=0)
    parser.add_argument("--namecheap-port", type=int, default=0)
    args = parser.parse_args(argv)

    seed = load_seed(args.seed) if args.seed else default_seed()
    sandbox = Sandbox(seed=seed, mofh_port=args.mofh_port, namecheap_port=args.namecheap_port)

    stopping = {"raised": False}

    def on_signal(signum, frame):
        if not stopping["raised"]:
            stopping["raised"] = True
            raise _Stop()

    previous = {}
    try:
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, on_signal)
    except ValueError:  # not the main thread: rely on KeyboardInterrupt / the caller
        previous = {}

    try:
        sandbox.start()
        out = sys.stdout
        print(f"MyOwnFreeHost sandbox: {sandbox.mofh_url}", file=out)
        print(f"  MOFH_API_URL={sandbox.mofh_url}", file=out)
        print(f"  MOFH_API_USERNAME={sandbox.mofh_api_username}", file=out)
        print(f"  MOFH_API_PASSWORD={sandbox.mofh_api_password}", file=out)
        print(f"Namecheap sandbox: {sandbox.namecheap_url}", file=out)
        print(f"  NAMECHEAP_API_URL={sandbox.namecheap_url}", file=out)
        print(f"  NAMECHEAP_API_USER={sandbox.namecheap_api_user}", file=out)
        print(f"  NAMECHEAP_API_KEY={sandbox.namecheap_api_key}", file=out)
        print(f"  NAMECHEAP_CLIENT_IP={sandbox.namecheap_client_ip}", file=out)
        print("Sandbox credentials only; press Ctrl-C to stop.", file=out, flush=True)
        while True:
            time.sleep(3600)
    except (_Stop, KeyboardInterrupt):
        pass
    finally:
        sandbox.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(serve())
