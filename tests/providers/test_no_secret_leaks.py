"""A sentinel password, API keys, old passwords and reset codes must never surface: not in logs
(captured at DEBUG, urllib3 included), not in any result field, not in repr() of results or clients."""

from __future__ import annotations

import dataclasses
import logging
from urllib.parse import quote, quote_plus

import pytest

from bot.providers import Outcome
from bot.secret import Secret
from tests.providers.conftest import (
    CPANEL_API_TOKEN,
    CPANEL_SUCCESS,
    FIXTURES,
    MOFH_API_PASSWORD,
    MOFH_SUCCESS,
    NC_API_KEY,
    NC_SUCCESS,
    PLESK_API_PASSWORD,
    PLESK_SECRET_KEY,
    PLESK_SET_SUCCESS,
)

SENTINEL = "ZZZsentinel123456&+%"  # 20 characters: fine for Namecheap, cPanel and Plesk; MOFH's rules refuse it
MOFH_SENTINEL = "ZZZsentinel12345"  # 16 alphanumerics: what MOFH is actually sent
OLD = "ZZZold&+% pw=~1"
RESET_CODE = "ZZZresetcode0123456789"
SECRETS = [SENTINEL, MOFH_SENTINEL, OLD, RESET_CODE, NC_API_KEY, MOFH_API_PASSWORD, CPANEL_API_TOKEN,
           PLESK_API_PASSWORD, PLESK_SECRET_KEY]

SCENARIOS = [
    dict(status=200, body=MOFH_SUCCESS),
    dict(status=200, body=NC_SUCCESS),
    dict(status=200, body=CPANEL_SUCCESS),
    dict(status=200, body=(FIXTURES / "cpanel/getdomainowner_found.json").read_bytes()),
    dict(status=200, body=(FIXTURES / "cpanel/passwd_error_hook_halted.json").read_bytes()),
    dict(status=200, body=(FIXTURES / "cpanel/auth_cpanelresult_access_denied.json").read_bytes()),
    dict(status=401, body=(FIXTURES / "cpanel/auth_http_401_access_denied.txt").read_bytes()),
    dict(status=307, body=b"", headers={"Location": "http://127.0.0.1:9/json-api/passwd"}),
    dict(status=200, body=(FIXTURES / "mofh/auth_invalid_api_key.txt").read_bytes()),
    dict(status=200, body=(FIXTURES / "namecheap/changepassword_error_4022335_unable_to_change.xml").read_bytes()),
    dict(status=200, body=(FIXTURES / "namecheap/changepassword_error_5050900_unhandled.xml").read_bytes()),
    dict(status=200, body=PLESK_SET_SUCCESS),
    dict(status=200, body=(FIXTURES / "plesk/set_error_1019_password_not_complex.xml").read_bytes()),
    dict(status=503, body=b"<html><title>down</title></html>"),
    dict(status=500, body=b"", behaviour="echo"),
    dict(status=200, body=b"", behaviour="echo"),
    dict(status=405, body=b""),
    dict(status=200, body=b"", behaviour="hang"),
    dict(status=200, body=MOFH_SUCCESS[:30], behaviour="cut"),
    dict(status=200, body=b"", behaviour="huge", huge_bytes=3 << 20),
]


def _variants(secret: str) -> set[str]:
    return {secret, quote(secret, safe=""), quote_plus(secret, safe="")}


def _assert_clean(text: str, where: str) -> None:
    for secret in SECRETS:
        for variant in _variants(secret):
            assert variant not in text, f"secret leaked into {where}"
    assert "ZZZ" not in text, f"sentinel prefix leaked into {where}"


def _calls(make_mofh, make_namecheap, make_cpanel, make_plesk):
    mofh = make_mofh(timeout=(0.3, 0.3))
    nc = make_namecheap(timeout=(0.3, 0.3), rate_limit_backoff=(0.0,))
    cp = make_cpanel(timeout=(0.3, 0.3))
    yield mofh, mofh.change_password("webq7k2m", MOFH_SENTINEL)
    yield mofh, mofh.change_password("webq7k2m", Secret(SENTINEL))  # refused locally
    yield mofh, mofh.account_info(vpanel_username="abcd_40312277")
    yield nc, nc.change_password(SENTINEL, username="owner1", old_password=OLD)
    yield nc, nc.change_password(Secret(SENTINEL), reset_code=Secret(RESET_CODE))
    yield nc, nc.reset_password(find_by="USERNAME", value="owner1")
    yield nc, nc.change_password(SENTINEL + " ", reset_code=RESET_CODE)  # refused locally
    yield nc, nc.change_password(SENTINEL, username="owner1", old_password=OLD, reset_code=RESET_CODE)
    yield cp, cp.change_password("acmeshop", SENTINEL)
    yield cp, cp.change_password("acmeshop", Secret(SENTINEL))
    yield cp, cp.change_password_by_domain("acmeshop.example", Secret(SENTINEL))
    yield cp, cp.change_password("root", SENTINEL)  # refused locally
    yield cp, cp.change_password("acmeshop", "ZZZ")  # refused locally: too short
    yield cp, cp.account_info(domain="acmeshop.example")
    yield cp, cp.probe()
    plesk = make_plesk(timeout=(0.3, 0.3))
    plesk_key = make_plesk(timeout=(0.3, 0.3), secret_key=Secret(PLESK_SECRET_KEY))
    yield plesk, plesk.change_password("jdoe42", SENTINEL)
    yield plesk_key, plesk_key.change_password("jdoe42", Secret(SENTINEL))
    yield plesk, plesk.account_info(login="jdoe42")
    yield plesk, plesk.change_password("jdoe42", SENTINEL + " ")  # refused locally


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: f"{s['status']}-{s.get('behaviour', 'normal')}"
                         f"-{len(s.get('body', b''))}")
def test_no_secret_in_logs_results_or_reprs(server, make_mofh, make_namecheap, make_cpanel, make_plesk, caplog,
                                            scenario):
    caplog.set_level(logging.DEBUG)
    server.set_default(**scenario)
    outcomes = []
    for client, result in _calls(make_mofh, make_namecheap, make_cpanel, make_plesk):
        outcomes.append(result.outcome)
        _assert_clean(repr(result), "repr(result)")
        _assert_clean(str(result), "str(result)")
        _assert_clean(repr(client), "repr(client)")
        for field in dataclasses.fields(result):
            _assert_clean(str(getattr(result, field.name)), f"result.{field.name}")
    assert len(outcomes) == 19
    for record in caplog.records:
        _assert_clean(record.getMessage(), f"log record from {record.name}")
        _assert_clean(str(record.args), f"log args from {record.name}")
        if record.exc_info:
            _assert_clean(logging.Formatter().formatException(record.exc_info), "logged exception")
    _assert_clean(caplog.text, "captured log text")


def test_echoing_server_is_masked_not_dropped(server, make_namecheap):
    """An error page that reflects the request body still shows, with secrets masked."""
    server.set_default(500, b"", behaviour="echo")
    result = make_namecheap().change_password(SENTINEL, username="owner1", old_password=OLD)
    assert result.outcome is Outcome.PROVIDER_UNAVAILABLE
    assert "***" in (result.provider_message or "") and "owner1" in result.provider_message
    _assert_clean(repr(result), "repr(result)")


def test_provider_modules_do_not_log(server, make_mofh, make_namecheap, make_cpanel, make_plesk, caplog):
    caplog.set_level(logging.DEBUG)
    server.set_default(200, b"", behaviour="echo")
    list(_calls(make_mofh, make_namecheap, make_cpanel, make_plesk))
    assert not [r for r in caplog.records if r.name.startswith("bot.")]


@pytest.mark.parametrize("status", [200, 500, 403])
def test_cpanel_echoed_token_and_password_are_masked_not_dropped(server, make_cpanel, status):
    """An answer that reflects the request (the Authorization header, the form body) still shows, masked."""
    server.set_default(status, b"", behaviour="echo")
    result = make_cpanel().change_password("acmeshop", SENTINEL)
    assert "***" in (result.provider_message or "") and "acmeshop" in result.provider_message
    for text in (repr(result), result.message, result.provider_message):
        _assert_clean(text, "the cPanel result")


def test_cpanel_exceptions_and_reprs_hold_no_secret(make_cpanel):
    client = make_cpanel()
    _assert_clean(repr(client) + repr(client._auth) + str(vars(client).get("_token")), "the client")
    for username, token in (("resellerbot", CPANEL_API_TOKEN + " x"), ("resellerbot", CPANEL_API_TOKEN + "\n")):
        with pytest.raises(ValueError) as refused:
            type(client)("https://whm.example.net:2087", username, token)
        _assert_clean(str(refused.value) + repr(refused.value), "the refusal")


CUSTOMER_HASH = "ZZZ$6$rounds=5000$customerhash"


@pytest.mark.parametrize("where", ["gen_info", "errtext"])
def test_the_customers_own_password_from_customer_get_is_never_kept(server, make_plesk, caplog, where):
    """customer/get may return gen_info/password (docs/provider-plesk.md §0.8): not in any field, repr or log."""
    caplog.set_level(logging.DEBUG)
    active = (FIXTURES / "plesk/get_active.xml").read_bytes()
    leak = f"<password>{CUSTOMER_HASH}</password><password_type>crypt</password_type>".encode()
    if where == "gen_info":
        body = active.replace(b"<status>0</status>", b"<status>0</status>" + leak)
        expected = Outcome.LOOKUP_OK
    else:  # an error text that quotes it, next to the field itself
        body = (b"<packet><customer><get><result><status>error</status><errcode>1023</errcode><errtext>cannot read "
                + CUSTOMER_HASH.encode() + b"</errtext><filter-id>jdoe42</filter-id><data><gen_info>" + leak
                + b"</gen_info></data></result></get></customer></packet>")
        expected = Outcome.LOOKUP_ERROR
    server.set_default(200, body)
    client = make_plesk()
    looked = client.account_info(login="jdoe42")
    assert looked.outcome is expected
    for result in (looked, client.probe()):  # the probe asks for another login: not ours, and nothing kept either
        for text in [repr(result), str(result), *(str(getattr(result, f.name)) for f in dataclasses.fields(result))]:
            assert "customerhash" not in text and "ZZZ" not in text and "crypt" not in text
    assert "customerhash" not in caplog.text
