"""Account fields accept ASCII only: a look-alike (U+212A KELVIN SIGN for `k`) never maps to a real account.

With `re.IGNORECASE` alone, Python matches U+212A against `[a-z]`, and `str.lower()` (like the
directory's lookup) turns it into `k`: a typed "\u212aelv_40312290" reached the account behind
"kelv_40312290". The plugins refuse anything non-ASCII with a sentence under Account, and every
pattern the clients share is `re.ASCII`.
"""

from __future__ import annotations

import pytest

from bot.providers import Outcome
from bot.providers._names import DOMAIN
from bot.providers.cpanel import account as cp_account
from bot.providers.mofh import account as mofh_account
from bot.providers.namecheap import account as nc_account
from tests.providers.conftest import MOFH_PASSWORD, MOFH_SUCCESS
from tests.providers.test_plugins import Directory

KELVIN = "\u212a"
DIRECTORY = Directory(vpanel={"kelv_40312290": "webq7k2m"}, domains={"kelvin.example": "webq7k2m"})


@pytest.mark.parametrize("typed", [f"{KELVIN}elv_40312290", f"{KELVIN}elvin.example", f"web{KELVIN}7k2m",
                                   "web\u017f7k2m", "ｗｅｂｑ７ｋ２ｍ", "webq7k2m\u200b", "web\u0430q7k2"])
def test_a_mofh_account_with_anything_but_ascii_is_refused_under_account_and_never_looked_up(typed):
    directory = Directory(vpanel=DIRECTORY.vpanel, domains=DIRECTORY.domains)
    parsed = mofh_account.parse(typed, directory)
    assert parsed.error is not None and "ASCII" in parsed.error and "U+" in parsed.error
    assert directory.asked == []


def test_the_sentence_names_the_look_alike():
    error = mofh_account.parse(f"{KELVIN}elv_40312290", Directory()).error
    assert error is not None and "U+212A (KELVIN SIGN)" in error


@pytest.mark.parametrize("typed", [f"owner{KELVIN}", "ówner", "owner\u00a0x"])
def test_a_namecheap_username_with_anything_but_ascii_is_refused(typed):
    parsed = nc_account.parse(typed, Directory())
    assert parsed.error is not None and "ASCII" in parsed.error


def test_the_shared_patterns_are_ascii_only():
    for pattern in (mofh_account.ACCOUNT_KEY, mofh_account.VPANEL_USERNAME, mofh_account.VPANEL_LIKE, DOMAIN,
                    nc_account.USERNAME, nc_account.RESET_CODE, cp_account.USERNAME):
        assert not pattern.match(f"{KELVIN}elv_40312290") and not pattern.match(f"{KELVIN}elvin.example")
    assert mofh_account.parse("kelv_40312290", DIRECTORY).account == "webq7k2m"  # the ASCII spelling still maps


def test_the_mofh_client_refuses_a_look_alike_lookup_without_sending(server, make_mofh):
    server.set_default(200, MOFH_SUCCESS)
    client = make_mofh()
    assert client.account_info(vpanel_username=f"{KELVIN}elv_40312290").attempts == 0
    assert client.change_password(f"web{KELVIN}7k2m", MOFH_PASSWORD).outcome is Outcome.INVALID_USERNAME
    assert server.requests == []


@pytest.mark.parametrize("typed", [f"acme{KELVIN}", f"{KELVIN}elvin.example", "acme\u017fhop", "ａｃｍｅ", "acme\u200b"])
def test_a_cpanel_account_with_anything_but_ascii_is_refused_and_never_sent(typed, server, make_cpanel):
    parsed = cp_account.parse(typed, Directory())
    assert parsed.error is not None and "ASCII" in parsed.error
    client = make_cpanel()
    assert client.change_password(typed, "Xq7vN2mLp9TzR4wBk3Hs").outcome is Outcome.INVALID_USERNAME
    assert client.account_info(domain=typed).attempts == 0 and client.account_info(username=typed).attempts == 0
    assert server.requests == []
