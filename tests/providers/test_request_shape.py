"""What goes on the wire: POST, form body, Basic auth (MOFH) or the whm header (cPanel), no secret in the URL,
exact field sets."""

from __future__ import annotations

import base64
from urllib.parse import parse_qs, quote, quote_plus

import pytest

from bot.providers import Outcome
from bot.providers.cpanel import CpanelClient
from bot.providers.mofh import MofhClient
from bot.secret import Secret
from tests.providers.conftest import (
    CPANEL_API_TOKEN,
    CPANEL_API_USERNAME,
    CPANEL_DOMAIN,
    CPANEL_PASSWORD,
    CPANEL_SUCCESS,
    CPANEL_USER,
    MOFH_API_PASSWORD,
    MOFH_API_USERNAME,
    MOFH_KEY,
    MOFH_PASSWORD,
    MOFH_SUCCESS,
    NC_API_KEY,
    NC_API_USER,
    NC_CLIENT_IP,
    NC_RESET_SUCCESS,
    NC_SUCCESS,
    RecordingServer,
    fixture_bytes,
    plain_session,
)

FORM = "application/x-www-form-urlencoded"
NASTY = "a&b+c%d=e~f g#1"  # 15 characters with & + % = ~ and a space; form encoding must keep it exact
NASTY_OLD = "o&l+d%2=x~ y?"
RESET_CODE = "c0ffee9a1b2c3d4e5f60718293a4b5c6d"


def _no_secret_in_url(request, *secrets):
    for secret in secrets:
        for variant in {secret, quote(secret, safe=""), quote_plus(secret, safe="")}:
            assert variant not in request.request_line
            assert variant not in request.path
            assert variant not in request.query
    assert request.query == ""


def _common(request):
    assert request.method == "POST"
    assert request.header("Content-Type") == FORM


# ---------------------------------------------------------------------------------------- MOFH


def test_mofh_passwd_request_shape(server, make_mofh):
    server.set_default(200, MOFH_SUCCESS)
    result = make_mofh().change_password(MOFH_KEY, Secret(MOFH_PASSWORD))
    assert result.outcome is Outcome.CHANGED and result.attempts == 1
    (request,) = server.requests
    _common(request)
    assert request.path == "/xml-api/passwd.php"
    assert request.basic_auth() == (MOFH_API_USERNAME, MOFH_API_PASSWORD)
    assert parse_qs(request.body.decode("ascii"), strict_parsing=True) == {"user": [MOFH_KEY], "pass": [MOFH_PASSWORD]}
    _no_secret_in_url(request, MOFH_PASSWORD, MOFH_API_PASSWORD)


@pytest.mark.parametrize("suffix,prefix", [("", ""), ("/", ""), ("/xml-api", ""), ("/xml-api/", ""),
                                           ("/panel", "/panel"), ("/panel/xml-api//", "/panel")])
def test_mofh_base_url_normalisation(server, make_mofh, suffix, prefix):
    server.set_default(200, MOFH_SUCCESS)
    client = make_mofh(base_url=server.url + suffix)
    assert client.change_password(MOFH_KEY, MOFH_PASSWORD).outcome is Outcome.CHANGED
    assert server.requests[0].path == prefix + "/xml-api/passwd.php"


@pytest.mark.parametrize("bad", ["ftp://panel.example", "https://u:p@panel.example", "https://panel.example/?k=v", ""])
def test_mofh_base_url_refuses_unusable_values_without_echoing_them(bad):
    with pytest.raises(ValueError) as info:
        MofhClient(bad, "u", "p")
    assert "u:p" not in str(info.value) and "k=v" not in str(info.value)


def test_mofh_lookup_request_shapes(server, make_mofh):
    server.set_default(200, b'[["ACTIVE","example.org"]]')
    client = make_mofh()
    assert client.account_info(vpanel_username="abcd_40312277").outcome is Outcome.LOOKUP_OK
    server.set_default(200, b'["ACTIVE","example.org","\\/home\\/x","abcd_40312277"]')
    assert client.account_info(domain="Example.org.").outcome is Outcome.LOOKUP_OK
    first, second = server.requests
    for request in (first, second):
        _common(request)
        assert request.basic_auth() == (MOFH_API_USERNAME, MOFH_API_PASSWORD)
        _no_secret_in_url(request, MOFH_API_PASSWORD)
    assert first.path == "/xml-api/getuserdomains.php"
    assert first.form == {"api_user": [MOFH_API_USERNAME], "api_key": [MOFH_API_PASSWORD], "username": ["abcd_40312277"]}
    assert second.path == "/xml-api/getdomainuser.php"
    assert second.form == {"api_user": [MOFH_API_USERNAME], "api_key": [MOFH_API_PASSWORD], "domain": ["example.org"]}


@pytest.mark.parametrize(
    "key,expect_vpanel",
    [("abcd_40312277", True), ("tccsc_41654245", True), ("toolong99", False), ("web-q7k2", False), ("", False),
     ("webq7k2m\n", False), (None, False)],
)
def test_mofh_account_key_is_validated_locally(server, make_mofh, key, expect_vpanel):
    result = make_mofh().change_password(key, MOFH_PASSWORD)
    assert result.outcome is Outcome.INVALID_USERNAME and result.attempts == 0
    assert ("is a vPanel username; the API needs the 8-character account key" in result.message) == expect_vpanel
    assert server.requests == []


@pytest.mark.parametrize("password,reason", [("short1", "too_short"), ("Xq7vN2mLp9TzR4wB1", "too_long"),
                                             ("Xq7vN2mLp9TzR4w&", "illegal_characters"), (None, "missing")])
def test_mofh_password_is_validated_locally(server, make_mofh, password, reason):
    result = make_mofh().change_password(MOFH_KEY, password)
    assert (result.outcome, result.reason, result.attempts) == (Outcome.INVALID_PASSWORD, reason, 0)
    assert server.requests == []


def test_mofh_lookup_argument_rules(server, make_mofh):
    client = make_mofh()
    assert client.account_info().outcome is Outcome.BAD_REQUEST
    assert client.account_info(vpanel_username="a_1", domain="example.org").outcome is Outcome.BAD_REQUEST
    assert client.account_info(vpanel_username="not a user").outcome is Outcome.LOOKUP_ERROR
    assert client.account_info(domain="not a domain").outcome is Outcome.LOOKUP_ERROR
    assert server.requests == []


def test_mofh_default_session_works(server):
    server.set_default(200, MOFH_SUCCESS)
    client = MofhClient(server.url, MOFH_API_USERNAME, Secret(MOFH_API_PASSWORD), retry_delay=0)
    assert client.change_password(MOFH_KEY, MOFH_PASSWORD).outcome is Outcome.CHANGED


def test_tls_verification_cannot_be_switched_off():
    session = plain_session()
    session.verify = False
    with pytest.raises(ValueError):
        MofhClient("https://panel.example", "u", "p", session=session)


# ------------------------------------------------------------------------------------ Namecheap

GLOBALS = {"ApiUser": [NC_API_USER], "ApiKey": [NC_API_KEY], "ClientIp": [NC_CLIENT_IP]}


def test_namecheap_way1_sends_all_five_globals_and_exact_passwords(server, make_namecheap):
    server.set_default(200, NC_SUCCESS)
    result = make_namecheap().change_password(Secret(NASTY), username="owner1", old_password=Secret(NASTY_OLD))
    assert result.outcome is Outcome.CHANGED and result.user_id == "48213"
    (request,) = server.requests
    _common(request)
    assert request.path == "/xml.response"
    assert request.header("Authorization") is None
    assert request.form == {
        **GLOBALS, "UserName": ["owner1"], "Command": ["namecheap.users.changePassword"],
        "OldPassword": [NASTY_OLD], "NewPassword": [NASTY],
    }
    _no_secret_in_url(request, NASTY, NASTY_OLD, NC_API_KEY)


def test_namecheap_way2_omits_username(server, make_namecheap):
    server.set_default(200, NC_SUCCESS)
    result = make_namecheap().change_password(NASTY, reset_code=Secret(RESET_CODE))
    assert result.outcome is Outcome.CHANGED
    (request,) = server.requests
    _common(request)
    assert not any(key.lower() == "username" for key in request.form)
    assert request.form == {
        **GLOBALS, "Command": ["namecheap.users.changePassword"], "ResetCode": [RESET_CODE], "NewPassword": [NASTY],
    }
    _no_secret_in_url(request, NASTY, RESET_CODE, NC_API_KEY)


def test_namecheap_reset_password_omits_username(server, make_namecheap):
    server.set_default(200, NC_RESET_SUCCESS)
    result = make_namecheap().reset_password(find_by="emailaddress", value="owner@example.org",
                                             url_pattern="https://bot.example/r/[RESETCODE]")
    assert result.outcome is Outcome.RESET_EMAIL_SENT and result.email == "owner@example.org"
    (request,) = server.requests
    _common(request)
    assert not any(key.lower() == "username" for key in request.form)
    assert request.form == {
        **GLOBALS, "Command": ["namecheap.users.resetPassword"], "FindBy": ["EMAILADDRESS"],
        "FindByValue": ["owner@example.org"], "URLPattern": ["https://bot.example/r/[RESETCODE]"],
    }
    _no_secret_in_url(request, NC_API_KEY)


@pytest.mark.parametrize(
    "kwargs,outcome",
    [
        (dict(username="owner1", old_password="OldPass123", reset_code=RESET_CODE), Outcome.BAD_REQUEST),
        (dict(), Outcome.BAD_REQUEST),
        (dict(username="owner1"), Outcome.BAD_REQUEST),
        (dict(old_password="OldPass123"), Outcome.BAD_REQUEST),
        (dict(username="x" * 21, old_password="OldPass123"), Outcome.INVALID_USERNAME),
        (dict(username="two words", old_password="OldPass123"), Outcome.INVALID_USERNAME),
        (dict(username="owner1", old_password="o" * 21), Outcome.BAD_REQUEST),
        (dict(reset_code="x" * 51), Outcome.BAD_REQUEST),
        (dict(reset_code="abc-123"), Outcome.BAD_REQUEST),
        (dict(reset_code=""), Outcome.BAD_REQUEST),
    ],
)
def test_namecheap_argument_rules_send_nothing(server, make_namecheap, kwargs, outcome):
    result = make_namecheap().change_password("Vt8#qLm2!xR7pWz~", **kwargs)
    assert (result.outcome, result.attempts) == (outcome, 0)
    assert result.message.endswith(".")
    assert server.requests == []


@pytest.mark.parametrize("password,reason", [("short7!", "too_short"), ("x" * 21, "too_long"),
                                             (" leading1", "leading_or_trailing_space"),
                                             ("trailing1 ", "leading_or_trailing_space"), (None, "missing")])
def test_namecheap_new_password_rules(server, make_namecheap, password, reason):
    result = make_namecheap().change_password(password, reset_code=RESET_CODE)
    assert (result.outcome, result.reason, result.attempts) == (Outcome.INVALID_PASSWORD, reason, 0)
    assert server.requests == []


@pytest.mark.parametrize("find_by,value", [("PHONE", "x"), ("USERNAME", "x" * 21), ("EMAILADDRESS", "nobody"),
                                           ("DOMAINNAME", "not a domain"), ("USERNAME", "")])
def test_namecheap_reset_argument_rules(server, make_namecheap, find_by, value):
    result = make_namecheap().reset_password(find_by=find_by, value=value)
    assert (result.outcome, result.attempts) == (Outcome.BAD_REQUEST, 0)
    assert server.requests == []


@pytest.mark.parametrize("client_ip", ["", "2001:db8::1", "203.0.113.300"])
def test_namecheap_client_ip_must_be_ipv4(server, make_namecheap, client_ip):
    result = make_namecheap(client_ip=client_ip).change_password("Vt8#qLm2!xR7pWz~", reset_code=RESET_CODE)
    assert (result.outcome, result.attempts) == (Outcome.BAD_REQUEST, 0)
    assert "NAMECHEAP_CLIENT_IP" in result.message
    assert server.requests == []


def test_mofh_basic_auth_header_is_standard(server, make_mofh):
    server.set_default(200, MOFH_SUCCESS)
    make_mofh().change_password(MOFH_KEY, MOFH_PASSWORD)
    expected = base64.b64encode(f"{MOFH_API_USERNAME}:{MOFH_API_PASSWORD}".encode("latin-1")).decode()
    assert server.requests[0].header("Authorization") == "Basic " + expected


# ------------------------------------------------------------------------------------- cPanel

CP_NASTY = "a&b+c%d=e#f;g h\u00fc\u2019~"  # & + % = # ; a space and non-ASCII: must arrive byte-exact (§9)


def _cp_common(request):
    _common(request)
    assert request.header("Authorization") == f"whm {CPANEL_API_USERNAME}:{CPANEL_API_TOKEN}"
    assert request.basic_auth() is None and request.header("Cookie") is None
    assert "?" not in request.request_line and request.query == ""


def test_cpanel_passwd_request_shape(server, make_cpanel):
    server.set_default(200, CPANEL_SUCCESS)
    result = make_cpanel().change_password(CPANEL_USER, Secret(CPANEL_PASSWORD))
    assert (result.outcome, result.attempts) == (Outcome.CHANGED, 1)
    (request,) = server.requests
    _cp_common(request)
    assert request.path == "/json-api/passwd"
    assert request.form == {"api.version": ["1"], "user": [CPANEL_USER], "password": [CPANEL_PASSWORD],
                            "db_pass_update": ["0"]}
    _no_secret_in_url(request, CPANEL_PASSWORD, CPANEL_API_TOKEN)


def test_cpanel_db_pass_update_is_sent_as_built(server, make_cpanel):
    server.set_default(200, CPANEL_SUCCESS)
    make_cpanel(db_pass_update=True).change_password(CPANEL_USER, CPANEL_PASSWORD)
    assert server.requests[0].form["db_pass_update"] == ["1"]
    with pytest.raises(TypeError):
        make_cpanel(db_pass_update="0")


def test_cpanel_password_arrives_byte_exact_whatever_it_holds(server, make_cpanel):
    server.set_default(200, CPANEL_SUCCESS)
    assert make_cpanel().change_password(CPANEL_USER, CP_NASTY).outcome is Outcome.CHANGED
    (request,) = server.requests
    assert parse_qs(request.body.decode("ascii"), strict_parsing=True)["password"] == [CP_NASTY]
    assert request.form["user"] == [CPANEL_USER] and len(request.form) == 4  # `&user=` inside stays the password's
    _no_secret_in_url(request, CP_NASTY)


@pytest.mark.parametrize("suffix,prefix", [("", ""), ("/", ""), ("/json-api", ""), ("/json-api/", ""),
                                           ("/whm", "/whm"), ("/whm/json-api//", "/whm")])
def test_cpanel_base_url_normalisation(server, make_cpanel, suffix, prefix):
    server.set_default(200, CPANEL_SUCCESS)
    client = make_cpanel(base_url=server.url + suffix)
    assert client.change_password(CPANEL_USER, CPANEL_PASSWORD).outcome is Outcome.CHANGED
    assert server.requests[0].path == prefix + "/json-api/passwd"


@pytest.mark.parametrize("port", [2086, 2082, 2083, 2095, 2096])
def test_cpanel_refuses_the_ports_that_are_not_whm_over_tls(port):
    with pytest.raises(ValueError) as info:
        CpanelClient(f"https://whm.example.net:{port}", "resellerbot", "TOKEN")
    assert "CPANEL_API_URL" in str(info.value) and str(port) in str(info.value)
    assert CpanelClient("https://whm.example.net:2087/json-api/", "resellerbot", "TOKEN").base_url == (
        "https://whm.example.net:2087")


@pytest.mark.parametrize("bad", ["ftp://whm.example", "https://u:p@whm.example", "https://whm.example/?k=v", ""])
def test_cpanel_base_url_refuses_unusable_values_without_echoing_them(bad):
    with pytest.raises(ValueError) as info:
        CpanelClient(bad, "resellerbot", "TOKEN")
    assert "u:p" not in str(info.value) and "k=v" not in str(info.value)


@pytest.mark.parametrize("username,token", [("reseller bot", "TOKEN"), ("Reseller", "TOKEN"), ("", "TOKEN"),
                                            ("resellerbot", "ZZZ with space"), ("resellerbot", "ZZZ\r\nX-Evil: 1"),
                                            ("resellerbot", ""), ("resellerbot", "ZZZ\u00e9")])
def test_cpanel_credentials_that_cannot_make_a_header_are_refused_without_echo(username, token):
    with pytest.raises(ValueError) as info:
        CpanelClient("https://whm.example.net:2087", username, token)
    assert "ZZZ" not in str(info.value) and ("CPANEL_API_USERNAME" in str(info.value)
                                             or "CPANEL_API_TOKEN" in str(info.value))


def test_cpanel_lookup_request_shapes(server, make_cpanel):
    server.enqueue(200, fixture_bytes("cpanel/accountsummary_active.json"))
    server.enqueue(200, fixture_bytes("cpanel/getdomainowner_found.json"))
    server.enqueue(200, fixture_bytes("cpanel/accountsummary_active.json"))
    client = make_cpanel()
    assert client.account_info(username=CPANEL_USER).outcome is Outcome.LOOKUP_OK
    both = client.account_info(domain="AcmeShop.Example.")
    assert (both.outcome, both.username, both.attempts) == (Outcome.LOOKUP_OK, CPANEL_USER, 2)
    first, second, third = server.requests
    for request in (first, second, third):
        _cp_common(request)
        _no_secret_in_url(request, CPANEL_API_TOKEN)
    assert (first.path, first.form) == ("/json-api/accountsummary", {"api.version": ["1"], "user": [CPANEL_USER]})
    assert (second.path, second.form) == ("/json-api/getdomainowner",
                                          {"api.version": ["1"], "domain": [CPANEL_DOMAIN]})
    assert (third.path, third.form) == ("/json-api/accountsummary", {"api.version": ["1"], "user": [CPANEL_USER]})


@pytest.mark.parametrize("username", ["root", "toor", "nobody", "cpanel", "system", CPANEL_API_USERNAME, "-acme",
                                      ".acme", "a" * 17, "acme&user=root", "acme\n", "AcmeShop", "acme shop", "",
                                      None, 42, "\u212aelvin"])
def test_cpanel_refuses_usernames_locally_and_sends_nothing(server, make_cpanel, username):
    server.set_default(200, CPANEL_SUCCESS)
    client = make_cpanel()
    result = client.change_password(username, CPANEL_PASSWORD)
    assert (result.outcome, result.attempts, result.ok) == (Outcome.INVALID_USERNAME, 0, False)
    assert result.message.endswith(".") and "nothing was sent" in result.message
    assert client.account_info(username=username).attempts == 0
    assert server.requests == []


def test_cpanel_refuses_the_tokens_own_user_whatever_its_case(server, make_cpanel):
    client = make_cpanel(api_username="reseller.bot")
    assert client.change_password("reseller.bot", CPANEL_PASSWORD).outcome is Outcome.INVALID_USERNAME
    assert "API token's own account" in client.change_password("reseller.bot", CPANEL_PASSWORD).message
    assert server.requests == []


@pytest.mark.parametrize("password,reason", [("abcd", "too_short"), ("", "too_short"), (None, "missing"),
                                             ("xxACMESHOPxx12345678", "contains_username"),
                                             ("acmeshop", "contains_username")])
def test_cpanel_refuses_only_cpanels_own_password_rules_locally(server, make_cpanel, password, reason):
    result = make_cpanel().change_password(CPANEL_USER, password)
    assert (result.outcome, result.reason, result.attempts) == (Outcome.INVALID_PASSWORD, reason, 0)
    assert server.requests == []


def test_cpanel_lookup_argument_rules(server, make_cpanel):
    client = make_cpanel()
    assert client.account_info().outcome is Outcome.BAD_REQUEST
    assert client.account_info(username=CPANEL_USER, domain=CPANEL_DOMAIN).outcome is Outcome.BAD_REQUEST
    for domain in ("not a domain", "1.2.3.4", "acmeshop", "x" * 250 + ".example", "-acme.example"):
        assert client.account_info(domain=domain).outcome is Outcome.LOOKUP_ERROR
    assert server.requests == []


def test_cpanel_tls_verification_cannot_be_switched_off():
    session = plain_session()
    session.verify = False
    with pytest.raises(ValueError):
        CpanelClient("https://whm.example.net:2087", "resellerbot", "TOKEN", session=session)


def test_cpanel_default_session_and_timeout(server):
    server.set_default(200, CPANEL_SUCCESS)
    client = CpanelClient(server.url, CPANEL_API_USERNAME, Secret(CPANEL_API_TOKEN), retry_delay=0)
    assert client.timeout == (5.0, 60.0) and (client.deadline, client.lookup_deadline) == (90.0, 20.0)
    assert client.change_password(CPANEL_USER, CPANEL_PASSWORD).outcome is Outcome.CHANGED


def test_cpanel_307_is_not_followed_and_the_other_server_sees_nothing(server, make_cpanel):
    elsewhere = RecordingServer().start()
    try:
        elsewhere.set_default(200, CPANEL_SUCCESS)
        server.set_default(307, b"", headers={"Location": elsewhere.url + "/json-api/passwd"})
        result = make_cpanel().change_password(CPANEL_USER, CPANEL_PASSWORD)
        assert (result.outcome, result.reason, result.attempts) == (Outcome.PROVIDER_UNAVAILABLE, "redirect", 1)
        assert not result.retryable and not result.ok
        server.set_default(308, b"", headers={"Location": elsewhere.url + "/json-api/accountsummary"})
        assert make_cpanel().account_info(username=CPANEL_USER).outcome is Outcome.PROVIDER_UNAVAILABLE
        assert len(server.requests) == 2 and elsewhere.requests == []
    finally:
        elsewhere.stop()


def test_cpanel_sends_no_cookie_even_when_an_answer_set_one(server, make_cpanel):
    server.enqueue(200, CPANEL_SUCCESS, headers={"Set-Cookie": "cpsession=resellerbot%3aZZZsession; path=/"})
    server.enqueue(200, CPANEL_SUCCESS)
    client = make_cpanel()
    for _ in range(2):
        assert client.change_password(CPANEL_USER, CPANEL_PASSWORD).outcome is Outcome.CHANGED
    assert [r.header("Cookie") for r in server.requests] == [None, None]
    assert all(r.header("Authorization") == f"whm {CPANEL_API_USERNAME}:{CPANEL_API_TOKEN}" for r in server.requests)
