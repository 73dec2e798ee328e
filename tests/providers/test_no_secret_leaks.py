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
)

SENTINEL = "ZZZsentinel123456&+%"  # 20 characters: fine for Namecheap and cPanel, refused locally by MOFH's rules
MOFH_SENTINEL = "ZZZsentinel12345"  # 16 alphanumerics: what MOFH is actually sent
OLD = "ZZZold&+% pw=~1"
RESET_CODE = "ZZZresetcode0123456789"
SECRETS = [SENTINEL, MOFH_SENTINEL, OLD, RESET_CODE, NC_API_KEY, MOFH_API_PASSWORD, CPANEL_API_TOKEN]

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


def _calls(make_mofh, make_namecheap, make_cpanel):
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


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: f"{s['status']}-{s.get('behaviour', 'normal')}"
                         f"-{len(s.get('body', b''))}")
def test_no_secret_in_logs_results_or_reprs(server, make_mofh, make_namecheap, make_cpanel, caplog, scenario):
    caplog.set_level(logging.DEBUG)
    server.set_default(**scenario)
    outcomes = []
    for client, result in _calls(make_mofh, make_namecheap, make_cpanel):
        outcomes.append(result.outcome)
        _assert_clean(repr(result), "repr(result)")
        _assert_clean(str(result), "str(result)")
        _assert_clean(repr(client), "repr(client)")
        for field in dataclasses.fields(result):
            _assert_clean(str(getattr(result, field.name)), f"result.{field.name}")
    assert len(outcomes) == 15
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


def test_provider_modules_do_not_log(server, make_mofh, make_namecheap, make_cpanel, caplog):
    caplog.set_level(logging.DEBUG)
    server.set_default(200, b"", behaviour="echo")
    list(_calls(make_mofh, make_namecheap, make_cpanel))
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
