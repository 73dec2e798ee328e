"""Answers meant to hurt: entity bombs, external entities, huge or broken bodies, silent or dying servers."""

from __future__ import annotations

import socket
import time

import pytest

from bot.providers import AMBIGUOUS, Outcome
from tests.providers.conftest import (
    CPANEL_DOMAIN,
    CPANEL_PASSWORD,
    CPANEL_SUCCESS,
    CPANEL_USER,
    MOFH_KEY,
    MOFH_PASSWORD,
    MOFH_SUCCESS,
    NC_SUCCESS,
)

BILLION_LAUGHS_MOFH = b"""<?xml version="1.0"?>
<!DOCTYPE passwd [
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
<passwd><passwd><status>1</status><statusmsg>&lol9;</statusmsg></passwd></passwd>"""

BILLION_LAUGHS_NC = BILLION_LAUGHS_MOFH.replace(b"DOCTYPE passwd", b"DOCTYPE ApiResponse").replace(
    b"<passwd><passwd><status>1</status><statusmsg>&lol9;</statusmsg></passwd></passwd>",
    b'<ApiResponse Status="OK"><CommandResponse><UserChangePasswordResult Success="true" UserId="&lol9;"/>'
    b"</CommandResponse></ApiResponse>",
)

XXE_MOFH = b"""<?xml version="1.0"?>
<!DOCTYPE passwd [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<passwd><passwd><status>1</status><statusmsg>&xxe;</statusmsg></passwd></passwd>"""

XXE_NC = b"""<?xml version="1.0"?>
<!DOCTYPE ApiResponse [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<ApiResponse Status="ERROR"><Errors><Error Number="4022335">&xxe;</Error></Errors></ApiResponse>"""

XXE_NC_OK = b"""<?xml version="1.0"?>
<!DOCTYPE ApiResponse [<!ENTITY xxe SYSTEM "http://127.0.0.1:9/steal">]>
<ApiResponse Status="OK"><CommandResponse><UserChangePasswordResult Success="true" UserId="&xxe;"/>
</CommandResponse></ApiResponse>"""


def _mofh(make_mofh, **kwargs):
    return make_mofh(**kwargs).change_password(MOFH_KEY, MOFH_PASSWORD)


def _nc(make_namecheap, **kwargs):
    return make_namecheap(**kwargs).change_password("Vt8#qLm2!xR7pWz~", username="owner1", old_password="OldPass1")


@pytest.mark.parametrize("body", [BILLION_LAUGHS_MOFH, XXE_MOFH])
def test_mofh_entities_are_never_expanded(server, make_mofh, body):
    server.set_default(200, body)
    started = time.monotonic()
    result = _mofh(make_mofh)
    assert time.monotonic() - started < 2
    assert result.outcome is Outcome.UNKNOWN and not result.ok and result.certainty == AMBIGUOUS
    assert "root:" not in repr(result) and "lollol" not in repr(result)
    assert len(server.requests) == 1


@pytest.mark.parametrize("body", [BILLION_LAUGHS_NC, XXE_NC, XXE_NC_OK])
def test_namecheap_entities_are_never_expanded(server, make_namecheap, body):
    server.set_default(200, body)
    started = time.monotonic()
    result = _nc(make_namecheap)
    assert time.monotonic() - started < 2
    assert result.outcome is Outcome.UNKNOWN and not result.ok
    assert "root:" not in repr(result) and "lollol" not in repr(result)
    assert len(server.requests) == 1


def test_success_followed_by_megabytes_is_not_trusted(server, make_mofh, make_namecheap):
    server.set_default(200, MOFH_SUCCESS + b" " * (3 << 20))
    result = _mofh(make_mofh)
    assert result.outcome is Outcome.UNKNOWN and not result.ok and result.attempts == 1
    server.set_default(200, NC_SUCCESS.replace(b"</ApiResponse>", b"<!--" + b"x" * (3 << 20) + b"--></ApiResponse>"))
    result = _nc(make_namecheap)
    assert result.outcome is Outcome.UNKNOWN and not result.ok


@pytest.mark.parametrize("which", ["mofh", "namecheap"])
def test_endless_body_is_read_bounded(server, make_mofh, make_namecheap, which):
    server.set_default(200, behaviour="huge", huge_bytes=200 << 20)
    started = time.monotonic()
    result = _mofh(make_mofh) if which == "mofh" else _nc(make_namecheap)
    assert time.monotonic() - started < 5
    assert not result.ok and result.outcome in (Outcome.UNKNOWN, Outcome.PROVIDER_UNAVAILABLE)


@pytest.mark.parametrize(
    "body",
    [b"\xff\xfe\xfd garbage \x80", b"<passwd><passwd><status>1</status><statusmsg>ok \xff</statusmsg></passwd></passwd>",
     b"\xc3\x28" * 100],
)
def test_mofh_invalid_utf8_is_never_success(server, make_mofh, body):
    server.set_default(200, body)
    result = _mofh(make_mofh)
    assert result.outcome is Outcome.UNKNOWN and not result.ok


@pytest.mark.parametrize(
    "body",
    [b"<foo><status>1</status></foo>",
     b"<html><status>1</status></html>",
     b'<?xml version="1.0"?><html><body><status>1</status></body></html>',
     b"<passwd><status>1</status><statusmsg>Password changed</statusmsg></passwd>",
     b"<createacct><result><status>1</status><statusmsg>done</statusmsg></result></createacct>",
     b"<passwd><other><status>1</status></other></passwd>",
     b"<foo><status>0</status><statusmsg>An error occured changing this password.</statusmsg></foo>"],
)
def test_mofh_success_needs_the_passwd_document_shape(server, make_mofh, body):
    """Only `<passwd><passwd><status>1` (docs/providers.md §1.2) says passwd ran; a status of 1 elsewhere does not."""
    server.set_default(200, body)
    result = _mofh(make_mofh)
    assert not result.ok and result.outcome not in (Outcome.CHANGED, Outcome.CHANGED_IDEMPOTENT)
    assert result.outcome in (Outcome.UNKNOWN, Outcome.PROVIDER_UNAVAILABLE)


def test_namecheap_invalid_utf8_is_unknown(server, make_namecheap):
    server.set_default(200, NC_SUCCESS.replace(b"PHX01APIEXT07", b"PHX\xff\xfe"))
    result = _nc(make_namecheap)
    assert result.outcome is Outcome.UNKNOWN and result.certainty == AMBIGUOUS
    assert result.provider_message and len(result.provider_message) <= 512


def test_mofh_silent_server_times_out_twice(server, make_mofh):
    server.set_default(200, behaviour="hang")
    started = time.monotonic()
    result = _mofh(make_mofh, timeout=(0.5, 0.5))
    assert time.monotonic() - started < 3
    assert (result.outcome, result.attempts, result.retryable) == (Outcome.PROVIDER_UNAVAILABLE, 2, True)
    assert result.certainty == AMBIGUOUS
    assert len(server.requests) == 2


def test_namecheap_silent_server_is_not_retried(server, make_namecheap):
    server.set_default(200, behaviour="hang")
    result = _nc(make_namecheap, timeout=(0.5, 0.5))
    assert (result.outcome, result.attempts, result.retryable) == (Outcome.PROVIDER_UNAVAILABLE, 1, False)
    assert result.certainty == AMBIGUOUS and "verify" in result.message
    assert len(server.requests) == 1


def test_connection_cut_mid_body(server, make_mofh, make_namecheap):
    server.set_default(200, MOFH_SUCCESS[:40], behaviour="cut")
    result = _mofh(make_mofh)
    assert (result.outcome, result.attempts) == (Outcome.PROVIDER_UNAVAILABLE, 2)
    server.set_default(200, NC_SUCCESS[:200], behaviour="cut")
    result = _nc(make_namecheap)
    assert (result.outcome, result.attempts, result.retryable) == (Outcome.PROVIDER_UNAVAILABLE, 1, False)


def _closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def test_connection_refused(make_mofh, make_namecheap):
    url = f"http://127.0.0.1:{_closed_port()}"
    result = _mofh(make_mofh, base_url=url)
    assert (result.outcome, result.attempts, result.retryable) == (Outcome.PROVIDER_UNAVAILABLE, 2, True)
    assert result.certainty is None  # nothing reached the server
    result = _nc(make_namecheap, endpoint_url=url + "/xml.response")
    assert (result.outcome, result.attempts, result.certainty) == (Outcome.PROVIDER_UNAVAILABLE, 1, None)


def test_redirect_is_not_followed(server, make_mofh):
    server.set_default(302, b"", headers={"Location": "http://127.0.0.1:9/elsewhere"})
    result = _mofh(make_mofh)
    assert result.outcome is Outcome.PROVIDER_UNAVAILABLE and result.attempts == 1 and not result.retryable
    assert len(server.requests) == 1


def test_odd_json_and_xml_shapes_never_succeed(server, make_mofh):
    for body in [b"[1, 2, 3]", b'{"passwd": []}', b'{"passwd": [{"status": true}]}', b"[" * 5000,
                 b'{"passwd": [{"status": 1.0}]}', b"<passwd><passwd><status>yes</status></passwd></passwd>",
                 b"<passwd><passwd><status>1", b"<result/>"]:
        server.set_default(200, body)
        result = _mofh(make_mofh)
        assert not result.ok, body[:60]
        assert result.outcome is Outcome.UNKNOWN, body[:60]


def test_mofh_rawout_is_never_read(server, make_mofh):
    body = (b"<passwd><passwd><rawout>The API username you are using appears to be invalid. "
            b"Password for webq7k2m has been changed</rawout><statusmsg>Odd reply</statusmsg></passwd></passwd>")
    server.set_default(200, body)
    result = _mofh(make_mofh)
    assert result.outcome is Outcome.UNKNOWN
    assert "rawout" not in (result.provider_message or "") and "appears" not in (result.provider_message or "")


# ---------------------------------------------------------------------------------------- cPanel
# docs/provider-cpanel.md §4 E17–E21: whatever the body, never a success unless it reads as a passwd result of 1.


def _cp(make_cpanel, **kwargs):
    return make_cpanel(**kwargs).change_password(CPANEL_USER, CPANEL_PASSWORD)


OK_META = b'"metadata":{"command":"passwd","reason":"ok","result":1,"version":1}'


@pytest.mark.parametrize("body,reason", [
    (b"", "empty"), (b"  \r\n ", "empty"),
    (b"[1, 2, 3]", "not_an_object"), (b'"ok"', "not_an_object"), (b"1", "not_an_object"), (b"null", "not_an_object"),
    (b"{" + OK_META + b"}{" + OK_META + b"}", "not_json"),  # two documents back to back
    (b'{"metadata":{"command":"passwd","result":0,"result":1}}', "not_json"),  # a duplicate key
    (b'{"metadata":{"command":"passwd","result":NaN}}', "not_json"),
    (b'{"metadata":{"command":"passwd","result":Infinity}}', "not_json"),
    (b'{"metadata":{"command":"passwd","result":1e999}}', "no_result"),
    (b'{"metadata":{"command":"passwd","result":' + b"1" * 5000 + b"}}", "not_json"),  # int too long to convert
    (b"[" * 200000 + b"]" * 200000, "not_json"),  # nested too deep
    (b'{"metadata":{"command":"passwd","result":true}}', "no_result"),
    (b'{"metadata":{"command":"passwd","result":1.0}}', "no_result"),
    (b'{"metadata":{"command":"passwd","result":"ok"}}', "no_result"),
    (b'{"metadata":{"command":"passwd","result":" 1"}}', "no_result"),
    (b'{"metadata":{"command":"passwd","result":null}}', "no_result"),
    (b'{"metadata":{"command":"passwd"}}', "no_result"),
    (b'{"metadata":"result: 1"}', "no_metadata"),
    (b'{"data":{"app":["ftp"]},"result":1}', "no_metadata"),
    (b'{"metadata":{"command":"version","reason":"OK","result":1,"version":1}}', "wrong_command"),  # E18
    (b'{"metadata":{"command":null,"result":1}}', "wrong_command"),
    (b'{"passwd":[{"status":1,"statusmsg":"Password changed for user acmeshop"}]}', "api_version_0"),  # E17
    (b'{"cpanelresult":{"apiversion":"2","data":{"result":"1"},"event":{"result":1}}}', "cpanelresult"),
    (b"<!DOCTYPE html><html><head><title>WHM Login</title></head><body>result: 1</body></html>", "not_json"),
    (b"\xff\xfe{" + OK_META + b"}", "not_utf8"),
    (b"{" + OK_META.replace(b"ok", b"\xc3\x28") + b"}", "not_utf8"),
    (b"{" + OK_META, "not_json"),  # cut short
])
def test_cpanel_an_answer_that_cannot_be_read_is_unknown_never_success(server, make_cpanel, body, reason):
    server.set_default(200, body)
    result = _cp(make_cpanel)
    assert (result.outcome, result.reason, result.certainty) == (Outcome.UNKNOWN, reason, AMBIGUOUS)
    assert not result.ok and result.retryable and result.attempts == 1
    assert result.message.endswith(".") and len(result.message) < 300


def test_cpanel_success_shapes_that_do_read(server, make_cpanel):
    for body in (b"\xef\xbb\xbf{" + OK_META + b"}\n",  # a BOM and a newline
                 b'{\n  "metadata" : {\n    "result" : "1",\n    "reason" : "Password changed for user \\u201cacmeshop\\u201d."'
                 b'\n  }\n}',  # pretty-printed, result as a string, no command, escapes
                 b'{"data":{"app":[]},"metadata":{"command":"passwd","result":1,"output":{"warnings":["x"]}}}'):
        server.set_default(200, body)
        assert _cp(make_cpanel).outcome is Outcome.CHANGED, body[:60]


def test_cpanel_success_followed_by_megabytes_is_not_trusted(server, make_cpanel):
    server.set_default(200, CPANEL_SUCCESS + b" " * (2 << 20))
    result = _cp(make_cpanel)
    assert (result.outcome, result.reason, result.certainty) == (Outcome.UNKNOWN, "response_too_large", AMBIGUOUS)
    assert result.attempts == 1 and len(server.requests) == 1


def test_cpanel_exactly_one_mib_is_still_read(server, make_cpanel):
    body = CPANEL_SUCCESS.rstrip()
    server.set_default(200, body + b" " * ((1 << 20) - len(body)))
    assert _cp(make_cpanel).outcome is Outcome.CHANGED


def test_cpanel_endless_body_is_read_bounded(server, make_cpanel):
    server.set_default(200, behaviour="huge", huge_bytes=200 << 20)
    started = time.monotonic()
    result = _cp(make_cpanel)
    assert time.monotonic() - started < 5
    assert not result.ok and result.outcome in (Outcome.UNKNOWN, Outcome.PROVIDER_UNAVAILABLE)


def test_cpanel_lookup_never_reads_a_broken_answer_as_found(server, make_cpanel):
    for body in (b"", b'{"data":{"acct":[{"user":"acmeshop"}]}}', b'{"data":{"acct":[{"user":"acmeshop"}]},'
                 b'"metadata":{"command":"passwd","result":1}}', b"[" * 100000):
        server.set_default(200, body)
        result = make_cpanel().account_info(username=CPANEL_USER)
        assert result.outcome is Outcome.UNKNOWN and not result.ok, body[:60]


@pytest.mark.parametrize("data", [b'{"acct":[{"user":"otheruser","domain":"other.example"}]}', b'{"acct":"acmeshop"}',
                                  b'{"acct":[["acmeshop"]]}', b'"acmeshop"', b"null"])
def test_cpanel_summary_without_the_asked_user_is_a_lookup_error(server, make_cpanel, data):
    server.set_default(200, b'{"data":' + data + b',"metadata":{"command":"accountsummary","result":1}}')
    result = make_cpanel().account_info(username=CPANEL_USER)
    assert result.outcome is Outcome.LOOKUP_ERROR and not result.ok


@pytest.mark.parametrize("owner", [b'"root"', b'"resellerbot"', b'"nobody"', b'"Acme Shop"', b'"a&user=root"', b"42",
                                   b'["acmeshop"]'])
def test_cpanel_domain_owner_the_bot_may_not_change_is_never_looked_up_further(server, make_cpanel, owner):
    server.set_default(200, b'{"data":{"user":' + owner + b'},"metadata":{"command":"getdomainowner","result":1}}')
    result = make_cpanel().account_info(domain=CPANEL_DOMAIN)
    assert result.outcome is Outcome.LOOKUP_ERROR and len(server.requests) == 1


def test_cpanel_silent_server_and_a_cut_connection(server, make_cpanel):
    server.set_default(200, behaviour="hang")
    started = time.monotonic()
    result = _cp(make_cpanel, timeout=(0.5, 0.5))
    assert time.monotonic() - started < 3
    assert (result.outcome, result.attempts, result.retryable, result.certainty) == (
        Outcome.PROVIDER_UNAVAILABLE, 2, True, AMBIGUOUS)
    server.set_default(200, CPANEL_SUCCESS[:40], behaviour="cut")
    assert (_cp(make_cpanel).outcome, len(server.requests)) == (Outcome.PROVIDER_UNAVAILABLE, 4)


def test_cpanel_phrases_match_whatever_the_quotes_spacing_and_case(server, make_cpanel):
    body = ('{"metadata":{"command":"passwd","result":0,"reason":"SORRY, the user \\u201cacmeshop\\u201d is   '
            'CURRENTLY\\n suspended. Changing the user\\u2019s password would unsuspend the account."}}')
    server.set_default(200, body.encode())
    result = _cp(make_cpanel)
    assert (result.outcome, result.reason) == (Outcome.ACCOUNT_INACTIVE, "suspended")
    server.set_default(200, b'{"metadata":{"command":"passwd","result":0,"reason":"Sorry, the password may not '
                            b'contain the username for security reasons."}}')
    assert (_cp(make_cpanel).outcome, _cp(make_cpanel).reason) == (Outcome.INVALID_PASSWORD, "contains_username")
    server.set_default(200, b'{"metadata":{"command":"passwd","result":0,"reason":"You did not pass the \\u201cuser'
                            b'\\u201d parameter in your request."}}')
    assert (_cp(make_cpanel).outcome, _cp(make_cpanel).reason) == (Outcome.BAD_REQUEST, "missing_parameter")
    server.set_default(200, b'{"metadata":{"command":"passwd","result":0}}')  # no reason at all
    assert (_cp(make_cpanel).outcome, _cp(make_cpanel).retryable) == (Outcome.PROVIDER_ERROR, False)


@pytest.mark.parametrize("status,outcome,reason", [
    (301, Outcome.PROVIDER_UNAVAILABLE, "redirect"), (302, Outcome.PROVIDER_UNAVAILABLE, "redirect"),
    (303, Outcome.PROVIDER_UNAVAILABLE, "redirect"), (307, Outcome.PROVIDER_UNAVAILABLE, "redirect"),
    (308, Outcome.PROVIDER_UNAVAILABLE, "redirect"),
    (401, Outcome.AUTH_FAILED, "http_401"), (403, Outcome.AUTH_FAILED, "http_403"),  # §4 E12, E13
    (404, Outcome.PROVIDER_UNAVAILABLE, "http_404"), (405, Outcome.PROVIDER_UNAVAILABLE, "http_405"),
    (413, Outcome.PROVIDER_UNAVAILABLE, "http_413"), (429, Outcome.PROVIDER_UNAVAILABLE, "http_429"),  # E16
])
def test_cpanel_status_codes_that_are_not_retried(server, make_cpanel, status, outcome, reason):
    server.set_default(status, CPANEL_SUCCESS, headers={"Location": "http://127.0.0.1:9/x"} if status < 400 else {})
    result = _cp(make_cpanel)  # a success body under a non-2xx status is never a success
    assert (result.outcome, result.reason, result.retryable, result.certainty, result.attempts) == (
        outcome, reason, False, None, 1)
    assert result.http_status == status and not result.ok
