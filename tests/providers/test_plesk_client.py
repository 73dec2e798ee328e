"""PleskClient on the wire (docs/provider-plesk.md): packets, headers, retries, limits, hostile and odd answers.

Every answer is served by the real loopback server of conftest.py; the fixtures in plesk/ are
classified by test_fixture_index.py, the shapes the spec lists without a fixture ("held out") here.
"""

from __future__ import annotations

import socket
import threading
import time
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.providers import AMBIGUOUS, ChangeResult, LookupResult, Outcome
from bot.providers.plesk import PleskClient
from bot.providers.plesk.client import PROBE_LOGIN, _set_packet
from bot.secret import Secret
from tests.providers.conftest import (
    PLESK_API_LOGIN,
    PLESK_API_PASSWORD,
    PLESK_GET_ACTIVE,
    PLESK_LOGIN,
    PLESK_PASSWORD,
    PLESK_SECRET_KEY,
    PLESK_SET_SUCCESS,
    RecordingServer,
    plain_session,
    plesk_fixture,
)

AGENT = "/enterprise/control/agent.php"


def _set(client: PleskClient, login: str = PLESK_LOGIN, password: str | Secret = PLESK_PASSWORD) -> ChangeResult:
    return client.change_password(login, password)


def _tree(body: bytes) -> ET.Element:
    return ET.fromstring(body)


def _shape(element: ET.Element) -> tuple:
    """The element names of a packet as nested tuples (text left out)."""
    return (element.tag, tuple(_shape(child) for child in element))


def _result(status="ok", *, op="set", errcode=None, errtext=None, filter_id=PLESK_LOGIN, extra="") -> bytes:
    parts = [f"<status>{status}</status>"]
    if errcode is not None:
        parts.append(f"<errcode>{errcode}</errcode>")
    if errtext is not None:
        parts.append(f"<errtext>{errtext}</errtext>")
    if filter_id is not None:
        parts.append(f"<filter-id>{filter_id}</filter-id>")
    parts.append(extra)
    return (f'<?xml version="1.0" encoding="UTF-8"?><packet version="1.6.3.0"><customer><{op}><result>'
            f'{"".join(parts)}</result></{op}></customer></packet>').encode()


def _system(errcode, errtext="x", status="error") -> bytes:
    return (f'<packet version="1.6.9.1"><system><status>{status}</status><errcode>{errcode}</errcode>'
            f"<errtext>{errtext}</errtext></system></packet>").encode()


def _gen_info(status="0", login=PLESK_LOGIN, extra="") -> str:
    return (f"<id>1187</id><data><gen_info><cname>Example Shop</cname><login>{login}</login><status>{status}</status>"
            f"<email>jane.doe@example.org</email>{extra}</gen_info></data>")


# ----------------------------------------------------------------------------------------- request shape


def test_set_is_one_post_of_the_documented_packet_with_the_credentials_only_in_headers(server, make_plesk):
    server.set_default(200, PLESK_SET_SUCCESS)
    result = _set(make_plesk(), password=Secret(PLESK_PASSWORD))
    assert (result.outcome, result.user_id, result.attempts) == (Outcome.CHANGED, "1187", 1)
    (request,) = server.requests
    assert (request.method, request.path, request.query) == ("POST", AGENT, "")
    assert request.request_line == f"POST {AGENT} HTTP/1.1"
    assert request.header("Content-Type") == "text/xml"
    assert request.header("HTTP_AUTH_LOGIN") == PLESK_API_LOGIN
    assert request.header("HTTP_AUTH_PASSWD") == PLESK_API_PASSWORD
    assert request.header("KEY") is None and request.header("Authorization") is None
    assert request.body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<packet version="1.6.3.0">')
    packet = _tree(request.body)
    assert _shape(packet) == ("packet", (("customer", (("set", (
        ("filter", (("login", ()),)),
        ("values", (("gen_info", (("passwd", ()),)),)),
    )),)),))
    assert packet.attrib == {"version": "1.6.3.0"}
    assert packet.find("customer/set/filter/login").text == PLESK_LOGIN
    assert packet.find("customer/set/values/gen_info/passwd").text == PLESK_PASSWORD
    assert b"\n " not in request.body  # not pretty-printed: whitespace in passwd would be part of the password
    for secret in (PLESK_PASSWORD, PLESK_API_PASSWORD):
        assert secret not in request.request_line


def test_get_is_read_only_and_asks_for_gen_info(server, make_plesk):
    server.set_default(200, PLESK_GET_ACTIVE)
    result = make_plesk().account_info(login=PLESK_LOGIN)
    assert result.outcome is Outcome.LOOKUP_OK and isinstance(result, LookupResult)
    (request,) = server.requests
    assert (request.method, request.path, request.query) == ("POST", AGENT, "")
    packet = _tree(request.body)
    assert _shape(packet) == ("packet", (("customer", (("get", (
        ("filter", (("login", ()),)),
        ("dataset", (("gen_info", ()),)),
    )),)),))
    assert packet.find("customer/get/filter/login").text == PLESK_LOGIN
    assert not {"set", "del", "add", "values", "passwd", "convert-to-reseller", "change-owner"} & {
        element.tag for element in packet.iter()}


def test_key_mode_sends_the_key_and_no_login_headers(server, make_plesk):
    server.set_default(200, PLESK_SET_SUCCESS)
    assert _set(make_plesk(secret_key=Secret(PLESK_SECRET_KEY))).outcome is Outcome.CHANGED
    (request,) = server.requests
    assert request.header("KEY") == PLESK_SECRET_KEY
    assert request.header("HTTP_AUTH_LOGIN") is None and request.header("HTTP_AUTH_PASSWD") is None
    assert request.header("Authorization") is None


def test_no_authorization_header_even_from_a_netrc_file(server, tmp_path, monkeypatch):
    """requests adds Basic auth from ~/.netrc when given none; Plesk's credentials go in its own headers only."""
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password ZZZnetrcpw\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    server.set_default(200, PLESK_SET_SUCCESS)
    client = PleskClient(server.url, login=PLESK_API_LOGIN, password=PLESK_API_PASSWORD, retry_delay=0)
    assert _set(client).outcome is Outcome.CHANGED
    assert server.requests[0].header("Authorization") is None


@pytest.mark.parametrize("suffix,prefix", [("", ""), ("/", ""), (AGENT, ""), (AGENT + "/", ""), ("/panel", "/panel"),
                                           ("/panel" + AGENT, "/panel")])
def test_base_url_takes_the_host_or_the_agent_url(server, make_plesk, suffix, prefix):
    server.set_default(200, PLESK_SET_SUCCESS)
    client = make_plesk(base_url=server.url + suffix)
    assert client.agent_url == server.url + prefix + AGENT
    assert _set(client).outcome is Outcome.CHANGED
    assert server.requests[0].path == prefix + AGENT


@pytest.mark.parametrize("bad", ["ftp://plesk.example:8443", "http://plesk.example:8880", "https://u:p@plesk.example",
                                 "https://plesk.example:8443/?k=v", "", "plesk.example"])
def test_base_url_refusals_never_echo_the_value(bad):
    with pytest.raises(ValueError) as info:
        PleskClient(bad, login="admin", password="ZZZsecret")
    assert "u:p" not in str(info.value) and "k=v" not in str(info.value) and "ZZZ" not in str(info.value)


@pytest.mark.parametrize("kwargs", [
    dict(login="admin", password="ZZZpw", secret_key="ZZZkey"),
    dict(login="admin", secret_key="ZZZkey"),
    dict(password="ZZZpw", secret_key="ZZZkey"),
    dict(login="admin"),
    dict(password="ZZZpw"),
    dict(),
    dict(login="admin", password="ZZZ\r\nX-Evil: 1"),
])
def test_exactly_one_credential_set(kwargs):
    with pytest.raises(ValueError) as info:
        PleskClient("https://plesk.example:8443", **kwargs)
    assert "ZZZ" not in str(info.value)


def test_tls_verification_cannot_be_switched_off():
    session = plain_session()
    session.verify = False
    with pytest.raises(ValueError):
        PleskClient("https://plesk.example:8443", secret_key="k", session=session)


def test_repr_names_no_secret():
    client = PleskClient("https://plesk.example:8443", login="admin", password=PLESK_API_PASSWORD)
    assert PLESK_API_PASSWORD not in repr(client) and "login and password" in repr(client)
    assert PLESK_SECRET_KEY not in repr(PleskClient("https://plesk.example:8443", secret_key=PLESK_SECRET_KEY))


# --------------------------------------------------------------------------- escaping: a byte-exact round trip

NASTY_LOGINS = ["j&d<o>e]]>x", "a]]>]]>b", "x&amp;y", "o'neil\"s", "aü&ß", "jdoe42"]
NASTY_PASSWORDS = ["R7#kq&Vx2m~Lp9@Tz4_w", "a&b<c>d]]>e", "]]>]]>]]>", "&amp;&lt;&#38;", "<![CDATA[x]]>"]


@pytest.mark.parametrize("login", NASTY_LOGINS)
@pytest.mark.parametrize("password", NASTY_PASSWORDS)
def test_login_and_password_arrive_byte_exact(server, make_plesk, login, password):
    server.set_default(200, _result(filter_id=None, extra="<id>7</id>"))
    result = _set(make_plesk(), login=login, password=password)
    assert result.outcome is Outcome.CHANGED, result.message
    packet = _tree(server.requests[0].body)
    assert packet.find("customer/set/filter/login").text == login
    assert packet.find("customer/set/values/gen_info/passwd").text == password
    assert len(packet.findall(".//login")) == 1 and len(packet.findall(".//passwd")) == 1


PRINTABLE = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in "'\"")


@settings(max_examples=300, deadline=None)
@given(login=st.text(alphabet=PRINTABLE, min_size=1, max_size=40).filter(lambda s: s[0].isalnum()),
       password=st.text(alphabet=PRINTABLE, min_size=5, max_size=60))
def test_any_login_and_password_survive_the_packet(login, password):
    packet = ET.fromstring(_set_packet(login, password))
    assert packet.find("customer/set/filter/login").text == login
    assert packet.find("customer/set/values/gen_info/passwd").text == password


# ---------------------------------------------------------------------------------- local refusals, nothing sent


@pytest.mark.parametrize("login", ["", " ", " jdoe42", "jdoe42 ", "jdoe42\n", "-jdoe", "_jdoe", "jd oe", "jd\toe",
                                   "a" * 256, "jd\x00oe", "jd\x7foe", "jd\x1boe", "jdoe\u2028x", "jd\u00a0oe",
                                   "a\ud800", "a\uffff", None, 42])
def test_a_login_plesk_would_not_take_is_refused_before_sending(server, make_plesk, login):
    client = make_plesk()
    changed = client.change_password(login, PLESK_PASSWORD)
    assert (changed.outcome, changed.attempts, changed.ok) == (Outcome.INVALID_USERNAME, 0, False)
    looked = client.account_info(login=login)
    assert (looked.outcome, looked.attempts) == (Outcome.INVALID_USERNAME, 0)
    assert changed.message.endswith(".") and server.requests == []


def test_the_longest_login_plesk_takes_is_sent(server, make_plesk):
    server.set_default(200, _result(filter_id=None))
    assert _set(make_plesk(), login="a" * 255).outcome is Outcome.CHANGED


@pytest.mark.parametrize("password,reason", [
    ("abcd", "bad_length"), ("Ab1!" * 64, "bad_length"), ("abc de12", "illegal_characters"),
    ("abcdé123", "illegal_characters"), ("abc'def1", "illegal_characters"), ('abc"def1', "illegal_characters"),
    ("tab\tpw12", "illegal_characters"), ("x\x7fpw123", "illegal_characters"), ("xxjdoe42xx", "contains_login"),
    ("XXJDOE42xx!", "contains_login"), (None, "missing"),
])
def test_a_password_breaking_the_hard_rules_is_refused_before_sending(server, make_plesk, password, reason):
    result = _set(make_plesk(), password=password)
    assert (result.outcome, result.reason, result.attempts) == (Outcome.INVALID_PASSWORD, reason, 0)
    assert server.requests == []


def test_the_shortest_and_longest_passwords_are_sent(server, make_plesk):
    server.set_default(200, PLESK_SET_SUCCESS)
    client = make_plesk()
    assert _set(client, password="Ab1!x").outcome is Outcome.CHANGED
    assert _set(client, password="Ab1!x" * 51).outcome is Outcome.CHANGED
    assert len(server.requests) == 2


# -------------------------------------------------------------------------------------------------- retries


def test_5xx_then_success_sends_the_identical_packet_twice(server, make_plesk):
    server.enqueue(503, plesk_fixture("http_503_html.html"))
    server.enqueue(200, PLESK_SET_SUCCESS)
    result = _set(make_plesk())
    assert (result.outcome, result.attempts) == (Outcome.CHANGED, 2)
    first, second = server.requests
    assert first.body == second.body and first.headers == second.headers


def test_timeout_then_success_retries_with_the_same_password(server, make_plesk):
    server.enqueue(200, behaviour="hang")
    server.enqueue(200, PLESK_SET_SUCCESS)
    result = _set(make_plesk(timeout=(0.5, 0.5)))
    assert (result.outcome, result.attempts) == (Outcome.CHANGED, 2)
    first, second = server.requests
    assert first.body == second.body
    assert _tree(second.body).find("customer/set/values/gen_info/passwd").text == PLESK_PASSWORD


def test_an_answer_cut_mid_body_is_retried(server, make_plesk):
    server.enqueue(200, PLESK_SET_SUCCESS[:60], behaviour="cut")
    server.enqueue(200, PLESK_SET_SUCCESS)
    assert (_set(make_plesk()).outcome, len(server.requests)) == (Outcome.CHANGED, 2)


@pytest.mark.parametrize("status,body", [(503, plesk_fixture("http_503_html.html")),
                                         (502, plesk_fixture("http_502_nginx.html")),
                                         (500, PLESK_SET_SUCCESS)])  # E26: non-2xx wins over a success packet
def test_5xx_twice_gives_up_retryable(server, make_plesk, status, body):
    server.set_default(status, body)
    result = _set(make_plesk())
    assert (result.outcome, result.attempts, result.retryable, result.ok) == (
        Outcome.PROVIDER_UNAVAILABLE, 2, True, False)
    assert (result.http_status, result.reason) == (status, f"http_{status}") and len(server.requests) == 2
    assert result.certainty == AMBIGUOUS  # a proxy's 5xx may come after Plesk acted


def test_the_pages_title_is_all_that_is_kept_of_an_html_error(server, make_plesk):
    server.set_default(503, plesk_fixture("http_503_html.html"))
    assert _set(make_plesk()).provider_message == "503 Service Temporarily Unavailable"


def test_a_silent_server_times_out_twice(server, make_plesk):
    server.set_default(200, behaviour="hang")
    started = time.monotonic()
    result = _set(make_plesk(timeout=(0.5, 0.5)))
    assert time.monotonic() - started < 3
    assert (result.outcome, result.attempts, result.retryable, result.certainty, result.reason) == (
        Outcome.PROVIDER_UNAVAILABLE, 2, True, AMBIGUOUS, "timeout")
    assert len(server.requests) == 2


def _closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def test_connection_refused_is_tried_twice_and_known_not_sent(make_plesk):
    result = _set(make_plesk(base_url=f"http://127.0.0.1:{_closed_port()}"))
    assert (result.outcome, result.attempts, result.retryable, result.certainty) == (
        Outcome.PROVIDER_UNAVAILABLE, 2, True, None)


@pytest.mark.parametrize("body", [
    PLESK_SET_SUCCESS, plesk_fixture("system_1001_authentication_failed.xml"),
    plesk_fixture("set_error_1019_password_not_complex.xml"), plesk_fixture("set_error_1023_operation_failed.xml"),
    plesk_fixture("set_truncated.xml"), plesk_fixture("http_200_html_login_page.html"), b"", b"garbage",
])
def test_no_200_answer_is_retried(server, make_plesk, body):
    server.set_default(200, body)
    result = _set(make_plesk())
    assert result.attempts == 1 and len(server.requests) == 1


@pytest.mark.parametrize("status", [400, 401, 403, 404, 405, 429])
def test_a_4xx_is_unavailable_and_not_retried(server, make_plesk, status):
    server.set_default(status, b"<html><title>Forbidden</title></html>")
    result = _set(make_plesk())
    assert (result.outcome, result.attempts, result.retryable, result.reason, result.http_status) == (
        Outcome.PROVIDER_UNAVAILABLE, 1, True, f"http_{status}", status)
    assert len(server.requests) == 1


def test_the_retry_waits_retry_delay(server, make_plesk):
    server.set_default(503, b"down")
    client = make_plesk(retry_delay=0.25)
    slept: list[float] = []
    client._sleep = slept.append
    _set(client)
    assert slept == [0.25]


def test_lookups_follow_the_same_retry_rule(server, make_plesk):
    server.enqueue(502, b"")
    server.enqueue(200, PLESK_GET_ACTIVE)
    result = make_plesk().account_info(login=PLESK_LOGIN)
    assert (result.outcome, result.attempts) == (Outcome.LOOKUP_OK, 2)
    assert server.requests[0].body == server.requests[1].body


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_never_followed(server, make_plesk, status):
    """A 307/308 would re-send the password, and requests keeps HTTP_AUTH_PASSWD and KEY on another host."""
    elsewhere = RecordingServer().start()
    try:
        elsewhere.set_default(200, PLESK_SET_SUCCESS)
        server.set_default(status, b"", headers={"Location": elsewhere.url + AGENT})
        result = _set(make_plesk())
        assert (result.outcome, result.attempts, result.ok, result.reason) == (
            Outcome.PROVIDER_UNAVAILABLE, 1, False, f"http_{status}")
        assert len(server.requests) == 1 and elsewhere.requests == []
    finally:
        elsewhere.stop()


# ------------------------------------------------------------------------------------------------- 1 MiB cap


def test_an_answer_of_exactly_one_mib_is_read(server, make_plesk):
    server.set_default(200, PLESK_SET_SUCCESS + b" " * ((1 << 20) - len(PLESK_SET_SUCCESS)))
    assert _set(make_plesk()).outcome is Outcome.CHANGED


def test_one_byte_more_than_one_mib_is_never_a_success(server, make_plesk):
    server.set_default(200, PLESK_SET_SUCCESS + b" " * ((1 << 20) - len(PLESK_SET_SUCCESS) + 1))
    result = _set(make_plesk())
    assert (result.outcome, result.certainty, result.reason, result.attempts) == (
        Outcome.UNKNOWN, AMBIGUOUS, "oversized_answer", 1)
    assert not result.ok


def test_an_endless_answer_is_read_bounded(server, make_plesk):
    server.set_default(200, behaviour="huge", huge_bytes=200 << 20)
    started = time.monotonic()
    result = _set(make_plesk())
    assert time.monotonic() - started < 5
    assert not result.ok and result.outcome is Outcome.UNKNOWN


# ------------------------------------------------------------------------------------------------ hostile bodies

LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE packet [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<packet><customer><set><result><status>ok</status><filter-id>jdoe42</filter-id><id>&lol9;</id></result></set>
</customer></packet>"""
XXE_FILE = (b'<?xml version="1.0"?><!DOCTYPE packet [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
            b"<packet><system><status>error</status><errcode>1001</errcode><errtext>&xxe;</errtext></system></packet>")
DOCTYPE_ONLY = b"<!DOCTYPE packet>" + PLESK_SET_SUCCESS.split(b"?>", 1)[1]


class Listener:
    """A port that counts connections: an external entity or DTD fetched from it would show."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            self.connections += 1
            conn.close()

    def stop(self) -> None:
        self._stop.set()
        self.sock.close()


@pytest.mark.parametrize("make_body", [
    lambda port: LAUGHS,
    lambda port: XXE_FILE,
    lambda port: (f'<?xml version="1.0"?><!DOCTYPE packet [<!ENTITY xxe SYSTEM "http://127.0.0.1:{port}/x">]>'
                  "<packet><customer><set><result><status>ok</status><id>&xxe;</id></result></set></customer>"
                  "</packet>").encode(),
    lambda port: (f'<!DOCTYPE packet SYSTEM "http://127.0.0.1:{port}/evil.dtd">'.encode()
                  + PLESK_SET_SUCCESS.split(b"?>", 1)[1]),
    lambda port: DOCTYPE_ONLY,
], ids=["billion-laughs", "xxe-file", "xxe-remote", "external-dtd", "doctype"])
def test_dtds_and_entities_are_refused_never_expanded_or_fetched(server, make_plesk, make_body):
    listener = Listener()
    try:
        server.set_default(200, make_body(listener.port))
        started = time.monotonic()
        for result in (_set(make_plesk()), make_plesk().account_info(login=PLESK_LOGIN)):
            assert result.outcome is Outcome.UNKNOWN and not result.ok and result.certainty == AMBIGUOUS
            assert "root:" not in repr(result) and "lollol" not in repr(result)
        assert time.monotonic() - started < 2
        time.sleep(0.2)
        assert listener.connections == 0 and len(server.requests) == 2
    finally:
        listener.stop()


def test_a_20_mib_answer_is_cut_at_one_mib(server, make_plesk):
    server.set_default(200, behaviour="huge", huge_bytes=20 << 20)
    result = _set(make_plesk())
    assert (result.outcome, result.reason, result.ok, result.attempts) == (Outcome.UNKNOWN, "oversized_answer", False, 1)


@pytest.mark.parametrize("body", [b"\xff\xfe\xfd garbage \x80",
                                  _result().replace(b"<status>ok", b"<status>ok\xff"),
                                  b"\xc3\x28" * 100])
def test_invalid_utf8_is_never_a_success(server, make_plesk, body):
    server.set_default(200, body)
    assert _set(make_plesk()).outcome is Outcome.UNKNOWN


# ----------------------------------------------------------------------------- the shapes the spec lists (§4)

HELD_OUT = [
    # (id, op, status, body, outcome, extra attributes)
    ("E3 password contains the user name", "set", 200,
     _result("error", errcode=1023, errtext="Unable to update the password: the password must not contain the user "
                                            "name."),
     Outcome.INVALID_PASSWORD, {"reason": "contains_login", "error_numbers": [1023]}),
    ("E3 contains the login", "set", 200,
     _result("error", errcode=1019, errtext="The password should not include the login."),
     Outcome.INVALID_PASSWORD, {"reason": "contains_login"}),
    ("1019 too short", "set", 200, _result("error", errcode=1019, errtext="The password is too short."),
     Outcome.INVALID_PASSWORD, {"reason": "bad_length"}),
    ("1019 other password rule", "set", 200, _result("error", errcode=1019, errtext="Password rejected by policy."),
     Outcome.INVALID_PASSWORD, {"reason": "policy"}),
    ("E4 1019 not about the password", "set", 200,
     _result("error", errcode=1019, errtext="Invalid value of the element 'login'."),
     Outcome.BAD_REQUEST, {"error_numbers": [1019]}),
    ("1019 in another language", "set", 200,
     _result("error", errcode=1019, errtext="Das Kennwort ist nicht komplex genug."),
     Outcome.BAD_REQUEST, {"error_numbers": [1019]}),
    ("1023 in another language", "set", 200,
     _result("error", errcode=1023, errtext="Das Kennwort enthält den Benutzernamen."),
     Outcome.PROVIDER_ERROR, {"error_numbers": [1023]}),
    ("result 1014", "set", 200, _result("error", errcode=1014, errtext="Parser error"), Outcome.BAD_REQUEST,
     {"error_numbers": [1014]}),
    ("E6 result 1006", "set", 200, _result("error", errcode=1006, errtext="Permission denied."),
     Outcome.AUTH_FAILED, {"reason": "permission_denied", "error_numbers": [1006], "retryable": False}),
    ("E6 result 1006 on get", "get", 200, _result("error", op="get", errcode=1006, errtext="Permission denied."),
     Outcome.AUTH_FAILED, {"reason": "permission_denied"}),
    ("E7 no errcode", "set", 200, _result("error"), Outcome.PROVIDER_ERROR, {"error_numbers": []}),
    ("E7 no errcode on get", "get", 200, _result("error", op="get"), Outcome.LOOKUP_ERROR, {"error_numbers": []}),
    ("errcode not a number", "set", 200, _result("error", errcode="10x3"), Outcome.PROVIDER_ERROR,
     {"error_numbers": []}),
    ("get 1019", "get", 200, _result("error", op="get", errcode=1019, errtext="password too weak"),
     Outcome.BAD_REQUEST, {}),
    ("get 1023", "get", 200, _result("error", op="get", errcode=1023, errtext="Operation failed."),
     Outcome.LOOKUP_ERROR, {"error_numbers": [1023]}),
    ("E15 1011", "set", 200, _system(1011, "Account disabled"), Outcome.AUTH_FAILED, {"reason": "account_disabled"}),
    ("E15 1012", "set", 200, _system(1012, "Locked login"), Outcome.AUTH_FAILED, {"reason": "login_locked"}),
    ("E16 1010", "set", 200, _system(1010, "Access to Plesk Panel denied."), Outcome.IP_NOT_ALLOWED,
     {"error_numbers": [1010], "retryable": False}),
    ("E17 1017", "set", 200, _system(1017, "Feature not supported"), Outcome.BAD_REQUEST,
     {"reason": "not_supported"}),
    ("system other code", "get", 200, _system(1030, "License expired"), Outcome.PROVIDER_ERROR,
     {"error_numbers": [1030]}),
    ("system without errcode", "set", 200,
     b"<packet><system><status>error</status><errtext>x</errtext></system></packet>", Outcome.PROVIDER_ERROR,
     {"error_numbers": []}),
    ("system status ok", "set", 200, _system(1001, status="ok"), Outcome.UNKNOWN, {"certainty": AMBIGUOUS}),
    ("system beside an ok result", "set", 200,
     _result().replace(b"<customer>", _system(1001).split(b">", 1)[1].rsplit(b"</packet>", 1)[0] + b"<customer>"),
     Outcome.AUTH_FAILED, {}),
    ("E19 two results", "set", 200,
     _result().replace(b"</result>", b"</result><result><status>ok</status><id>2</id></result>"),
     Outcome.UNKNOWN, {"certainty": AMBIGUOUS, "reason": "several_results"}),
    ("E19 two set nodes", "set", 200,
     _result().replace(b"</set>", b"</set><set><result><status>ok</status></result></set>"),
     Outcome.UNKNOWN, {"reason": "several_results"}),
    ("E20 another customer's filter-id", "set", 200, _result(filter_id="jdoe43"), Outcome.UNKNOWN,
     {"certainty": AMBIGUOUS, "reason": "other_customer"}),
    ("E20 filter-id case differs", "set", 200, _result(filter_id="JDOE42"), Outcome.UNKNOWN, {}),
    ("E20 on get", "get", 200, _result(op="get", filter_id="other", extra=_gen_info()), Outcome.UNKNOWN, {}),
    ("get names another login", "get", 200, _result(op="get", extra=_gen_info(login="other")), Outcome.UNKNOWN, {}),
    ("E21 get ok without gen_info", "get", 200, _result(op="get", extra="<id>1187</id>"), Outcome.UNKNOWN,
     {"certainty": AMBIGUOUS, "reason": "no_gen_info"}),
    ("get status not a number", "get", 200, _result(op="get", extra=_gen_info(status="active")), Outcome.UNKNOWN, {}),
    ("get answer to a set", "set", 200, _result(op="get", extra=_gen_info()), Outcome.UNKNOWN,
     {"reason": "no_result"}),
    ("E22 truncated after status", "set", 200, _result()[:-60], Outcome.UNKNOWN, {"certainty": AMBIGUOUS}),
    ("E23 empty body", "set", 200, b"", Outcome.UNKNOWN, {"certainty": AMBIGUOUS, "reason": "empty_answer"}),
    ("E23 whitespace only", "get", 200, b" \r\n ", Outcome.UNKNOWN, {"certainty": AMBIGUOUS}),
    ("other status", "set", 200, _result("pending"), Outcome.UNKNOWN, {"reason": "unexpected_status"}),
    ("not a packet", "set", 200, b"<result><status>ok</status></result>", Outcome.UNKNOWN,
     {"reason": "not_a_packet"}),
    ("JSON", "set", 200, b'{"status": "ok"}', Outcome.UNKNOWN, {"reason": "unreadable_answer"}),
    ("CRLF and indentation", "set", 200, _result().replace(b"><", b">\r\n    <"), Outcome.CHANGED,
     {"user_id": None}),
    ("status with spaces", "set", 200, _result().replace(b"<status>ok", b"<status>\n ok "), Outcome.CHANGED, {}),
]


@pytest.mark.parametrize("case", HELD_OUT, ids=[case[0] for case in HELD_OUT])
def test_every_shape_the_spec_lists(server, make_plesk, case):
    _id, op, status, body, outcome, extra = case
    server.set_default(status, body)
    client = make_plesk()
    result = _set(client) if op == "set" else client.account_info(login=PLESK_LOGIN)
    assert result.outcome is outcome, result.message
    for key, value in extra.items():
        assert getattr(result, key) == value, key
    assert result.ok == outcome.is_success
    assert result.retryable == (outcome is Outcome.PROVIDER_UNAVAILABLE)
    assert (result.certainty == AMBIGUOUS) == (outcome is Outcome.UNKNOWN)
    assert result.message.endswith(".") and "\n" not in result.message and len(result.message) < 300
    assert result.provider_message is None or len(result.provider_message) <= 512
    assert len(server.requests) == result.attempts == 1


SYSTEM_FIXTURES = ["system_1001_authentication_failed.xml", "system_1029_auth_method_not_specified.xml",
                   "system_1006_permission_denied.xml", "system_1014_parser_error.xml",
                   "system_1004_initial_setup_not_completed.xml", "system_11003_secret_key_validation_failed.xml",
                   "system_1005_version_not_supported.xml", "http_503_html.html", "http_502_nginx.html",
                   "http_200_html_login_page.html"]


@pytest.mark.parametrize("name", SYSTEM_FIXTURES)
def test_system_and_http_fixtures_mean_the_same_for_a_lookup(server, make_plesk, name):
    """index.json: system_* and http_* apply to both calls; the lookup gets the same outcome as the change."""
    body = plesk_fixture(name)
    status = {"http_503_html.html": 503, "http_502_nginx.html": 502}.get(name, 200)
    server.set_default(status, body)
    client = make_plesk()
    changed, looked = _set(client), client.account_info(login=PLESK_LOGIN)
    assert isinstance(looked, LookupResult)
    for key in ("outcome", "reason", "error_numbers", "certainty", "http_status"):
        assert getattr(looked, key) == getattr(changed, key), key


def test_a_web_page_with_a_200_is_never_a_success(server, make_plesk):
    server.set_default(200, plesk_fixture("http_200_html_login_page.html"))
    result = _set(make_plesk())
    assert (result.outcome, result.reason, result.certainty, result.attempts) == (
        Outcome.UNKNOWN, "not_a_packet", AMBIGUOUS, 1)
    assert result.provider_message == "Plesk Obsidian 18.0.63" and "verify customer jdoe42" in result.message


def test_a_system_error_names_what_to_check(server, make_plesk):
    server.set_default(200, plesk_fixture("system_1029_auth_method_not_specified.xml"))
    result = _set(make_plesk())
    assert "underscores" in result.message and "PLESK_API_KEY" in result.message
    assert result.provider_message == "Authentication method is not specified"
    server.set_default(200, plesk_fixture("system_11003_secret_key_validation_failed.xml"))
    assert "IP address" in _set(make_plesk(secret_key=PLESK_SECRET_KEY)).message


# ------------------------------------------------------------------------------------------------- lookups


@pytest.mark.parametrize("status,state,reason", [
    ("0", "ACTIVE", None), ("16", "SUSPENDED", "disabled_by_admin"), ("256", "SUSPENDED", "expired"),
    ("4", "SUSPENDED", "backup_restore"), ("64", "SUSPENDED", "disabled_by_customer"),
    ("272", "SUSPENDED", "disabled_by_admin+expired"), ("1024", "SUSPENDED", None),
])
def test_the_status_bit_mask_becomes_a_state(server, make_plesk, status, state, reason):
    server.set_default(200, _result(op="get", extra=_gen_info(status=status)))
    result = make_plesk().account_info(login=PLESK_LOGIN)
    assert (result.outcome, result.account_status, result.account_state, result.reason) == (
        Outcome.LOOKUP_OK, status, state, reason)
    assert (result.user_id, result.email, result.domains, result.username) == (
        "1187", "jane.doe@example.org", [], PLESK_LOGIN)
    assert result.message.endswith(".") and PLESK_LOGIN in result.message


def test_a_lookup_reads_gen_info_by_name_in_any_order(server, make_plesk):
    body = _result(op="get", extra="<id>1187</id><data><gen_info><email></email><status> 16 </status>"
                                   "<login>jdoe42</login><pname>J</pname></gen_info></data>")
    server.set_default(200, body)
    result = make_plesk().account_info(login=PLESK_LOGIN)
    assert (result.outcome, result.account_status, result.email) == (Outcome.LOOKUP_OK, "16", None)


def test_the_probe_is_a_read_only_lookup_that_keeps_nothing_of_a_customer(server, make_plesk):
    server.set_default(200, plesk_fixture("get_error_1013_customer_not_found.xml").replace(b"jdoe42",
                                                                                            PROBE_LOGIN.encode()))
    result = make_plesk().probe()
    assert (result.outcome, result.ok, result.attempts) == (Outcome.LOOKUP_OK, True, 1)
    packet = _tree(server.requests[0].body)
    assert packet.find("customer/get/filter/login").text == PROBE_LOGIN and packet.find(".//set") is None
    server.set_default(200, _result(op="get", filter_id=PROBE_LOGIN, extra=_gen_info(login=PROBE_LOGIN)))
    found = make_plesk().probe()
    assert found.ok and (found.user_id, found.email, found.account_state) == (None, None, None)
    server.set_default(200, plesk_fixture("system_1001_authentication_failed.xml"))
    assert make_plesk().probe().outcome is Outcome.AUTH_FAILED
    server.set_default(503, b"down")
    assert make_plesk().probe().outcome is Outcome.PROVIDER_UNAVAILABLE
