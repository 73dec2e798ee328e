"""The sandbox Plesk: its customers and the XML API's `/enterprise/control/agent.php` with `customer/get` and `/set`.

The wire protocol of docs/provider-plesk.md; bodies in the shapes (and, where the fixtures in
tests/fixtures/providers/plesk/ have them, the very bytes) of that spec. Decisions where Plesk is
undocumented or the sandbox keeps to less:

* Only POST to `/enterprise/control/agent.php` (a trailing `/` accepted): another path is a
  404 page, another method 405 (`Allow: POST`).
* Injected failure or delay of the customer the packet names comes first (it is read from the
  packet before anything is checked), then the checkup errors in a `<system>` node, nothing
  executed: credentials (`KEY`, checked against the key and the IP address it is bound to ->
  11003; else `HTTP_AUTH_LOGIN` and `HTTP_AUTH_PASSWD` -> 1001; neither pair complete -> 1029),
  then the packet, parsed with ElementTree (not well-formed, or a DOCTYPE -> 1014), its
  `version` (not 1.6.x.x -> 1005; none is fine), and its structure: `packet/customer/(get|set)`
  and nothing else, `filter` before `values` / `dataset`, a filter of `login` or `id` elements
  (an empty `<filter/>` selects every customer, as Plesk documents), `set` with exactly
  `values/gen_info/passwd`, `get` with `dataset/gen_info` -> else 1014 (pypleski's missing
  `<values>` gets the fixture's text).
* Execution errors in `<result>`, one per customer a filter names: no such customer -> 1013
  "client does not exist"; a password outside Plesk's hard rules (5 to 255 printable ASCII
  characters, no quote) -> 1019; one holding the login, case-insensitively -> 1023 "...the
  password must not contain the user name."; one too weak for the strength policy ->
  1019 with Plesk's "not complex enough" text. Policies ("very_weak" ... "very_strong", the
  default) ask for 5, 5, 8, 12, 16 characters and 0, 1, 2, 3, 4 of: upper case, lower case,
  digit, special character (the exact scoring is not published; the sandbox's own choice).
* A customer disabled (status 16), expired (256) or otherwise suspended may still have its
  password set, as an administrator can (§10); `get` shows its status.
* `plesk_get_returns_password=True` adds `gen_info/password` (a hash) and `password_type`, as
  some Plesk versions do, for tests that the bot never keeps it.
* Failure modes (per customer): "timeout", "http_503", "http_500", "empty", "garbage", "html"
  (Plesk's login page with a 200), and "cut" / "truncated", in which the change happens and
  only the answer is damaged.
"""

from __future__ import annotations

import hashlib
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from xml.sax.saxutils import escape as _xml_escape

from devkit.sandbox.server import _HTML_404, _HTML_503, _Answer, _Request, _same, _text

PLESK_FAILURES = frozenset({"timeout", "http_503", "http_500", "empty", "garbage", "html", "cut", "truncated"})
PROCESSED_FAILURES = frozenset({"cut", "truncated"})
AGENT_PATH = "/enterprise/control/agent.php"
PLESK_SPECIALS = "!@#$%^&*?_~"
# policy -> (minimum length, how many of upper case, lower case, digit, special it asks for)
PLESK_POLICIES = {"very_weak": (5, 0), "weak": (5, 1), "medium": (8, 2), "strong": (12, 3), "very_strong": (16, 4)}
_POLICY_NAMES = {"very_weak": "Very weak", "weak": "Weak", "medium": "Medium", "strong": "Strong",
                 "very_strong": "Very strong"}
_VERSION = re.compile(r"1\.6\.[0-9]+\.[0-9]+")
_SERVER_VERSION = "1.6.9.1"  # what a <system> error names when the request's version is not known


@dataclass
class PleskCustomer:
    login: str
    password: str = field(repr=False)
    customer_id: int = 0  # assigned from 1187 when 0
    status: int = 0  # objectStatus bit mask: 0 active, 16 disabled by the administrator, 256 expired, ...
    cname: str = ""
    pname: str = ""
    email: str = ""
    phone: str = ""
    address: str = ""
    city: str = ""
    pcode: str = ""
    country: str = "US"
    locale: str = "en-US"
    cr_date: str = "2021-03-04"
    guid: str = ""  # derived from the login when empty
    owner_login: str = "admin"
    delay: float = 0.0
    fail: str | None = None  # None | one of PLESK_FAILURES


class _Refused(Exception):
    """A checkup error: answered in <system>, nothing executed."""

    def __init__(self, outcome: str, code: int, text: str, *, output: bool = False, unread: bool = False) -> None:
        super().__init__(text)
        self.outcome, self.code, self.text, self.output = outcome, code, text, output
        self.unread = unread  # refused before the packet was read: the answer names the server's own version


def _system(code: int, text: str, *, version: str, output: bool = False) -> str:
    tail = "  <output> </output>\n" if output else ""
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<packet version="{version}">\n  <system>\n'
            f"    <status>error</status>\n    <errcode>{code}</errcode>\n    <errtext>{_xml_escape(text)}</errtext>\n"
            f"  </system>\n{tail}</packet>\n")


# The one body Plesk's own docs quote from a real server (plesk/api-examples#7), byte for byte.
_AUTH_NOT_SPECIFIED = ('<?xml version="1.0"?>\n<packet version="1.6.9.1">\n    <system>\n'
                       "        <status>error</status>\n        <errcode>1029</errcode>\n"
                       "        <errtext>Authentication method is not specified</errtext>\n    </system>\n</packet>\n")
_PARSER_ERROR = "Parser error: Request is invalid. Error in line 1: {detail}"
_NOT_COMPLEX = ("Your password is not complex enough. According to the server policy, the minimal password strength "
                "is {level}. To improve the password strength, use numbers, upper and lower-case characters, and "
                "special characters like !,@,#,$,%,^,&,*,?,_,~")
_CONTAINS_LOGIN = "Unable to update the customer: the password must not contain the user name."
_HARD_RULES = ("The password must be 5 to 255 characters long and may hold only printable ASCII characters, "
               "no spaces or quotes.")
_LOGIN_PAGE = """<!DOCTYPE html>
<html lang="en" class="login-page">
<head>
  <meta charset="utf-8">
  <title>Plesk Obsidian 18.0.63</title>
</head>
<body>
  <form method="post" action="/login_up.php" id="form-login">
    <input type="hidden" name="forgery_protection_token" value="8f2d1c0e7b6a59483726150493827160">
    <label for="login_name">Username</label><input type="text" name="login_name" id="login_name">
    <label for="passwd">Password</label><input type="password" name="passwd" id="passwd">
    <input type="hidden" name="status" value="ok">
    <button type="submit">Log in</button>
  </form>
</body>
</html>
"""


def _result(op: str, version: str, results: list[str]) -> str:
    inner = "".join(results)
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<packet version="{version}">\n  <customer>\n    <{op}>\n'
            f"{inner}    </{op}>\n  </customer>\n</packet>\n")


def _ok(filter_id: str | None, customer_id: int, data: str = "") -> str:
    fid = f"        <filter-id>{_xml_escape(filter_id)}</filter-id>\n" if filter_id is not None else ""
    return (f"      <result>\n        <status>ok</status>\n{fid}        <id>{customer_id}</id>\n{data}"
            "      </result>\n")


def _error(code: int, text: str, filter_id: str | None, customer_id: int | None = None) -> str:
    fid = f"        <filter-id>{_xml_escape(filter_id)}</filter-id>\n" if filter_id is not None else ""
    cid = f"        <id>{customer_id}</id>\n" if customer_id is not None else ""
    return (f"      <result>\n        <status>error</status>\n        <errcode>{code}</errcode>\n"
            f"        <errtext>{_xml_escape(text)}</errtext>\n{fid}{cid}      </result>\n")


def _password_hash(password: str) -> str:
    return "$6$sandbox$" + hashlib.sha256(password.encode("utf-8")).hexdigest()


class PleskSandbox:
    """The Plesk part of `Sandbox`: customers by login (case-sensitive), `customer/get` and `customer/set`."""

    def _init_plesk(self, *, api_login: str, api_password: str, secret_key: str, key_ip: str, policy: str,
                    get_returns_password: bool) -> None:
        if policy not in PLESK_POLICIES:
            raise ValueError(f"Plesk password policy must be one of {sorted(PLESK_POLICIES)}")
        self.plesk_api_login = api_login
        self.plesk_api_password = api_password
        self.plesk_secret_key = secret_key
        self.plesk_key_ip = key_ip
        self.plesk_password_policy = policy
        self.plesk_get_returns_password = get_returns_password
        self._plesk: dict[str, PleskCustomer] = {}
        self._next_customer_id = 1187

    def add_plesk_customer(self, customer: PleskCustomer) -> None:
        if customer.fail is not None and customer.fail not in PLESK_FAILURES:
            raise ValueError(f"Plesk failure mode must be one of {sorted(PLESK_FAILURES)}")
        with self._lock:
            if not customer.customer_id:
                customer.customer_id = self._next_customer_id
            self._next_customer_id = max(self._next_customer_id, customer.customer_id + 1)
            if not customer.guid:
                digest = hashlib.sha256(customer.login.encode("utf-8")).hexdigest()
                customer.guid = f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"
            self._plesk[customer.login] = customer

    def plesk_customer(self, login: str) -> PleskCustomer:
        with self._lock:
            return self._plesk[login]

    # -- the endpoint ---------------------------------------------------------------------------
    def _handle_plesk(self, request: _Request) -> _Answer:
        packet, login = _read_packet(request.body)
        operation = _operation(packet)
        command = f"customer/{operation}" if operation else "packet"
        key = _header(request, "key")
        api_user = "(key)" if key else _header(request, "http_auth_login")
        params = {"login": (login or "")[:200], "version": (packet.get("version", "") if packet is not None else "")}
        if operation == "set":
            params["passwd"] = "***"

        def record(outcome: str, status: int | None, errors=()) -> None:
            self._record("plesk", request, command, api_user=api_user, account=login, outcome=outcome, status=status,
                         errors=errors, params=params)

        if request.path.rstrip("/") != AGENT_PATH:
            record("not_found", 404)
            return _text(_HTML_404, status=404)
        if request.method != "POST":
            record("method_not_allowed", 405)
            answer = _text("Method Not Allowed", status=405, content_type="text/plain")
            answer.headers["Allow"] = "POST"
            return answer

        with self._lock:
            target = self._plesk.get(login) if login is not None else None
            delay, fail = self._take_failure(target)
        if fail == "timeout":
            record("fail:timeout", None)
        if fail == "html":
            record("fail:html", 200)
            return _text(_LOGIN_PAGE)
        if fail and fail not in PROCESSED_FAILURES:
            answer = self._injected(fail, html=_HTML_503)
            if fail != "timeout":
                record(f"fail:{fail}", answer.status)
            return answer
        if not self._hold(delay):
            record("dropped_on_stop", None)
            return _Answer(mode="drop")

        version = packet.get("version") if packet is not None else None
        try:
            self._plesk_checkup(request, key, packet, version)
            outcome, errors, body = self._plesk_execute(packet, operation, version or _SERVER_VERSION)
        except _Refused as refused:
            outcome, errors = refused.outcome, [refused.code]
            if refused.code == 1029:
                body = _AUTH_NOT_SPECIFIED
            else:
                read = version if version and _VERSION.fullmatch(version) else None
                shown = _SERVER_VERSION if refused.unread or read is None else read
                body = _system(refused.code, refused.text, version=shown, output=refused.output)
        answer = _text(body, content_type="text/xml; charset=UTF-8")
        if fail in PROCESSED_FAILURES:
            answer.mode = fail
            outcome = f"{outcome}+fail:{fail}"
        record(outcome, answer.status, errors)
        return answer

    def _plesk_checkup(self, request: _Request, key: str | None, packet: ET.Element | None,
                       version: str | None) -> None:
        """The checkup Plesk runs before executing anything; raises _Refused."""
        login, password = _header(request, "http_auth_login"), _header(request, "http_auth_passwd")
        if key is not None:
            if not _same(key, self.plesk_secret_key) or request.ip != self.plesk_key_ip:
                raise _Refused("auth_failed", 11003, "Secret key validation failed.", unread=True)
        elif login is not None and password is not None:
            if not (_same(login, self.plesk_api_login) and _same(password, self.plesk_api_password)):
                raise _Refused("auth_failed", 1001, "Authentication failed - wrong password.", unread=True)
        else:
            raise _Refused("auth_failed", 1029, "Authentication method is not specified", unread=True)
        if packet is None:
            raise _Refused("bad_request", 1014, _PARSER_ERROR.format(detail="the document is not well-formed."))
        if version is not None and not _VERSION.fullmatch(version):
            raise _Refused("bad_request", 1005, "XML API protocol version not supported.", output=True)

    def _plesk_execute(self, packet: ET.Element | None, operation: str | None, version: str
                       ) -> tuple[str, list[int], str]:
        assert packet is not None
        node = _checked_structure(packet, operation)
        selectors = _filter(node)
        if operation == "set":
            password = node.find("values/gen_info/passwd")
            assert password is not None
            return self._plesk_set(selectors, password.text or "", version)
        return self._plesk_get(selectors, version)

    def _matches(self, selectors: list[tuple[str, str]]) -> list[tuple[str | None, PleskCustomer | None]]:
        """(filter-id, customer or None) per selector; an empty filter: every customer."""
        if not selectors:
            return [(None, customer) for customer in self._plesk.values()]
        found = []
        for kind, value in selectors:
            if kind == "login":
                found.append((value, self._plesk.get(value)))
            else:
                customer = next((c for c in self._plesk.values() if str(c.customer_id) == value.strip()), None)
                found.append((value, customer))
        return found

    def _plesk_set(self, selectors, password: str, version: str) -> tuple[str, list[int], str]:
        results, outcomes, errors = [], [], []
        min_length, classes = PLESK_POLICIES[self.plesk_password_policy]
        with self._lock:
            for filter_id, customer in self._matches(selectors):
                if customer is None:
                    results.append(_error(1013, "client does not exist", filter_id))
                    outcomes.append("account_not_found")
                    errors.append(1013)
                    continue
                if (not 5 <= len(password) <= 255 or not all(0x21 <= ord(ch) <= 0x7E for ch in password)
                        or "'" in password or '"' in password):
                    code, text, outcome = 1019, _HARD_RULES, "invalid_password"
                elif customer.login.lower() in password.lower():
                    code, text, outcome = 1023, _CONTAINS_LOGIN, "invalid_password"
                elif len(password) < min_length or _classes(password) < classes:
                    code, outcome = 1019, "invalid_password"
                    text = _NOT_COMPLEX.format(level=_POLICY_NAMES[self.plesk_password_policy])
                else:
                    customer.password = password
                    results.append(_ok(filter_id, customer.customer_id))
                    outcomes.append("changed")
                    continue
                results.append(_error(code, text, filter_id, customer.customer_id))
                outcomes.append(outcome)
                errors.append(code)
        return _summary(outcomes), errors, _result("set", version, results)

    def _plesk_get(self, selectors, version: str) -> tuple[str, list[int], str]:
        results, outcomes, errors = [], [], []
        with self._lock:
            for filter_id, customer in self._matches(selectors):
                if customer is None:
                    results.append(_error(1013, "client does not exist", filter_id))
                    outcomes.append("lookup_empty")
                    errors.append(1013)
                    continue
                results.append(_ok(filter_id, customer.customer_id, self._gen_info(customer)))
                outcomes.append("lookup_ok")
        return _summary(outcomes), errors, _result("get", version, results)

    def _gen_info(self, c: PleskCustomer) -> str:
        fields = [("cr_date", c.cr_date), ("cname", c.cname), ("pname", c.pname), ("login", c.login),
                  ("status", str(c.status)), ("phone", c.phone), ("fax", ""), ("email", c.email),
                  ("address", c.address), ("city", c.city), ("state", ""), ("pcode", c.pcode),
                  ("country", c.country), ("locale", c.locale), ("guid", c.guid), ("owner-login", c.owner_login),
                  ("external-id", ""), ("description", "")]
        if self.plesk_get_returns_password:
            fields += [("password", _password_hash(c.password)), ("password_type", "crypt")]
        lines = "".join(f"          <{name}>{_xml_escape(value)}</{name}>\n" for name, value in fields)
        return f"        <data>\n          <gen_info>\n{lines}          </gen_info>\n        </data>\n"


def _summary(outcomes: list[str]) -> str:
    if len(outcomes) == 1:
        return outcomes[0]
    return "+".join(outcomes) if outcomes else "no_match"


def _classes(password: str) -> int:
    return sum(any(test(ch) for ch in password) for test in (
        str.isupper, str.islower, str.isdigit, lambda ch: ch in PLESK_SPECIALS or not ch.isalnum()))


def _header(request: _Request, name: str) -> str | None:
    """A header as the client sent it: http.server reads bytes as latin-1; credentials are UTF-8."""
    value = request.headers.get(name)
    if value is None:
        return None
    try:
        return value.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return value


def _read_packet(body: bytes) -> tuple[ET.Element | None, str | None]:
    """The request packet (None when it is not well-formed XML or declares a DTD) and the first login it names."""
    if b"<!DOCTYPE" in body.upper() or b"<!ENTITY" in body.upper():
        return None, None
    try:
        packet = ET.fromstring(body)
    except ET.ParseError:
        return None, None
    login = packet.find("customer/*/filter/login")
    return packet, (login.text or "") if login is not None else None


def _operation(packet: ET.Element | None) -> str | None:
    if packet is None:
        return None
    customer = packet.find("customer")
    operation = customer[0].tag if customer is not None and len(customer) else None
    return operation if operation in ("get", "set") else None


def _unexpected(element: str, expected: str | None = None) -> _Refused:
    detail = f"Element '{element}': This element is not expected."
    if expected:
        detail += f" Expected is ( {expected} )."
    return _Refused("bad_request", 1014, _PARSER_ERROR.format(detail=detail))


def _checked_structure(packet: ET.Element, operation: str | None) -> ET.Element:
    """The `get`/`set` element of a packet shaped as the sandbox takes it; raises _Refused (1014) otherwise."""
    if packet.tag != "packet":
        raise _unexpected(packet.tag, "packet")
    if [child.tag for child in packet] != ["customer"]:
        raise _unexpected(next((c.tag for c in packet if c.tag != "customer"), "packet"), "customer")
    customer = packet[0]
    if len(customer) != 1 or operation is None:
        raise _unexpected(customer[0].tag if len(customer) else "customer", "get | set")
    node = customer[0]
    tags = [child.tag for child in node]
    wanted = ["filter", "values"] if operation == "set" else ["filter", "dataset"]
    if tags != wanted:
        if operation == "set" and tags[:1] == ["filter"] and "gen_info" in tags:
            raise _unexpected("gen_info", "values")  # pypleski 0.0.7's packet, as boxbilling#1188 shows
        odd = next((tag for tag, want in zip(tags, wanted, strict=False) if tag != want),
                   tags[-1] if tags else operation)
        raise _unexpected(odd, " , ".join(wanted))
    if operation == "set":
        values = node[1]
        if [c.tag for c in values] != ["gen_info"] or [c.tag for c in values[0]] != ["passwd"]:
            raise _unexpected(next((c.tag for c in values.iter() if c.tag not in ("values", "gen_info", "passwd")),
                                   "gen_info"), "passwd")
        if len(values[0][0]):
            raise _unexpected(values[0][0][0].tag)
    else:
        dataset = [c.tag for c in node[1]]
        if "gen_info" not in dataset or not set(dataset) <= {"gen_info", "stat"} or dataset[0] != "gen_info":
            raise _unexpected(dataset[0] if dataset else "dataset", "gen_info")
    return node


def _filter(node: ET.Element) -> list[tuple[str, str]]:
    selectors = []
    for child in node[0]:
        if child.tag not in ("login", "id") or len(child):
            raise _unexpected(child.tag, "login | id")
        selectors.append((child.tag, child.text or ""))
    return selectors


__all__ = ["PLESK_FAILURES", "PLESK_POLICIES", "PleskCustomer", "PleskSandbox"]
